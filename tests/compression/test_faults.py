"""Runs killed with SIGKILL resume without loss; DDP under torchrun keeps ranks in step."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from shared_helpers import free_port

from tnviz.compression.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    import tnviz
    from tnviz.compression import LeNet5
    from compression.helpers import small_mnist

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, test = small_mnist(1500, 300)
    teacher = LeNet5()
    torch.manual_seed(1)
    student, _ = tnviz.compress(teacher, format="tt", rate=0.1, init="random")
    ckpt = sys.argv[1] if sys.argv[1] != "-" else None

    def done(m):
        print("epoch", m["global_epoch"], flush=True)

    result = tnviz.distill(student, teacher, train, test, schedule="e2e", epochs=4, checkpoint=ckpt,
                           resume=ckpt is not None, callbacks=[done], progress=False)
    torch.save(student.state_dict(), sys.argv[2])
    print("accuracy", result.test_accuracy, flush=True)
    """
)


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(ROOT / "tests")))
    ckpt, out_full, out_resumed = tmp_path / "ckpt.pt", tmp_path / "full.pt", tmp_path / "resumed.pt"
    full = subprocess.run(
        [sys.executable, str(script), "-", str(out_full)], capture_output=True, text=True, env=_env(), timeout=300
    )
    assert full.returncode == 0, full.stderr
    kills = 0
    for _ in range(3):  # kill it three times, at different moments
        proc = subprocess.Popen(
            [sys.executable, str(script), str(ckpt), str(out_resumed)], stdout=subprocess.PIPE, text=True, env=_env()
        )
        seen = []
        deadline = time.time() + 120
        while time.time() < deadline:
            line = proc.stdout.readline()
            if not line or line.startswith("accuracy"):
                break
            seen.append(line)
            if line.startswith("epoch"):
                time.sleep(0.15 + 0.1 * kills)  # into the next epoch
                proc.send_signal(signal.SIGKILL)
                kills += 1
                break
        proc.wait(timeout=60)
        if proc.returncode == 0:
            break
        assert proc.returncode == -signal.SIGKILL
        done = max(int(s.split()[1]) for s in seen if s.startswith("epoch"))
        state = load_checkpoint(ckpt, kind="tnviz-distill")  # never half-written
        assert len(state["history"]) >= done  # at most the epoch in progress is lost
    assert kills >= 1
    final = subprocess.run(
        [sys.executable, str(script), str(ckpt), str(out_resumed)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert final.returncode == 0, final.stderr
    acc_full = float(full.stdout.split("accuracy")[-1])
    acc_resumed = float(final.stdout.split("accuracy")[-1])
    assert abs(acc_full - acc_resumed) <= 0.005
    a, b = torch.load(out_full, weights_only=True), torch.load(out_resumed, weights_only=True)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


DDP_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {tests!r})
    import tnviz
    from tnviz.compression import LeNet5
    from compression.helpers import on_step, small_mnist

    torch.set_num_threads(1)
    train, test = small_mnist(400, 100)
    torch.manual_seed(0)
    teacher = LeNet5()
    torch.manual_seed(1)
    student, _ = tnviz.compress(teacher, format="mtt", rate=0.1, init="random")
    mode = sys.argv[2]
    kw = dict(block_epochs=1, finetune_epochs=1) if mode == "seq" else dict(epochs=2)
    rank = int(os.environ["RANK"])
    # "stop": only rank 0 asks to stop (a Stop button in one process); every rank must end with it
    stop = lambda m: not (mode == "stop" and rank == 0 and m["step"] == 2)
    kw["callbacks"] = [on_step(stop)]
    result = tnviz.distill(student, teacher, train, test, schedule="e2e" if mode == "stop" else mode, batch_size=50,
                           progress=False, **kw)
    assert result.stopped == (mode == "stop")
    rank = torch.distributed.get_rank()
    torch.save(student.state_dict(), os.path.join(sys.argv[1], f"rank{{rank}}-{{mode}}.pt"))
    # no destroy_process_group here: distill started the group, and ends it at exit, all ranks together
    """
)


def test_torchrun_a_rank_failing_after_distill_ends_the_job_with_its_error(tmp_path):
    """distill ends the process group it started at exit with a barrier; a rank that failed skips
    it, so the job ends (torchrun reports the error) instead of the others waiting for it."""
    script = tmp_path / "ddp.py"
    failing = DDP_SCRIPT.format(tests=str(ROOT / "tests")).replace(
        "rank = torch.distributed.get_rank()\n",
        "rank = torch.distributed.get_rank()\nif rank == 1:\n    raise ValueError('rank 1 fails after training')\n",
    )
    assert "rank 1 fails" in failing
    script.write_text(failing)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(script), str(tmp_path), "e2e"]  # fmt: skip
    # a hang would raise TimeoutExpired here
    done = subprocess.run(cmd, capture_output=True, text=True, env={**_env(), "OMP_NUM_THREADS": "1"}, timeout=240)
    assert done.returncode != 0
    assert "ValueError: rank 1 fails after training" in done.stderr
    assert (tmp_path / "rank0-e2e.pt").exists() and not (tmp_path / "rank1-e2e.pt").exists()


@pytest.mark.parametrize("mode", ["e2e", "seq", "stop"])
def test_torchrun_with_two_gloo_processes_keeps_the_ranks_identical(tmp_path, mode):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT.format(tests=str(ROOT / "tests")))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={free_port()}", str(script), str(tmp_path), mode]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env={**_env(), "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    a = torch.load(tmp_path / f"rank0-{mode}.pt", weights_only=True)
    b = torch.load(tmp_path / f"rank1-{mode}.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    import tnviz
    from tnviz.compression import LeNet5

    torch.manual_seed(0)
    teacher = LeNet5()
    torch.manual_seed(1)
    start, _ = tnviz.compress(teacher, format="mtt", rate=0.1, init="random")
    assert any(not torch.equal(a[k], v) for k, v in start.state_dict().items())  # it trained

"""Fault injection: SIGKILL at random moments during ``tnviz.distill`` and ``tnviz reproduce``,
then start again until the run completes.

After every kill, every checkpoint on disk must load (none half-written); each run must
complete, and its results must equal those of an uninterrupted run (distill: the same final
weights; reproduce: the same accuracies within 0.5 points).

Run: ``python benchmarks/faults.py [--trials 10] [--seed 0]`` (about five minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DISTILL = textwrap.dedent(
    """
    import sys, torch
    sys.path.insert(0, {tests!r})
    import tnviz
    from tnviz.compression import LeNet5
    from compression.helpers import small_mnist

    torch.set_num_threads(1)
    torch.manual_seed(0)
    train, test = small_mnist(3000, 300)
    teacher = LeNet5()
    torch.manual_seed(1)
    student, _ = tnviz.compress(teacher, format="mtt", rate=0.1, init="random")
    ckpt = sys.argv[1] if sys.argv[1] != "-" else None
    result = tnviz.distill(student, teacher, train, test, schedule="seq", block_epochs=3, finetune_epochs=8,
                           checkpoint=ckpt, resume=ckpt is not None, progress=False)
    torch.save(student.state_dict(), sys.argv[2])
    """
)


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _all_checkpoints_load(folder: Path) -> int:
    from tnviz.compression.checkpoint import load_checkpoint

    count = 0
    for path in folder.rglob("*.pt"):
        if path.name.startswith("."):  # a temporary file of a write in progress: never read
            continue
        load_checkpoint(path)  # raises on a half-written file
        count += 1
    return count


def _kill_and_resume(cmd: list[str], folder: Path, trials: int, rng: random.Random, window: tuple) -> tuple[int, int]:
    kills = checked = 0
    for _ in range(trials):
        proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(rng.uniform(*window))  # the start-up (imports, data) takes a few seconds
        if proc.poll() is not None:
            break  # finished before the kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        checked += _all_checkpoints_load(folder)
        print(f"  kill {kills}: {sum(1 for _ in folder.rglob('*.pt'))} checkpoint(s) on disk, all readable", flush=True)
    done = subprocess.run(cmd, env=_env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the resumed run failed:\n{done.stderr[-3000:]}")
    return kills, checked


def distill_trials(trials: int, rng: random.Random, tmp: Path) -> str:
    import torch

    script = tmp / "distill_run.py"
    script.write_text(DISTILL.format(tests=str(ROOT / "tests")))
    full = subprocess.run(
        [sys.executable, str(script), "-", str(tmp / "full.pt")], env=_env(), capture_output=True, text=True
    )
    if full.returncode != 0:
        raise SystemExit(full.stderr[-3000:])
    started = time.perf_counter()
    ckpt = tmp / "distill" / "run.pt"
    ckpt.parent.mkdir()
    cmd = [sys.executable, str(script), str(ckpt), str(tmp / "resumed.pt")]
    kills, checked = _kill_and_resume(cmd, ckpt.parent, trials, rng, window=(3.0, 8.0))
    a, b = torch.load(tmp / "full.pt", weights_only=True), torch.load(tmp / "resumed.pt", weights_only=True)
    same = all(torch.equal(a[k], b[k]) for k in a)
    return (
        f"distill: {kills} SIGKILLs at random moments, {checked} checkpoint reads after them all valid; "
        f"the resumed run completed ({time.perf_counter() - started:.0f} s) with "
        f"{'bit-identical' if same else 'DIFFERENT'} final weights to the uninterrupted run"
    ) + ("" if same else " — FAILURE")


def reproduce_trials(trials: int, rng: random.Random, tmp: Path) -> str:
    args = ["-m", "tnviz.cli", "reproduce", "lenet5-mnist", "--quick", "--formats", "tk,mtk", "--rates", "0.1"]
    full_out, out = tmp / "rep-full", tmp / "rep"
    ref = subprocess.run([sys.executable, *args, "--out", str(full_out)], env=_env(), capture_output=True, text=True)
    if ref.returncode != 0:
        raise SystemExit(ref.stderr[-3000:])
    started = time.perf_counter()
    kills, checked = _kill_and_resume([sys.executable, *args, "--out", str(out)], out, trials, rng, window=(4.0, 12.0))

    def table(folder: Path) -> dict:
        with open(folder / "results.csv") as f:
            return {(r["format"], r["mode"]): float(r["test_acc"]) for r in csv.DictReader(f)}

    want, got = table(full_out), table(out)
    worst = max(abs(want[k] - got[k]) for k in want)
    ok = want.keys() == got.keys() and worst <= 0.005
    return (
        f"tnviz reproduce: {kills} SIGKILLs at random moments, {checked} checkpoint reads after them all valid; "
        f"the resumed run completed ({time.perf_counter() - started:.0f} s); accuracies differ from the "
        f"uninterrupted run's by at most {100 * worst:.2f} points"
    ) + ("" if ok else " — FAILURE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        lines = [distill_trials(args.trials, rng, tmp), reproduce_trials(args.trials, rng, tmp)]
    print("\n".join(lines))
    return 1 if any("FAILURE" in line for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main())

import copy
import threading

import pytest
import torch

import tnviz
from tnviz.compression import LeNet5, StopTraining, evaluate
from tnviz.compression.checkpoint import load_checkpoint, save_atomic
from tnviz.errors import TnvizError

from .helpers import on_step, small_mnist, state_equal

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    train, test = small_mnist()
    teacher = LeNet5()
    tnviz.distill(teacher, None, train, None, schedule="scratch", epochs=3, lr=3e-3, progress=False)
    return teacher, train, test


def test_scratch_training_learns_real_digits(setup):
    teacher, _, test = setup
    acc, loss = evaluate(teacher, test)
    assert acc > 0.8 and loss < 0.8


def test_e2e_distillation_recovers_accuracy_and_reports_metrics(setup):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="mtt", rate=0.1)
    steps, epochs = [], []

    class Recorder:
        def on_step(self, m):
            steps.append(m)

        def on_epoch(self, m):
            epochs.append(m)

    result = tnviz.distill(
        student, teacher, train, test, schedule="e2e", epochs=2, lr=3e-3, callbacks=[Recorder()], progress=False
    )
    assert len(epochs) == 2 and len(result.history) == 2
    assert len(steps) == 2 * 8 and steps[0]["steps"] == 8 and steps[-1]["step"] == 8
    assert {"train_loss", "train_acc", "test_acc", "seconds", "phase", "global_epoch"} <= set(epochs[-1])
    assert result.test_accuracy == epochs[-1]["test_acc"] > 0.7
    assert "final test accuracy" in str(result)
    assert all(p.requires_grad for p in student.parameters())


def test_seq_trains_one_block_at_a_time(setup):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="tk", rate=0.1)
    snapshots = []

    def on_epoch(metrics):
        snapshots.append((metrics["phase"], copy.deepcopy(student.state_dict())))

    start = copy.deepcopy(student.state_dict())
    result = tnviz.distill(
        student,
        teacher,
        train,
        test,
        schedule="seq",
        block_epochs=1,
        finetune_epochs=1,
        callbacks=[on_epoch],
        progress=False,
    )
    assert [h["phase"] for h in result.history] == ["block conv2", "block fc1", "fine-tune"]
    first = snapshots[0][1]
    changed = {k for k in start if not torch.equal(start[k], first[k])}
    assert changed and all(k.startswith("conv2.") for k in changed)
    second = snapshots[1][1]
    changed = {k for k in first if not torch.equal(first[k], second[k])}
    assert changed and all(k.startswith("fc1.") for k in changed)
    assert result.history[0]["train_loss"] > 0  # the block MSE
    with pytest.raises(TnvizError, match="block 'nope'"):
        tnviz.distill(student, teacher, train, test, schedule="seq", blocks=["nope"], progress=False)


def test_stop_by_callback_or_event_keeps_the_checkpoint_consistent(setup, tmp_path):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    ckpt = tmp_path / "run.pt"

    def stop_in_second_epoch(m):
        if m["global_epoch"] == 2 and m["step"] == 3:
            raise StopTraining

    result = tnviz.distill(
        student,
        teacher,
        train,
        test,
        epochs=3,
        checkpoint=ckpt,
        callbacks=[on_step(stop_in_second_epoch)],
        progress=False,
    )
    assert result.stopped and len(result.history) == 1
    state = load_checkpoint(ckpt, kind="tnviz-distill")
    assert len(state["history"]) == 1 and state["epoch"] == 1
    event = threading.Event()
    event.set()
    again = tnviz.distill(student, teacher, train, test, epochs=3, stop=event, progress=False)
    assert again.stopped and again.history == []


def test_resume_repeats_an_uninterrupted_run_exactly(setup, tmp_path):
    teacher, train, test = setup
    base, _ = tnviz.compress(teacher, format="tt", rate=0.05)
    full = copy.deepcopy(base)
    reference = tnviz.distill(
        full, teacher, train, test, schedule="seq", block_epochs=1, finetune_epochs=2, progress=False
    )
    ckpt = tmp_path / "run.pt"
    part = copy.deepcopy(base)
    stop_after = lambda m: m["global_epoch"] < 3  # stop after the fine-tune's first epoch
    first = tnviz.distill(
        part,
        teacher,
        train,
        test,
        schedule="seq",
        block_epochs=1,
        finetune_epochs=2,
        checkpoint=ckpt,
        callbacks=[stop_after],
        progress=False,
    )
    assert first.stopped and len(first.history) == 3
    resumed_model = copy.deepcopy(base)  # a fresh process would start from scratch and load the checkpoint
    resumed = tnviz.distill(
        resumed_model,
        teacher,
        train,
        test,
        schedule="seq",
        block_epochs=1,
        finetune_epochs=2,
        checkpoint=ckpt,
        resume=True,
        progress=False,
    )
    assert resumed.resumed_from == 3 and len(resumed.history) == 4
    assert state_equal(resumed_model, full)
    assert resumed.test_accuracy == reference.test_accuracy
    with pytest.raises(TnvizError, match="different run .*differs in lr"):
        tnviz.distill(
            copy.deepcopy(base),
            teacher,
            train,
            test,
            schedule="seq",
            block_epochs=1,
            finetune_epochs=2,
            lr=0.1,
            checkpoint=ckpt,
            resume=True,
            progress=False,
        )


def test_corrupted_truncated_or_foreign_checkpoints_are_refused(setup, tmp_path):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    ckpt = tmp_path / "run.pt"
    tnviz.distill(copy.deepcopy(student), teacher, train, test, epochs=1, checkpoint=ckpt, progress=False)
    data = ckpt.read_bytes()
    ckpt.write_bytes(data[: len(data) // 2])
    with pytest.raises(TnvizError, match="corrupted or truncated"):
        tnviz.distill(
            copy.deepcopy(student), teacher, train, test, epochs=1, checkpoint=ckpt, resume=True, progress=False
        )
    ckpt.write_bytes(b"\x00" * 100)
    with pytest.raises(TnvizError, match="corrupted or truncated"):
        load_checkpoint(ckpt)
    torch.save({"kind": "tnviz-distill", "payload": _Evil()}, ckpt)  # code in a pickle: weights_only refuses it
    with pytest.raises(TnvizError, match="corrupted or truncated, or holds more than plain data"):
        load_checkpoint(ckpt)
    save_atomic({"kind": "tnviz-teacher", "model": {}}, ckpt)
    with pytest.raises(TnvizError, match="'tnviz-teacher' file; expected 'tnviz-distill'"):
        tnviz.distill(
            copy.deepcopy(student), teacher, train, test, epochs=1, checkpoint=ckpt, resume=True, progress=False
        )
    assert not list(tmp_path.glob(".run.pt.*.tmp"))  # no temporary file left behind


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_bad_arguments_are_named(setup):
    teacher, train, test = setup
    student = LeNet5()
    for kwargs, token in [
        ({"schedule": "fast"}, "unknown schedule 'fast'"),
        ({"epochs": -1}, "epochs must be"),
        ({"batch_size": 0}, "batch_size must be"),
        ({"alpha": 2.0}, "alpha must be"),
        ({"lr": float("nan")}, "lr must be"),
        ({"resume": True}, "needs checkpoint"),
        ({"features": ["nope"], "feature_weight": 1.0}, "feature 'nope'"),
    ]:
        with pytest.raises(TnvizError, match=token):
            tnviz.distill(student, teacher, train, test, progress=False, **kwargs)
    with pytest.raises(TnvizError, match="needs a teacher"):
        tnviz.distill(student, None, train, test, schedule="e2e", progress=False)


def test_a_diverging_loss_stops_with_the_last_good_checkpoint(setup, tmp_path):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    ckpt = tmp_path / "run.pt"

    def poison(m):
        if m["global_epoch"] == 2 and m["step"] == 2:
            with torch.no_grad():
                next(student.parameters()).fill_(float("nan"))

    with pytest.raises(TnvizError, match="the loss became nan in phase 'e2e' at step 3; parameter conv1.weight holds"):
        tnviz.distill(
            student, teacher, train, test, epochs=3, checkpoint=ckpt, callbacks=[on_step(poison)], progress=False
        )
    state = load_checkpoint(ckpt)
    assert len(state["history"]) == 1 and all(torch.isfinite(v).all() for v in state["model"].values())


def test_feature_terms_and_resnet_stages_as_seq_blocks():
    from torch.utils.data import TensorDataset

    from tnviz.compression import resnet20

    torch.manual_seed(0)
    # synthetic CIFAR-shaped data: only the mechanics are under test here
    data = TensorDataset(torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,)))
    teacher = resnet20().eval()
    student, report = tnviz.compress(teacher, format="tk", rate=0.3, include="stage*")
    assert len(report.layers) == 18
    result = tnviz.distill(
        student,
        teacher,
        data,
        data,
        schedule="seq",
        blocks=["stage1", "stage2", "stage3"],
        block_epochs=1,
        batch_size=16,
        progress=False,
    )
    assert [h["phase"] for h in result.history] == ["block stage1", "block stage2", "block stage3"]
    e2e = tnviz.distill(
        student,
        teacher,
        data,
        None,
        schedule="e2e",
        epochs=1,
        features=["stage2"],
        feature_weight=1.0,
        batch_size=16,
        progress=False,
    )
    assert e2e.history[0]["test_acc"] is None and e2e.history[0]["train_loss"] > 0


def test_ctrl_c_returns_the_model_and_saves_the_partial_epoch(setup, tmp_path):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    ckpt = tmp_path / "run.pt"

    def interrupt(m):
        if m["global_epoch"] == 2 and m["step"] == 4:
            raise KeyboardInterrupt

    result = tnviz.distill(
        student, teacher, train, test, epochs=3, checkpoint=ckpt, callbacks=[on_step(interrupt)], progress=False
    )
    assert result.interrupted and result.stopped and result.model is student
    partial = load_checkpoint(tmp_path / "run.interrupted.pt", kind="tnviz-model")
    assert all(torch.equal(partial["model"][k], v) for k, v in student.state_dict().items())
    assert len(load_checkpoint(ckpt)["history"]) == 1  # the resumable checkpoint stays at the last whole epoch


def test_nan_in_inputs_or_weights_is_reported_where_it_enters(setup, tmp_path):
    from torch.utils.data import TensorDataset

    teacher, train, test = setup
    images, labels = train.tensors[0].clone(), train.tensors[1]
    images[5, 0, 3, 3] = float("nan")
    student, _ = tnviz.compress(teacher, format="tk", rate=0.1)
    with pytest.raises(TnvizError, match="the input batch holds NaN or Inf"):
        tnviz.distill(student, teacher, TensorDataset(images, labels), test, epochs=1, progress=False)
    broken = copy.deepcopy(teacher)
    with torch.no_grad():
        broken.conv2.weight[0, 0, 0, 0] = float("inf")
    with pytest.raises(TnvizError, match="layer 'conv2'.*NaN or Inf"):
        tnviz.compress(broken, format="tt", rate=0.1)


def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(setup, tmp_path, monkeypatch):
    import errno
    import os

    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    ckpt = tmp_path / "run.pt"
    real_fsync, calls = os.fsync, []

    def fsync(fd):
        calls.append(fd)
        if len(calls) == 3:  # the second epoch's checkpoint (each save fsyncs the file, then the folder)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(TnvizError, match="No space left on device.*previous version of it is intact"):
        tnviz.distill(student, teacher, train, test, epochs=3, checkpoint=ckpt, progress=False)
    monkeypatch.setattr(os, "fsync", real_fsync)
    state = load_checkpoint(ckpt, kind="tnviz-distill")
    assert len(state["history"]) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temporary file left


def test_modes_and_frozen_parameters_are_respected_and_restored(setup):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="tk", rate=0.1)
    student.conv1.weight.requires_grad_(False)  # the user froze it
    frozen_before = student.conv1.weight.detach().clone()
    student.eval()
    student.fc1.train()  # a mixed state evaluate() must not flatten
    tnviz.distill(student, teacher, train, test, epochs=1, progress=False)
    assert torch.equal(student.conv1.weight, frozen_before) and not student.conv1.weight.requires_grad
    assert all(p.requires_grad for p in student.fc1.parameters())
    assert not student.training and student.fc1.training and not student.conv2.training
    assert all(p.requires_grad for p in teacher.parameters())  # the teacher's flags come back too
    mixed = {n: m.training for n, m in student.named_modules()}
    evaluate(student, test)
    assert {n: m.training for n, m in student.named_modules()} == mixed


def test_test_every_evaluates_sparsely_but_always_at_the_end(setup):
    teacher, train, test = setup
    student, _ = tnviz.compress(teacher, format="cp", rate=0.1)
    result = tnviz.distill(student, teacher, train, test, epochs=3, test_every=0, progress=False)
    assert [h["test_acc"] is not None for h in result.history] == [False, False, True]
    result = tnviz.distill(student, teacher, train, test, epochs=3, test_every=2, progress=False)
    assert [h["test_acc"] is not None for h in result.history] == [False, True, True]
    with pytest.raises(TnvizError, match="test_every"):
        tnviz.distill(student, teacher, train, test, test_every=-1, progress=False)


def test_an_atomically_written_file_gets_the_mode_open_gives_it(tmp_path):
    """mkstemp makes its file 0600; a results file or checkpoint is then made readable as any
    other (0666 less the umask), and a file that exists keeps its own mode."""
    import os
    import stat

    from tnviz.compression.checkpoint import _umask, write_text_atomic

    fresh = write_text_atomic(tmp_path / "results.json", "{}")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()
    os.chmod(fresh, 0o640)
    assert stat.S_IMODE(write_text_atomic(fresh, "{1}").stat().st_mode) == 0o640
    mask = os.umask(0o027)  # the test reads what it set (and sets it back)
    try:
        assert _umask() == 0o027
    finally:
        os.umask(mask)

"""`tnviz compress --model path/to/file.py:Class` on a model defined in a file of its own, with
the user's own data (npz arrays, an image folder) and weights; errors name the user's file."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from tnviz import TnvizError
from tnviz.cli import main
from tnviz.compression import load_compressed
from tnviz.compression.data import load_image_folder, load_npz
from tnviz.compression.user_model import load_user_model

pytestmark = pytest.mark.slow  # seconds a test: the fast loop, pytest -m "not slow", leaves them to CI

MODEL_FILE = textwrap.dedent(
    """
    import torch
    from torch import nn
    from helper import WIDTH  # a neighbour of this file, imported as when the file runs


    class TinyNet(nn.Module):
        def __init__(self, classes: int = 3):
            super().__init__()
            self.conv1 = nn.Conv2d(1, WIDTH, 3, padding=1)
            self.conv2 = nn.Conv2d(WIDTH, 32, 3, padding=1)
            self.fc1 = nn.Linear(32, 32)
            self.fc2 = nn.Linear(32, classes)

        def forward(self, x):
            x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
            return self.fc2(torch.relu(self.fc1(x.mean((2, 3)))))


    def make_net(classes: int = 3):
        return TinyNet(classes)
    """
)


@pytest.fixture
def project(tmp_path):
    (tmp_path / "helper.py").write_text("WIDTH = 16\n")
    (tmp_path / "mynet.py").write_text(MODEL_FILE)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 1, 8, 8)).astype(np.float32)
    np.savez(tmp_path / "data.npz", x=x, y=rng.integers(0, 3, 40))
    return tmp_path


def test_the_compress_command_takes_a_model_defined_in_a_file_of_its_own(project, capsys):
    torch.manual_seed(0)
    teacher = load_user_model(f"{project}/mynet.py:TinyNet", {"classes": 3})
    torch.save(teacher.state_dict(), project / "weights.pt")
    out = project / "out"
    args = ["compress", "--model", f"{project}/mynet.py:TinyNet", "--kwargs", '{"classes": 3}', "--checkpoint"]
    args += [str(project / "weights.pt"), "--data", f"npz:{project}/data.npz", "--format", "tk", "--rate", "0.3"]
    assert main([*args, "--schedule", "none", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "conv2" in printed and "fc1" in printed and "test accuracy: teacher" in printed
    settings = json.loads((out / "model.json").read_text())
    assert settings["model"] == f"{project}/mynet.py:TinyNet" and settings["model_kwargs"] == {"classes": 3}
    assert set(settings["layers"]) == {"conv2", "fc1"} and settings["layers"]["conv2"]["format"] == "tk"
    x = torch.randn(2, 1, 8, 8)
    # rebuilt onto the user's class, or from the file the saved settings name: the same model
    onto_class = load_compressed(out / "model.pt", load_user_model(f"{project}/mynet.py:make_net"))
    by_name = load_compressed(out / "model.pt")
    assert torch.equal(onto_class(x), by_name(x))
    with torch.no_grad():
        assert (by_name(x) - teacher(x)).norm() / teacher(x).norm() < 1.0


def test_the_compressed_model_loads_in_a_fresh_process(project):
    torch.manual_seed(0)
    out = project / "out"
    args = ["compress", "--model", f"{project}/mynet.py:TinyNet", "--data", f"npz:{project}/data.npz"]
    assert main([*args, "--format", "tt", "--rate", "0.3", "--schedule", "none", "--out", str(out)]) == 0
    code = (
        "import torch; from tnviz.compression import load_compressed; "
        f"m = load_compressed({str(out / 'model.pt')!r}); print(tuple(m(torch.zeros(1, 1, 8, 8)).shape))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "(1, 3)"


def test_errors_name_the_users_file_and_never_advise_deleting_it(project, capsys):
    (project / "broken.py").write_text(
        "import torch\n\nclass Net(torch.nn.Module):\n    def __init__(self):\n        x = = 1\n"
    )
    (project / "raises.py").write_text("import torch\n\ndef net():\n    return undefined_name\n")
    cases = [
        (f"{project}/broken.py:Net", r"importing .*broken.py raised SyntaxError: .* \(broken.py, line 5\)"),
        (
            f"{project}/raises.py:net",
            r"raises.py:net\(\*\*\{\}\) raised NameError: .*undefined_name.* \(raises.py, line 4\)",
        ),
        (f"{project}/mynet.py:Nope", r"mynet.py has no class or function 'Nope'; it defines TinyNet"),
        (f"{project}/missing.py:Net", r"--model file .*missing.py does not exist"),
        ("no_such_package.models:Net", r"--model module 'no_such_package.models' is not importable"),
        ("lenet6", r"expected path/to/file.py:ClassOrFactory"),
    ]
    for spec, message in cases:
        with pytest.raises(TnvizError, match=message):
            load_user_model(spec)
    # a whole pickled model is refused as weights with what to save instead
    torch.save(nn.Linear(2, 2), project / "whole.pt")
    args = ["compress", "--model", f"{project}/mynet.py:TinyNet", "--checkpoint", str(project / "whole.pt")]
    assert main([*args, "--data", f"npz:{project}/data.npz", "--rate", "0.3", "--out", str(project / "o")]) == 2
    err = capsys.readouterr().err
    assert "whole pickled model" in err and "torch.save(model.state_dict(), path)" in err and "delete" not in err
    (project / "notes.json").write_text('{"not": "weights"}')  # a file torch.save did not write
    args = ["compress", "--model", f"{project}/mynet.py:TinyNet", "--checkpoint", str(project / "notes.json")]
    assert main([*args, "--data", f"npz:{project}/data.npz", "--rate", "0.3", "--out", str(project / "o")]) == 2
    err = capsys.readouterr().err
    assert "it is not a file torch.save wrote" in err and "pickled" not in err and "delete" not in err


def test_npz_and_image_folder_data(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(1)
    np.savez(tmp_path / "d.npz", inputs=rng.standard_normal((20, 4)), labels=rng.integers(0, 2, 20))
    train, test = load_npz(tmp_path / "d.npz")
    assert (len(train), len(test)) == (18, 2) and train[0][0].dtype == torch.float32
    np.savez(tmp_path / "t.npz", x=np.zeros((5, 3)), y=np.zeros(5), x_test=np.ones((2, 3)), y_test=np.ones(2))
    train, test = load_npz(tmp_path / "t.npz")
    assert (len(train), len(test)) == (5, 2)
    np.savez(tmp_path / "bad.npz", a=np.zeros(3))
    with pytest.raises(TnvizError, match="holds a; expected inputs and labels as x/y"):
        load_npz(tmp_path / "bad.npz")
    for split, count in (("train", 3), ("test", 1)):
        for label in ("cat", "dog"):
            folder = tmp_path / "images" / split / label
            folder.mkdir(parents=True)
            for k in range(count):
                value = 255 if label == "dog" else 0
                Image.fromarray(np.full((6, 5, 3), value, dtype=np.uint8)).save(folder / f"{k}.png")
    train, test = load_image_folder(tmp_path / "images")
    assert len(train) == 6 and len(test) == 2
    x, y = train.tensors
    assert x.shape == (6, 3, 6, 5) and y.tolist() == [0, 0, 0, 1, 1, 1] and float(x[-1].min()) == 1.0
    Image.fromarray(np.zeros((4, 4, 3), dtype=np.uint8)).save(tmp_path / "images" / "train" / "cat" / "odd.png")
    with pytest.raises(TnvizError, match="odd.png is 4×4, the first image 5×6"):
        load_image_folder(tmp_path / "images")


def test_export_writes_plain_pytorch_and_onnx_that_run_without_tnviz(project, capsys):
    import onnxruntime  # noqa: F401 - the onnx extra (CI installs it): missing, the test fails

    torch.manual_seed(0)
    out = project / "out"
    args = ["compress", "--model", f"{project}/mynet.py:TinyNet", "--data", f"npz:{project}/data.npz"]
    assert main([*args, "--format", "tt", "--rate", "0.3", "--schedule", "none", "--out", str(out)]) == 0
    shipped = project / "shipped"
    assert main(["export", str(out / "model.pt"), "--shape", "2,1,8,8", "--out", str(shipped)]) == 0
    printed = capsys.readouterr().out
    assert "model.pt2: torch.export program" in printed and "onnxruntime max |difference|" in printed
    x = torch.randn(2, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    torch.save(x, project / "x.pt")
    with torch.no_grad():
        want = load_compressed(out / "model.pt")(x)
    # a process in which importing tnviz fails: the files need torch (and onnxruntime) alone
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["tnviz"] = None
        import numpy, onnxruntime, torch
        x = torch.load({str(project / "x.pt")!r})
        y = torch.export.load({str(shipped / "model.pt2")!r}).module()(x)
        session = onnxruntime.InferenceSession({str(shipped / "model.onnx")!r}, providers=["CPUExecutionProvider"])
        (z,) = session.run(None, {{session.get_inputs()[0].name: x.numpy()}})
        torch.save((y.detach(), torch.from_numpy(z)), {str(project / "y.pt")!r})
        """
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    program, onnx = torch.load(project / "y.pt")
    assert torch.allclose(program, want, atol=1e-5) and torch.allclose(onnx, want, atol=1e-4)

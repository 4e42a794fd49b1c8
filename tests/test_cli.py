"""The ``tnviz`` command: the demo (the README's main job) and ``tnviz plan``."""

import io
import subprocess
import sys

from tnviz.cli import main
from tnviz.demo import run_demo


def test_demo_checks_every_paper_layer_against_dense():
    out = io.StringIO()
    assert run_demo(out, batch=2, length=6)
    text = out.getvalue()
    for name in ("standard", "cp", "tk", "tt", "tr", "mcp", "mtt"):
        assert f"=== {name} ===" in text
    assert text.count("(ok)") == text.count("=== ")
    assert "all layers agree with the dense convolution" in text


def test_plan_command_prints_a_table(capsys):
    assert main(["plan", "bsxy,tsxy->btxy|xy", "A=2,3,8,8", "B=4,3,3,3", "--padding", "1"]) == 0
    out = capsys.readouterr().out
    assert "conv2d x* pad=1 y* pad=1" in out and "FLOPs" in out


def test_plan_command_reports_bad_input_without_a_traceback(capsys):
    assert main(["plan", "bsxy,ts->btxy|xy", "A=2,3,8,8"]) == 2
    err = capsys.readouterr().err
    assert "tnviz: error:" in err and "Traceback" not in err and "'x'" in err


def test_console_script_runs():
    result = subprocess.run(
        [sys.executable, "-m", "tnviz.cli", "plan", "ij,jk->ik", "i=2", "j=3", "k=4"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "contract j" in result.stdout

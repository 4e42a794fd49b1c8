"""A real JupyterLab in headless Chromium (Debian's chromium, driven by Playwright): the widgets
render, a RankExplorer slider moves the parameter count and the diagram, and two tensors are
added and connected in the DiagramEditor with the mouse. Screenshots go to the test's folder
(and to docs/screenshots when TNVIZ_SCREENSHOTS=1)."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAS_BROWSER = Path(CHROMIUM).exists()
try:
    import jupyterlab  # noqa: F401
    import playwright.sync_api  # noqa: F401

    HAS_LAB = True
except ImportError:
    HAS_LAB = False

# CI installs chromium, JupyterLab and Playwright (.ci/run): there a missing one fails the run.
if os.environ.get("CI") and not (HAS_BROWSER and HAS_LAB):
    raise RuntimeError("CI needs chromium, jupyterlab and playwright; .ci/run installs them")
pytestmark = pytest.mark.skipif(not (HAS_BROWSER and HAS_LAB), reason="needs chromium, jupyterlab and playwright")

ROOT = Path(__file__).resolve().parents[2]
CELLS = [
    "from tnviz.widgets import RankExplorer, DiagramEditor",
    'explorer = RankExplorer(64, 64, 3, format="cp", rank=8, input_size=16)\nexplorer',
    "editor = DiagramEditor()\neditor",
]


def _notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "ui_test.ipynb"
    nbformat.write(nb, path)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    _notebook(tmp_path)
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime")}  # fmt: skip
    cmd = [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={tmp_path}"]  # fmt: skip
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    else:
        server.kill()
        raise RuntimeError("JupyterLab did not start:\n" + (tmp_path / "lab.log").read_text()[-2000:])
    yield base, token, tmp_path
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


def test_widgets_in_a_real_jupyterlab(lab):
    from playwright.sync_api import sync_playwright

    base, token, folder = lab
    shots = folder / "shots"
    shots.mkdir()
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        page.goto(f"{base}/lab/tree/ui_test.ipynb?token={token}")
        page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget", timeout=60_000)
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(
            "() => { const w = window.jupyterapp.shell.currentWidget; return w && w.sessionContext && "
            "w.sessionContext.session && w.sessionContext.session.kernel && "
            "w.sessionContext.session.kernel.status === 'idle'; }",
            timeout=90_000,
        )
        # not awaited: awaiting run-all inside evaluate would block until every cell is done
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        figures = page.wait_for_selector(".tn-rank-figures", timeout=90_000)
        no_news = page.locator(".jp-toast-button >> text=No")  # JupyterLab's "notify me about news?" toast
        if no_news.count():
            no_news.first.click()
        page.wait_for_selector(".tn-rank-picture svg", timeout=30_000)
        page.wait_for_selector(".tn-canvas", timeout=30_000)
        before = figures.inner_text()
        picture_before = page.inner_html(".tn-rank-picture")
        assert "1,072 of 36,864" in before, before  # CP rank 8: 8·(64 + 3 + 3 + 64)
        page.screenshot(path=str(shots / "rank_explorer_before.png"))

        # move the rank slider with the keyboard, as a user would
        handle = page.locator(".tn-rank-slider .noUi-handle").first
        handle.focus()
        for _ in range(4):
            handle.press("ArrowRight")
        page.wait_for_function(
            "() => document.querySelector('.tn-rank-figures').innerText.includes('r=12')", timeout=20_000
        )
        after = figures.inner_text()
        assert "r=12" in after and "1,608 of 36,864" in after, after  # four steps right: rank 12
        page.wait_for_function(
            "(old) => document.querySelector('.tn-rank-picture').innerHTML !== old", arg=picture_before, timeout=20_000
        )
        page.screenshot(path=str(shots / "rank_explorer_after.png"))

        # the editor: add two tensors, then drag from one to the other
        canvas = page.locator(".tn-canvas")
        canvas.scroll_into_view_if_needed()
        box = canvas.bounding_box()
        page.click(".tn-mode-tensor")
        a = (box["x"] + 120, box["y"] + 150)
        b = (box["x"] + 360, box["y"] + 150)
        page.mouse.click(*a)
        page.mouse.click(*b)
        page.wait_for_function("() => document.querySelectorAll('.tn-canvas .tn-tensor').length === 2", timeout=20_000)
        page.click(".tn-mode-connect")
        page.mouse.move(*a)
        page.mouse.down()
        page.mouse.move((a[0] + b[0]) / 2, a[1] + 10, steps=5)
        page.mouse.move(*b, steps=5)
        page.mouse.up()
        page.wait_for_function("() => document.querySelectorAll('.tn-canvas .tn-edge').length >= 2", timeout=20_000)
        page.wait_for_function(
            "() => document.querySelector('.tn-editor-spec').innerText.includes('A: i, B: i')", timeout=20_000
        )
        page.screenshot(path=str(shots / "diagram_editor.png"))
        browser.close()
    if os.environ.get("TNVIZ_SCREENSHOTS") == "1":
        target = ROOT / "docs" / "screenshots"
        target.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, target / shot.name)

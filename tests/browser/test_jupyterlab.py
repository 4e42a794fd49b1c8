"""All six widgets in a real JupyterLab in headless Chromium (Debian's chromium, driven by
Playwright), used as a person would: keyboard on sliders, clicks on buttons and points, the
DiagramEditor drawn with the mouse alone. Any browser console error or page error fails the
test that caused it. Screenshots go to the test's folder, and to docs/screenshots when
TNVIZ_SCREENSHOTS=1.

The tests share one JupyterLab page (starting one costs ~10 s) and run in file order.
"""

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from shared_helpers import free_port

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
pytestmark = [
    pytest.mark.skipif(not (HAS_BROWSER and HAS_LAB), reason="needs chromium, jupyterlab and playwright"),
    pytest.mark.slow,
]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
CELLS = [
    """import torch
from torch.utils.data import Subset
from tnviz.compression import LeNet5, mnist_offline
from tnviz.widgets import DecompositionExplorer, DiagramEditor, RankExplorer, TradeoffExplorer, TrainingDashboard
import tnviz
torch.manual_seed(0);
train, test = mnist_offline()
train, test = Subset(train, range(1024)), Subset(test, range(256))
teacher = LeNet5()""",
    'explorer = RankExplorer(64, 64, 3, format="cp", rank=8, input_size=16)\nexplorer',
    'decomposition = DecompositionExplorer(format="cp", rank=8, ranks=(1, 2, 4, 8, 16))\ndecomposition',
    """student, report = tnviz.compress(teacher, format="tk", rate=0.1)
dashboard = TrainingDashboard(report=report, title="live", redraw_every=0.3)
dashboard""",
    'run = dashboard.run(student, teacher, train, test, schedule="e2e", epochs=200, lr=2e-3, batch_size=64)',
    """tradeoff = TradeoffExplorer(teacher, train, test, formats=("tk",), rates=(0.1,), epochs=1, batch_size=128)
tradeoff""",
    """from tnviz.widgets.tradeoff_explorer import TradeoffPlot
stack = TradeoffPlot(formats=["cp", "tk"], points=[
    {"index": 0, "format": "cp", "rate": 0.1, "x": 10.0, "y": 90.0, "label": "cp @ 0.1"},
    {"index": 1, "format": "tk", "rate": 0.1, "x": 10.0, "y": 90.0, "label": "tk @ 0.1"},
    {"index": 2, "format": "tk", "rate": 0.2, "x": 20.0, "y": 95.0, "label": "tk @ 0.2"}])
stack.add_class("tn-stack")
stack""",
    """from tnviz.templates import mps, norm
from tnviz.widgets import ContractionPlayer
player = ContractionPlayer(norm(mps(5, bond=4)))
player""",
    "editor = DiagramEditor()\neditor",
    '''def train_one_step(editor):
    """One SGD step of the module built from the drawing."""
    module = editor.to_module()
    x = torch.randn(*editor.diagram.shape(editor.inputs[0]))
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    loss = module(x).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return f"trained one step of {type(module).__name__} {editor.spec!r}: loss {loss.item():.4f}"''',
    "",  # the test types here, as a user would
]


def _notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    path = folder / "widgets.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    folder = tmp_path_factory.mktemp("lab")
    _notebook(folder)
    port, token = free_port(), secrets.token_hex(16)
    # JupyterLab's "notified about news?" toast would cover the screenshots: answer it in the settings
    settings = folder / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {**os.environ, "PYTHONPATH": str(ROOT), "JUPYTER_CONFIG_DIR": str(folder / "config"),
           "JUPYTER_RUNTIME_DIR": str(folder / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(folder / "settings"),
           "MPLBACKEND": "Agg"}  # fmt: skip
    cmd = [sys.executable, "-m", "jupyter", "lab", "--allow-root", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True",
           "--LabApp.extension_manager=readonly", f"--ServerApp.root_dir={folder}"]  # fmt: skip
    log = open(folder / "lab.log", "w")
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
        raise RuntimeError("JupyterLab did not start:\n" + (folder / "lab.log").read_text()[-2000:])
    yield base, token, folder
    server.terminate()
    try:
        server.wait(15)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


class Page:
    """The one browser page and what its console said."""

    def __init__(self, page, folder: Path) -> None:
        self.page, self.shots, self.errors, self.checked = page, folder / "shots", [], 0
        self.shots.mkdir(exist_ok=True)
        page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))

    def screenshot(self, locator, name: str) -> None:
        locator.screenshot(path=str(self.shots / name))
        if os.environ.get("TNVIZ_SCREENSHOTS") == "1":
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(self.shots / name, SHOTS / name)

    def output_of(self, selector: str):
        """The output area of the cell that shows ``selector``."""
        return self.page.locator(".jp-OutputArea-output", has=self.page.locator(selector)).first


@pytest.fixture(scope="module")
def ui(lab):
    from playwright.sync_api import sync_playwright

    base, token, folder = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 2000})
        ui = Page(page, folder)
        page.goto(f"{base}/lab/tree/widgets.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook", timeout=60_000)
        page.wait_for_function(
            "() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; return w && "
            "w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel && "
            "w.sessionContext.session.kernel.status === 'idle'; }",
            timeout=90_000,
        )
        # not awaited: awaiting run-all inside evaluate would block until every cell is done
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
        page.wait_for_selector(".tn-canvas", timeout=120_000)
        yield ui
        browser.close()


@pytest.fixture
def page(ui):
    """The shared page; the test fails on any console error that appeared while it ran."""
    start = ui.checked  # the first test also answers for what opening the notebook logged
    yield ui
    ui.checked = len(ui.errors)
    assert ui.errors[start:] == [], "browser console errors:\n" + "\n".join(ui.errors[start:])


def _press(page, selector: str, key: str, times: int) -> None:
    handle = page.locator(selector).first
    handle.scroll_into_view_if_needed()
    handle.focus()
    for _ in range(times):
        handle.press(key)


def test_rank_explorer_format_and_slider(page):
    p = page.page
    figures = p.locator(".tn-rank-figures")
    p.wait_for_selector(".tn-rank-picture svg", timeout=60_000)
    assert "1,072 of 36,864" in figures.inner_text()  # CP rank 8: 8·(64 + 3 + 3 + 64)
    picture = p.inner_html(".tn-rank-picture")
    for leg in ("b=", "x=", "y="):  # every leg carries its size
        assert leg in picture, leg
    _press(p, ".tn-rank-slider .noUi-handle", "ArrowRight", 4)
    p.wait_for_function("() => document.querySelector('.tn-rank-figures').innerText.includes('1,608 of 36,864')")
    p.wait_for_function("(old) => document.querySelector('.tn-rank-picture').innerHTML !== old", arg=picture)
    # the format: a dropdown, chosen as a user chooses
    p.locator(".tn-rank-format select").select_option("tt")
    p.wait_for_function("() => !document.querySelector('.tn-rank-figures').innerText.includes('1,608 of 36,864')")
    text = figures.inner_text()
    assert "of 36,864" in text and "objective" in text.lower(), text
    page.screenshot(p.locator(".tn-rank-explorer"), "rank_explorer.png")
    # a format whose bound is above the first one drawn (cp's 275): End reaches it (noUiSlider keeps
    # the range a slider was first drawn with for its Home and End keys, so the explorer draws a new one)
    p.locator(".tn-rank-format select").select_option("mcp")
    p.wait_for_function("() => /rate ≤ 1\\s+646/.test(document.querySelector('.tn-rank-figures').innerText)")
    _press(p, ".tn-rank-slider .noUi-handle", "End", 1)
    p.wait_for_function(
        "() => { const m = document.querySelector('.tn-rank-figures').innerText.match(/rate ≤ 1\\s+(\\d+)/);"
        " return m && document.querySelector('.tn-rank-slider .widget-readout').innerText === m[1]; }"
    )


def test_decomposition_explorer_rank_change(page):
    p = page.page
    p.wait_for_selector("img.tn-decomposition-images", timeout=60_000)
    label = p.locator(".tn-decomposition-label").first
    before, image = label.inner_text(), p.locator("img.tn-decomposition-images").first.get_attribute("src")
    curves = p.locator("img.tn-decomposition-curves").first.get_attribute("src")
    _press(p, ".tn-decomposition-slider .noUi-handle", "ArrowRight", 1)
    p.wait_for_function(
        "(old) => document.querySelector('.tn-decomposition-label').innerText !== old", arg=before, timeout=30_000
    )
    p.wait_for_function(
        "(old) => document.querySelector('img.tn-decomposition-images').getAttribute('src') !== old",
        arg=image,
        timeout=30_000,
    )
    assert label.inner_text().startswith("cp rank 9:"), label.inner_text()  # one step right of 8
    p.wait_for_function(  # the error plot marks the new choice
        "(old) => document.querySelector('img.tn-decomposition-curves').getAttribute('src') !== old",
        arg=curves,
        timeout=30_000,
    )
    page.screenshot(p.locator(".tn-decomposition-explorer"), "decomposition_explorer.png")


def test_training_dashboard_live_curve_then_stop(page):
    p = page.page
    plot = ".tn-dashboard-plot"
    p.wait_for_function(
        f"() => {{ const i = document.querySelector('{plot}'); return i && i.getAttribute('src'); }}", timeout=90_000
    )
    first = p.locator(plot).get_attribute("src")
    p.wait_for_function(f"(old) => document.querySelector('{plot}').getAttribute('src') !== old", arg=first,
                        timeout=60_000)  # fmt: skip
    assert "step" in p.locator(".tn-dashboard-status").inner_text(), p.locator(".tn-dashboard").inner_text()
    p.wait_for_function(  # two epochs in: the accuracy curves have points too
        "() => document.querySelector('.tn-dashboard-progress').innerText.includes('epoch 3')", timeout=60_000
    )
    p.wait_for_timeout(700)  # the next redraw (every 0.3 s) shows them
    page.screenshot(p.locator(".tn-dashboard"), "training_dashboard.png")
    p.locator("button.tn-dashboard-stop").click()
    p.wait_for_function(
        "() => document.querySelector('.tn-dashboard-status').innerText.startsWith('stopped')", timeout=15_000
    )


def test_tradeoff_explorer_point_appears_and_a_click_shows_its_diagrams(page):
    p = page.page
    run = p.locator("button.tn-tradeoff-run")
    run.scroll_into_view_if_needed()
    run.click()
    # the explorer's own plot: the page holds a second TradeoffPlot (the stack test's)
    p.wait_for_selector(".tn-tradeoff-explorer circle.tn-tradeoff-point", timeout=180_000)
    p.wait_for_function(
        "() => document.querySelector('button.tn-tradeoff-run').disabled && "
        "document.querySelector('button.tn-tradeoff-stop').disabled",
        timeout=60_000,
    )  # the sweep is done: nothing left to run or stop
    details = p.locator(".tn-tradeoff-details")
    point = p.locator(".tn-tradeoff-explorer circle.tn-tradeoff-point").first
    assert point.get_attribute("data-format") == "tk"
    point.click()
    p.wait_for_function("() => document.querySelector('.tn-tradeoff-details').innerText.includes('tk')")
    p.wait_for_selector(".tn-tradeoff-details svg", timeout=30_000)  # its layer diagrams
    assert "FLOPs" in details.inner_text() and "—" not in p.locator(".tn-tradeoff-summary").inner_text()
    chooser = p.locator(".tn-tradeoff-chooser select")
    assert (
        chooser.evaluate("s => s.options[0].text.replace(/\\u00a0/g, ' ')") == "choose one of 1 point"
    )  # never a blank dropdown
    page.screenshot(p.locator(".tn-tradeoff-explorer"), "tradeoff_explorer.png")
    # the sweep grows from its boxes: Run is enabled again for what is new; Clear drops the point
    rates = p.locator(".tn-tradeoff-rates input")
    rates.fill("0.1, 0.2")
    rates.press("Enter")
    p.wait_for_function("() => document.querySelector('.tn-tradeoff-status').innerText === '1 student to train'")
    assert p.locator("button.tn-tradeoff-run").is_enabled()
    p.click("button.tn-tradeoff-clear")
    p.wait_for_function("() => document.querySelector('.tn-tradeoff-status').innerText === '2 students to train'")
    p.wait_for_selector(".tn-tradeoff-explorer .tn-tradeoff-empty")
    assert chooser.evaluate("s => s.options[s.selectedIndex].text.replace(/\\u00a0/g, ' ')") == "no point yet"


def test_tradeoff_plot_reaches_every_point_of_a_stack(page):
    """Two points at one place: a click picks the nearest, the next click on it the other one."""
    p = page.page
    plot = p.locator(".tn-stack")
    plot.scroll_into_view_if_needed()
    stacked = plot.locator("circle.tn-tradeoff-point[data-index='1']")
    box = stacked.bounding_box()
    centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    def chosen_after_click(x, y):
        before = plot.locator(".tn-tradeoff-selected").count() and plot.locator(".tn-tradeoff-selected").get_attribute(
            "data-index"
        )
        p.mouse.click(x, y)
        p.wait_for_function(
            "([root, old]) => { const s = document.querySelector(root + ' .tn-tradeoff-selected');"
            " return s && s.getAttribute('data-index') !== old; }",
            arg=[".tn-stack", before or ""],
        )
        return plot.locator(".tn-tradeoff-selected").get_attribute("data-index")

    first = chosen_after_click(*centre)
    second = chosen_after_click(*centre)
    assert {first, second} == {"0", "1"}
    assert chosen_after_click(*centre) == first  # round the stack again
    lone = plot.locator("circle.tn-tradeoff-point[data-index='2']").bounding_box()
    # 7 px beside the lone point (outside its 5.5 px circle): the nearest point is still picked
    assert chosen_after_click(lone["x"] + lone["width"] / 2 + 7, lone["y"] + lone["height"] / 2) == "2"


def _drag(p, a, b) -> None:
    p.mouse.move(*a)
    p.mouse.down()
    p.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2 + 7, steps=4)
    p.mouse.move(*b, steps=4)
    p.mouse.up()


def _spec(p) -> str:
    return p.locator(".tn-editor-spec").inner_text()


def _wait_spec(p, text: str) -> None:
    try:
        p.wait_for_function(
            "(t) => document.querySelector('.tn-editor-spec').innerText === t", arg=text, timeout=20_000
        )
    except Exception:
        message = p.locator(".tn-editor-message").inner_text()
        raise AssertionError(f"the editor shows {_spec(p)!r} (message {message!r}), expected {text!r}") from None


def _edit(p, locator, text: str) -> None:
    """Double-click, type into the in-place box, Enter."""
    locator.dblclick()
    box = p.locator(".tn-edit-box")
    box.wait_for(timeout=10_000)
    box.fill(text)
    box.press("Enter")


def test_contraction_player_plays_to_its_end_then_compares_with_opt_einsum(page):
    p = page.page
    player = p.locator(".tn-contraction-player")
    player.scroll_into_view_if_needed()
    p.wait_for_selector("img.tn-player-picture", timeout=60_000)
    captions = p.locator(".tn-player-caption")
    assert captions.count() == 2 and "auto: next" in captions.first.inner_text()
    first = p.locator("img.tn-player-picture").first.get_attribute("src")
    player.locator(".tn-player-play button").first.click()  # ▶, as a user plays it
    p.wait_for_function(
        "(old) => document.querySelector('img.tn-player-picture').getAttribute('src') !== old", arg=first
    )
    p.wait_for_function(
        "() => document.querySelector('.tn-player-caption').innerText.includes('done in 9 steps')", timeout=60_000
    )
    p.wait_for_function(  # the figures follow the caption (each is its own widget message)
        "() => document.querySelector('.tn-player-figures').innerText.includes('(100 %)')", timeout=30_000
    )
    figures = p.locator(".tn-player-figures").first.inner_text()
    assert "9 of 9" in figures, figures
    page.screenshot(player, "contraction_player.png")
    _press(p, ".tn-player-step .noUi-handle", "ArrowLeft", 5)  # back to step 4, by keyboard
    p.wait_for_function("() => document.querySelector('.tn-player-figures').innerText.includes('4 of 9')")
    p.wait_for_function(
        "() => document.querySelectorAll('.tn-player-figures')[1].innerText.includes('4 of 9')", timeout=30_000
    )
    page.screenshot(player, "contraction_player_step4.png")
    player.locator(".tn-player-compare select").select_option("opt_einsum")
    p.wait_for_function(
        "() => [...document.querySelectorAll('.tn-player-caption')].some(c => c.innerText.startsWith('opt_einsum'))",
        timeout=30_000,
    )


def test_diagram_editor_draws_cp_with_the_mouse_alone_then_trains_it(page):
    p = page.page
    canvas = p.locator(".tn-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()

    def at(x, y):
        return (box["x"] + x, box["y"] + y)

    a, b, c = at(130, 90), at(130, 270), at(400, 180)
    for spot in (a, b, c):  # draw mode: a click on empty space adds a tensor
        p.mouse.click(*spot)
        time.sleep(0.4)  # a second click this soon would be a double-click
    p.wait_for_function("() => document.querySelectorAll('.tn-canvas .tn-tensor').length === 3", timeout=20_000)
    _drag(p, a, b)  # A onto B: a new index
    _wait_spec(p, "A: i, B: i, C: ->")
    _drag(p, c, at(130, 180))  # C onto the A–B edge: it joins the index (the CP hub)
    _wait_spec(p, "A: i, B: i, C: i ->")
    for tensor, free in ((a, at(40, 40)), (b, at(40, 330)), (c, at(530, 180))):  # open legs
        _drag(p, tensor, free)
    _wait_spec(p, "A: i j, B: i k, C: i l -> j k l")
    labels = p.locator(".tn-canvas .tn-edge-label")
    for old, new in (("i", "r"), ("j", "i"), ("k", "j"), ("l", "k")):  # rename the indices in place
        _edit(p, labels.filter(has_text=re.compile(rf"^{old}=4$")), new)
        p.wait_for_selector(f".tn-canvas .tn-edge-label >> text=/^{new}=4$/", timeout=10_000)
    _wait_spec(p, "A: r i, B: r j, C: r k -> i j k")
    for tensor, name, modes in ((a, "A", "i r"), (b, "B", "j r"), (c, "C", "k r")):  # order each tensor's indices
        p.mouse.dblclick(*tensor)
        box_ = p.locator(".tn-edit-box")
        box_.wait_for(timeout=10_000)
        box_.fill(f"{name}: {modes}")
        box_.press("Enter")
    _wait_spec(p, "A: i r, B: j r, C: k r -> i j k")
    p.click(".tn-mode-role")
    p.mouse.click(*a)  # A is the input: it turns blue
    p.wait_for_selector(".tn-canvas .tn-role-input", timeout=10_000)
    p.click(".tn-undo")
    p.wait_for_function("() => !document.querySelector('.tn-canvas .tn-role-input')", timeout=10_000)
    p.click(".tn-redo")
    p.wait_for_selector(".tn-canvas .tn-role-input", timeout=10_000)
    assert _spec(p) == "A: i r, B: j r, C: k r -> i j k"
    assert p.locator(".tn-editor-message").inner_text() == ""
    p.wait_for_selector(".tn-editor-picture svg", timeout=20_000)
    p.click(".tn-mode-grad")
    p.mouse.click(*b)  # B's gradient diagram beside the picture, with its cost
    p.wait_for_selector(".tn-editor-gradient svg", timeout=20_000)
    gradient = p.locator(".tn-editor-gradient").inner_text()
    assert "∂L/∂B" in gradient and "dB: j r" in gradient and "FLOPs" in gradient, gradient
    page.screenshot(page.output_of(".tn-canvas"), "diagram_editor.png")

    # build the module and train one step: type into the last cell, as a user would
    cell = p.locator(".jp-Notebook .jp-Cell").last
    cell.scroll_into_view_if_needed()
    cell.locator(".cm-content").click()
    p.keyboard.type("print(train_one_step(editor))")
    p.keyboard.press("Shift+Enter")
    p.wait_for_selector(".jp-OutputArea-output >> text=trained one step", timeout=60_000)
    out = p.locator(".jp-OutputArea-output", has_text="trained one step").inner_text()
    assert "TensorNetwork 'A: i r, B: j r, C: k r -> i j k'" in out, out


def test_diagram_editor_template_resized_saved_and_reopened(page):
    p = page.page
    editor = page.output_of(".tn-canvas")
    editor.scroll_into_view_if_needed()
    p.locator(".tn-editor-template select").select_option("MPS")
    size = p.locator(".tn-editor-template-size input")
    size.fill("5")
    size.press("Enter")
    p.click(".tn-editor-insert")
    chain5 = "A1: p1 b1, A2: b1 p2 b2, A3: b2 p3 b3, A4: b3 p4 b4, A5: b4 p5 -> p1 p2 p3 p4 p5"
    _wait_spec(p, chain5)
    size.fill("6")  # resized after insertion: the chain grows by one site
    size.press("Enter")
    _wait_spec(p, chain5.replace("A5: b4 p5 -> p1 p2 p3 p4 p5", "A5: b4 p5 b5, A6: b5 p6 -> p1 p2 p3 p4 p5 p6"))
    saved_spec = _spec(p)
    with p.expect_download() as download:  # the link, clicked as a user saves
        p.click(".tn-editor-download a")
    path = page.shots.parent / "drawing.json"
    download.value.save_as(path)
    assert '"format": "tnviz.drawing"' in path.read_text()
    p.locator(".tn-editor-template select").select_option("PEPS")
    p.click(".tn-editor-insert")
    p.wait_for_function("() => document.querySelector('.tn-editor-spec').innerText.startsWith('A1_1')")
    with p.expect_file_chooser() as chooser:  # reopened from the file, as a user picks it
        p.click(".tn-editor-upload")
    chooser.value.set_files(str(path))
    _wait_spec(p, saved_spec)
    page.screenshot(editor, "diagram_editor_template.png")


def test_the_widgets_fit_a_narrow_window(page):
    """At 700 px (a notebook area of about 350 px) nothing overlaps and nothing runs off the right."""
    p = page.page
    p.set_viewport_size({"width": 700, "height": 2000})
    try:
        time.sleep(1.5)  # JupyterLab lays the notebook out again
        controls = p.locator(".tn-rank-format").first.bounding_box()
        figures = p.locator(".tn-rank-figures").first.bounding_box()
        overlap = not (
            figures["y"] >= controls["y"] + controls["height"] or figures["x"] >= controls["x"] + controls["width"]
        )
        assert not overlap, (controls, figures)
        for selector in (".tn-canvas", ".tn-editor-picture svg", "img.tn-player-picture", ".tn-tradeoff-rates",
                         ".tn-tradeoff-explorer svg.tn-tradeoff-plot", ".tn-decomposition-slider"):  # fmt: skip
            item = p.locator(selector).first
            item.scroll_into_view_if_needed()
            box = item.bounding_box()
            area = p.locator(".jp-OutputArea-output", has=p.locator(selector)).first.bounding_box()
            assert box["x"] + box["width"] <= area["x"] + area["width"] + 1, (selector, box, area)
    finally:
        p.set_viewport_size({"width": 1400, "height": 2000})

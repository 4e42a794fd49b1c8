"""docs/pytorch.md: every python snippet runs, in order, in one namespace (each checks itself)."""

import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "pytorch.md"


@pytest.mark.slow  # seconds: the fast loop leaves it to CI
def test_every_snippet_of_the_pytorch_page_runs(tmp_path, monkeypatch):
    import tensorly

    snippets = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(snippets) >= 10
    monkeypatch.chdir(tmp_path)  # the ONNX file is written here
    namespace: dict = {}
    backend = tensorly.get_backend()
    try:
        for k, code in enumerate(snippets):
            exec(compile(code, f"{DOC.name} snippet {k + 1}", "exec"), namespace)
    finally:
        tensorly.set_backend(backend)
    assert (tmp_path / "model.onnx").exists()

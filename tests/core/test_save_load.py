"""Diagram.save(".json") and Diagram.load: the diagram back whole; other versions refused by name."""

import json

import pytest

from tnviz import Diagram, TnvizError
from tnviz.templates import layer, peps


@pytest.mark.parametrize(
    "diagram",
    [
        Diagram.parse("A: i j, B: j k -> i k", sizes={"j": 3}),
        layer("mtt", 16, 16, 3, rank=3, padding=1, stride=2),
        peps(2, 3, bond=2),
    ],
    ids=["chain", "mtt-layer", "peps"],
)
def test_a_saved_diagram_loads_back_equal(diagram, tmp_path):
    path = tmp_path / "d.json"
    diagram.save(str(path))
    loaded = Diagram.load(str(path))
    assert loaded == diagram and loaded.sizes == diagram.sizes and loaded.options == diagram.options
    assert json.loads(path.read_text())["version"] == 1


def test_another_version_or_a_missing_file_is_refused_by_name(tmp_path):
    path = tmp_path / "future.json"
    data = json.loads(Diagram.parse("ab,bc->ac").to_json())
    data["version"] = 7
    path.write_text(json.dumps(data))
    with pytest.raises(TnvizError, match="future.json: not a tnviz diagram: unsupported version 7"):
        Diagram.load(str(path))
    with pytest.raises(TnvizError, match="cannot read .*missing.json"):
        Diagram.load(str(tmp_path / "missing.json"))
    with pytest.raises(TnvizError, match="unknown file type 'txt'; expected json"):
        Diagram.parse("ab,bc->ac").save(str(tmp_path / "d.txt"))


def test_a_drawing_file_is_read_strictly_its_version_first():
    import json

    import pytest

    from tnviz import Diagram, TnvizError
    from tnviz.core.serialize import Drawing, drawing_from_json, drawing_to_json

    d = Diagram.parse("A: i j, B: j k -> i k", sizes={"i": 2, "j": 3, "k": 4})
    good = json.loads(drawing_to_json(Drawing(d, {"A": (1.0, 2.0)}, ("A",))))
    for change, message in (
        ({"version": 2, "layers": []}, "version 2"),  # a newer file with a field this reader lacks
        ({"version": True}, "version True"),
        ({"version": 1.0}, "version 1.0"),
        ({"inputs": [[1]]}, "'inputs' must name tensors"),
        ({"inputs": ["A", "A"]}, "names a tensor twice"),
        ({"positions": {"A": [1.0, float("nan")]}}, "position of 'A'"),
    ):
        with pytest.raises(TnvizError, match=message):
            drawing_from_json(json.dumps({**good, **change}))
    assert drawing_from_json(json.dumps(good)).inputs == ("A",)

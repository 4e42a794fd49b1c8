"""tnviz.core stays standard-library only."""

import subprocess
import sys


def test_core_loads_no_heavy_modules():
    code = (
        "import sys, tnviz, tnviz.core, tnviz.core.plan, tnviz.core.diagram, tnviz.core.spec;"
        "d = tnviz.Diagram.parse('bsxy,tsxy->btxy|xy', sizes={'A': (1, 2, 5, 5), 'B': (3, 2, 3, 3)});"
        "print(d.plan());"
        "names = ('torch', 'numpy', 'graphviz', 'matplotlib', 'ipywidgets', 'opt_einsum');"
        "heavy = [m for m in names if m in sys.modules];"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out

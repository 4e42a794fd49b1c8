"""JupyterLab widgets over tnviz (ipywidgets 8; the editor's canvas is an anywidget).

They hold no math of their own: every figure comes from ``tnviz.core``, ``tnviz.nn`` and
``tnviz.compression``. Needs ``pip install "tnviz[notebook]"``.
"""

from tnviz.widgets.contraction_player import ContractionPlayer
from tnviz.widgets.decomposition_explorer import DecompositionExplorer
from tnviz.widgets.diagram_editor import DiagramEditor
from tnviz.widgets.rank_explorer import RankExplorer
from tnviz.widgets.tradeoff_explorer import TradeoffExplorer
from tnviz.widgets.training_dashboard import TrainingDashboard

__all__ = [
    "RankExplorer",
    "DecompositionExplorer",
    "TrainingDashboard",
    "TradeoffExplorer",
    "DiagramEditor",
    "ContractionPlayer",
]

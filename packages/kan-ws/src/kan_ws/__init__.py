"""kan-ws: weight-space learning on KANs - model zoos, WS-KAN, the six baselines and every task.

>>> from kan_ws import WSKAN
>>> model = WSKAN(out_dim=10, level="graph")   # reads any KAN-graph batch from kan_graph.to_graph
"""

from importlib import metadata as _metadata

from .models import WSKAN, build_model

__version__ = _metadata.version("kan-ws")  # from the repository's VERSION file
__all__ = ["WSKAN", "build_model", "__version__"]

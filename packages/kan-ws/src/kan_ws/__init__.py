"""kan-ws: weight-space learning on KANs - model zoos, WS-KAN, the six baselines and every task.

>>> from kan_ws import WSKAN
>>> model = WSKAN(out_dim=10, level="graph")   # reads any KAN-graph batch from kan_graph.to_graph
"""

from kan_core._version import distribution_version

from .models import WSKAN, build_model

__version__ = distribution_version("kan-ws", __file__)  # the repository's VERSION file
__all__ = ["WSKAN", "build_model", "__version__"]

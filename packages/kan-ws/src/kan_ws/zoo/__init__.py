"""Model zoos of trained KANs (WS-KAN paper, appendix C) and their storage.

* :func:`build_zoo` trains a preset's models with the batched engine, sharded and resumable.
* :func:`load_zoo` reads a zoo folder into a :class:`Zoo` (checked: hashes, shapes, dtypes, finiteness).
* :data:`PRESETS`: ``sine-paper``, ``mnist-inr-paper``, ``fmnist-inr-paper``, ``cifar10-inr-paper``,
  ``mnist-clf-paper``, ``fmnist-clf-paper``, ``kmnist-clf-paper``, the OOD ``*-inr-h{48..96}-paper``, and
  the CPU-scale ``sine-cpu``, ``digits-inr-cpu``, ``fmnist-inr-cpu``, ``digits-clf-cpu``, ``fmnist-clf-cpu``.
* :func:`with_basis` puts a preset's KANs on any registered basis (B-splines by default), e.g.
  ``build_zoo(with_basis("sine-cpu", "chebyshev", degree=4), out)`` (``kan zoo build ... --basis``).

Names are imported lazily (so ``kan_ws.zoo.cli`` can be loaded without torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "build_zoo",
    "load_zoo",
    "verify_zoo",
    "Zoo",
    "ZooError",
    "PRESETS",
    "Preset",
    "get_preset",
    "with_basis",
    "fingerprint",
    "make_task",
]

_WHERE = {
    "build_zoo": "build",
    "fingerprint": "build",
    "make_task": "build",
    "load_zoo": "store",
    "verify_zoo": "store",
    "Zoo": "store",
    "ZooError": "store",
    "PRESETS": "presets",
    "Preset": "presets",
    "get_preset": "presets",
    "with_basis": "presets",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)

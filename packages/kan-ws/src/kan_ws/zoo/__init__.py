"""Model zoos of trained KANs (WS-KAN paper, appendix C) and their storage.

* :func:`build_zoo` trains a preset's models with the batched engine, sharded and resumable.
* :func:`load_zoo` reads a zoo folder into a :class:`Zoo` (checked: hashes, shapes, dtypes, finiteness).
* :data:`PRESETS`: ``sine-paper``, ``mnist-inr-paper``, ``fmnist-inr-paper``, ``cifar10-inr-paper``,
  ``mnist-clf-paper``, ``fmnist-clf-paper``, ``kmnist-clf-paper`` and the CPU-scale ``sine-cpu``,
  ``digits-inr-cpu``, ``fmnist-inr-cpu``, ``digits-clf-cpu``, ``fmnist-clf-cpu``.
"""

from .build import build_zoo, fingerprint, make_task
from .presets import PRESETS, Preset, get_preset
from .store import Zoo, ZooError, load_zoo, verify_zoo

__all__ = [
    "build_zoo",
    "load_zoo",
    "verify_zoo",
    "Zoo",
    "ZooError",
    "PRESETS",
    "Preset",
    "get_preset",
    "fingerprint",
    "make_task",
]

"""kan-metakan test configuration: single-threaded torch for every test.

The tests are tiny; on a shared 2-core machine two intra-op threads per op oversubscribe the CPU and make
them several times slower (measured: a PINN step went from ~0.15 s to ~7 s under load).
"""

import pytest
import torch


@pytest.fixture(autouse=True)
def _threads():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

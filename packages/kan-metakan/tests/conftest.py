"""kan-metakan test setup: Triton's interpreter without CUDA (see kan-core's tests/conftest.py)."""

from kan_core.testing import use_triton_interpreter_without_cuda

use_triton_interpreter_without_cuda()

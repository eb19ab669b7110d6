"""kan-core test setup: Triton's interpreter for the Triton kernel tests when there is no CUDA device.

``TRITON_INTERPRET=1`` is set here, before any test imports ``kan_core.triton.kernels``: ``triton.jit``
reads it when the kernels are *defined* (first import of that module), so setting it inside a test would
be too late once another test had imported them. With CUDA the kernels compile for the GPU and the same
tests run on CUDA tensors. An explicit ``TRITON_INTERPRET`` in the environment is left as it is.
"""

from kan_core.testing import use_triton_interpreter_without_cuda

use_triton_interpreter_without_cuda()

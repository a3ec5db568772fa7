"""tvmini: a small tensor compiler — te expressions, schedules, loop IR, LLVM codegen."""
from importlib import import_module

from . import te, tir
from ._version import __version__
from .codegen import build
from .errors import (ArgumentError, AutogradError, BuildError, DataError, DeviceError, DTypeError, IndexingError,
                     ParameterError, ScheduleError, ShapeError, TVMiniError)
from .lower import lower
from .debug import get_debug, kernel_cache_info, set_debug
from .explain import explain
from .profiler import profiler
from . import autotune  # noqa: F401  (installs the tuning-log lookup of topi.default_schedule)
from .runtime import Device, NDArray, cpu, cuda
from .runtime import ndarray as nd

#: The graph layer (Tensor and its constructors, nn, optim, jit, save/load) is imported on
#: first use of any of these names, so a process that only runs compiled code
#: (``tm.runtime.load_module``, ``tm.runtime.load_jit``) never loads it.
_GRAPH_LAYER = ("Tensor", "arange", "cat", "chunk", "clamp", "enable_grad", "from_numpy", "full", "is_grad_enabled",
                "jit", "manual_seed", "no_grad", "ones", "ones_like", "rand", "randn", "split", "squeeze", "stack",
                "tensor", "unsqueeze", "where", "index_select", "logsumexp", "std", "var", "zeros", "zeros_like", "nn", "optim", "save", "load", "graph",
                "serialization")


def __getattr__(name):
    """Import the graph layer (all of it, in its usual order) on first use of one of its names."""
    if name not in _GRAPH_LAYER:
        raise AttributeError(f"module 'tvmini' has no attribute {name!r}")
    global Tensor, arange, cat, chunk, clamp, enable_grad, from_numpy, full, is_grad_enabled, jit, manual_seed
    global no_grad, ones, ones_like, rand, randn, split, squeeze, stack, tensor, unsqueeze, where, zeros, zeros_like
    global index_select, logsumexp, std, var
    global nn, optim, save, load
    from .serialization import load, save
    nn, optim = import_module(".nn", __name__), import_module(".optim", __name__)
    from .graph import (Tensor, arange, cat, chunk, clamp, enable_grad, from_numpy, full, is_grad_enabled, jit,
                        manual_seed, no_grad, ones, ones_like, rand, randn, split, squeeze, stack, tensor, unsqueeze,
                        where, zeros, zeros_like, index_select, logsumexp, std, var)
    return globals()[name]


def __dir__():
    return sorted(set(globals()) | set(_GRAPH_LAYER))


__all__ = ["te", "tir", "build", "lower", "nd", "cpu", "cuda", "Device", "NDArray", "TVMiniError", "ArgumentError",
           "ScheduleError", "ShapeError", "DTypeError", "DeviceError", "BuildError", "DataError",
           "IndexingError", "ParameterError", "AutogradError",
           "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "zeros", "ones", "full", "randn",
           "rand", "arange", "from_numpy", "manual_seed", "nn", "optim", "save", "load", "jit", "cat", "stack",
           "split", "chunk", "squeeze", "unsqueeze", "clamp", "where", "zeros_like", "ones_like", "index_select", "logsumexp", "std", "var"]
__all__ += ["explain", "kernel_cache_info", "set_debug", "get_debug", "profiler"]

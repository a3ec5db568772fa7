"""tvmini: a small tensor compiler — te expressions, schedules, loop IR, LLVM codegen."""
from importlib import import_module

from . import te, tir
from ._version import __version__
from .codegen import build
from .errors import (ArgumentError, AutogradError, BuildError, DataError, DeviceError, DTypeError, IndexingError,
                     ParameterError, ScheduleError, ShapeError, TVMiniError, ValueOverflowError)
from .lower import lower
from .debug import get_debug, kernel_cache_info, set_debug
from .explain import explain
from .profiler import profiler
from . import autotune  # noqa: F401  (installs the tuning-log lookup of topi.default_schedule)
from .runtime import Device, NDArray, cpu, cuda
from ._graph_names import GRAPH_FUNCTIONS as _GRAPH_FUNCTIONS, SHADOWING_BUILTINS as _SHADOWING_BUILTINS
from .runtime import ndarray as nd

#: dtype names as constants (``dtype=tm.float64``, as ``torch.float64`` reads); tvmini's
#: dtypes are these strings
float16, float32, float64, int8, uint8, int32, int64 = (
    "float16", "float32", "float64", "int8", "uint8", "int32", "int64")
bool = "bool"  # noqa: A001  (shadows the builtin inside this module only; not in __all__)

#: The graph layer's names at the top level (Tensor and its constructors and functions,
#: nn, optim, data, jit, save/load) import it on first use of any of them, so a process that only
#: runs compiled code (``tm.runtime.load_module``, ``tm.runtime.load_jit``) never loads it.
_GRAPH_LAYER = _GRAPH_FUNCTIONS + ("nn", "optim", "data", "save", "load", "graph", "serialization")


def __getattr__(name):
    """Import the graph layer (all of it, in its usual order) on first use of one of its names."""
    if name not in _GRAPH_LAYER:
        raise AttributeError(f"module 'tvmini' has no attribute {name!r}")
    serialization = import_module(".serialization", __name__)
    names = globals()
    names["save"], names["load"] = serialization.save, serialization.load
    names["nn"], names["optim"] = import_module(".nn", __name__), import_module(".optim", __name__)
    names["data"] = import_module(".data", __name__)
    graph = import_module(".graph", __name__)
    names.update({n: getattr(graph, n) for n in _GRAPH_FUNCTIONS})
    return names[name]


def __dir__():
    return sorted(set(globals()) | set(_GRAPH_LAYER))


__all__ = ["te", "tir", "build", "lower", "nd", "cpu", "cuda", "Device", "NDArray", "TVMiniError", "ArgumentError",
           "ScheduleError", "ShapeError", "DTypeError", "DeviceError", "BuildError", "DataError",
           "IndexingError", "ParameterError", "AutogradError", "ValueOverflowError", "nn", "optim", "data", "save",
           "load", "float16", "float32", "float64", "int8", "uint8", "int32", "int64",
           "explain", "kernel_cache_info", "set_debug", "get_debug", "profiler"]
__all__ += [n for n in _GRAPH_FUNCTIONS if n not in _SHADOWING_BUILTINS]

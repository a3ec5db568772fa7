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
from .runtime import ndarray as nd

#: dtype names as constants (``dtype=tm.float64``, as ``torch.float64`` reads); tvmini's
#: dtypes are these strings
float16, float32, float64, int8, uint8, int32, int64 = (
    "float16", "float32", "float64", "int8", "uint8", "int32", "int64")
bool = "bool"  # noqa: A001  (shadows the builtin inside this module only; not in __all__)

#: The graph layer's names at the top level (Tensor and its constructors and functions,
#: nn, optim, jit, save/load) import it on first use of any of them, so a process that only
#: runs compiled code (``tm.runtime.load_module``, ``tm.runtime.load_jit``) never loads it.
_GRAPH_FUNCTIONS = ("Tensor", "arange", "cat", "chunk", "clamp", "empty", "empty_like", "enable_grad", "eye",
                    "from_numpy", "full", "full_like", "index_select", "is_grad_enabled", "jit", "linspace",
                    "logsumexp", "manual_seed", "matmul", "maximum", "minimum", "no_grad", "ones", "ones_like", "rand", "rand_like", "randint",
                    "randn", "randn_like", "split", "squeeze", "stack", "std", "tensor", "unsqueeze", "var", "where",
                    "zeros", "zeros_like",
                    # PyTorch's spellings (graph/aliases.py)
                    "abs", "allclose", "argmax", "argmin", "device", "equal", "exp", "flatten", "inference_mode",
                    "isinf", "isnan", "log", "log_softmax", "max", "mean", "min", "prod", "relu", "reshape",
                    "set_grad_enabled", "sigmoid", "softmax", "sqrt", "sum", "tanh", "transpose",
                    # gather/scatter, reordering and the strict matrix products (graph/gather_ops.py,
                    # reorder_ops.py, matmul_ops.py)
                    "gather", "index_add", "scatter", "scatter_add", "take", "diag", "flip", "masked_fill", "moveaxis",
                    "movedim", "narrow", "repeat_interleave", "roll", "swapaxes", "swapdims", "tile", "tril", "triu",
                    "unbind", "addmm", "baddbmm", "bmm", "dot", "mm", "mv", "outer", "einsum",
                    # graph/select_ops.py
                    "nonzero", "masked_select", "count_nonzero", "bincount",
                    "logaddexp", "logit", "xlogy", "copysign", "floor_divide", "true_divide",
                    # graph/layout_aliases.py
                    "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "dstack", "fliplr", "flipud",
                    "diagonal", "trace", "isfinite", "isposinf", "isneginf", "as_tensor", "concat", "concatenate",
                    "diag_embed", "take_along_dim",
                    # graph/stat_pairs.py
                    "var_mean", "std_mean", "aminmax", "amax", "amin",
                    # more of PyTorch's functions (graph/aliases.py NAMES: the Tensor methods of the same names)
                    "add", "sub", "mul", "div", "neg", "pow", "eq", "ne", "lt", "le", "gt", "ge", "cos", "sin", "tan",
                    "erf", "expm1", "log1p", "log2", "log10", "exp2", "atan", "asin", "acos", "clip",
                    "square", "numel", "all", "any", "broadcast_to", "permute", "floor", "ceil", "round", "trunc",
                    "frac", "sign", "sgn", "rsqrt", "reciprocal", "sinh", "cosh", "asinh", "acosh", "atanh",
                    "nan_to_num", "atan2", "hypot", "fmod", "remainder", "lerp", "addcmul", "addcdiv", "heaviside",
                    "isclose", "logical_and", "logical_or", "logical_xor", "logical_not", "clamp_min", "clamp_max",
                    # scans and sorting (graph/sort_ops.py)
                    "argsort", "cumprod", "cumsum", "kthvalue", "median", "randperm", "sort", "topk")
_GRAPH_LAYER = _GRAPH_FUNCTIONS + ("nn", "optim", "save", "load", "graph", "serialization")


def __getattr__(name):
    """Import the graph layer (all of it, in its usual order) on first use of one of its names."""
    if name not in _GRAPH_LAYER:
        raise AttributeError(f"module 'tvmini' has no attribute {name!r}")
    serialization = import_module(".serialization", __name__)
    names = globals()
    names["save"], names["load"] = serialization.save, serialization.load
    names["nn"], names["optim"] = import_module(".nn", __name__), import_module(".optim", __name__)
    graph = import_module(".graph", __name__)
    names.update({n: getattr(graph, n) for n in _GRAPH_FUNCTIONS})
    return names[name]


def __dir__():
    return sorted(set(globals()) | set(_GRAPH_LAYER))


__all__ = ["te", "tir", "build", "lower", "nd", "cpu", "cuda", "Device", "NDArray", "TVMiniError", "ArgumentError",
           "ScheduleError", "ShapeError", "DTypeError", "DeviceError", "BuildError", "DataError",
           "IndexingError", "ParameterError", "AutogradError", "ValueOverflowError",
           "Tensor", "tensor", "no_grad", "enable_grad", "is_grad_enabled", "zeros", "ones", "full", "randn",
           "rand", "arange", "from_numpy", "manual_seed", "nn", "optim", "save", "load", "jit", "cat", "stack",
           "split", "chunk", "squeeze", "unsqueeze", "clamp", "where", "zeros_like", "ones_like", "index_select",
           "logsumexp", "std", "var", "empty", "empty_like", "eye", "full_like", "linspace", "rand_like", "randint",
           "randn_like", "matmul", "maximum", "minimum", "float16", "float32", "float64", "int8", "uint8", "int32",
           "int64"]
__all__ += ["gather", "index_add", "scatter", "scatter_add", "take", "diag", "flip", "masked_fill", "moveaxis",
            "movedim", "narrow", "repeat_interleave", "roll", "swapaxes", "swapdims", "tile", "tril", "triu", "unbind",
            "addmm", "baddbmm", "bmm", "dot", "mm", "mv", "outer", "einsum",
            "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "dstack", "fliplr", "flipud",
            "diagonal", "trace", "isfinite", "isposinf", "isneginf", "as_tensor", "concat", "concatenate",
            "diag_embed", "take_along_dim", "var_mean", "std_mean", "aminmax", "amax", "amin",
            "nonzero", "masked_select", "count_nonzero", "bincount",
            "logaddexp", "logit", "xlogy", "copysign", "floor_divide", "true_divide"]
__all__ += ["explain", "kernel_cache_info", "set_debug", "get_debug", "profiler"]
__all__ += [n for n in _GRAPH_FUNCTIONS[_GRAPH_FUNCTIONS.index("add"):] if n not in ("all", "any", "pow", "round")]

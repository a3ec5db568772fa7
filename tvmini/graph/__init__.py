"""graph: the autodiff Tensor and the ops behind it (each a compiled, cached tvmini kernel)."""
from . import ops
from .autograd import Function, enable_grad, is_grad_enabled, no_grad
from .aliases import (abs, allclose, argmax, argmin, device, equal, exp, flatten, inference_mode, isinf,  # noqa: A004
                      isnan, log, log_softmax, max, mean, min, prod, relu, reshape, set_grad_enabled, sigmoid,
                      softmax, sqrt, sum, tanh, transpose)
from . import math_methods  # noqa: F401  (registers the Tensor methods the math aliases call)
from .aliases import NAMES as _ALIASES, pow, remainder  # noqa: A004
from .dispatch import kernel_count
from .einsum_ops import einsum
from .select_ops import (bincount, copysign, count_nonzero, floor_divide, logaddexp, logit, masked_select, nonzero,
                         true_divide, where, xlogy)
from .layout_aliases import (as_tensor, atleast_1d, atleast_2d, atleast_3d, concat, concatenate, diag_embed, diagonal,
                             dstack, fliplr, flipud, hstack, isfinite, isneginf, isposinf, take_along_dim, trace,
                             vstack)
from .stat_pairs import amax, amin, aminmax, std_mean, var_mean
from .gather_ops import gather, index_add, scatter, scatter_add, take
from .index_ops import index_select
from .jit import jit
from .join_ops import cat, chunk, clamp, split, squeeze, stack, unsqueeze
from .matmul_ops import addmm, baddbmm, bmm, dot, mm, mv, outer
from .ops import matmul, maximum, minimum
from .reorder_ops import (diag, flip, masked_fill, moveaxis, movedim, narrow, repeat_interleave, roll, swapaxes,
                          swapdims, tile, tril, triu, unbind)
from .sort_ops import argsort, cumprod, cumsum, kthvalue, median, randperm, sort, topk
from .stat_ops import logsumexp, std, var
from .creation import (arange, empty, empty_like, eye, from_numpy, full, full_like, linspace, manual_seed, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, zeros, zeros_like)
from .tensor import Tensor, tensor

__all__ = ["Function", "Tensor", "arange", "cat", "chunk", "clamp", "empty", "empty_like", "enable_grad", "eye",
           "from_numpy", "full", "full_like", "index_select", "is_grad_enabled", "jit", "kernel_count", "linspace", "matmul", "maximum", "minimum",
           "logsumexp", "manual_seed", "no_grad", "ones", "ones_like", "ops", "rand", "rand_like", "randint", "randn",
           "randn_like", "split", "squeeze", "stack", "std", "tensor", "unsqueeze", "var", "where", "zeros",
           "zeros_like", "abs", "allclose", "argmax", "argmin", "device", "equal", "exp", "flatten",
           "inference_mode", "isinf", "isnan", "log", "log_softmax", "max", "mean", "min", "prod", "relu", "reshape",
           "set_grad_enabled", "sigmoid", "softmax", "sqrt", "sum", "tanh", "transpose",
           # gather/scatter (gather_ops.py)
           "gather", "index_add", "scatter", "scatter_add", "take",
           # reordering and triangles (reorder_ops.py)
           "diag", "flip", "masked_fill", "moveaxis", "movedim", "narrow", "repeat_interleave", "roll", "swapaxes",
           "swapdims", "tile", "tril", "triu", "unbind",
           # the strict matrix products (matmul_ops.py)
           "addmm", "baddbmm", "bmm", "dot", "mm", "mv", "outer",
           "einsum",
           # data-dependent selections and binary math spellings (select_ops.py)
           "nonzero", "masked_select", "count_nonzero", "bincount",
           "logaddexp", "logit", "xlogy", "copysign", "floor_divide", "true_divide",
           # joins, flips, diagonals and other spellings (layout_aliases.py)
           "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "dstack", "fliplr", "flipud",
           "diagonal", "trace", "isfinite", "isposinf", "isneginf", "as_tensor", "concat", "concatenate",
           "diag_embed", "take_along_dim",
           # paired statistics (stat_pairs.py)
           "var_mean", "std_mean", "aminmax", "amax", "amin",
           # scans and sorting (sort_ops.py)
           "argsort", "cumprod", "cumsum", "kthvalue", "median", "randperm", "sort", "topk"]

# the other PyTorch spellings (tm.add, tm.floor, tm.atan2 ...: graph/aliases.py)
_NEW_ALIASES = [n for n in _ALIASES if n not in __all__]
globals().update({n: getattr(aliases, n) for n in _NEW_ALIASES})
__all__ += _NEW_ALIASES + ["pow", "remainder"]

"""graph: the autodiff Tensor and the ops behind it (each a compiled, cached tvmini kernel)."""
from .._graph_names import GRAPH_FUNCTIONS
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
from .matmul_ops import addbmm, addmm, addmv, addr, baddbmm, bmm, chain_matmul, dot, mm, mv, outer, vdot
from .ops import matmul, maximum, minimum
from .reorder_ops import (diag, flip, masked_fill, moveaxis, movedim, narrow, repeat_interleave, roll, swapaxes,
                          swapdims, tile, tril, triu, unbind)
from .sort_ops import argsort, cumprod, cumsum, kthvalue, median, randperm, sort, topk
from .search_ops import bucketize, searchsorted, unique, unique_consecutive  # graph/search_ops.py
from .stat_ops import logsumexp, std, var
from .creation import (arange, empty, empty_like, eye, from_numpy, full, full_like, linspace, logspace, manual_seed,
                       ones, ones_like, rand, rand_like, randint, randint_like, randn, randn_like, zeros, zeros_like)
from .tensor import Tensor, tensor
# tensorops: sampling, index updates, running reductions, numerics, norms and products (tm.linalg),
# order statistics, rearranging
from .random_ops import bernoulli, multinomial, normal, poisson
from .index_update_ops import index_copy, index_fill, index_put, index_reduce, masked_scatter, put, scatter_reduce
from .cumulative_ops import cummax, cummin, diff, logcumsumexp
from .numeric_ops import (bitwise_and, bitwise_left_shift, bitwise_not, bitwise_or, bitwise_right_shift, bitwise_xor,
                          clone, deg2rad, float_power, gcd, histc, isin, lcm, ldexp, nanmean, nansum, rad2deg, signbit,
                          sinc)
from .cdist_ops import cdist
from .norm_ops import dist, norm, pdist, renorm
from .linalg_ops import block_diag, corrcoef, cov, cross, inner, kron, matrix_power, tensordot, vander
# graph/linalg_solve.py, linalg_cholesky.py
from .linalg_solve import det, inv as inverse, legacy_lu as lu, legacy_lu_solve as lu_solve, logdet, lu_unpack, slogdet
from .linalg_cholesky import cholesky_inverse, cholesky_solve, triangular_solve
from . import linalg
from .linalg_spectral import legacy_qr as qr, legacy_svd as svd
from .order_ops import mode, nanquantile, quantile
from .arrange_ops import cartesian_prod, combinations, meshgrid, rot90, tensor_split
from .shape_fns import (argwhere, broadcast_shapes, broadcast_tensors, column_stack, diagflat, dsplit, hsplit,
                        narrow_copy, ravel, select, t, tril_indices, triu_indices, unflatten, unravel_index, vsplit)
from .scatter_view_ops import diagonal_scatter, select_scatter, slice_scatter
from .integration_ops import cumulative_trapezoid, gradient, trapezoid, trapz
from .nan_order_ops import msort, nanmedian
from .histogram_ops import histogram
from .float_fns import fmax, fmin, frexp, isreal, logaddexp2, nextafter, positive
from .special_ops import digamma, erfc, erfinv, i0, lgamma, mvlgamma, polygamma
from .special_ops import gammainc as igamma, gammaincc as igammac
from . import special

__all__ = ["Function", "kernel_count", "ops", *GRAPH_FUNCTIONS]

# the other PyTorch spellings (tm.add, tm.floor, tm.atan2 ...: graph/aliases.py), where no
# op module above defines the name
globals().update({n: getattr(aliases, n) for n in _ALIASES if n not in globals()})

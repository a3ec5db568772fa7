"""The names the graph layer exports: ``tvmini.graph.__all__`` and, at the top level,
``tm.<name>``. A module that imports nothing, so that ``import tvmini`` knows them without
loading the graph layer (``tvmini.__getattr__`` imports it on first use of one)."""

#: Tensor, its constructors and functions, PyTorch's spellings; each is defined (or
#: imported) in ``tvmini/graph/__init__.py``
GRAPH_FUNCTIONS = ("Tensor", "arange", "cat", "chunk", "clamp", "empty", "empty_like", "enable_grad", "eye",
                   "from_numpy", "full", "full_like", "index_select", "is_grad_enabled", "jit", "linspace",
                   "logsumexp", "manual_seed", "matmul", "maximum", "minimum", "no_grad", "ones", "ones_like", "rand",
                   "rand_like", "randint", "randn", "randn_like", "split", "squeeze", "stack", "std", "tensor", "unsqueeze", "var", "where",
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
                   "argsort", "cumprod", "cumsum", "kthvalue", "median", "randperm", "sort", "topk",
                   # tensorops: sampling (graph/random_ops.py)
                   "bernoulli", "normal", "multinomial", "poisson",
                   # tensorops: index updates (graph/index_update_ops.py)
                   "scatter_reduce", "index_copy", "index_fill", "masked_scatter", "index_put", "put",
                   # tensorops: running reductions (graph/cumulative_ops.py)
                   "cummax", "cummin", "logcumsumexp", "diff",
                   # tensorops: numerics (graph/numeric_ops.py)
                   "signbit", "float_power", "ldexp", "deg2rad", "rad2deg", "sinc", "bitwise_and", "bitwise_or",
                   "bitwise_xor", "bitwise_not", "bitwise_left_shift", "bitwise_right_shift", "isin", "nansum",
                   "nanmean", "histc", "clone", "gcd", "lcm",
                   # tensorops: norms and products (graph/norm_ops.py, cdist_ops.py, linalg_ops.py; tm.linalg: graph/linalg.py)
                   "linalg", "norm", "dist", "cdist", "renorm", "cross", "kron", "tensordot", "inner", "matrix_power",
                   "block_diag", "vander", "cov", "corrcoef",
                   # solvers and factorizations (graph/linalg_solve.py, linalg_cholesky.py)
                   "det", "logdet", "slogdet", "inverse", "lu", "lu_solve", "lu_unpack", "cholesky_solve",
                   "cholesky_inverse", "triangular_solve",
                   # spectral factorizations, torch's older spellings (graph/linalg_spectral.py; tm.linalg.qr/svd/eigh)
                   "qr", "svd",
                   # tensorops: order statistics (graph/order_ops.py)
                   "quantile", "nanquantile", "mode",
                   # tensorops: rearranging (graph/arrange_ops.py)
                   "rot90", "tensor_split", "meshgrid", "cartesian_prod", "combinations",
                   # searching sorted rows, distinct elements (graph/search_ops.py)
                   "searchsorted", "bucketize", "unique", "unique_consecutive",
                   # shape and index functions (graph/shape_fns.py), more products (graph/matmul_ops.py)
                   "broadcast_shapes", "broadcast_tensors", "ravel", "t", "select", "narrow_copy", "unflatten",
                   "column_stack", "hsplit", "vsplit", "dsplit", "diagflat", "argwhere", "tril_indices", "triu_indices",
                   "unravel_index", "addbmm", "addmv", "addr", "vdot", "chain_matmul",
                   # writes into views (graph/scatter_view_ops.py), float functions (graph/float_fns.py)
                   "select_scatter", "slice_scatter", "diagonal_scatter", "fmax", "fmin", "logaddexp2", "frexp",
                   "nextafter", "positive", "isreal",
                   # integration and differentiation of samples (graph/integration_ops.py)
                   "trapezoid", "trapz", "cumulative_trapezoid", "gradient",
                   # graph/nan_order_ops.py, graph/creation.py
                   "msort", "nanmedian", "logspace", "randint_like",
                   # graph/histogram_ops.py, index_update_ops.py, norm_ops.py
                   "histogram", "index_reduce", "pdist",
                   # special functions (graph/special_ops.py; tm.special: graph/special.py)
                   "special", "lgamma", "digamma", "polygamma", "mvlgamma", "erfc", "erfinv", "i0", "igamma", "igammac")

#: graph names that ``from tvmini import *`` leaves out: the Python builtins they shadow
SHADOWING_BUILTINS = ("abs", "all", "any", "max", "min", "pow", "round", "sum")

"""``tm.linalg``: PyTorch's ``torch.linalg`` functions that tvmini has (norms from
``norm_ops``, products from ``linalg_ops``, solvers and factorizations from
``linalg_solve`` and ``linalg_cholesky``, spectral factorizations from
``linalg_spectral`` and what is computed from them from ``spectral_functions``), under
their ``torch.linalg`` names and defaults (``cross`` along the last axis, ``vander`` in
increasing powers)."""
from ..errors import ArgumentError
from . import linalg_ops
from .linalg_cholesky import cholesky, cholesky_ex, solve_triangular
from .linalg_kernels import LinAlgError
from .linalg_ops import matrix_power, multi_dot
from .linalg_solve import det, inv, inv_ex, lu, lu_factor, lu_factor_ex, lu_solve, slogdet, solve, solve_ex
from .linalg_spectral import eigh, eigvalsh, qr, svd, svdvals
from .norm_ops import linalg_norm as norm, matrix_norm, vector_norm
from .spectral_functions import cond, matrix_rank, pinv

__all__ = ["cross", "matrix_norm", "matrix_power", "multi_dot", "norm", "vander", "vector_norm",
           "LinAlgError", "cholesky", "cholesky_ex", "det", "inv", "inv_ex", "lu", "lu_factor", "lu_factor_ex",
           "lu_solve", "slogdet", "solve", "solve_ex", "solve_triangular",
           "cond", "eigh", "eigvalsh", "matrix_rank", "pinv", "qr", "svd", "svdvals"]


def cross(input, other, *, dim=-1):
    """The cross product of 3-vectors along ``dim`` (default the last axis)."""
    return linalg_ops.cross(input, other, dim)


def vander(x, *, N=None):
    """The Vandermonde matrix of ``x`` in increasing powers: column ``j`` is ``x ** j``
    (``torch.linalg.vander``; 1-D ``x``; ``N``, default ``len(x)``, above 1 as there)."""
    columns = x.shape[-1] if N is None and x.ndim else N
    if isinstance(columns, int) and columns <= 1:
        raise ArgumentError(f"linalg.vander: N must be greater than 1, got {columns} (x of shape {x.shape})")
    return linalg_ops.vander(x, N, increasing=True)

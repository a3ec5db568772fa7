"""``tm.special``: ``torch.special``'s functions under their names — the special functions
of ``special_ops`` (and their scipy-style aliases ``gammaln``, ``psi``,
``multigammaln``), the incomplete gamma functions, and the
functions tvmini already has elsewhere (``expit`` is sigmoid, ``erf``, ``logit``,
``xlogy``, ``sinc``, ``softmax`` ...)."""
from . import ops
from .nn_ops import log_softmax as _log_softmax, softmax as _softmax
from .numeric_ops import sinc
from .pointwise_ops import erf, exp2, expm1, log1p, round
from .select_ops import logit, xlogy
from .special_ops import (digamma, entr, erfc, erfcx, erfinv, gammainc, gammaincc, i0, i0e, i1, i1e, log_ndtr, ndtr,
                          ndtri, polygamma, xlog1py, zeta)
from .special_ops import lgamma as gammaln, mvlgamma as _mvlgamma
from .stat_ops import logsumexp

psi = digamma

__all__ = ["digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1", "gammainc", "gammaincc",
           "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit", "logsumexp",
           "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
           "zeta"]


def expit(input):
    """The logistic sigmoid ``1 / (1 + exp(-x))``."""
    return ops.sigmoid(input)


def multigammaln(input, p):
    """The multivariate log-gamma function of dimension ``p`` (``torch.special.multigammaln``)."""
    return _mvlgamma(input, p)


def softmax(input, dim, *, dtype=None):
    """``torch.special.softmax``: the softmax along ``dim``."""
    return _softmax(input, dim=dim, dtype=dtype)


def log_softmax(input, dim, *, dtype=None):
    """``torch.special.log_softmax``: the log-softmax along ``dim``."""
    return _log_softmax(input, dim=dim, dtype=dtype)

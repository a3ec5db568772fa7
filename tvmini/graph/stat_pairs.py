"""PyTorch's paired statistics — ``var_mean`` and ``std_mean`` (a ``(var or std, mean)``
tuple) and ``aminmax`` (a ``(min, max)`` namedtuple) — composed of the reductions, so
they differentiate and trace under ``tm.jit`` like them. Each half is its own reduction
(PyTorch fuses the pair into one pass; the values are the same)."""
from collections import namedtuple

from . import axes as check_axes
from . import reductions, stat_ops
from .tensor import add_methods

#: What ``aminmax`` returns, as PyTorch's ``torch.return_types.aminmax``.
MinMax = namedtuple("aminmax", ["min", "max"])


def var_mean(input, dim=None, correction=1, keepdim=False, *, unbiased=None):
    """``(var(input, dim, correction), mean(input, dim))`` (see :func:`.stat_ops.var`)."""
    return stat_ops.var(input, dim, correction, keepdim, unbiased=unbiased), _mean(input, dim, keepdim)


def std_mean(input, dim=None, correction=1, keepdim=False, *, unbiased=None):
    """``(std(input, dim, correction), mean(input, dim))`` (see :func:`.stat_ops.std`)."""
    return stat_ops.std(input, dim, correction, keepdim, unbiased=unbiased), _mean(input, dim, keepdim)


def _mean(input, dim, keepdim):
    """The mean beside var/std: of the same float view of ``input`` (ints become float32)."""
    x = stat_ops._float(input, "var_mean")
    return reductions.mean(x, check_axes.axes("var_mean", dim, x.shape), keepdim)


def aminmax(input, *, dim=None, keepdim=False):
    """``(min, max)`` of ``input`` over ``dim`` (None: every element), PyTorch's
    ``aminmax``: values only, ties sharing the gradient evenly (as ``amin``/``amax``);
    an empty reduction raises a ShapeError naming ``aminmax``."""
    axes = check_axes.axes("aminmax", dim, input.shape)
    reductions._nonempty("aminmax", input, axes)
    return MinMax(reductions.amin(input, axes, keepdim), reductions.amax(input, axes, keepdim))


amax, amin = reductions.amax, reductions.amin
add_methods({"aminmax": lambda self, *, dim=None, keepdim=False: aminmax(self, dim=dim, keepdim=keepdim)})

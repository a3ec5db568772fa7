"""Activation layers (PyTorch's names, arguments and defaults): ReLU, Tanh, Sigmoid, Cos
(the OVERFIT experiments'), GELU, SiLU, LeakyReLU, ELU, Softplus, Hardtanh, ReLU6, Mish,
Hardsigmoid, Hardswish, LogSigmoid, Softsign, Softmax, LogSoftmax, RReLU, PReLU (a learnable
slope), SELU, CELU, GLU, Softmin, Threshold, Tanhshrink, Softshrink, Hardshrink, and the
similarity layers CosineSimilarity and PairwiseDistance. Each calls the matching
function in :mod:`tvmini.nn.functional`."""
from ..graph import full
from . import functional as F
from .layers import _MaybeInplace
from .module import Module, Parameter


class ReLU(_MaybeInplace):
    def forward(self, x):
        return F.relu(x)


class RReLU(_MaybeInplace):
    """Randomized leaky ReLU (``F.rrelu``): in training each negative element's slope is
    drawn from U(lower, upper); in evaluation it is their mean."""

    def __init__(self, lower=1.0 / 8, upper=1.0 / 3, inplace=False):
        super().__init__(inplace)
        self.lower, self.upper = lower, upper

    def forward(self, x):
        return F.rrelu(x, self.lower, self.upper, self.training)

    def extra_repr(self):
        return f"lower={self.lower}, upper={self.upper}" + (", inplace=True" if self.inplace else "")


class Tanh(Module):
    def forward(self, x):
        return F.tanh(x)


class Sigmoid(Module):
    def forward(self, x):
        return F.sigmoid(x)


class Cos(Module):
    """cos(x): the activation of the OVERFIT experiments."""

    def forward(self, x):
        return F.cos(x)


class GELU(Module):
    def __init__(self, approximate="none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)


class SiLU(_MaybeInplace):
    def forward(self, x):
        return F.silu(x)


class LeakyReLU(_MaybeInplace):
    def __init__(self, negative_slope=0.01, inplace=False):
        super().__init__(inplace)
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class ELU(_MaybeInplace):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return F.elu(x, self.alpha)


class Softplus(Module):
    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Hardtanh(_MaybeInplace):
    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False):
        super().__init__(inplace)
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val)


class ReLU6(Hardtanh):
    """``hardtanh(x, 0, 6)`` (a Hardtanh, as PyTorch's)."""

    def __init__(self, inplace=False):
        super().__init__(0.0, 6.0, inplace)


class Mish(_MaybeInplace):
    def forward(self, x):
        return F.mish(x)


class Hardsigmoid(_MaybeInplace):
    def forward(self, x):
        return F.hardsigmoid(x)


class Hardswish(_MaybeInplace):
    def forward(self, x):
        return F.hardswish(x)


class LogSigmoid(Module):
    def forward(self, x):
        return F.logsigmoid(x)


class Softsign(Module):
    def forward(self, x):
        return F.softsign(x)


class Softmax(Module):
    """Softmax along ``dim`` (None: PyTorch's legacy implicit axis, with its warning;
    see :func:`tvmini.nn.functional.softmax`)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class PReLU(Module):
    """``x`` where positive, else ``weight * x``, ``weight`` learnt: one slope
    (``num_parameters=1``) or one per channel (axis 1), initialised to ``init``."""

    def __init__(self, num_parameters=1, init=0.25, dtype="float32"):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(full((num_parameters,), init, dtype=dtype))

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"


class SELU(_MaybeInplace):
    def forward(self, x):
        return F.selu(x)


class CELU(_MaybeInplace):
    def __init__(self, alpha=1.0, inplace=False):
        super().__init__(inplace)
        self.alpha = alpha

    def forward(self, x):
        return F.celu(x, self.alpha)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Threshold(_MaybeInplace):
    """``x`` where ``x > threshold``, else ``value``."""

    def __init__(self, threshold, value, inplace=False):
        super().__init__(inplace)
        self.threshold, self.value = threshold, value

    def forward(self, x):
        return F.threshold(x, self.threshold, self.value)

    def extra_repr(self):
        return f"threshold={self.threshold}, value={self.value}" + (", inplace=True" if self.inplace else "")


class GLU(Module):
    """``a * sigmoid(b)`` for the halves of axis ``dim``."""

    def __init__(self, dim=-1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.glu(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Softmin(Module):
    """``softmax(-x)`` along ``dim`` (None: PyTorch's legacy implicit axis, with its warning)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmin(x, self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Tanhshrink(Module):
    def forward(self, x):
        return F.tanhshrink(x)


class _Shrink(Module):
    def __init__(self, lambd=0.5):
        super().__init__()
        self.lambd = lambd

    def extra_repr(self):
        return str(self.lambd)


class Softshrink(_Shrink):
    def forward(self, x):
        return F.softshrink(x, self.lambd)


class Hardshrink(_Shrink):
    def forward(self, x):
        return F.hardshrink(x, self.lambd)


class CosineSimilarity(Module):
    """The cosine similarity of two inputs along ``dim`` (norms floored at ``eps``)."""

    def __init__(self, dim=1, eps=1e-8):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x1, x2):
        return F.cosine_similarity(x1, x2, self.dim, self.eps)

    def extra_repr(self):
        return f"dim={self.dim}, eps={self.eps}"


class PairwiseDistance(Module):
    """``||x1 - x2 + eps||_p`` along the last axis."""

    def __init__(self, p=2.0, eps=1e-6, keepdim=False):
        super().__init__()
        self.norm, self.eps, self.keepdim = p, eps, keepdim

    def forward(self, x1, x2):
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)

    def extra_repr(self):
        return f"p={self.norm}, eps={self.eps}, keepdim={self.keepdim}"

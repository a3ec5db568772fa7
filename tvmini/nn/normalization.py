"""Normalisation layers beyond batch, layer and group norm: RMSNorm, InstanceNorm1d/2d/3d
and LocalResponseNorm, with PyTorch's arguments, parameters, buffers and defaults."""
import warnings

from ..errors import DTypeError, ShapeError
from ..graph import Tensor, ones
from . import functional as F
from .layers import norm_state
from .module import Module, Parameter


class RMSNorm(Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the trailing ``normalized_shape`` axes
    (weight ones at first; ``eps=None``: the dtype's machine epsilon)."""

    def __init__(self, normalized_shape, eps=None, elementwise_affine=True, dtype="float32"):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(ones(*shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)

    def forward(self, x):
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class _InstanceNorm(Module):
    """Instance normalisation of (N, C, *spatial) or unbatched (C, *spatial) inputs:
    PyTorch's defaults ``affine=False`` and ``track_running_stats=False``; with tracked
    statistics, evaluation mode normalises by them (``momentum=None``: never updated)."""

    spatial = 0         # spatial axes of an input (1d: 1, 2d: 2, 3d: 3)

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=False, track_running_stats=False,
                 dtype="float32"):
        super().__init__()
        norm_state(self, num_features, eps, momentum, affine, track_running_stats, dtype)

    def forward(self, x):
        if not isinstance(x, Tensor):
            raise DTypeError(f"{type(self).__name__}: expected a Tensor, got {type(x).__name__}")
        if x.ndim not in (self.spatial + 1, self.spatial + 2):
            raise ShapeError(f"{type(self).__name__}: expected a {self.spatial + 1}-D (unbatched) or "
                             f"{self.spatial + 2}-D input, got shape {x.shape}")
        unbatched = x.ndim == self.spatial + 1
        channels = x.shape[0 if unbatched else 1]
        if channels != self.num_features:
            message = (f"{type(self).__name__}: input of shape {x.shape} has {channels} channels, "
                       f"num_features is {self.num_features}")
            if self.affine or self.track_running_stats:
                raise ShapeError(message)
            warnings.warn(message + " (the layer has no per-channel state, so it runs)", stacklevel=2)
        if unbatched:
            x = x.unsqueeze(0)
        out = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                              use_input_stats=self.training or not self.track_running_stats,
                              momentum=0.0 if self.momentum is None else self.momentum, eps=self.eps)
        return out.squeeze(0) if unbatched else out

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or (C, L)."""
    spatial = 1


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or (C, H, W)."""
    spatial = 2


class InstanceNorm3d(_InstanceNorm):
    """Instance norm over (N, C, D, H, W) or (C, D, H, W)."""
    spatial = 3


class LocalResponseNorm(Module):
    """Divide each element by ``(k + alpha / size * s) ** beta``, ``s`` the sum of squares
    over ``size`` neighbouring channels (AlexNet's normalisation)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0):
        super().__init__()
        self.size, self.alpha, self.beta, self.k = size, alpha, beta, k

    def forward(self, x):
        return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

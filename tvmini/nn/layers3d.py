"""3-D layers (Conv3d, ConvTranspose3d, pooling, BatchNorm3d, Dropout3d), unpooling
(MaxUnpool1d/2d/3d) and power-average pooling (LPPool1d/2d/3d), with PyTorch's names,
arguments, defaults, initialisation and state-dict layout. Each calls the matching
function in :mod:`tvmini.nn.functional`.
"""
from ..errors import ShapeError
from . import functional as F
from .layers import AdaptiveAvgPool2d, AvgPool2d, BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, MaxPool2d
from .module import Module


class Conv3d(Conv2d):
    """3-D convolution over (N, C, D, H, W) or (C, D, H, W): weight (out, in/groups, kd,
    kh, kw) and bias drawn as PyTorch's; ``padding`` an int, a triple, "same" or "valid";
    ``padding_mode`` "zeros", "reflect", "replicate" or "circular"."""

    spatial = 3

    def forward(self, x):
        x, padding = self._padded(x)
        return F.conv3d(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class ConvTranspose3d(ConvTranspose2d):
    """Transposed 3-D convolution with PyTorch's arguments, weight layout (in, out/groups,
    kd, kh, kw) and default init."""

    spatial = 3

    def forward(self, x):
        return F.conv_transpose3d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)


class MaxPool3d(MaxPool2d):
    """Window maxima over (N, C, D, H, W) or (C, D, H, W); ``return_indices``: also each
    maximum's flat position in its volume (for ``MaxUnpool3d``)."""

    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode,
                            self.return_indices)


class AvgPool3d(AvgPool2d):
    """Window means over (N, C, D, H, W) or (C, D, H, W) with PyTorch's divisors."""

    def forward(self, x):
        return F.avg_pool3d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad,
                            self.divisor_override)


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed ``output_size``."""

    def forward(self, x):
        return F.adaptive_avg_pool3d(x, self.output_size)


class AdaptiveMaxPool3d(Module):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed ``output_size``;
    ``return_indices``: (values, flat positions)."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return F.adaptive_max_pool3d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class BatchNorm3d(BatchNorm2d):
    """BatchNorm over (N, C, D, H, W) inputs."""
    expected_ndims = (5,)


class Dropout3d(Dropout):
    """Zero whole channels (volumes) of (N, C, D, H, W) or (C, D, H, W) inputs with
    probability ``p`` in training."""

    def forward(self, x):
        return F.dropout3d(x, self.p, self.training)


class _MaxUnpool(Module):
    """The inverse of max pooling over ``spatial`` axes: values written at their indices
    in zeros; kernel, stride (default the kernel) and padding as tuples, as PyTorch's."""

    spatial = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        self.kernel_size = self._tuple(kernel_size, "kernel_size")
        self.stride = self.kernel_size if stride is None else self._tuple(stride, "stride")
        self.padding = self._tuple(padding, "padding")

    def _tuple(self, value, what):
        values = (value,) * self.spatial if isinstance(value, int) else tuple(value)
        if len(values) != self.spatial:
            raise ShapeError(f"{type(self).__name__}: {what} must be an int or a {self.spatial}-tuple, got {value!r}")
        return values

    def forward(self, x, indices, output_size=None):
        unpool = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self.spatial - 1]
        return unpool(x, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpool):
    """The inverse of ``MaxPool1d``: (N, C, L) values at their indices in zeros."""
    spatial = 1


class MaxUnpool2d(_MaxUnpool):
    """The inverse of ``MaxPool2d``: (N, C, H, W) values at their indices in zeros."""
    spatial = 2


class MaxUnpool3d(_MaxUnpool):
    """The inverse of ``MaxPool3d``: (N, C, D, H, W) values at their indices in zeros."""
    spatial = 3


class _LPPool(Module):
    """Power-average pooling ``(sum of x^p over each window)^(1/p)``, ``p = norm_type``."""

    spatial = 2

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size, self.stride, self.ceil_mode = norm_type, kernel_size, stride, ceil_mode

    def forward(self, x):
        pool = (F.lp_pool1d, F.lp_pool2d, F.lp_pool3d)[self.spatial - 1]
        return pool(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self):
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPool):
    """Power-average pooling over (N, C, L) or (C, L)."""
    spatial = 1


class LPPool2d(_LPPool):
    """Power-average pooling over (N, C, H, W) or (C, H, W)."""
    spatial = 2


class LPPool3d(_LPPool):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W)."""
    spatial = 3

"""More of PyTorch's layers: Bilinear, PixelShuffle/PixelUnshuffle, ChannelShuffle,
AdaptiveMaxPool1d/2d, Softmax2d, AlphaDropout, Unfold and Fold, and the padding layers
(``ZeroPad``, ``ConstantPad``, ``ReflectionPad``, ``ReplicationPad``, ``CircularPad`` in
1, 2 and 3 dimensions) and EmbeddingBag, each holding PyTorch's arguments (and parameters, initialised as
PyTorch's) and calling its functional form."""
import math

from ..errors import ArgumentError, ShapeError
from ..graph import no_grad, zeros
from ..graph.index_ops import check_dense
from ..graph.tensor import Tensor
from . import functional as F
from . import init
from .layers import Dropout
from .module import Module, Parameter


class Bilinear(Module):
    """``y[..., o] = x1^T weight[o] x2 + bias[o]``; weight (out, in1, in2) and bias drawn
    from U(-1/sqrt(in1), 1/sqrt(in1)) (PyTorch's default)."""

    def __init__(self, in1_features, in2_features, out_features, bias=True, dtype="float32"):
        super().__init__()
        self.in1_features, self.in2_features, self.out_features = in1_features, in2_features, out_features
        self.weight = Parameter(zeros(out_features, in1_features, in2_features, dtype=dtype))
        if bias:
            self.bias = Parameter(zeros(out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self):
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self):
        return (f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
                f"out_features={self.out_features}, bias={self.bias is not None}")


class PixelShuffle(Module):
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r) with ``r = upscale_factor``."""

    def __init__(self, upscale_factor):
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, x):
        return F.pixel_shuffle(x, self.upscale_factor)

    def extra_repr(self):
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """(*, C, H * r, W * r) -> (*, C * r^2, H, W) with ``r = downscale_factor``."""

    def __init__(self, downscale_factor):
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, x):
        return F.pixel_unshuffle(x, self.downscale_factor)

    def extra_repr(self):
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave the channels of (N, C, *) from ``groups`` groups (ShuffleNet)."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        return F.channel_shuffle(x, self.groups)

    def extra_repr(self):
        return f"groups={self.groups}"


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed ``output_size``; ``return_indices``: (values, positions)."""

    def __init__(self, output_size, return_indices=False):
        super().__init__()
        self.output_size, self.return_indices = output_size, return_indices

    def forward(self, x):
        return F.adaptive_max_pool2d(x, self.output_size, self.return_indices)

    def extra_repr(self):
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) or (C, L) to a fixed length ``output_size``."""

    def forward(self, x):
        return F.adaptive_max_pool1d(x, self.output_size, self.return_indices)


class Softmax2d(Module):
    """Softmax over the channels of each pixel: axis -3 of (N, C, H, W) or (C, H, W)."""

    def forward(self, x):
        if x.ndim not in (3, 4):
            raise ShapeError(f"Softmax2d: expected a 3-D or 4-D input, got shape {x.shape}")
        return F.softmax(x, -3)


class AlphaDropout(Dropout):
    """Alpha dropout (for SELU networks) with probability ``p`` in training; the identity
    in evaluation."""

    def forward(self, x):
        return F.alpha_dropout(x, self.p, self.training)


class Unfold(Module):
    """im2col: sliding windows of (N, C, H, W) as the columns of (N, C * kh * kw, L)."""

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size, self.dilation, self.padding, self.stride = kernel_size, dilation, padding, stride

    def forward(self, x):
        return F.unfold(x, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding}, "
                f"stride={self.stride}")


class Fold(Unfold):
    """col2im: columns (N, C * kh * kw, L) summed into an (N, C, *output_size) image."""

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__(kernel_size, dilation, padding, stride)
        self.output_size = output_size

    def forward(self, x):
        return F.fold(x, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self):
        return f"output_size={self.output_size}, " + super().extra_repr()


# ------------------------------------------------------------------------------ padding

class _Pad(Module):
    """A fixed ``F.pad`` of the last ``axes`` axes in ``mode``, its widths ``padding`` a
    tuple (left, right[, top, bottom[, front, back]])."""

    axes = 1
    mode = "constant"

    def __init__(self, padding):
        super().__init__()
        widths = (padding,) * (2 * self.axes) if isinstance(padding, int) else tuple(padding)
        if len(widths) != 2 * self.axes or not all(isinstance(v, int) for v in widths):
            raise ShapeError(f"{type(self).__name__}: padding must be an int or {2 * self.axes} ints, got "
                             f"{padding!r}")
        self.padding = widths

    def forward(self, x):
        return F.pad(x, self.padding, mode=self.mode)

    def extra_repr(self):
        return f"{self.padding}"


class _ConstantPad(_Pad):
    def __init__(self, padding, value):
        super().__init__(padding)
        self.value = value

    def forward(self, x):
        return F.pad(x, self.padding, value=self.value)

    def extra_repr(self):
        return f"padding={self.padding}, value={self.value}"


def _layer(name, base, axes, mode, doc):
    return type(name, (base,), {"axes": axes, "mode": mode, "__doc__": doc, "__module__": __name__})


_AXES = {1: "the last axis", 2: "the last two axes", 3: "the last three axes"}

ConstantPad1d, ConstantPad2d, ConstantPad3d = (
    _layer(f"ConstantPad{d}d", _ConstantPad, d, "constant", f"Pad {_AXES[d]} with ``value``.") for d in (1, 2, 3))


class _ZeroPad(_ConstantPad):
    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self):
        return f"{self.padding}"


ZeroPad1d, ZeroPad2d, ZeroPad3d = (
    _layer(f"ZeroPad{d}d", _ZeroPad, d, "constant", f"Pad {_AXES[d]} with zeros.") for d in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _layer(f"ReflectionPad{d}d", _Pad, d, "reflect",
           f"Pad {_AXES[d]} with their mirror image about the edge element (widths below the extent).")
    for d in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _layer(f"ReplicationPad{d}d", _Pad, d, "replicate", f"Pad {_AXES[d]} by repeating the edge element.")
    for d in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _layer(f"CircularPad{d}d", _Pad, d, "circular",
           f"Pad {_AXES[d]} by wrapping around (widths at most the extent).") for d in (1, 2, 3))


class EmbeddingBag(Module):
    """Sums, means or maxima of bags of embeddings (see
    :func:`tvmini.nn.functional.embedding_bag`) without the (N, D) rows in between;
    weight (num_embeddings, embedding_dim) drawn from N(0, 1), the ``padding_idx`` row
    zero (PyTorch's defaults). ``forward(input, offsets=None, per_sample_weights=None)``."""

    def __init__(self, num_embeddings, embedding_dim, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                 mode="mean", sparse=False, _weight=None, include_last_offset=False, padding_idx=None,
                 dtype="float32"):
        super().__init__()
        if padding_idx is not None and not -num_embeddings <= padding_idx < num_embeddings:
            raise ShapeError(f"EmbeddingBag: padding_idx must be within num_embeddings ({num_embeddings}), got "
                             f"{padding_idx}")
        check_dense("EmbeddingBag", sparse)
        if scale_grad_by_freq and mode == "max":
            raise ArgumentError("EmbeddingBag: max mode does not support scaling the gradient by the frequency "
                                "(scale_grad_by_freq=True)")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.max_norm, self.norm_type, self.scale_grad_by_freq = max_norm, norm_type, scale_grad_by_freq
        self.mode, self.sparse, self.include_last_offset = mode, sparse, include_last_offset
        self.padding_idx = None if padding_idx is None else padding_idx % num_embeddings
        if _weight is None:
            self.weight = Parameter(zeros(num_embeddings, embedding_dim, dtype=dtype))
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ShapeError(f"EmbeddingBag: _weight must be of shape ({num_embeddings}, {embedding_dim}), got "
                                 f"{tuple(_weight.shape)}")
            self.weight = Parameter(_weight)

    def reset_parameters(self):
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx] = 0.0

    @classmethod
    def from_pretrained(cls, embeddings, freeze=True, max_norm=None, norm_type=2.0, scale_grad_by_freq=False,
                        mode="mean", sparse=False, include_last_offset=False, padding_idx=None):
        """An EmbeddingBag whose weight is (a copy of) the 2-D tensor ``embeddings``,
        trained unless ``freeze``."""
        if not isinstance(embeddings, Tensor) or embeddings.ndim != 2:
            raise ShapeError(f"EmbeddingBag.from_pretrained: embeddings must be a 2-D tensor, got "
                             f"{getattr(embeddings, 'shape', type(embeddings).__name__)}")
        bag = cls(embeddings.shape[0], embeddings.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse,
                  embeddings.detach().clone(), include_last_offset, padding_idx)
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                               self.padding_idx)

    def extra_repr(self):
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        text += f", mode={self.mode!r}"
        return text + (f", padding_idx={self.padding_idx}" if self.padding_idx is not None else "")

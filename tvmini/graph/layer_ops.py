"""Functional forms of more layers, written with the graph's ops so their gradients and
``tm.jit`` tracing come from theirs: the rearrangements ``F.pixel_shuffle``,
``F.pixel_unshuffle`` and ``F.channel_shuffle`` (a reshape, a permutation of axes and a
reshape each: the gradient is the inverse rearrangement), ``F.bilinear`` (a bilinear form
per output feature, as a matrix product and a reduction) and ``F.alpha_dropout``
(SELU-preserving dropout on tvmini's counter-based dropout mask)."""
from ..errors import ShapeError
from . import ops
from .conv_ops import dropout
from .creation import ones
from .nn_ops import _check_float, _check_tensor


def _factor(op, value, what):
    if not isinstance(value, int) or value < 1:
        raise ShapeError(f"{op}: {what} must be a positive int, got {value!r}")
    return value


def pixel_shuffle(input, upscale_factor):  # noqa: A002  (torch's argument name)
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r), ``r = upscale_factor``: each group of
    r^2 channels becomes an r x r block of pixels (sub-pixel convolution's upsampling)."""
    r = _factor("pixel_shuffle", upscale_factor, "upscale_factor")
    _check_tensor("pixel_shuffle", input)
    if input.ndim < 3 or input.shape[-3] % (r * r):
        raise ShapeError(f"pixel_shuffle: input must be (*, C * {r * r}, H, W) for upscale_factor {r}, got shape "
                         f"{input.shape}")
    *lead, c, h, w = input.shape
    b = len(lead)
    x = ops.reshape(input, (*lead, c // (r * r), r, r, h, w))
    x = x.permute(*range(b), b, b + 3, b + 1, b + 4, b + 2)
    return ops.reshape(x, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input, downscale_factor):  # noqa: A002
    """pixel_shuffle's inverse: (*, C, H * r, W * r) -> (*, C * r^2, H, W), each r x r
    block of pixels becoming r^2 channels."""
    r = _factor("pixel_unshuffle", downscale_factor, "downscale_factor")
    _check_tensor("pixel_unshuffle", input)
    if input.ndim < 3 or input.shape[-2] % r or input.shape[-1] % r:
        raise ShapeError(f"pixel_unshuffle: input must be (*, C, H, W) with H and W divisible by downscale_factor "
                         f"{r}, got shape {input.shape}")
    *lead, c, h, w = input.shape
    b = len(lead)
    x = ops.reshape(input, (*lead, c, h // r, r, w // r, r))
    x = x.permute(*range(b), b, b + 2, b + 4, b + 1, b + 3)
    return ops.reshape(x, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input, groups):  # noqa: A002
    """(N, C, *) with its C channels in ``groups`` groups read out interleaved: channel
    ``g * (C / groups) + k`` goes to position ``k * groups + g`` (ShuffleNet)."""
    g = _factor("channel_shuffle", groups, "groups")
    if input.ndim < 3 or input.shape[1] % g:
        raise ShapeError(f"channel_shuffle: input must be (N, C, *) with C divisible by groups {g}, got shape "
                         f"{input.shape}")
    n, c, *rest = input.shape
    x = ops.reshape(input, (n, g, c // g, *rest)).transpose(1, 2)
    return ops.reshape(x, input.shape)


#: SELU's negative saturation value, ``-scale * alpha``: what alpha dropout sets dropped
#: elements to before the affine correction
SELU_SATURATION = -1.0507009873554804934193349852946 * 1.6732632423543772848170429916717


def bilinear(input1, input2, weight, bias=None):
    """``y[..., o] = sum_ij x1[..., i] * weight[o, i, j] * x2[..., j] + bias[o]``;
    ``input1`` (*, in1) and ``input2`` (*, in2) share their leading shape, ``weight`` is
    (out, in1, in2), ``bias`` (out,)."""
    _check_float("bilinear", input1, input2, weight)
    if weight.ndim != 3 or input1.shape[-1:] != weight.shape[1:2] or input2.shape[-1:] != weight.shape[2:]:
        raise ShapeError(f"bilinear: input1 (*, in1) {input1.shape}, input2 (*, in2) {input2.shape} and weight "
                         f"(out, in1, in2) {weight.shape} disagree")
    if input1.shape[:-1] != input2.shape[:-1]:
        raise ShapeError(f"bilinear: input1 and input2 must share their leading shape, got {input1.shape} and "
                         f"{input2.shape}")
    if bias is not None and bias.shape != weight.shape[:1]:
        raise ShapeError(f"bilinear: bias of shape {bias.shape} does not match the {weight.shape[0]} outputs")
    out_features, in1, in2 = weight.shape
    lead = input1.shape[:-1]
    x1, x2 = ops.reshape(input1, (-1, in1)), ops.reshape(input2, (-1, 1, in2))
    # x1 @ W viewed as (in1, out * in2): row b holds x1[b]^T W[o] for every o
    left = ops.matmul(x1, ops.reshape(weight.permute(1, 0, 2), (in1, out_features * in2)))
    out = ops.sum(ops.reshape(left, (-1, out_features, in2)) * x2, -1)
    if bias is not None:
        out = out + bias
    return ops.reshape(out, (*lead, out_features))


def alpha_dropout(input, p=0.5, training=False, inplace=False):  # noqa: A002  (torch's argument name)
    """Dropout that keeps SELU's self-normalisation: in training each element is dropped
    with probability ``p`` to SELU's saturation value, then all are scaled and shifted so
    mean and variance are kept (``a * x' + b``); the identity otherwise (PyTorch's
    default here is ``training=False``); ``p = 1`` gives zeros. ``inplace`` is accepted,
    the result computed out of place."""
    if not 0 <= p <= 1:
        raise ShapeError(f"alpha_dropout: p must be in [0, 1], got {p}")
    if not training or p == 0:
        return input
    _check_float("alpha_dropout", input)
    if p == 1:
        return input * 0.0
    a = ((1 - p) * (1 + p * SELU_SATURATION ** 2)) ** -0.5
    b = -a * SELU_SATURATION * p
    kept = ops.compare(dropout(ones(*input.shape, dtype=input.dtype, device=input.device), p), 0.0, "ne")
    return ops.where(kept, input, SELU_SATURATION) * a + b

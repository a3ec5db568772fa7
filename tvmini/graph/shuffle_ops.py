"""Rearrangements of channels and pixels, PyTorch's ``F.pixel_shuffle``,
``F.pixel_unshuffle`` and ``F.channel_shuffle``: each a reshape, a permutation of axes
and a reshape, so the gradient is the inverse rearrangement the graph derives."""
from ..errors import ShapeError
from . import ops


def _factor(op, value, what):
    if not isinstance(value, int) or value < 1:
        raise ShapeError(f"{op}: {what} must be a positive int, got {value!r}")
    return value


def pixel_shuffle(input, upscale_factor):  # noqa: A002  (torch's argument name)
    """(*, C * r^2, H, W) -> (*, C, H * r, W * r), ``r = upscale_factor``: each group of
    r^2 channels becomes an r x r block of pixels (sub-pixel convolution's upsampling)."""
    r = _factor("pixel_shuffle", upscale_factor, "upscale_factor")
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

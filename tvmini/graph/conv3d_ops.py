"""3-D convolution and transposed convolution over (N, C, D, H, W) or unbatched (C, D, H, W)
inputs, built on the tuned 2-D kernels.

A 3-D cross-correlation is a sum over the depth taps ``kd`` of 2-D ones, and the depth
taps can be made channels: ``F.unfold`` with a ``(KD, 1)`` window over the input seen
as ``(N, C, D, H * W)`` gives, for every output depth ``od``, the ``KD`` input planes
it reads as channels ``c * KD + kd`` (zero planes in the depth padding, the depth stride
and dilation applied). With the output depths moved into the batch,
``(N * OD, C * KD, H, W)``, one conv2d with the weight seen as ``(F, C/groups * KD, KH,
KW)`` (a free reshape: its channel index is ``c * KD + kd`` too, group by group) does the
height and width geometry. So a forward is im2col along depth, one transpose, conv2d and
a transpose back, each with its own kernel and gradient, and ``tm.jit`` traces it all.

The transposed convolution is the adjoint of that chain, step by step in reverse:
conv_transpose2d per input depth plane, then col2im (``F.fold``) summing each plane's
``KD`` tap outputs into the output depths.
"""
from ..errors import ShapeError
from . import join_ops, ops
from .conv_ops import conv2d, conv_transpose2d
from .nn_ops import _check_float
from .shape_ops import reshape, transpose
from .window_ops import fold, unfold


def triple(value, what, op):
    """An int or a 3-tuple of ints as a 3-tuple (PyTorch's ``_triple``)."""
    if isinstance(value, int):
        return (value,) * 3
    value = tuple(value)
    if len(value) != 3 or not all(isinstance(v, int) for v in value):
        raise ShapeError(f"{op}: {what} must be an int or a 3-tuple of ints, got {value!r}")
    return value


def unbatched_5d(op, fn, x, *args):
    """``fn`` on ``x`` (N, C, D, H, W), or on an unbatched (C, D, H, W) ``x`` through a
    batch of one (the result then loses that axis again)."""
    if x.ndim == 4:
        out = fn(reshape(x, (1,) + x.shape), *args)
        if isinstance(out, tuple):
            return tuple(reshape(t, t.shape[1:]) for t in out)
        return reshape(out, out.shape[1:])
    if x.ndim != 5:
        raise ShapeError(f"{op}: input must be (N, C, D, H, W) or unbatched (C, D, H, W), got shape {x.shape}")
    return fn(x, *args)


def _same_padding(x, kernel, stride, dilation):
    """``x`` and the symmetric padding of ``padding="same"`` (stride 1): ``dilation * (k -
    1)`` in all along each axis, the odd element after, as PyTorch (then padded here)."""
    if stride != (1, 1, 1):
        raise ShapeError(f"conv3d: padding='same' needs stride 1, got stride {stride}")
    totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
    if all(t % 2 == 0 for t in totals):
        return x, tuple(t // 2 for t in totals)
    widths = []
    for total in reversed(totals):
        widths += [total // 2, total - total // 2]
    return join_ops.pad(x, widths), (0, 0, 0)


def _depth_columns(x, kd, stride, padding, dilation):
    """(N, C, D, H, W) -> (N * OD, C * KD, H, W): channel ``c * KD + k`` of batch entry
    ``n * OD + od`` is input plane ``od * stride + k * dilation - padding`` (zero outside)."""
    n, c, d, h, w = x.shape
    if kd == 1 and stride == 1 and padding == 0:
        columns, od = x, d
    else:
        columns = unfold(reshape(x, (n, c, d, h * w)), (kd, 1), (dilation, 1), (padding, 0), (stride, 1))
        od = columns.shape[2] // (h * w)
    columns = transpose(reshape(columns, (n, c * kd, od, h, w)), (0, 2, 1, 3, 4))
    return reshape(columns, (n * od, c * kd, h, w)), od


def _depth_batch_back(out, n, depth):
    """(N * OD, F, OH, OW) -> (N, F, OD, OH, OW)."""
    return transpose(reshape(out, (n, depth) + out.shape[1:]), (0, 2, 1, 3, 4))


def _check_operands(op, x, weight, bias, groups, in_axis):
    """PyTorch's checks of a 3-D convolution's operands: float tensors, a 5-D weight whose
    axis ``in_axis`` (times ``groups``) is the input's channel count, a matching bias."""
    _check_float(op, x, weight)
    ops.check_same(op, x, weight)
    if not isinstance(groups, int) or groups < 1:
        raise ShapeError(f"{op}: groups must be a positive int, got {groups!r}")
    channels = weight.shape[in_axis] * (groups if in_axis == 1 else 1) if weight.ndim == 5 else None
    if weight.ndim != 5 or x.shape[1] != channels or weight.shape[0] % groups:
        layout = "(F, C/groups, KD, KH, KW)" if in_axis == 1 else "(C, F/groups, KD, KH, KW)"
        raise ShapeError(f"{op}: input of shape {x.shape} does not match weight of shape {weight.shape} with "
                         f"groups={groups} (need (N, C, D, H, W) and {layout}, divisible by groups)")
    if bias is not None:
        ops.check_same(op, x, bias)
        outputs = weight.shape[0] if in_axis == 1 else weight.shape[1] * groups
        if bias.shape != (outputs,):
            raise ShapeError(f"{op}: bias of shape {bias.shape} does not match the {outputs} output channels of "
                             f"weight {weight.shape}")


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):  # noqa: A002  (torch's names)
    """3-D cross-correlation: input (N, C, D, H, W), weight (F, C/groups, KD, KH, KW), bias
    (F,) -> (N, F, OD, OH, OW), PyTorch's arguments (``padding`` an int, a triple, "same"
    or "valid"); an unbatched (C, D, H, W) input gives (F, OD, OH, OW)."""
    return unbatched_5d("conv3d", _conv3d, input, weight, bias, stride, padding, dilation, groups)


def _conv3d(x, weight, bias, stride, padding, dilation, groups):
    _check_operands("conv3d", x, weight, bias, groups, 1)
    stride, dilation = triple(stride, "stride", "conv3d"), triple(dilation, "dilation", "conv3d")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ShapeError(f"conv3d: padding must be an int, a triple, 'same' or 'valid', got {padding!r}")
        x, padding = _same_padding(x, weight.shape[2:], stride, dilation) if padding == "same" else (x, (0, 0, 0))
    padding = triple(padding, "padding", "conv3d")
    if min(stride + dilation) < 1 or min(padding) < 0:
        raise ShapeError(f"conv3d: stride {stride} and dilation {dilation} must be positive and padding {padding} "
                         "non-negative")
    for axis in range(3):
        if x.shape[2 + axis] + 2 * padding[axis] < dilation[axis] * (weight.shape[2 + axis] - 1) + 1:
            raise ShapeError(f"conv3d: kernel of shape {weight.shape} (dilation {dilation}) does not fit input of "
                             f"shape {x.shape} with padding {padding}")
    f, cg, kd, kh, kw = weight.shape
    columns, od = _depth_columns(x, kd, stride[0], padding[0], dilation[0])
    out = conv2d(columns, reshape(weight, (f, cg * kd, kh, kw)), bias, stride[1:], padding[1:], dilation[1:], groups)
    return _depth_batch_back(out, x.shape[0], od)


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,  # noqa: A002
                     dilation=1):
    """Transposed 3-D convolution (the gradient of conv3d in its input): input (N, C, D, H,
    W), weight (C, F/groups, KD, KH, KW), bias (F,) -> (N, F, OD, OH, OW) with ``OD = (D -
    1) * stride - 2 * padding + dilation * (KD - 1) + output_padding + 1`` (the same along
    H and W); PyTorch's arguments in its order. ``output_padding`` must be below the stride."""
    return unbatched_5d("conv_transpose3d", _conv_transpose3d, input, weight, bias, stride, padding, output_padding,
                        groups, dilation)


def _conv_transpose3d(x, weight, bias, stride, padding, output_padding, groups, dilation):
    op = "conv_transpose3d"
    _check_operands(op, x, weight, bias, groups, 0)
    stride, padding, output_padding, dilation = (triple(v, what, op) for v, what in (
        (stride, "stride"), (padding, "padding"), (output_padding, "output_padding"), (dilation, "dilation")))
    if min(stride + dilation) < 1 or min(padding + output_padding) < 0:
        raise ShapeError(f"{op}: stride {stride} and dilation {dilation} must be positive, padding {padding} and "
                         f"output_padding {output_padding} non-negative")
    if any(p >= s for p, s in zip(output_padding, stride)):
        raise ShapeError(f"{op}: output_padding {output_padding} must be smaller than the stride {stride}")
    n, c, d, h, w = x.shape
    _, fg, kd, kh, kw = weight.shape
    size = [(x.shape[2 + a] - 1) * stride[a] - 2 * padding[a] + dilation[a] * (weight.shape[2 + a] - 1)
            + output_padding[a] + 1 for a in range(3)]
    if min(size) < 1:
        raise ShapeError(f"{op}: input of shape {x.shape} with weight {weight.shape}, stride {stride} and padding "
                         f"{padding} gives an empty output {size}")
    planes = reshape(transpose(x, (0, 2, 1, 3, 4)), (n * d, c, h, w))
    # each input plane's outputs for every depth tap: channel f * KD + k (the weight's own order)
    taps = conv_transpose2d(planes, reshape(weight, (c, fg * kd, kh, kw)), None, stride[1:], padding[1:],
                            output_padding[1:], groups, dilation[1:])
    oh, ow = taps.shape[2:]
    columns = reshape(transpose(reshape(taps, (n, d, fg * groups * kd, oh * ow)), (0, 2, 1, 3)),
                      (n, fg * groups * kd, d * oh * ow))
    out = reshape(fold(columns, (size[0], oh * ow), (kd, 1), (dilation[0], 1), (padding[0], 0), (stride[0], 1)),
                  (n, fg * groups, size[0], oh, ow))
    return out if bias is None else out + reshape(bias, (1, bias.shape[0], 1, 1, 1))

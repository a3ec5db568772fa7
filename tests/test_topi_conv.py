"""topi.conv2d and its gradients against numpy (random NCHW shapes, strides, padding,
dilation, bias; every config of the weight gradient's rule) and against central finite
differences in float64."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from strategies import examples
from test_topi_nn import numeric_grad, rand, rng_of, run, tol


def windows(x, kh, kw, s, p, d, oh, ow):
    """Yield ((ky, kx), strided view of padded x) for each kernel tap."""
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    for ky in range(kh):
        for kx in range(kw):
            y0, x0 = ky * d[0], kx * d[1]
            yield (ky, kx), xp, (slice(y0, y0 + s[0] * (oh - 1) + 1, s[0]), slice(x0, x0 + s[1] * (ow - 1) + 1, s[1]))


def np_conv2d(x, w, s, p, d, groups=1):
    if groups > 1:
        pairs = zip(np.split(x, groups, 1), np.split(w, groups))
        return np.concatenate([np_conv2d(xg, wg, s, p, d) for xg, wg in pairs], axis=1)
    F, _, kh, kw = w.shape
    oh, ow = out_size(x.shape, w.shape, s, p, d)
    out = np.zeros((x.shape[0], F, oh, ow), x.dtype)
    for (ky, kx), xp, (sy, sx) in windows(x, kh, kw, s, p, d, oh, ow):
        out += np.einsum("nchw,fc->nfhw", xp[:, :, sy, sx], w[:, :, ky, kx])
    return out


def np_conv2d_grads(g, x, w, s, p, d, groups=1):
    """(grad wrt x, grad wrt w) of sum(g * conv2d(x, w, groups=groups))."""
    if groups > 1:
        parts = [np_conv2d_grads(*operands, s, p, d)
                 for operands in zip(np.split(g, groups, 1), np.split(x, groups, 1), np.split(w, groups))]
        return np.concatenate([gx for gx, _ in parts], axis=1), np.concatenate([gw for _, gw in parts])
    _, _, kh, kw = w.shape
    oh, ow = g.shape[2:]
    gx_pad = np.zeros((x.shape[0], x.shape[1], x.shape[2] + 2 * p[0], x.shape[3] + 2 * p[1]), x.dtype)
    gw = np.zeros_like(w)
    for (ky, kx), xp, (sy, sx) in windows(x, kh, kw, s, p, d, oh, ow):
        gx_pad[:, :, sy, sx] += np.einsum("nfhw,fc->nchw", g, w[:, :, ky, kx])
        gw[:, :, ky, kx] = np.einsum("nfhw,nchw->fc", g, xp[:, :, sy, sx])
    return gx_pad[:, :, p[0]:p[0] + x.shape[2], p[1]:p[1] + x.shape[3]], gw


def out_size(xs, ws, s, p, d):
    return tuple((xs[2 + i] + 2 * p[i] - d[i] * (ws[2 + i] - 1) - 1) // s[i] + 1 for i in range(2))


@st.composite
def conv_case(draw, max_height=14, widths=(1, 14)):
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 9))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    d = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    H = draw(st.integers(max(1, d[0] * (kh - 1) + 1 - 2 * p[0]), max(max_height, d[0] * (kh - 1) + 1)))
    W = draw(st.integers(max(widths[0], d[1] * (kw - 1) + 1 - 2 * p[1]), widths[1]))
    return (N, C, H, W), (F, C, kh, kw), s, p, d


@examples(14)
@given(st.data())
def test_conv2d_forward_and_gradients(data):
    _check_forward_and_gradients(data, data.draw(conv_case(), label="case"))


@examples(6)
@given(st.data())
def test_wide_rows_forward_and_gradients(data):
    """Rows of 32 to 72 columns, whose accumulators take the host's full vectors
    (16 float32 lanes with AVX-512, ``conv_common.vector_lanes``), padded to whole vectors."""
    _check_forward_and_gradients(data, data.draw(conv_case(max_height=3, widths=(32, 72)), label="case"))


@st.composite
def grouped_case(draw):
    """A grouped convolution: 1-4 groups of 1-3 channels and 1-3 filters each, depthwise
    (one of each) a third of the time, any kernel, stride, padding and dilation."""
    (N, _, H, W), (_, _, kh, kw), s, p, d = draw(conv_case())
    groups = draw(st.integers(1, 4))
    per_group, filters = (1, 1) if draw(st.integers(0, 2)) == 0 else (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (N, groups * per_group, H, W), (groups * filters, per_group, kh, kw), s, p, d, groups


@examples(12)
@given(st.data())
def test_grouped_conv2d_forward_and_gradients(data):
    """conv2d and both gradients with ``groups`` (depthwise included) against numpy
    group by group, under the default schedule and a random config of the forward's rule."""
    *case, groups = data.draw(grouped_case(), label="case")
    _check_forward_and_gradients(data, case, groups)
    xs, ws, s, p, d = case
    x, w = te.placeholder(xs, name="x"), te.placeholder(ws, name="w")
    out = topi.conv2d(x, w, s, p, d, groups=groups)
    (tensor, knobs), = topi.tunable(out)
    config = data.draw(st.sampled_from(list(knobs.configs())), label="config")
    rng = rng_of(data)
    x_np, w_np = rand(rng, xs, "float32"), rand(rng, ws, "float32")
    got = np.full((xs[0], ws[0]) + out_size(xs, ws, s, p, d), np.nan, "float32")
    tm.build(topi.default_schedule(out, configs={tensor: config}), [x, w, out], name="grouped")(x_np, w_np, got)
    np.testing.assert_allclose(got, np_conv2d(x_np, w_np, s, p, d, groups), err_msg=str(config),
                               **tol("float32", ws[1] * ws[2] * ws[3]))


def _check_forward_and_gradients(data, case, groups=1):
    xs, ws, s, p, d = case
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    with_bias = data.draw(st.booleans(), label="bias")
    rng = rng_of(data)
    x_np, w_np, b_np = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, (ws[0],), dtype)
    x = te.placeholder(xs, name="x", dtype=dtype)
    w = te.placeholder(ws, name="w", dtype=dtype)
    bias = te.placeholder((ws[0],), name="bias", dtype=dtype)
    inputs = {x: x_np, w: w_np, **({bias: b_np} if with_bias else {})}
    taps = ws[1] * ws[2] * ws[3]
    (y,) = run(topi.conv2d(x, w, s, p, d, bias=bias if with_bias else None, groups=groups), inputs, scale=taps)
    np.testing.assert_allclose(y, np_conv2d(x_np, w_np, s, p, d, groups) + (b_np[:, None, None] if with_bias else 0),
                               **tol(dtype, taps))
    g_np = rand(rng, y.shape, dtype)
    g = te.placeholder(y.shape, name="g", dtype=dtype)
    gx, gw = run([topi.conv2d_grad_input(g, w, xs, s, p, d, groups),
                  topi.conv2d_grad_weight(g, x, ws, s, p, d, groups)], {g: g_np, w: w_np, x: x_np}, scale=g_np.size)
    want_gx, want_gw = np_conv2d_grads(g_np, x_np, w_np, s, p, d, groups)
    np.testing.assert_allclose(gx, want_gx, **tol(dtype, taps))
    np.testing.assert_allclose(gw, want_gw, **tol(dtype, g_np.size))


@pytest.mark.parametrize("op", ["grad_weight", "grad_input"])
@examples(15)
@given(data=st.data())
def test_every_gradient_config_matches_numpy(op, data):
    """A gradient under a random config of its rules on random strides, padding,
    dilation and groups. conv2d_grad_weight's: block of filters x channels, one tap or a
    kernel row, parallel or not, on widths around the vector length (padded
    output-gradient columns, column phases); a pointwise one is a GEMM (a config of that
    rule). conv2d_grad_input's correlation: blocks of channels and columns, reduction
    order, parallel or not; strided ones correlate phase by phase and interleave."""
    xs, ws, s, p, d, groups = data.draw(grouped_case(), label="case")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    rng = rng_of(data)
    g_np = rand(rng, (xs[0], ws[0]) + out_size(xs, ws, s, p, d), dtype)
    g = te.placeholder(g_np.shape, name="g", dtype=dtype)
    if op == "grad_weight":
        other_np, other = rand(rng, xs, dtype), te.placeholder(xs, name="x", dtype=dtype)
        out = topi.conv2d_grad_weight(g, other, ws, s, p, d, groups)
        want = np_conv2d_grads(g_np, other_np, np.zeros(ws, dtype), s, p, d, groups)[1]
        terms = g_np.size
    else:
        other_np, other = rand(rng, ws, dtype), te.placeholder(ws, name="w", dtype=dtype)
        out = topi.conv2d_grad_input(g, other, xs, s, p, d, groups)
        want = np_conv2d_grads(g_np, np.zeros(xs, dtype), other_np, s, p, d, groups)[0]
        terms = ws[0] * ws[2] * ws[3]
    configs = {t: data.draw(st.sampled_from(list(k.configs())), label=f"config of {t.name}")
               for t, k in topi.tunable(out)}
    f = tm.build(topi.default_schedule(out, configs=configs), [g, other, out], name=op)
    got = np.full(want.shape, np.nan, dtype)
    f(g_np, other_np, got)
    np.testing.assert_allclose(got, want, err_msg=str(configs), **tol(dtype, terms))


@st.composite
def pointwise_case(draw):
    """A 1x1 convolution without padding (a product over pixels): any stride (a row or
    column count it does not divide), size-1 extents, pixel counts around the packed
    column block."""
    N, C, F = draw(st.integers(1, 3)), draw(st.integers(1, 40)), draw(st.integers(1, 40))
    H, W = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    return (N, C, H, W), (F, C, 1, 1), s, (0, 0), (draw(st.integers(1, 2)),) * 2


@examples(12)
@given(st.data())
def test_pointwise_conv2d_is_a_product(data):
    """A pointwise convolution, its data gradient and its weight gradient are GEMMs
    (``conv_product._product_conv2d``) that match numpy, under the default schedule and under
    a random config of the GEMM rule (row and column blocks, loop and tile orders,
    parallel or not), whose output fuses the pixels' rows and columns into its columns."""
    case = data.draw(pointwise_case(), label="case")
    _check_forward_and_gradients(data, case)
    xs, ws, s, p, d = case
    x, w = te.placeholder(xs, name="x"), te.placeholder(ws, name="w")
    g = te.placeholder((xs[0], ws[0]) + out_size(xs, ws, s, p, d), name="g")
    ops = {"conv2d": (topi.conv2d(x, w, s, p, d), [x, w]),
           "grad_input": (topi.conv2d_grad_input(g, w, xs, s, p, d), [g, w]),
           "grad_weight": (topi.conv2d_grad_weight(g, x, ws, s, p, d), [g, x])}
    name = data.draw(st.sampled_from(sorted(ops)), label="op")
    out, inputs = ops[name]
    product, knobs = next((t, k) for t, k in topi.tunable(out) if t.op.tag == "gemm")
    assert product is out or name == "grad_input" and s != (1, 1)      # a strided one is scattered
    config = data.draw(st.sampled_from(list(knobs.configs())), label="config")
    rng = rng_of(data)
    arrays = [rand(rng, [e.value for e in t.shape], "float32") for t in inputs]
    f = tm.build(topi.default_schedule(out, configs={product: config}), inputs + [out], name="pointwise")
    got = np.full([e.value for e in out.shape], np.nan, "float32")
    f(*arrays, got)
    if name == "conv2d":
        want = np_conv2d(*arrays, s, p, d)
    elif name == "grad_input":
        want = np_conv2d_grads(arrays[0], np.zeros(xs, "float32"), arrays[1], s, p, d)[0]
    else:
        want = np_conv2d_grads(arrays[0], arrays[1], np.zeros(ws, "float32"), s, p, d)[1]
    np.testing.assert_allclose(got, want, err_msg=str(config), **tol("float32", max(xs[1], ws[0], got.size)))


def test_pointwise_conv2d_accumulates_one_register_tile():
    """The GEMM's output loops over the fused pixels, and bound inference gives its
    accumulator one (rows x columns) tile: the read ``acc[f, (p // w) * w + p % w]``
    is one window of columns, not whole rows of pixels."""
    x, w = te.placeholder((1, 64, 14, 14), name="x"), te.placeholder((32, 64, 1, 1), name="w")
    y = topi.conv2d(x, w)
    text = str(tm.lower(topi.default_schedule(y), [x, w, y]))
    rows, columns = topi.schedule_nn._row_block(32, 7), topi.gemm_block("float32")
    assert f"conv2d.accumulate: float32[1, {rows}, {columns}] in local" in text, text


@pytest.mark.parametrize("op", ["conv2d_grad_weight", "conv2d_grad_input"])
def test_lenet_conv2_gradients_run_on_vectors(op):
    """LeNet conv2's gradients (12x12 input, 8x8 output) get vector loops in their
    accumulators: the weight gradient sums 8 output columns per lane, the data
    gradient's 12 columns are accumulated as 16 (two vectors) and cropped."""
    x, w = te.placeholder((64, 6, 12, 12), name="x"), te.placeholder((16, 6, 5, 5), name="w")
    g = te.placeholder((64, 16, 8, 8), name="g")
    if op == "conv2d_grad_weight":
        out, args, acc = topi.conv2d_grad_weight(g, x, (16, 6, 5, 5)), [g, x], "partial"
    else:
        out, args, acc = topi.conv2d_grad_input(g, w, (64, 6, 12, 12)), [g, w], "accumulate"
    ir = str(tm.lower(topi.default_schedule(out), args + [out]))
    assert any(line.strip().startswith("vectorized") and f"{op}.{acc}[" in nxt
               for line, nxt in zip(ir.splitlines(), ir.splitlines()[1:])), ir


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_seven_column_rows_run_on_vectors(stride):
    """A 7-column output row (ResNet's last stage) is accumulated as one 8-lane vector
    and cropped, not as a scalar loop; strided, the input is read by column phase
    (``conv2d.phases``), so every tap's input vector is one contiguous load."""
    size = 7 * stride
    x, w = te.placeholder((1, 16, size, size), name="x"), te.placeholder((32, 16, 3, 3), name="w")
    y = topi.conv2d(x, w, stride=stride, padding=1)
    assert [e.value for e in y.shape] == [1, 32, 7, 7]
    text = str(tm.lower(topi.default_schedule(y), [x, w, y]))
    lines = text.splitlines()
    assert any(line.strip().startswith("vectorized for x in range(8)") and "conv2d.accumulate[" in nxt
               and "+ conv2d." in nxt for line, nxt in zip(lines, lines[1:])), text
    assert ("conv2d.phases" in text) == (stride > 1), text
    rng = np.random.default_rng(stride)
    x_np, w_np = rand(rng, (1, 16, size, size), "float32"), rand(rng, (32, 16, 3, 3), "float32")
    got = np.empty((1, 32, 7, 7), "float32")
    tm.build(topi.default_schedule(y), [x, w, y], name="seven")(x_np, w_np, got)
    np.testing.assert_allclose(got, np_conv2d(x_np, w_np, (stride,) * 2, (1, 1), (1, 1)), **tol("float32", 144))


def test_wide_strided_rows_read_phases_without_a_two_source_permute():
    """A stride-2 forward with 28-column rows (over two 32-byte vectors) keeps strided
    loads where AVX-512's two-source permute makes them one shuffle, and reads column
    phases with narrower vectors (AVX2, e.g. ``TVMINI_CPU_FEATURES='-avx512*'``: two
    shuffles per strided vector); either way it equals numpy."""
    from tvmini.codegen.llvm_target import vector_bits
    x, w = te.placeholder((1, 8, 56, 56), name="x"), te.placeholder((16, 8, 3, 3), name="w")
    y = topi.conv2d(x, w, stride=2, padding=1)
    text = str(tm.lower(topi.default_schedule(y), [x, w, y]))
    assert ("conv2d.phases" in text) == (vector_bits() < 512), text
    rng = np.random.default_rng(3)
    x_np, w_np = rand(rng, (1, 8, 56, 56), "float32"), rand(rng, (16, 8, 3, 3), "float32")
    got = np.empty((1, 16, 28, 28), "float32")
    tm.build(topi.default_schedule(y), [x, w, y], name="wide_s2")(x_np, w_np, got)
    np.testing.assert_allclose(got, np_conv2d(x_np, w_np, (2, 2), (1, 1), (1, 1)), **tol("float32", 72))


@examples(10)
@given(st.data())
def test_column_phases_copy_the_padded_input(data):
    """The column-phase split (``conv._phase_split``) under its default schedule: a
    padded row computed in L1 per input row, each unrolled phase a strided vector read
    whose loads cover whole vectors from the phase's start when they stay inside that
    row (``VectorBuilder._chunk_shift``), else end on the last lane's element."""
    from tvmini.topi.conv import _phase_split
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    H, W = data.draw(st.integers(1, 5), label="H"), data.draw(st.integers(1, 70), label="W")
    ph, pw = data.draw(st.integers(0, 2), label="ph"), data.draw(st.integers(0, 3), label="pw")
    stride = data.draw(st.integers(2, 4), label="stride")
    width = data.draw(st.integers(1, -(-(W + 2 * pw) // stride) + 3), label="width")
    x = te.placeholder((2, 3, H, W), name="x", dtype=dtype)
    phases = _phase_split(x, (ph, pw), stride, width, "phases")
    x_np = rand(rng_of(data), (2, 3, H, W), dtype)
    got = np.empty([e.value for e in phases.shape], dtype)
    tm.build(topi.default_schedule(phases), [x, phases], name="phases")(x_np, got)
    columns = stride * got.shape[-1]
    padded = np.zeros((2, 3, H + 2 * ph, max(columns, W + 2 * pw)), dtype)
    padded[:, :, ph:ph + H, pw:pw + W] = x_np
    want = padded[..., :columns].reshape(2, 3, H + 2 * ph, got.shape[-1], stride).transpose(0, 1, 2, 4, 3)
    np.testing.assert_array_equal(got, want)


@examples(10)
@given(st.data())
def test_convolutions_as_products_match_numpy(data):
    """The forward pass and both gradients in their matrix-product form
    (``conv_product._product_conv2d``: weights times the packed windows of each image;
    ``conv_product._product_grad_input``: window columns then their sum per input pixel;
    ``conv_product._product_grad_weight``: one product over images and pixels), for any kernel,
    stride, padding and dilation, whatever shape the default dispatch would pick for them."""
    from tvmini.topi.conv_product import _product_conv2d, _product_grad_input, _product_grad_weight
    xs, ws, s, p, d = data.draw(conv_case(), label="case")
    dtype = data.draw(st.sampled_from(["float32", "float64"]), label="dtype")
    ys = (xs[0], ws[0]) + out_size(xs, ws, s, p, d)
    x, w, g = (te.placeholder(shape, name=n, dtype=dtype) for shape, n in ((xs, "x"), (ws, "w"), (ys, "g")))
    bias = te.placeholder((ws[0],), name="bias", dtype=dtype)
    rng = rng_of(data)
    x_np, w_np, g_np = rand(rng, xs, dtype), rand(rng, ws, dtype), rand(rng, ys, dtype)
    b_np = rand(rng, (ws[0],), dtype)
    (y,) = run(_product_conv2d(x, w, s, p, d, ys[2:], bias), {x: x_np, w: w_np, bias: b_np}, scale=ws[1] * 9)
    np.testing.assert_allclose(y, np_conv2d(x_np, w_np, s, p, d) + b_np[:, None, None],
                               **tol(dtype, ws[1] * ws[2] * ws[3]))
    gx, gw = run([_product_grad_input(g, w, xs, s, p, d), _product_grad_weight(g, x, ws, s, p, d, ys[2:])],
                 {g: g_np, w: w_np, x: x_np}, scale=g_np.size)
    want_gx, want_gw = np_conv2d_grads(g_np, x_np, w_np, s, p, d)
    np.testing.assert_allclose(gx, want_gx, **tol(dtype, ws[0] * ws[2] * ws[3]))
    np.testing.assert_allclose(gw, want_gw, **tol(dtype, g_np.size))


PRODUCT_DISPATCH = [
    ("forward", (1, 256, 14, 14), (256, 256, 3, 3), 2, True),        # 49 output pixels, 256 channels
    ("forward", (2, 256, 7, 7), (256, 256, 3, 3), 1, True),          # two images: one product, then NCHW
    ("forward", (1, 256, 9, 9), (256, 256, 3, 3), 1, False),         # 81 pixels
    ("forward", (1, 128, 7, 7), (128, 128, 3, 3), 1, False),         # 128 channels
    ("grad_input", (1, 64, 28, 28), (128, 64, 3, 3), 2, True),       # strided, 196 pixels for 64 channels
    ("grad_input", (1, 64, 7, 7), (64, 64, 3, 3), 1, True),          # 7-column rows
    ("grad_input", (1, 64, 14, 14), (64, 64, 3, 3), 1, False),       # stride 1, 14 columns
    ("grad_input", (2, 16, 14, 14), (32, 16, 3, 3), 2, False),       # few channels
    ("grad_weight", (1, 64, 14, 14), (128, 64, 3, 3), 2, True),      # 7-column rows
    ("grad_weight", (2, 3, 7, 7), (4, 3, 3, 3), 1, True),            # under one vector, few channels
    ("grad_weight", (1, 64, 28, 28), (64, 64, 3, 3), 1, True),       # 784 pixels for 64 channels
    ("grad_weight", (4, 64, 28, 28), (64, 64, 3, 3), 1, False),      # 3136 pixels, 28 columns
    ("grad_weight", (2, 16, 14, 14), (16, 16, 3, 3), 1, False)]      # few channels, 14 columns


@pytest.mark.parametrize("op, xs, ws, stride, product", PRODUCT_DISPATCH)
def test_small_maps_take_the_product_forms(op, xs, ws, stride, product):
    """Which convolutions are matrix products (a ``gemm`` stage; ``conv_product._forward_as_product``,
    ``_data_gradient_as_product``, ``_weight_gradient_as_product``): the forward with 256+
    channels over at most 64 pixels per image (one product over several images' pixels,
    then moved to NCHW), the data gradient with many channels over small or strided small
    maps (window columns, then their sums), the weight gradient over small maps (one
    product over images and pixels); else the direct forms. All equal numpy."""
    x, w = te.placeholder(xs, name="x"), te.placeholder(ws, name="w")
    ys = (xs[0], ws[0]) + out_size(xs, ws, (stride,) * 2, (1, 1), (1, 1))
    g = te.placeholder(ys, name="g")
    rng = np.random.default_rng(len(op))
    x_np, w_np, g_np = rand(rng, xs, "float32"), rand(rng, ws, "float32"), rand(rng, ys, "float32")
    attrs = dict(stride=stride, padding=1)
    if op == "forward":
        out, args = topi.conv2d(x, w, **attrs), {x: x_np, w: w_np}
        want = np_conv2d(x_np, w_np, (stride,) * 2, (1, 1), (1, 1))
    elif op == "grad_input":
        out, args = topi.conv2d_grad_input(g, w, xs, **attrs), {g: g_np, w: w_np}
        want = np_conv2d_grads(g_np, np.zeros(xs, "float32"), w_np, (stride,) * 2, (1, 1), (1, 1))[0]
    else:
        out, args = topi.conv2d_grad_weight(g, x, ws, **attrs), {g: g_np, x: x_np}
        want = np_conv2d_grads(g_np, x_np, np.zeros(ws, "float32"), (stride,) * 2, (1, 1), (1, 1))[1]
    tags = [out.op.tag] + [t.op.tag for t in out.op.input_tensors]
    assert ("gemm" in tags) == product, tags
    got = np.empty(want.shape, "float32")
    tm.build(topi.default_schedule(out), list(args) + [out], name=f"dispatch_{op}")(*args.values(), got)
    np.testing.assert_allclose(got, want, **tol("float32", max(ws[0], ys[0] * ys[2] * ys[3]) * 9))


def test_conv2d_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    xs, ws, s, p, d = (2, 2, 5, 6), (3, 2, 3, 2), (2, 1), (1, 1), (1, 2)
    x_np, w_np = rand(rng, xs, "float64"), rand(rng, ws, "float64")
    g_np = rand(rng, (2, 3) + out_size(xs, ws, s, p, d), "float64")
    x = te.placeholder(xs, name="x", dtype="float64")
    w = te.placeholder(ws, name="w", dtype="float64")
    g = te.placeholder(g_np.shape, name="g", dtype="float64")
    gx, gw = run([topi.conv2d_grad_input(g, w, xs, s, p, d), topi.conv2d_grad_weight(g, x, ws, s, p, d)],
                 {g: g_np, w: w_np, x: x_np})
    loss = lambda xv, wv: float(np.sum(g_np * np_conv2d(xv, wv, s, p, d)))  # noqa: E731
    np.testing.assert_allclose(gx, numeric_grad(lambda v: loss(v, w_np), x_np), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, numeric_grad(lambda v: loss(x_np, v), w_np), rtol=1e-6, atol=1e-8)


def test_lenet_shapes():
    """The LeNet layers the trainings use (batch 64), forward and both gradients."""
    rng = np.random.default_rng(4)
    for xs, ws in [((64, 1, 28, 28), (6, 1, 5, 5)), ((64, 6, 12, 12), (16, 6, 5, 5))]:
        x_np, w_np = rand(rng, xs, "float32"), rand(rng, ws, "float32")
        x = te.placeholder(xs, name="x")
        w = te.placeholder(ws, name="w")
        (y,) = run(topi.conv2d(x, w), {x: x_np, w: w_np}, scale=100)
        np.testing.assert_allclose(y, np_conv2d(x_np, w_np, (1, 1), (0, 0), (1, 1)), rtol=1e-4, atol=1e-4)
        g_np = rand(rng, y.shape, "float32")
        g = te.placeholder(y.shape, name="g")
        gx, gw = run([topi.conv2d_grad_input(g, w, xs), topi.conv2d_grad_weight(g, x, ws)],
                     {g: g_np, w: w_np, x: x_np}, scale=10000)
        want_gx, want_gw = np_conv2d_grads(g_np, x_np, w_np, (1, 1), (0, 0), (1, 1))
        np.testing.assert_allclose(gx, want_gx, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw, want_gw, rtol=1e-4, atol=1e-2)


def test_conv2d_errors():
    x = te.placeholder((1, 3, 8, 8), name="x")
    with pytest.raises(tm.errors.ShapeError, match=r"input x \[1, 3, 8, 8\] has 3 channels but weight w"):
        topi.conv2d(x, te.placeholder((4, 2, 3, 3), name="w"))
    with pytest.raises(tm.errors.ShapeError, match=r"bias b \[3\] does not match the 4 filters of weight w"):
        topi.conv2d(x, te.placeholder((4, 3, 3, 3), name="w"), bias=te.placeholder((3,), name="b"))
    with pytest.raises(tm.errors.ShapeError, match=r"conv2d_grad_weight: input x \[1, 3, 8, 8\] has 3 channels "
                       r"but the weight shape \[4, 2, 3, 3\] expects 2"):
        topi.conv2d_grad_weight(te.placeholder((1, 4, 6, 6), name="g"), x, (4, 2, 3, 3))
    with pytest.raises(tm.errors.ShapeError, match="does not fit"):
        topi.conv2d(x, te.placeholder((4, 3, 9, 9), name="w"))
    with pytest.raises(tm.errors.ShapeError, match="stride"):
        topi.conv2d(x, te.placeholder((4, 3, 3, 3), name="w"), stride=0)
    with pytest.raises(tm.errors.ShapeError, match="forward output shape"):
        topi.conv2d_grad_input(te.placeholder((1, 4, 5, 5), name="g"), te.placeholder((4, 3, 3, 3), name="w"),
                               (1, 3, 8, 8))


@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (3, 2), ((2, 1), 1)])
def test_conv_block_reads_the_column_stride(stride, dilation):
    """The default conv2d block reads the window's column stride from the accumulator
    (dilation aside; 1 where the input is read by column phase, as with AVX2): a
    strided input vector costs loads and shuffles, so the block keeps at least as many
    filters as at stride 1."""
    from tvmini.topi.schedule_conv import _column_stride, _producer
    x = te.placeholder((1, 64, 56, 56), name="x")
    w = te.placeholder((128, 64, 3, 3), name="w")

    def conv(stride):
        return topi.conv2d(x, w, stride=stride, padding=1, dilation=dilation)
    out = conv(stride)
    column_stride = stride[1] if isinstance(stride, tuple) else stride
    if "conv2d.phases" in str(tm.lower(topi.default_schedule(out), [x, w, out])):
        column_stride = 1
    assert _column_stride(_producer(out, "conv2d_accum")) == column_stride
    ((_, knobs),), ((_, plain),) = topi.tunable(out), topi.tunable(conv(1))
    assert knobs.default["fb"] >= plain.default["fb"], (knobs.default, plain.default)

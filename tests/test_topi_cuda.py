"""topi's default CUDA schedules (tvmini/topi/schedule_cuda.py) for every operator.

Each operator instance (a ``Case``) is scheduled with ``topi.default_schedule(outs,
"cuda")`` and lowered to CUDA C as ``tm.build`` does; that needs neither nvcc nor a GPU
and already proves every stage bound or inlined (the codegen raises BuildError
otherwise). With nvcc, the CUDA C of a whole group of operators is compiled to PTX in
one nvcc call (each call costs ~0.3 s). With a GPU and the CUDA runtime, every case is
built with ``tm.build``, run on ``tm.cuda(0)`` and compared with the numpy reference;
those tests skip here otherwise.
"""
import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.codegen import cuda
from tvmini.codegen.cuda_compile import compile_ptx
from tvmini.testing import reference
from tvmini.topi import optim as topi_optim
from tvmini.topi.epilogue import fuse_epilogue
from tvmini.topi import schedule_cuda, schedule_nn
from tvmini.topi.schedule import rule_for

from strategies import examples
from test_cuda import needs_gpu, needs_nvcc

F32, F64 = "float32", "float64"


def ph(shape, name, dtype=F32):
    return te.placeholder(shape, name=name, dtype=dtype)


def scalar(name, dtype=F32):
    return te.var(name, dtype=dtype)


class Case:
    """One operator instance: its arguments (placeholders and scalar vars, in build
    order), its outputs, the values of its integer inputs and scalars (drawn at random
    otherwise), and whether its float inputs must be positive (log, sqrt, ...)."""

    def __init__(self, args, outs, values=None, positive=False):
        self.args = list(args)
        self.outs = [outs] if isinstance(outs, te.Tensor) else list(outs)
        self.values, self.positive = dict(values or {}), positive


def _unary(fn, positive=False, dtype=F32):
    x = ph((5, 33), "x", dtype)
    return Case([x], fn(x), positive=positive)


def _grad(fn, positive=False):
    x, g = ph((5, 33), "x"), ph((5, 33), "g")
    return Case([x, g], fn(x, g), positive=positive)


def _binary(fn, a_shape=(4, 1, 33), b_shape=(5, 33)):
    a, b = ph(a_shape, "a"), ph(b_shape, "b")
    return Case([a, b], fn(a, b))


def _seed():
    return te.var("seed", dtype="int64")


def _elementwise_cases():
    cases = {name: (lambda fn=getattr(topi, name): _unary(fn)) for name in
             ("negative", "exp", "abs", "relu", "sigmoid", "tanh", "cos", "sin", "square", "sign", "identity")}
    cases.update({name: (lambda fn=getattr(topi, name): _unary(fn, positive=True))
                  for name in ("log", "sqrt", "reciprocal")})
    cases.update({f"{name}_grad": (lambda fn=getattr(topi, f"{name}_grad"): _grad(fn, positive=True))
                  for name in ("relu", "sigmoid", "tanh", "exp", "cos", "sin", "log", "sqrt", "abs")})
    cases.update({
        "exp_f64": lambda: _unary(topi.exp, dtype=F64),
        "cast_int": lambda: _unary(lambda x: topi.cast(topi.multiply(x, 10.0), "int32")),
        "power_scalar": lambda: _unary(lambda x: topi.power(x, 3.0), positive=True),
        "power_grad": lambda: _grad(lambda x, g: topi.power_grad(x, g, 2.5), positive=True),
        "scale_shift": lambda: _unary(lambda x: topi.scale_shift(x, 2.0, -1.0)),
        "scalar_in_scalar_out": lambda: _unary_scalar(),
        "scalar_times_vector": lambda: _binary(topi.multiply, (), (7,)),
    })
    for name in ("add", "subtract", "multiply", "divide", "maximum", "minimum",
                 "equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        cases[name] = lambda fn=getattr(topi, name): _binary(fn)
    cases["where"] = lambda: _where()
    return cases


def _unary_scalar():
    x = ph((), "x")
    return Case([x], topi.exp(x))


def _where():
    c, a, b = ph((5, 1), "c", "bool"), ph((5, 6), "a"), ph((6,), "b")
    return Case([c, a, b], topi.where(c, a, b))


def _reduce(fn, shape=(6, 7, 300), dtype=F32, **kw):
    x = ph(shape, "x", dtype)
    return Case([x], fn(x, **kw))


def _reduction_cases():
    return {
        "sum_last": lambda: _reduce(topi.sum, axis=2),
        "sum_outer_keepdims": lambda: _reduce(topi.sum, axis=(0, 2), keepdims=True),
        "sum_all_big": lambda: _reduce(topi.sum, shape=(1000, 3000)),
        "sum_all_small": lambda: _reduce(topi.sum, shape=(3, 5)),
        "sum_int": lambda: _reduce(topi.sum, dtype="int32", axis=1),
        "sum_bool": lambda: _reduce(topi.sum, dtype="bool", axis=0),
        "sum_columns": lambda: _reduce(topi.sum, shape=(4000, 10), axis=0),
        "mean": lambda: _reduce(topi.mean, axis=1),
        "max_all": lambda: _reduce(topi.max, axis=None),
        "min_keepdims": lambda: _reduce(topi.min, axis=0, keepdims=True),
        "prod": lambda: _reduce(topi.prod, shape=(4, 6), axis=1),
        "argmax": lambda: _reduce(topi.argmax, axis=2),
        "argmin_outer": lambda: _reduce(topi.argmin, axis=0, keepdims=True),
        "argmax_small": lambda: _reduce(topi.argmax, shape=(9, 10), axis=1, dtype=F32),
        "sum_to": lambda: _reduce(lambda x: topi.sum_to(x, (7, 1))),
        "sum_symbolic": lambda: _symbolic_sum(),
        "mean_symbolic_empty": lambda: _symbolic_empty_mean(),
    }


def _symbolic_sum():
    n = te.var("n")
    x = ph((n, 70), "x")
    return Case([x], topi.sum(x, axis=1), values={n: 50})


def _symbolic_empty_mean():
    """The mean over a symbolic extent bound to 0: NaN (the NaN stage after the sum)."""
    n = te.var("n")
    x = ph((n, 70), "x")
    return Case([x], topi.mean(x, axis=0), values={n: 0})


def _matmul(m, n, k, ta=False, tb=False, dtype=F32):
    a = ph((k, m) if ta else (m, k), "a", dtype)
    b = ph((n, k) if tb else (k, n), "b", dtype)
    return Case([a, b], topi.matmul(a, b, transpose_a=ta, transpose_b=tb))


def _linalg_cases():
    return {
        "matmul": lambda: _matmul(37, 29, 50),
        "matmul_ta": lambda: _matmul(64, 64, 33, ta=True),
        "matmul_tb": lambda: _matmul(130, 10, 64, tb=True),
        "matmul_tab_f64": lambda: _matmul(5, 17, 3, ta=True, tb=True, dtype=F64),
        "matmul_int32": lambda: _matmul(37, 29, 50, dtype="int32"),
        "matmul_tab_int64": lambda: _matmul(5, 17, 3, ta=True, tb=True, dtype="int64"),
        "matmul_int8": lambda: _matmul(9, 70, 33, dtype="int8"),
        "matmul_symbolic": lambda: _symbolic_matmul(),
        "batch_matmul": lambda: _batch_matmul(),
        "dense": lambda: _dense(),
        "dense_relu_epilogue": lambda: _dense(epilogue=True),
    }


def _symbolic_matmul():
    n = te.var("n")
    a, b = ph((n, 20), "a"), ph((20, 30), "b")
    return Case([a, b], topi.matmul(a, b), values={n: 45})


def _batch_matmul():
    a, b = ph((3, 17, 20), "a"), ph((1, 9, 20), "b")
    return Case([a, b], topi.batch_matmul(a, b, transpose_b=True))


def _dense(epilogue=False):
    """x @ w.T + bias; with ``epilogue``, relu applied on the register tile (the jit's fusion)."""
    x, w, bias = ph((128, 784), "x"), ph((256, 784), "w"), ph((256,), "bias")
    y = topi.dense(x, w, bias)
    return Case([x, w, bias], fuse_epilogue(topi.relu(y)) if epilogue else y)


CONV = dict(stride=2, padding=1, dilation=2)


def _conv(x_shape, w_shape, bias=False, **kw):
    x, w = ph(x_shape, "x"), ph(w_shape, "w")
    b = ph((w_shape[0],), "bias") if bias else None
    return Case([x, w] + ([b] if bias else []), topi.conv2d(x, w, bias=b, **kw))


def _conv_grad(which, x_shape=(2, 3, 11, 11), w_shape=(4, 3, 3, 3), **attrs):
    attrs = attrs or CONV
    out_shape = topi.conv2d(ph(x_shape, "x"), ph(w_shape, "w"), **attrs).shape
    g = ph(tuple(int(d.value) for d in out_shape), "g")
    if which == "input":
        w = ph(w_shape, "w")
        return Case([g, w], topi.conv2d_grad_input(g, w, x_shape, **attrs))
    x = ph(x_shape, "x")
    return Case([g, x], topi.conv2d_grad_weight(g, x, w_shape, **attrs))


#: A pointwise (1x1) convolution is a GEMM over pixels (``conv_product._product_conv2d``).
POINTWISE = dict(x_shape=(2, 12, 9, 7), w_shape=(10, 12, 1, 1))


POOL = dict(kernel=3, stride=2, padding=1)


def _pool(fn):
    x = ph((2, 3, 9, 9), "x")
    return Case([x], fn(x, **POOL))


def _pool_grad(which):
    x_shape = (2, 3, 9, 9)
    out_shape = tuple(int(d.value) for d in topi.max_pool2d(ph(x_shape, "x"), **POOL).shape)
    g = ph(out_shape, "g")
    if which == "max":
        x = ph(x_shape, "x")
        return Case([g, x], topi.max_pool2d_grad(g, x, **POOL))
    return Case([g], topi.avg_pool2d_grad(g, x_shape, **POOL))


def _conv_pool_cases():
    return {
        "conv2d": lambda: _conv((2, 3, 11, 11), (4, 3, 3, 3), bias=True, **CONV),
        "conv2d_lenet": lambda: _conv((8, 1, 28, 28), (6, 1, 5, 5)),
        "conv2d_wide": lambda: _conv((1, 16, 14, 14), (32, 16, 3, 3), padding=1),
        "conv2d_grad_input": lambda: _conv_grad("input"),
        # strided, narrow rows: the input read by column phase (conv._phase_split)
        "conv2d_phases": lambda: _conv((1, 16, 14, 14), (32, 16, 3, 3), stride=2, padding=1),
        # 256 channels over 9 output pixels: weights times packed windows (conv_product._product_conv2d)
        "conv2d_product": lambda: _conv((1, 256, 6, 6), (256, 256, 3, 3), stride=2, padding=1),
        # many channels over small maps: window columns then their sum (conv_product._product_grad_input)
        "conv2d_columns_grad_input": lambda: _conv_grad("input", (1, 64, 8, 8), (64, 64, 3, 3), stride=2, padding=1),
        "conv2d_grad_weight": lambda: _conv_grad("weight"),
        "conv2d_depthwise": lambda: _conv((2, 6, 9, 9), (6, 1, 3, 3), stride=2, padding=1, groups=6),
        "conv2d_grouped_grad_input": lambda: _conv_grad("input", (2, 6, 9, 9), (4, 3, 3, 3), padding=1, groups=2),
        "conv2d_grouped_grad_weight": lambda: _conv_grad("weight", (2, 6, 9, 9), (4, 3, 3, 3), padding=1, groups=2),
        "conv2d_pointwise": lambda: _conv((2, 12, 9, 7), (10, 12, 1, 1), bias=True),
        "conv2d_pointwise_stride2": lambda: _conv((2, 12, 9, 7), (10, 12, 1, 1), stride=2),
        "conv2d_pointwise_grad_input": lambda: _conv_grad("input", **POINTWISE, stride=1),
        "conv2d_pointwise_grad_input_stride2": lambda: _conv_grad("input", **POINTWISE, stride=2),
        "conv2d_pointwise_grad_weight": lambda: _conv_grad("weight", **POINTWISE, stride=2),
        "max_pool2d": lambda: _pool(topi.max_pool2d),
        "avg_pool2d": lambda: _pool(topi.avg_pool2d),
        "max_pool2d_grad": lambda: _pool_grad("max"),
        "avg_pool2d_grad": lambda: _pool_grad("avg"),
        "adaptive_avg_pool2d": lambda: Case([x := ph((2, 3, 11, 7), "x")], topi.adaptive_avg_pool2d(x, (4, 3))),
        "adaptive_avg_pool2d_grad": lambda: Case([g := ph((2, 3, 4, 3), "g")],
                                                 topi.adaptive_avg_pool2d_grad(g, (2, 3, 11, 7), (4, 3))),
    }


def _labels(n, classes):
    labels = ph((n,), "labels", "int64")
    return labels, {labels: np.arange(n) * 7 % classes}


def _loss(which):
    logits = ph((8, 10), "logits")
    labels, values = _labels(8, 10)
    if which in ("cross_entropy", "nll_loss"):
        return Case([logits, labels], getattr(topi, which)(logits, labels), values)
    g = ph((8,), "g")
    return Case([logits, labels, g], getattr(topi, which)(logits, labels, g), values)


def _softmax(fn, shape=(7, 10), axis=-1):
    x = ph(shape, "x")
    return Case([x], fn(x, axis=axis))


def _softmax_grad(fn, shape=(7, 10), axis=-1):
    y, g = ph(shape, "y"), ph(shape, "g")
    return Case([y, g], fn(y, g, axis=axis))


def _batch_norm(which, shape, axes):
    x = ph(shape, "x")
    channels = tuple(n for a, n in enumerate(shape) if a not in axes)
    if which == "stats":
        return Case([x], list(topi.batch_norm_stats(x, axes)))
    gamma, beta = ph(channels, "gamma"), ph(channels, "beta")
    if which == "forward":
        return Case([x, gamma, beta], list(topi.batch_norm_forward(x, gamma, beta, 1e-5, axes)))
    g, mean, var = ph(shape, "g"), ph(channels, "mean"), ph(channels, "var")
    return Case([g, x, mean, var, gamma], list(topi.batch_norm_backward(g, x, mean, var, gamma, 1e-5, axes)),
                positive=True)


def _nn_cases():
    return {
        "softmax": lambda: _softmax(topi.softmax),
        "softmax_long_rows": lambda: _softmax(topi.softmax, shape=(5, 300)),
        "log_softmax_axis0": lambda: _softmax(topi.log_softmax, shape=(40, 3), axis=0),
        "softmax_grad": lambda: _softmax_grad(topi.softmax_grad),
        "log_softmax_grad": lambda: _softmax_grad(topi.log_softmax_grad, shape=(4, 100)),
        "cross_entropy": lambda: _loss("cross_entropy"),
        "cross_entropy_grad": lambda: _loss("cross_entropy_grad"),
        "nll_loss": lambda: _loss("nll_loss"),
        "nll_loss_grad": lambda: _loss("nll_loss_grad"),
        "batch_norm_stats": lambda: _batch_norm("stats", (64, 16), (0,)),
        "batch_norm_forward_nchw": lambda: _batch_norm("forward", (4, 3, 5, 5), (0, 2, 3)),
        "batch_norm_backward": lambda: _batch_norm("backward", (32, 6), (0,)),
        "batch_norm_backward_nchw": lambda: _batch_norm("backward", (4, 3, 9, 9), (0, 2, 3)),
    }


def _layout_cases():
    def one(fn, shape=(6, 8, 5)):
        x = ph(shape, "x")
        return Case([x], fn(x))

    def take(grad=False, mode="clip"):
        indices = ph((6,), "indices", "int32")
        values = {indices: np.array([0, 3, 9, -2, 12, 3], "int32")}
        if grad:
            g = ph((6, 4), "g")
            return Case([g, indices], topi.take_grad(g, indices, (10, 4), axis=0, mode=mode), values)
        x = ph((10, 4), "x")
        return Case([x, indices], topi.take(x, indices, axis=0, mode=mode), values)

    def one_hot():
        indices = ph((7,), "indices", "int32")
        return Case([indices], topi.one_hot(indices, 5), {indices: np.arange(7, dtype="int32") % 5})

    def concat():
        a, b = ph((3, 4), "a"), ph((3, 7), "b")
        return Case([a, b], topi.concatenate([a, b], axis=1))

    def slice_grad():
        g = ph((3, 4, 5), "g")
        return Case([g], topi.strided_slice_grad(g, (6, 8, 5), [0, 7, 0], [6, 0, 5], [2, -2, 1]))
    return {
        "transpose": lambda: one(lambda x: topi.transpose(x, (2, 0, 1))),
        "transpose_2d": lambda: one(topi.transpose, shape=(64, 96)),
        "reshape": lambda: one(lambda x: topi.reshape(x, (12, 20))),
        "broadcast_to": lambda: one(lambda x: topi.broadcast_to(x, (3, 6, 8, 5))),
        "strided_slice": lambda: one(lambda x: topi.strided_slice(x, [0, 7, 0], [6, 0, 5], [2, -2, 1])),
        "strided_slice_grad": slice_grad,
        "concatenate": concat,
        "pad": lambda: one(lambda x: topi.pad(x, [1, 0, 2], [0, 3, 1], value=0.5)),
        "one_hot": one_hot,
        "take_clip": take,
        "take_wrap": lambda: take(mode="wrap"),
        "take_grad": lambda: take(grad=True),
    }


def _optim(name):
    p, g = ph((1000,), "p"), ph((1000,), "g")
    lr, wd = scalar("lr"), scalar("wd")
    values = {lr: 0.1, wd: 0.01}
    if name == "sgd":
        return Case([p, g, lr, wd], topi_optim.sgd_update(p, g, lr, wd), values)
    if name == "sgd_nesterov":
        buf = ph((1000,), "buf")
        keep, gs, mom = scalar("keep"), scalar("gs"), scalar("mom")
        values.update({keep: 0.9, gs: 1.0, mom: 0.9})
        return Case([p, g, buf, lr, wd, keep, gs, mom],
                    topi_optim.sgd_momentum_update(p, g, buf, lr, wd, keep, gs, mom, nesterov=True), values)
    if name == "adam":
        m, v = ph((1000,), "m"), ph((1000,), "v")
        extra = [scalar(n) for n in ("b1", "b2", "eps", "bc2", "decay")]
        values.update(zip(extra, (0.9, 0.999, 1e-8, 0.5, 1.0)))
        b1, b2, eps, bc2, decay = extra
        return Case([p, g, m, v, lr, wd] + extra, topi_optim.adam_update(p, g, m, v, lr, b1, b2, eps, bc2, wd, decay),
                    values, positive=True)
    if name == "adagrad":
        s, eps = ph((1000,), "s"), scalar("eps")
        values[eps] = 1e-10
        return Case([p, g, s, lr, eps, wd], topi_optim.adagrad_update(p, g, s, lr, eps, wd), values, positive=True)
    sq, ga, buf = ph((1000,), "sq"), ph((1000,), "ga"), ph((1000,), "buf")
    alpha, eps, mom = scalar("alpha"), scalar("eps"), scalar("mom")
    values.update({alpha: 0.99, eps: 1e-8, mom: 0.9})
    # as in training, the mean square exceeds the squared mean by a margin: centred
    # RMSprop's sqrt(sq - ga^2) is then well conditioned (near 0 the GPU's fused
    # multiply-add and numpy's two roundings differ by far more than the tolerance)
    rng = np.random.default_rng(7)
    values[ga] = rng.uniform(-1.0, 1.0, 1000).astype(F32)
    values[sq] = (values[ga] ** 2 + rng.uniform(0.1, 1.0, 1000)).astype(F32)
    outs = topi_optim.rmsprop_update(p, g, sq, ga, buf, lr=lr, alpha=alpha, eps=eps, weight_decay=wd, momentum=mom,
                               centered=True, use_momentum=True)
    return Case([p, g, sq, ga, buf, lr, alpha, eps, wd, mom], outs, values)


def _random_optim_cases():
    def draw(fn):
        seed = _seed()
        return Case([seed], fn(seed), {seed: 1234})

    def dropout():
        x, seed = ph((33, 7), "x"), _seed()
        return Case([x, seed], topi.random.dropout(x, 0.8, seed), {seed: 99})
    cases = {
        "uniform": lambda: draw(lambda s: topi.random.uniform((1000,), s)),
        "normal": lambda: draw(lambda s: topi.random.normal((17, 9), s, dtype=F64)),
        "bernoulli_mask": lambda: draw(lambda s: topi.random.bernoulli_mask((33, 7), 0.7, s)),
        "dropout": dropout,
    }
    cases.update({f"{name}_update": (lambda name=name: _optim(name))
                  for name in ("sgd", "sgd_nesterov", "adam", "adagrad", "rmsprop")})
    return cases


GROUPS = {
    "elementwise": _elementwise_cases(),
    "reduction": _reduction_cases(),
    "linalg": _linalg_cases(),
    "conv_pool": _conv_pool_cases(),
    "nn": _nn_cases(),
    "layout": _layout_cases(),
    "random_optim": _random_optim_cases(),
}
ALL_CASES = [(group, name) for group, cases in GROUPS.items() for name in cases]


# -- CUDA C without nvcc ----------------------------------------------------------------

def cuda_source(case, name):
    """(CUDA C, kernel names) of ``case`` under the default CUDA schedule, generated the
    way ``tm.build(..., target="cuda")`` does before it calls nvcc."""
    sch = topi.default_schedule(case.outs, "cuda")
    func = tm.lower(sch, case.args + case.outs, name=name)
    kernels, _ = cuda.split_kernels(func, sch)
    return cuda.module_source([cuda.CudaPrinter(k, func.may_alias).source() for k in kernels]), \
        [k.name for k in kernels]


@functools.lru_cache(maxsize=None)
def group_sources(group):
    return {name: cuda_source(make(), f"{group}_{name}") for name, make in GROUPS[group].items()}


def compile_together(sources, name):
    """PTX of several translation units in one nvcc call (their shared helper lines once)."""
    seen, lines = set(), []
    for source in sources:
        for line in source.splitlines():
            if line.startswith(("#include", "__device__ __forceinline__")):
                if line in seen:
                    continue
                seen.add(line)
            lines.append(line)
    return compile_ptx("\n".join(lines) + "\n", name=name)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_operator_lowers_to_cuda_c(group):
    for name, (source, kernels) in group_sources(group).items():
        assert kernels and source.count("__global__ void") == len(kernels), name
        assert all(f" {k}(" in source for k in kernels), name


@needs_nvcc
@pytest.mark.parametrize("group", sorted(GROUPS))
def test_every_operator_compiles_to_ptx(group):
    sources = group_sources(group)
    ptx = compile_together([s for s, _ in sources.values()], f"topi_{group}")
    for name, (_, kernels) in sources.items():
        for kernel in kernels:
            assert f".entry {kernel}(" in ptx, f"{name}: kernel {kernel} missing from the PTX"


# -- what the schedules look like --------------------------------------------------------

def source_of(make, name):
    return cuda_source(make(), name)


def test_gemm_is_tiled_through_shared_memory_with_register_blocks():
    source, kernels = source_of(lambda: _matmul(256, 256, 256), "gemm_tiles")
    assert len(kernels) == 1                                   # the packing stage is inlined
    assert "__launch_bounds__(256)" in source                  # 16 x 16 threads, 64 x 64 outputs per block
    assert "float matmul_accumulate[16];" in source            # 4 x 4 outputs per thread, in registers
    assert source.count("__shared__ __align__(16) float") == 2 and "__syncthreads();" in source
    assert "blockIdx.y" in source and "threadIdx.y" in source


@needs_nvcc
def test_gemm_threads_read_their_four_b_columns_as_one_vector():
    """The packed B tile is blocks of 32 columns; a thread's columns ``4*tx + j`` fall in
    block ``tx // 8`` for all four ``j`` (the simplifier proves it from ``j``'s loop), so
    the inner loop's shared reads are 128-bit ``ld.shared.v4`` as in the hand-written
    register-blocked schedule (they were scalar: 64 of 80 shared loads per k tile)."""
    source, _ = source_of(lambda: _matmul(4096, 4096, 4096), "gemm_vector_reads")
    ptx = compile_ptx(source, name="gemm_vector_reads")
    assert ptx.count("ld.shared.v4.f32") >= 28 and ptx.count("ld.shared.f32") <= 4


@pytest.mark.parametrize("m, n, k, tb", [(1024, 1024, 1024, False), (128, 256, 784, True), (64, 500, 800, True),
                                         (1000, 70, 130, False)])
def test_gemm_stages_one_tile_of_a_in_shared_memory(m, n, k, tb):
    """A's rows are read clamped to the last one (the rows are padded to a multiple of
    24 for the CPU's micro-kernels); the shared copy still holds one 64-row tile (it held
    all of A, 64 KiB at 1024^3, over the 48 KiB a block may have)."""
    source, _ = source_of(lambda: _matmul(m, n, k, tb=tb), f"gemm_clamped_{m}_{n}_{k}")
    assert "__shared__ __align__(16) float a_shared[1024];" in source      # 64 rows x 16 of k


def test_batched_gemm_puts_the_batch_on_blockIdx_z():
    source, _ = source_of(_batch_matmul, "gemm_batch")
    assert "blockIdx.z" in source


def test_long_contiguous_rows_reduce_with_a_block_per_row():
    source, kernels = source_of(lambda: _reduce(topi.sum, shape=(1000, 3000), axis=1), "rows")
    assert len(kernels) == 1 and "__launch_bounds__(256)" in source
    assert "float sum_red[1];" in source                                   # each thread's share
    assert "__shared__ __align__(16) float sum_red_slots[256];" in source  # combined across the block
    assert source.count("__syncthreads();") == 9 and "if ((k1_inner == 0))" in source


def test_short_rows_reduce_with_a_warp():
    source, _ = source_of(lambda: _reduce(topi.max, shape=(50, 40), axis=1), "warp_rows")
    assert "__launch_bounds__(64)" not in source and "__launch_bounds__(32)" in source
    assert "threadIdx.y" not in source


def test_a_strided_reduction_runs_a_thread_per_output():
    source, kernels = source_of(lambda: _reduce(topi.sum, shape=(3000, 4000), axis=0), "columns")
    assert len(kernels) == 1 and "__shared__" not in source and "__launch_bounds__(256)" in source


def test_few_outputs_reduce_partial_sums_first():
    _, kernels = source_of(lambda: _reduce(topi.sum, shape=(4000, 10), axis=0), "few_columns")
    assert len(kernels) == 2                    # 64 partial sums per column, then their sum


def test_a_scalar_result_is_reduced_in_levels_down_to_one_thread():
    source, kernels = source_of(lambda: _reduce(topi.sum, shape=(1000, 3000)), "to_scalar")
    assert len(kernels) == 3                    # 3e6 -> 16384 -> 256 partial sums -> one thread
    last = source[source.index(kernels[-1]) - 50:]
    assert "__launch_bounds__(1)" in last
    source, kernels = source_of(lambda: _reduce(topi.sum, shape=(3, 5)), "small_scalar")
    assert len(kernels) == 1 and "__launch_bounds__(1)" in source


def test_small_row_reductions_are_computed_in_the_reading_thread():
    _, kernels = source_of(lambda: _softmax(topi.softmax), "softmax_small")
    assert len(kernels) == 2                    # the max (read twice) and the output with its sum
    _, kernels = source_of(lambda: _loss("cross_entropy"), "ce_small")
    assert len(kernels) == 2
    _, kernels = source_of(lambda: _pool(topi.avg_pool2d), "avg_pool")
    assert len(kernels) == 1                    # the window sums inside the scaling threads


def test_conv2d_keeps_a_register_block_of_channels_per_thread():
    source, kernels = source_of(lambda: _conv((1, 16, 14, 14), (32, 16, 3, 3), padding=1), "conv_regs")
    assert len(kernels) == 1                    # padding inlined
    assert "float conv2d_accumulate[4];" in source and "__launch_bounds__(256)" in source


def test_cuda_rules_are_chosen_per_target():
    assert rule_for("gemm", "cuda")[0] is schedule_cuda.schedule_gemm
    cpu_gemm = rule_for("gemm", "llvm")[0]
    assert cpu_gemm.__module__ == schedule_nn.__name__ and rule_for("gemm", "llvm -mcpu=znver3")[0] is cpu_gemm
    assert rule_for("no_such_tag", "cuda")[0] is schedule_cuda.schedule_generic
    assert rule_for("no_such_tag", "llvm") == (None, None)
    assert rule_for("conv2d_accum", "cuda")[0] is schedule_cuda.schedule_generic


def test_an_untagged_compute_gets_the_generic_rule():
    x = ph((300, 70), "x")
    k = te.reduce_axis((0, 70), name="k")
    y = te.compute((300,), lambda i: te.sum(x[i, k] * x[i, k], axis=k), name="sumsq")
    z = te.compute((300,), lambda i: y[i] + 1.0, name="plus_one")
    _, kernels = cuda_source(Case([x], z), "untagged")
    assert len(kernels) == 2


# -- hypothesis shapes --------------------------------------------------------------------

SIZES = st.sampled_from([1, 2, 3, 7, 31, 33, 64, 129])
BINARY = ["add", "subtract", "multiply", "divide", "maximum", "minimum", "less", "greater_equal"]
REDUCERS = ["sum", "mean", "max", "min", "argmax"]


@st.composite
def elementwise_cases(draw):
    shape = draw(st.lists(SIZES, min_size=1, max_size=3))
    other = [1 if draw(st.booleans()) else n for n in shape][draw(st.integers(0, len(shape) - 1)):]
    op = getattr(topi, draw(st.sampled_from(BINARY)))
    a, b = ph(tuple(shape), "a"), ph(tuple(other), "b")
    unary = getattr(topi, draw(st.sampled_from(["exp", "tanh", "relu", "sigmoid"])))
    return Case([a, b], unary(op(a, b)) if op not in (topi.less, topi.greater_equal) else op(b, a))


@st.composite
def reduction_cases(draw):
    shape = tuple(draw(st.lists(SIZES, min_size=1, max_size=3)))
    op = draw(st.sampled_from(REDUCERS))
    axes = draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))
    x = ph(shape, "x")
    if op == "argmax":
        return Case([x], topi.argmax(x, axis=min(axes), keepdims=draw(st.booleans())))
    return Case([x], getattr(topi, op)(x, axis=tuple(sorted(axes)), keepdims=draw(st.booleans())))


@st.composite
def matmul_cases(draw):
    m, n, k = draw(SIZES), draw(SIZES), draw(SIZES)
    if draw(st.booleans()):
        return _matmul(m, n, k, ta=draw(st.booleans()), tb=draw(st.booleans()))
    batch = draw(st.sampled_from([1, 3]))
    a, b = ph((batch, m, k), "a"), ph((draw(st.sampled_from([1, batch])), k, n), "b")
    return Case([a, b], topi.batch_matmul(a, b))


CASE_STRATEGIES = {"elementwise": elementwise_cases(), "reduction": reduction_cases(), "matmul": matmul_cases()}
_drawn = iter(range(1 << 30))


@needs_nvcc
@pytest.mark.parametrize("kind", sorted(CASE_STRATEGIES))
def test_drawn_shapes_compile_to_ptx(kind):
    @settings(examples(3), deadline=None)
    @given(cases=st.lists(CASE_STRATEGIES[kind], min_size=3, max_size=3))
    def check(cases):
        sources = [cuda_source(c, f"drawn_{kind}_{next(_drawn)}") for c in cases]
        ptx = compile_together([s for s, _ in sources], f"drawn_{kind}")
        assert all(f".entry {k}(" in ptx for _, kernels in sources for k in kernels)
    check()


# -- on a GPU ------------------------------------------------------------------------------

def _extent(e, case):
    return int(e.value) if isinstance(e, tm.tir.Const) else case.values[e]


def run_on_gpu(case, name):
    """Build ``case`` for CUDA, run it on random inputs and compare with the reference."""
    rng = np.random.default_rng(0)
    f = tm.build(topi.default_schedule(case.outs, "cuda"), case.args + case.outs, target="cuda", name=name)
    inputs, call = {}, []
    for arg in case.args:
        if arg in case.values:
            value = case.values[arg]
        elif isinstance(arg, te.Tensor):
            shape = tuple(_extent(e, case) for e in arg.shape)
            low = 0.5 if case.positive else -1.0
            value = (rng.uniform(low, 2.0, shape) if arg.dtype.startswith("float") else
                     rng.integers(0, 2, shape)).astype(arg.dtype)
        else:
            value = int(rng.integers(1, 1000))
        inputs[arg] = value
        call.append(tm.nd.array(value, device=tm.cuda(0)) if isinstance(arg, te.Tensor) else value)
    inputs.update({v: n for v, n in case.values.items() if not isinstance(v, te.Tensor) and v not in inputs})
    want = reference(case.outs, inputs)
    outs = [tm.nd.empty(w.shape, w.dtype, device=tm.cuda(0)) for w in want]
    f(*call, *outs)
    for out, expected, tensor in zip(outs, want, case.outs):
        tol = 1e-4 if tensor.dtype == F32 else 1e-9
        np.testing.assert_allclose(out.numpy(), expected, rtol=tol, atol=tol, err_msg=f"{name}: {tensor.name}")


@needs_gpu
@pytest.mark.parametrize("group,name", ALL_CASES)
def test_every_operator_runs_on_the_gpu(group, name):
    run_on_gpu(GROUPS[group][name](), f"gpu_{group}_{name}")


@needs_gpu
@pytest.mark.parametrize("kind", sorted(CASE_STRATEGIES))
def test_drawn_shapes_run_on_the_gpu(kind):
    @settings(examples(5), deadline=None)
    @given(case=CASE_STRATEGIES[kind])
    def check(case):
        run_on_gpu(case, f"gpu_drawn_{kind}_{next(_drawn)}")
    check()

"""In-place outputs (``build(..., inplace={out: in})``): accepted only when sharing the
buffer cannot change the result, and then equal to the out-of-place kernel."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
from tvmini import te, topi
from tvmini.errors import ArgumentError, BuildError


def _adam_args(shape):
    p, g, m, v = (te.placeholder(shape, name=n) for n in "pgmv")
    scalars = [te.var(n, dtype="float32") for n in ("step", "b1", "b2", "eps", "bc2", "wd", "decay")]
    return [p, g, m, v], scalars, topi.optim.adam_update(p, g, m, v, *scalars)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 19), min_size=1, max_size=3), factor=st.integers(1, 9))
def test_inplace_adam_equals_out_of_place(shape, factor):
    inputs, scalars, outs = _adam_args(tuple(shape))
    sch = te.create_schedule([o.op for o in outs])
    for o in outs:
        outer, inner = sch[o].split(sch[o].op.axis[0], factor=factor)
        sch[o].vectorize(inner)
    args = inputs + scalars + outs
    separate = tm.build(sch, args, name="adam_copy")
    shared = tm.build(sch, args, name="adam_inplace", inplace={outs[0]: inputs[0], outs[1]: inputs[2],
                                                                outs[2]: inputs[3]})
    rng = np.random.default_rng(len(shape))
    p, g, m = (rng.standard_normal(shape).astype("float32") for _ in range(3))
    v = rng.random(shape).astype("float32")
    values = (0.01, 0.9, 0.999, 1e-8, 0.03, 0.01, 1.0)
    want = [np.empty_like(p) for _ in range(3)]
    separate(p, g, m, v, *values, *want)
    arrays = [tm.nd.array(a) for a in (p, g, m, v)]
    shared(*arrays, *values, arrays[0], arrays[2], arrays[3])
    for got, expected in zip((arrays[0], arrays[2], arrays[3]), want):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)


def test_inplace_arguments_lose_noalias_only():
    inputs, scalars, outs = _adam_args((64,))
    sch = te.create_schedule([o.op for o in outs])
    f = tm.build(sch, inputs + scalars + outs, name="adam_alias_ir", inplace={outs[0]: inputs[0]})
    header = next(line for line in f.get_source("ll").splitlines() if line.startswith("define") and "adam_alias_ir(" in line)
    assert header.count("noalias") == len(inputs) + len(outs) - 2


def test_shifted_read_is_refused():
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[(i + 1) % 8], name="b")
    with pytest.raises(BuildError, match="another element"):
        tm.build(te.create_schedule(b.op), [a, b], inplace={b: a})


def test_a_reduction_over_its_own_input_is_refused():
    """``out[i] = sum_k x[i] * w[k]`` in place of x: the init and the partial sums
    overwrite x[i] while later updates still read it (it gave zeros)."""
    x, w = te.placeholder((4,), name="x"), te.placeholder((3,), name="w")
    k = te.reduce_axis((0, 3), "k")
    out = te.compute((4,), lambda i: te.sum(x[i] * w[k], axis=k), name="out")
    with pytest.raises(BuildError, match="out is a reduction that reads x"):
        tm.build(te.create_schedule(out.op), [x, w, out], inplace={out: x})


def test_later_reader_is_refused():
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[i] * 2.0, name="b")
    c = te.compute((8,), lambda i: a[i] + b[i], name="c")
    with pytest.raises(BuildError, match="does not finish"):
        tm.build(te.create_schedule([b.op, c.op]), [a, b, c], inplace={b: a})


@pytest.mark.parametrize("attach", ["scope", "with"])
def test_a_reader_finished_in_an_earlier_loop_nest_is_accepted(attach):
    """``c`` written over ``a`` while ``b`` reads ``a`` at other elements: ``b`` is computed
    inside another root stage's loop nest (``compute_at`` it / ``compute_with`` it),
    which runs to its end before ``c``'s starts, so every element of ``a`` is read first."""
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[7 - i] * 2.0, name="b")
    if attach == "scope":
        host = te.compute((8,), lambda i: b[i] + 1.0, name="host")
        c = te.compute((8,), lambda i: a[i] + host[i], name="c")
        args = [a, c]
        sch = te.create_schedule(c.op)
        sch[b].compute_at(sch[host], host.op.axis[0])
    else:
        host = te.compute((8,), lambda i: a[i] + 1.0, name="host")
        c = te.compute((8,), lambda i: b[i] + host[i], name="c")
        args = [a, b, host, c]          # compute_with is for outputs
        sch = te.create_schedule([t.op for t in args[1:]])
        sch[b].compute_with(sch[host], host.op.axis[0])
    f = tm.build(sch, args, name=f"finished_{attach}", inplace={c: a})
    x = np.arange(8, dtype="float32")
    arrays = [tm.nd.array(x)] + [tm.nd.empty((8,), "float32") for _ in args[1:-1]]
    f(*arrays, arrays[0])
    np.testing.assert_array_equal(arrays[0].numpy(), x + 2 * x[::-1] + 1)


def test_shape_mismatch_is_refused():
    a = te.placeholder((8,), name="a")
    b = te.compute((4,), lambda i: a[i], name="b")
    with pytest.raises(BuildError, match="shapes/dtypes differ"):
        tm.build(te.create_schedule(b.op), [a, b], inplace={b: a})


def test_runtime_allows_the_declared_alias_only():
    a = te.placeholder((8,), name="a")
    c = te.placeholder((8,), name="c")
    b = te.compute((8,), lambda i: a[i] + c[i], name="b")
    f = tm.build(te.create_schedule(b.op), [a, c, b], inplace={b: a})
    x = tm.nd.array(np.arange(8, dtype="float32"))
    f(x, tm.nd.array(np.ones(8, "float32")), x)
    np.testing.assert_array_equal(x.numpy(), np.arange(8) + 1)
    with pytest.raises(ArgumentError, match="shares memory"):
        f(tm.nd.array(np.ones(8, "float32")), x, x)
    whole = np.zeros(16, "float32")
    with pytest.raises(ArgumentError, match="shares memory"):
        f(whole[:8], np.ones(8, "float32"), whole[1:9])


def test_calls_with_fresh_outputs_check_all_but_the_overlap():
    """``call_with_fresh_outputs`` (the graph layer's op calls, whose outputs were just
    allocated) computes the same, still checks shapes and dtypes, and is observed."""
    a = te.placeholder((8,), name="a")
    b = te.compute((8,), lambda i: a[i] * 2.0, name="b")
    f = tm.build(te.create_schedule(b.op), [a, b])
    x, out = tm.nd.array(np.arange(8, dtype="float32")), tm.nd.empty((8,))
    seen = []

    def observe(module, args, start_ns, end_ns):
        seen.append(module)
    tm.runtime.module.add_call_observer(observe)
    try:
        f.call_with_fresh_outputs(x, out)
    finally:
        tm.runtime.module.remove_call_observer(observe)
    np.testing.assert_array_equal(out.numpy(), np.arange(8) * 2)
    assert seen == [f]
    with pytest.raises(tm.ShapeError, match="argument b"):
        f.call_with_fresh_outputs(x, tm.nd.empty((4,)))
    with pytest.raises(tm.DTypeError, match="argument a"):
        f.call_with_fresh_outputs(tm.nd.empty((8,), "float64"), out)

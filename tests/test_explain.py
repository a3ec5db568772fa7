"""tm.explain: the loop IR after each schedule primitive, in order."""
import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from strategies import EXTENT, examples, random_attach, random_schedule, unique
from tvmini import te
from tvmini.explain import explain_steps
from tvmini.testing import reference


def _rowsum(n=20, m=12):
    A = te.placeholder((n, m), name="A")
    k = te.reduce_axis((0, m), name="k")
    B = te.compute((n,), lambda i: te.sum(A[i, k] * 2.0, axis=k), name="B")
    return A, B


def test_split_changes_the_ir_and_names_the_new_axes():
    A, B = _rowsum()
    s = te.create_schedule(B.op)
    s[B].split(B.op.axis[0], factor=8)
    (_, before), (title, after) = explain_steps(s, [A, B], name="rowsum")
    assert "split" in title and "i -> i.outer, i.inner" in title
    assert before != after
    assert "i.outer" not in before and "i.inner" not in before
    assert "for i.outer in range(3)" in after and "for i.inner in range(8)" in after


def test_sections_follow_the_history_and_match_lower_at_each_step():
    """Lower the schedule live after every primitive; explain must show the same IR."""
    A = te.placeholder((24, 16), name="A")
    B = te.placeholder((16, 20), name="B")
    k = te.reduce_axis((0, 16), name="k")
    R = te.compute((24, 16), lambda i, j: te.exp(A[i, j]), name="R")
    C = te.compute((24, 20), lambda i, j: te.sum(R[i, k] * B[k, j], axis=k), name="C")
    D = te.compute((24, 20), lambda i, j: C[i, j] + 1.0, name="D")
    args = [A, B, D]
    s = te.create_schedule(D.op)
    live = [str(tm.lower(s, args, name="f"))]

    def step(primitive, *a, **kw):
        out = primitive(*a, **kw)
        live.append(str(tm.lower(s, args, name="f")))
        return out

    CL = step(s.cache_write, C, "local")
    xo, xi = step(s[C].split, C.op.axis[0], factor=8)
    step(s[C].parallel, xo)
    step(s[CL].compute_at, s[C], xo)
    ko, ki = step(s[CL].split, s[CL].op.reduce_axis[0], factor=4)
    i, j = s[CL].op.axis
    step(s[CL].reorder, ko, i, ki, j)
    step(s[CL].vectorize, j)
    step(s[R].compute_root)
    step(s[R].compute_inline)
    fused = step(s[D].fuse, *D.op.axis)
    _, inner = step(s[D].split, fused, factor=4)
    step(s[D].unroll, inner)
    steps = explain_steps(s, args, name="f")
    assert len(steps) == len(s.history) + 1 == len(live)
    for (title, ir), want, entry in zip(steps[1:], live[1:], s.history):
        assert ir == want, title
        assert title.startswith(f"s[{entry[0].name}].{entry[1]}:")
    assert steps[0][1] == live[0]


def test_tile_and_rfactor_are_shown_as_their_steps():
    A, B = _rowsum(9, 40)
    s = te.create_schedule(B.op)
    ko, ki = s[B].split(B.op.reduce_axis[0], factor=8)
    BF = s.rfactor(B, ki)
    s[BF].parallel(s[BF].op.axis[0])
    X = te.placeholder((10, 6), name="X")
    Y = te.compute((10, 6), lambda i, j: X[i, j] * X[i, j], name="Y")
    t = te.create_schedule(Y.op)
    t[Y].tile(Y.op.axis[0], Y.op.axis[1], 4, 4)
    titles = [title for title, _ in explain_steps(t, [X, Y])]
    assert [title.split(":")[0] for title in titles[1:]] == ["s[Y].split", "s[Y].split", "s[Y].reorder"]
    text = tm.explain(s, [A, B], name="rs", file=False)
    assert text.count("\n== step ") + text.startswith("== step ") == len(s.history) + 1 == 4
    assert "B.rf" not in text.split("== step 2")[0] and "B.rf" in text.split("== step 2")[1]


def test_explain_prints_and_returns_the_same_text(capsys):
    A, B = _rowsum()
    s = te.create_schedule(B.op)
    s[B].parallel(B.op.axis[0])
    text = tm.explain(s, [A, B])
    assert capsys.readouterr().out == text
    buffer = io.StringIO()
    assert tm.explain(s, [A, B], file=buffer) == text == buffer.getvalue()
    assert "parallel for i in range(20)" in text.split("== step 1")[1]


def test_default_schedule_has_one_section():
    A, B = _rowsum()
    s = te.create_schedule(B.op)
    steps = explain_steps(s, [A, B])
    assert len(steps) == 1 and steps[0][1] == str(tm.lower(s, [A, B]))


def test_intermediate_schedule_that_does_not_lower_is_reported():
    X = te.placeholder((8,), name="X")
    Y = te.compute((8,), lambda i: X[i] + 1.0, name="Y")
    s = te.create_schedule(Y.op)
    s[Y].split(Y.op.axis[0], factor=4)
    steps = explain_steps(s, [X])          # Y is an output but not an argument
    assert all("does not lower" in ir and "Y" in ir for _, ir in steps)


def test_explain_needs_a_schedule():
    with pytest.raises(tm.TVMiniError, match="explain needs a te schedule"):
        tm.explain("not a schedule", [])


def test_schedule_copy_is_independent():
    A, B = _rowsum()
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=4)
    twin = s.copy()
    twin[B].reorder(xi, xo)
    twin[B].parallel(xi)
    assert s[B].leaf_iter_vars[:2] == [xo, xi] and not s[B].iter_kinds
    assert "parallel" not in str(tm.lower(s, [A, B])) and "parallel" in str(tm.lower(twin, [A, B]))
    assert [entry[1] for entry in s.history] == ["split"]
    assert [title.split(":")[0] for title, _ in explain_steps(twin, [A, B])] == [
        "the default schedule (no primitive applied)", "s[B].split", "s[B].reorder", "s[B].parallel"]


@examples(12)
@given(data=st.data(), n=EXTENT, m=EXTENT)
def test_random_schedules_walkthrough_ends_at_the_schedule_and_leaves_it_intact(data, n, m):
    A = te.placeholder((n, m), name="A")
    P = te.compute((n, m), lambda i, j: A[i, j] * 2.0 - 1.0, name="P")
    C = te.compute((n, m), lambda i, j: P[i, j] + A[i, j], name="C")
    s = te.create_schedule(C.op)
    loops = random_schedule(data, s[C])
    random_attach(data, s[P], loops)
    steps = explain_steps(s, [A, C])
    assert len(steps) == len(s.history) + 1
    assert steps[-1][1] == str(tm.lower(s, [A, C]))
    f = tm.build(s, [A, C], name=unique("explained"))
    a = np.random.default_rng(0).uniform(-1, 1, (n, m)).astype("float32")
    c = np.full((n, m), np.nan, "float32")
    f(a, c)
    np.testing.assert_allclose(c, reference([C], {A: a})[0], rtol=2e-5, atol=2e-6)

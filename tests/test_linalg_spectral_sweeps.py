"""The Jacobi sweeps of ``tm.linalg.eigh`` and ``svd`` as they run now: the rotated
vectors held as rows (``topi/linalg_spectral.py``) and a sweep's rounds run by
``graph.dispatch.StepLoop`` (two sets of outputs in turn, the native call alone but
the first; the Householder QR's reflections too). ``StepLoop`` against one ``run`` per
step, bit for bit, with and without call observers and with constant inputs, and its
checks; drawn matrices (sizes 1, 2 and odd, batched, tall and wide, repeated
eigenvalues, rank-deficient) against numpy's LAPACK to float64 rounding, with the sign
conventions of ``graph/linalg_spectral.py``; the emulated GPU.

Few distinct shapes (each builds its kernels), shared with tests/test_linalg_spectral.py
where they can be."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from strategies import examples
from tvmini import te
from tvmini.graph import dispatch
from tvmini.runtime import module
from tvmini.runtime import ndarray as nd
from tvmini.topi import linalg_spectral as kernels


def _symmetric(rng, shape, kind):
    """A batch of symmetric matrices: "random", "repeated" (eigenvalues drawn from three
    values, so most repeat) or "rank" (positive semidefinite of rank about n / 2)."""
    n = shape[-1]
    if kind == "random":
        a = rng.standard_normal(shape)
        return (a + np.swapaxes(a, -1, -2)) / 2
    if kind == "rank":
        x = rng.standard_normal(shape[:-1] + (max(1, n // 2),))
        return x @ np.swapaxes(x, -1, -2)
    q, _ = np.linalg.qr(rng.standard_normal(shape))
    w = rng.choice([-1.0, 0.5, 2.0], size=shape[:-1])
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def _first_largest_positive(vectors):
    """The sign rule: each column's first entry of largest magnitude is positive."""
    top = np.take_along_axis(vectors, np.abs(vectors).argmax(-2)[..., None, :], -2)
    assert (top > 0).all()


def _orthonormal_columns(x, tol):
    gram = np.swapaxes(x, -1, -2) @ x
    np.testing.assert_allclose(gram, np.broadcast_to(np.eye(x.shape[-1]), gram.shape), atol=tol)


# ------------------------------------------------------------------------ StepLoop

def _eigh_state(seed=0, shape=(2, 5, 5)):
    a = _symmetric(np.random.default_rng(seed), shape, "random")
    return [nd.array(a), nd.array(np.broadcast_to(np.eye(shape[-1]), shape).copy())]


def _loop(state):
    return dispatch.StepLoop("jacobi_eigh_round", kernels.jacobi_eigh_round, state, ("int32",))


def test_step_loop_equals_one_run_per_step_and_shows_every_call():
    state = _eigh_state()
    before = [x.numpy().copy() for x in state]
    sweep = [(r,) for r in range(kernels.rounds(5))]
    loop = _loop(state)
    loop.run(sweep[:1])                         # 1, 4 and 5 steps: every switch between the two sets
    loop.run(sweep[1:])
    fast = [x.numpy().copy() for x in loop.run(sweep)]
    one_by_one = state
    for step in sweep * 2:
        one_by_one = dispatch.run("jacobi_eigh_round", kernels.jacobi_eigh_round, one_by_one, scalars=step,
                                  scalar_dtypes=("int32",))
    for got, want in zip(fast, one_by_one):
        np.testing.assert_array_equal(got, want.numpy())
    for x, was in zip(state, before):                              # the inputs are only read
        np.testing.assert_array_equal(x.numpy(), was)
    seen = []
    observer = lambda mod, args, start, end: seen.append(args[2])  # noqa: E731
    module.add_call_observer(observer)
    try:
        observed = _loop(state).run(sweep * 2)
    finally:
        module.remove_call_observer(observer)
    assert seen == [r for (r,) in sweep * 2]
    for got, want in zip(observed, fast):
        np.testing.assert_array_equal(got.numpy(), want)


def test_step_loop_with_constant_inputs_forms_q_as_one_run_per_step():
    """The Householder QR's reflections (carried: the matrix and its factors) and the
    forming of Q (constant: the reflectors; carried: Q) against one run per step."""
    a = nd.array(np.random.default_rng(2).standard_normal((2, 5, 3)))
    tau = nd.zeros((2, 3), "float64")
    packed, factors = dispatch.StepLoop("householder_step", kernels.householder_step, [a, tau], ("int32",)).run(
        [(k,) for k in range(3)])
    q = nd.array(np.broadcast_to(np.eye(5)[:, :3], (2, 5, 3)).copy())
    steps = [(k,) for k in (2, 1, 0)]
    (fast,) = dispatch.StepLoop("householder_apply_step", kernels.householder_apply_step, [packed, factors, q],
                                ("int32",), constant=2).run(steps)
    state = [a, tau]
    for k in range(3):
        state = dispatch.run("householder_step", kernels.householder_step, state, scalars=(k,),
                             scalar_dtypes=("int32",))
    np.testing.assert_array_equal(packed.numpy(), state[0].numpy())
    np.testing.assert_array_equal(factors.numpy(), state[1].numpy())
    one_by_one = q
    for step in steps:
        one_by_one = dispatch.run("householder_apply_step", kernels.householder_apply_step,
                                  [packed, factors, one_by_one], scalars=step, scalar_dtypes=("int32",))
    np.testing.assert_array_equal(fast.numpy(), one_by_one.numpy())
    r = np.triu(packed.numpy())[:, :3]
    np.testing.assert_allclose(fast.numpy() @ r, a.numpy(), atol=1e-12)    # A = QR (Q up to R's signs)
    np.testing.assert_array_equal(q.numpy(), np.broadcast_to(np.eye(5)[:, :3], (2, 5, 3)))   # inputs only read


def test_step_loop_checks_scalars_and_outputs():
    loop = _loop(_eigh_state(1))
    with pytest.raises(tm.TVMiniError, match="does not fit in int32"):
        loop.run([(0,), (1,), (2 ** 40,)])

    def shrinking(a, k):
        return te.compute((a.shape[0],), lambda b: a[b, 0] + k.astype(a.dtype), name="first", tag="injective")
    with pytest.raises(tm.TVMiniError, match="not the next values of its inputs after the first 0"):
        dispatch.StepLoop("shrinking", shrinking, [nd.array(np.ones((2, 3)))], ("int32",))


# ------------------------------------------------------------------ drawn matrices

@given(st.sampled_from([(1, 1), (2, 2), (3, 7, 7), (2, 4, 4)]), st.sampled_from(["random", "repeated", "rank"]),
       st.integers(0, 2 ** 16), st.sampled_from(["L", "U"]))
@examples(8)
def test_eigh_of_drawn_matrices(shape, kind, seed, uplo):
    a = _symmetric(np.random.default_rng(seed), shape, kind)
    scale = max(1.0, np.abs(a).max())
    w, v = (t.numpy() for t in tm.linalg.eigh(tm.tensor(a), UPLO=uplo))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), atol=1e-12 * scale)
    assert (np.diff(w, axis=-1) >= 0).all()
    _orthonormal_columns(v, 1e-12)
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), a, atol=1e-12 * scale)
    _first_largest_positive(v)


@given(st.sampled_from([(1, 1), (2, 2), (2, 5, 3), (3, 5), (3, 7, 7)]), st.booleans(), st.integers(0, 2 ** 16),
       st.booleans())
@examples(8)
def test_svd_of_drawn_matrices(shape, rank_deficient, seed, full):
    rng = np.random.default_rng(seed)
    m, n = shape[-2:]
    a = rng.standard_normal(shape)
    if rank_deficient:
        inner = max(1, min(m, n) // 2)
        a = rng.standard_normal(shape[:-1] + (inner,)) @ rng.standard_normal(shape[:-2] + (inner, n))
    scale = max(1.0, np.abs(a).max())
    u, s, vh = (t.numpy() for t in tm.linalg.svd(tm.tensor(a), full_matrices=full))
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), atol=1e-12 * scale)
    k = s.shape[-1]
    assert (np.diff(s, axis=-1) <= 0).all()
    _orthonormal_columns(u, 1e-12)
    _orthonormal_columns(np.swapaxes(vh, -1, -2), 1e-12)
    np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, atol=1e-12 * scale)
    rotated = np.swapaxes(vh, -1, -2)[..., :k] if m >= n else u[..., :k]    # the factor Jacobi accumulates
    _first_largest_positive(rotated)


def test_float32_sweeps_match_numpy():
    rng = np.random.default_rng(3)
    a = _symmetric(rng, (3, 7, 7), "random").astype("float32")
    w, v = (t.numpy() for t in tm.linalg.eigh(tm.tensor(a)))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a.astype("float64")), atol=1e-5)
    _orthonormal_columns(v, 1e-5)
    s = tm.linalg.svdvals(tm.tensor(a)).numpy()
    np.testing.assert_allclose(s, np.linalg.svd(a.astype("float64"), compute_uv=False), atol=1e-5)


def test_emulated_gpu_runs_whole_sweeps(emulated_gpu):
    """Five rounds a sweep: every round but the first is the native call alone, on the
    two output sets of the device."""
    a = _symmetric(np.random.default_rng(4), (1, 5, 5), "random").astype("float32")
    results = []
    for device in ("cuda", "cpu"):
        x = tm.tensor(a, device=device)
        w, v = tm.linalg.eigh(x)
        u, s, vh = tm.linalg.svd(x, full_matrices=False)
        results.append([t.numpy() for t in (w, v, u, s, vh)])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


def test_parallel_round_schedules(monkeypatch):
    """From PARALLEL_MIN elements the rounds' row loops run on the thread pool, each
    thread with its own one-row buffer of J^T A (compute_at inside the parallel loop):
    lowered here for a small shape no other test builds."""
    monkeypatch.setattr(kernels, "PARALLEL_MIN", 1)
    rng = np.random.default_rng(6)
    a = _symmetric(rng, (2, 6, 6), "random")
    w, v = (t.numpy() for t in tm.linalg.eigh(tm.tensor(a)))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), atol=1e-12)
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), a, atol=1e-12)
    b = rng.standard_normal((2, 6, 6))
    np.testing.assert_allclose(tm.linalg.svdvals(tm.tensor(b)).numpy(), np.linalg.svd(b, compute_uv=False),
                               atol=1e-12)
    for name, define, inputs in (("jacobi_eigh_round", kernels.jacobi_eigh_round, [a, a]),
                                 ("jacobi_svd_round", kernels.jacobi_svd_round, [b, b, np.zeros(2)])):
        module, _ = dispatch._kernel(name, define, [nd.array(x) for x in inputs], ("int32",), ())
        assert "parallel for" in module.get_source("tir")


def test_batches_run_in_chunks(monkeypatch):
    """A batch whose Jacobi state passes CHUNK_BYTES runs chunk after chunk (here the
    3 x 3 matrices 2 at a time, the last chunk 1; the larger ones 1 at a time, but 2
    where two threads need 2 x 49 elements for a parallel loop): the same values as
    numpy, gradients as central differences and torch's, and a tm.jit step (fixed
    sweeps, chunks recorded too) as the eager one."""
    torch = pytest.importorskip("torch")
    from graph_gradcheck import check_grad
    from tvmini.graph import linalg_spectral
    monkeypatch.setattr(linalg_spectral, "CHUNK_BYTES", 2 * 4 * 3 * 3 * 8)
    monkeypatch.setattr(linalg_spectral, "PARALLEL_MIN", 1)
    batches, whole = [], linalg_spectral._eigh_arrays
    monkeypatch.setattr(linalg_spectral, "_eigh_arrays", lambda x, upper: batches.append(x.shape[0]) or whole(x, upper))
    rng = np.random.default_rng(7)
    a = _symmetric(rng, (3, 7, 7), "random")
    w, v = (t.numpy() for t in tm.linalg.eigh(tm.tensor(a)))
    np.testing.assert_allclose(w, np.linalg.eigvalsh(a), atol=1e-12)
    np.testing.assert_allclose((v * w[..., None, :]) @ np.swapaxes(v, -1, -2), a, atol=1e-12)
    assert batches == [1, 1, 1]
    monkeypatch.setattr(linalg_spectral, "PARALLEL_MIN", 2 * 49)
    monkeypatch.setattr(linalg_spectral.parallel, "thread_count", lambda: 2)
    batches.clear()
    np.testing.assert_allclose(tm.linalg.eigvalsh(tm.tensor(a)).numpy(), w, atol=1e-12)
    assert batches == [2, 1]
    monkeypatch.setattr(linalg_spectral, "PARALLEL_MIN", 1)
    b = rng.standard_normal((3, 7, 4))
    u, s, vh = (t.numpy() for t in tm.linalg.svd(tm.tensor(b), full_matrices=False))
    np.testing.assert_allclose(s, np.linalg.svd(b, compute_uv=False), atol=1e-12)
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, b, atol=1e-12)

    def loss(x):
        return tm.linalg.eigvalsh(x + x.mT).pow(2).sum() + tm.linalg.svdvals(x).sum()
    c = rng.standard_normal((3, 3, 3))
    batches.clear()
    check_grad(loss, c)
    assert batches[:2] == [2, 1]
    x = tm.tensor(c, requires_grad=True)
    loss(x).backward()
    tx = torch.tensor(c, requires_grad=True)
    (torch.linalg.eigvalsh(tx + tx.mT).pow(2).sum() + torch.linalg.svdvals(tx).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), atol=1e-9)

    def step(y):
        out = loss(y)
        out.backward()
        return out
    jitted = tm.jit(step)
    y = tm.tensor(c, requires_grad=True)
    np.testing.assert_allclose(jitted(y).numpy(), loss(tm.tensor(c)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), x.grad.numpy(), atol=1e-9)

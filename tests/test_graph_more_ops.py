"""Random einsum equations, diag_embed, take_along_dim, var_mean/std_mean, aminmax,
tm.amax/amin and attention over fully masked rows: against numpy and PyTorch (when
installed) on hypothesis-drawn shapes with size-1 axes and negative dims, gradients
against finite differences, and errors that name the op."""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad
from strategies import examples


@st.composite
def einsum_cases(draw):
    """(equation, operand shapes): 1-3 operands over letters of sizes 1-3, repeats within
    an operand, an upper-case letter beside an optional ellipsis (broadcast size-1 axes)
    and an explicit or implicit output; shaped so numpy and PyTorch both accept it."""
    letters = draw(st.lists(st.sampled_from("abcdeZ"), min_size=1, max_size=4, unique=True))
    sizes = {c: draw(st.integers(1, 3)) for c in letters}
    terms = draw(st.lists(st.lists(st.sampled_from(letters), max_size=3), min_size=1, max_size=3))
    batch = draw(st.lists(st.integers(1, 2), max_size=2)) if draw(st.booleans()) else None
    dots = "..." if batch is not None else ""
    shapes = []
    for term in terms:
        lead = [draw(st.sampled_from([1, n])) for n in batch[len(batch) - draw(st.integers(0, len(batch))):]] \
            if dots else []
        shapes.append(tuple(lead) + tuple(sizes[c] for c in term))
    equation = ",".join(dots + "".join(t) for t in terms)
    if draw(st.booleans()):
        used = sorted({c for t in terms for c in t})
        equation += "->" + dots + "".join(draw(st.permutations(used))[:draw(st.integers(0, len(used)))])
    return equation, shapes


def _einsum_reference(equation, arrays):
    """numpy's einsum of ``equation`` with the ellipsis spelled as unused letters, the
    implicit output spelled out and every size-1 axis broadcast first (numpy refuses some
    broadcasts PyTorch allows)."""
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    spans = [a.ndim - len(t.replace("...", "")) for t, a in zip(terms, arrays)]
    dots = "".join(c for c in "ABCDE" if c not in equation)[:max(spans)]
    terms = [t.replace("...", dots[len(dots) - span:]) for t, span in zip(terms, spans)]
    if not arrow:
        used = "".join(terms)
        rhs = "..." + "".join(sorted(c for c in set(used) if c not in dots and used.count(c) == 1))
    sizes = {}
    for t, a in zip(terms, arrays):
        for c, n in zip(t, a.shape):
            sizes[c] = max(sizes.get(c, 1), n)
    arrays = [np.broadcast_to(a, tuple(sizes[c] for c in t)) for t, a in zip(terms, arrays)]
    return np.einsum(",".join(terms) + "->" + rhs.replace("...", dots), *arrays)


@given(einsum_cases(), st.integers(0, 2 ** 16))
@examples(16)
def test_random_einsum_equations_match_numpy_and_pytorch(case, seed):
    equation, shapes = case
    rng = np.random.default_rng(seed)
    arrays = [rng.normal(size=s) for s in shapes]
    got = tm.einsum(equation, *[tm.tensor(a) for a in arrays])
    want = _einsum_reference(equation, arrays)
    assert got.shape == want.shape, (equation, shapes)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-10, atol=1e-10, err_msg=equation)
    torch = pytest.importorskip("torch")
    theirs = torch.einsum(equation, [torch.tensor(a) for a in arrays]).numpy()
    np.testing.assert_allclose(got.numpy(), theirs, rtol=1e-10, atol=1e-10, err_msg=equation)


@given(einsum_cases(), st.integers(0, 2 ** 16))
@examples(5)
def test_random_einsum_gradients_match_finite_differences(case, seed):
    equation, shapes = case
    rng = np.random.default_rng(seed)
    check_grad(lambda *ts: tm.einsum(equation, *ts), *[rng.normal(size=s) for s in shapes])


def _diag_embed_reference(x, offset, dim1, dim2):
    n = x.shape[-1]
    side = n + abs(offset)
    out = np.zeros(x.shape[:-1] + (side, side), x.dtype)
    k = np.arange(n)
    out[..., k + max(-offset, 0), k + max(offset, 0)] = x
    return np.moveaxis(out, (-2, -1), (dim1, dim2))


shapes = st.lists(st.integers(1, 3), min_size=1, max_size=3).map(tuple)


@given(shapes, st.integers(-2, 2), st.data())
@examples(10)
def test_diag_embed_matches_numpy_pytorch_and_differences(shape, offset, data):
    rank = len(shape) + 1
    dim1, dim2 = data.draw(st.lists(st.integers(-rank, rank - 1), min_size=2, max_size=2)
                           .filter(lambda d: d[0] % rank != d[1] % rank))
    x = np.random.default_rng(0).normal(size=shape)
    got = tm.tensor(x).diag_embed(offset, dim1, dim2)
    want = _diag_embed_reference(x, offset, dim1, dim2)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    check_grad(lambda t: tm.diag_embed(t, offset, dim1, dim2), x)
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(got.numpy(), torch.diag_embed(torch.tensor(x), offset, dim1, dim2).numpy())


def test_einsum_upper_case_letters_beside_an_ellipsis_and_its_size_error():
    x, y = np.random.default_rng(6).normal(size=(2, 3, 4)), np.random.default_rng(7).normal(size=(3, 4))
    got = tm.einsum("...Zi,Zi->...Z", tm.tensor(x), tm.tensor(y))
    np.testing.assert_allclose(got.numpy(), np.einsum("aZi,Zi->aZ", x, y), rtol=1e-12)
    with pytest.raises(tm.ShapeError, match="einsum: an axis of '...' has sizes 2 and 3"):
        tm.einsum("...ij,...ij", tm.ones(2, 3, 4), tm.ones(3, 3, 4))


def test_diag_embed_keeps_integer_and_bool_dtypes_and_refuses_one_axis_twice():
    assert tm.diag_embed(tm.tensor([True, False])).numpy().tolist() == [[True, False], [False, False]]
    ints = tm.diag_embed(tm.tensor(np.array([[1, 2]], "int32")), 1)
    assert ints.dtype == "int32" and ints.numpy().tolist() == [[[0, 1, 0], [0, 0, 2], [0, 0, 0]]]
    assert tm.diag_embed(tm.ones(2, 0), 1).numpy().tolist() == [[[0.0]], [[0.0]]]
    with pytest.raises(tm.ShapeError, match="diag_embed: dim1 and dim2 are the same axis"):
        tm.diag_embed(tm.ones(2, 3), 0, 1, -2)
    with pytest.raises(tm.ShapeError, match="diag_embed: the tensor must have at least 1 dimension"):
        tm.diag_embed(tm.tensor(1.0))


@given(shapes, st.data())
@examples(10)
def test_take_along_dim_matches_numpy_pytorch_and_differences(shape, data):
    rank = len(shape)
    dim = data.draw(st.integers(-rank, rank - 1))
    axis = dim % rank
    # indices of the same rank, each other axis 1 or the input's extent, any length on dim
    index_shape = tuple(data.draw(st.integers(1, 3)) if k == axis else data.draw(st.sampled_from([1, n]))
                        for k, n in enumerate(shape))
    rng = np.random.default_rng(1)
    x = rng.normal(size=shape)
    index = rng.integers(-shape[axis], shape[axis], size=index_shape)
    got = tm.take_along_dim(tm.tensor(x), tm.tensor(index), dim)
    want = np.take_along_axis(x, np.where(index < 0, index + shape[axis], index), axis)
    np.testing.assert_array_equal(got.numpy(), want)
    check_grad(lambda t: t.take_along_dim(tm.tensor(index), dim), x)
    flat = rng.integers(0, x.size, size=(2, 2))
    np.testing.assert_array_equal(tm.take_along_dim(tm.tensor(x), tm.tensor(flat)).numpy(), x.ravel()[flat.ravel()])
    torch = pytest.importorskip("torch")
    np.testing.assert_array_equal(got.numpy(), torch.take_along_dim(torch.tensor(x), torch.tensor(index), dim).numpy())


def test_take_along_dim_errors_name_the_op():
    x = tm.ones(2, 3)
    with pytest.raises(tm.ShapeError, match="take_along_dim: input of shape .* same number of dimensions"):
        tm.take_along_dim(x, tm.tensor(np.array([0, 1])), 1)
    with pytest.raises(tm.IndexingError, match="take_along_dim: index -4 is out of range for an axis of extent 3"):
        tm.take_along_dim(x, tm.tensor(np.array([[-4]])), 1)
    with pytest.raises(tm.DTypeError, match="take_along_dim: indices must be an int32 or int64"):
        tm.take_along_dim(x, tm.ones(2, 1), 1)
    with pytest.raises(tm.ShapeError, match="take_along_dim"):
        tm.take_along_dim(x, tm.tensor(np.zeros((2, 2), "int64")), 0)     # 2 vs 3 off dim 0


@pytest.mark.parametrize("kwargs", [{}, dict(dim=1), dict(dim=(0, -1), keepdim=True), dict(dim=-2, correction=0),
                                    dict(keepdim=True)])
# dim=1 has one element: with correction 1 the references are NaN, and numpy and torch say so
@pytest.mark.filterwarnings("ignore:Degrees of freedom:RuntimeWarning", "ignore:invalid value:RuntimeWarning",
                            "ignore:.*degrees of freedom is <= 0:UserWarning")
def test_var_mean_std_mean_and_aminmax_match_numpy_and_pytorch(kwargs):
    x = np.random.default_rng(2).normal(size=(3, 1, 4))
    axis = kwargs.get("dim")
    correction = kwargs.get("correction", 1)
    keep = kwargs.get("keepdim", False)
    var, mean = tm.var_mean(tm.tensor(x), **kwargs)
    std, mean2 = tm.std_mean(tm.tensor(x), **kwargs)
    np.testing.assert_allclose(var.numpy(), np.var(x, axis, ddof=correction, keepdims=keep), rtol=1e-12)
    np.testing.assert_allclose(std.numpy(), np.std(x, axis, ddof=correction, keepdims=keep), rtol=1e-12)
    for m in (mean, mean2):
        np.testing.assert_allclose(m.numpy(), np.mean(x, axis, keepdims=keep), rtol=1e-12)
    extremes = tm.tensor(x).aminmax(dim=axis if not isinstance(axis, tuple) else -1, keepdim=keep)
    assert extremes._fields == ("min", "max")
    check_grad(lambda t: tm.var_mean(t, **kwargs)[0] + tm.std_mean(t, **kwargs)[1], x)
    torch = pytest.importorskip("torch")
    T = torch.tensor(x)
    for got, want in zip((var, mean, std), torch.var_mean(T, **kwargs) + torch.std_mean(T, **kwargs)[:1]):
        assert got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    theirs = T.aminmax(dim=axis if not isinstance(axis, tuple) else -1, keepdim=keep)
    for got, want in zip(extremes, (theirs.min, theirs.max)):
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_amax_amin_and_aminmax_functions():
    x = np.array([[1.0, 5.0, 5.0], [-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(tm.amax(tm.tensor(x), -1).numpy(), x.max(-1))
    np.testing.assert_array_equal(tm.amin(tm.tensor(x), (0, 1), keepdim=True).numpy(), x.min((0, 1), keepdims=True))
    low, high = tm.aminmax(tm.tensor(np.array([True, False])))
    assert (low.item(), high.item()) == (False, True)
    check_grad(lambda t: tm.aminmax(t, dim=1).max + tm.amin(t, 1), x)      # the tie on 5 shares evenly
    with pytest.raises(tm.ShapeError, match="aminmax: reducing axis 0 of extent 0"):
        tm.aminmax(tm.zeros(0, 2), dim=0)


def test_attention_gives_zeros_where_the_mask_hides_every_key_as_pytorch():
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 5, 4)), rng.normal(size=(2, 5, 2))
    mask = rng.random((3, 5)) > 0.5
    mask[1] = False
    bias = np.where(mask, 0.0, -np.inf)
    for attn_mask in (mask, bias):
        got = F.scaled_dot_product_attention(tm.tensor(q), tm.tensor(k), tm.tensor(v), attn_mask=tm.tensor(attn_mask))
        assert np.all(got.numpy()[:, 1] == 0) and np.all(np.isfinite(got.numpy()))
        check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=tm.tensor(attn_mask)), q, k, v,
                   rtol=1e-4)
        torch = pytest.importorskip("torch")
        want = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v),
                                                                attn_mask=torch.tensor(attn_mask))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_new_ops_on_the_emulated_gpu_match_the_cpu(emulated_gpu):
    """The compositions that make constants on the input's device (diag_embed's
    positions, the attention mask) or wrap indices there: the same values and gradients
    on a GPU (the kernels they use, and their gradients, are checked there by their own
    tests)."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    index = rng.integers(-4, 4, size=(2, 3, 2))
    mask = rng.random((3, 3)) > 0.5
    mask[0] = False
    results = []
    for device in ("cpu", "cuda"):
        t = tm.tensor(x, device=device, requires_grad=True)
        out = t.diag_embed(1, 0, -1).sum() + tm.take_along_dim(t, tm.tensor(index, device=device), -1).sum()
        out.backward()
        attention = F.scaled_dot_product_attention(t, t, t, attn_mask=tm.tensor(mask, device=device))
        results.append((out.numpy(), t.grad.numpy(), attention.detach().numpy()))
    assert emulated_gpu.launches
    for cpu, cuda in zip(*results):
        np.testing.assert_allclose(cuda, cpu, rtol=1e-4, atol=1e-5)


def test_xlogy_and_logit_gradients_at_the_edges_match_pytorch():
    """xlogy: d/dx is log(y) at x == 0 too (0 where y <= 0), d/dy is x / y; logit's
    gradient is inf at 0 and 1 (not NaN)."""
    x = np.array([0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 2.0, 0.5])
    y = np.array([0.0, 2.0, -1.0, 0.5, 0.0, -1.0, np.nan, 3.0])
    p = np.array([0.0, 0.3, 1.0])
    a, b, t = (tm.tensor(v, requires_grad=True) for v in (x, y, p))
    (tm.xlogy(a, b).sum() + t.logit().sum()).backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, np.log(2), 0.0, np.log(0.5), -np.inf, np.nan, np.nan, np.log(3)])
    np.testing.assert_allclose(b.grad.numpy(), [np.nan, 0.0, 0.0, 0.0, np.inf, 1.0, np.nan, 0.5 / 3])
    np.testing.assert_allclose(t.grad.numpy(), [np.inf, 1 / 0.3 + 1 / 0.7, np.inf])
    torch = pytest.importorskip("torch")
    A, B, T = (torch.tensor(v, requires_grad=True) for v in (x, y, p))
    (torch.xlogy(A, B).sum() + T.logit().sum()).backward()
    for mine, theirs in ((a, A), (b, B), (t, T)):
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy())


def test_attention_with_grouped_query_heads_matches_pytorch():
    rng = np.random.default_rng(8)
    q, k, v = rng.normal(size=(2, 4, 3, 5)), rng.normal(size=(2, 2, 6, 5)), rng.normal(size=(2, 2, 6, 3))
    got = F.scaled_dot_product_attention(tm.tensor(q), tm.tensor(k), tm.tensor(v), is_causal=True, enable_gqa=True)
    shared = [np.repeat(a, 2, axis=1) for a in (k, v)]
    want = F.scaled_dot_product_attention(tm.tensor(q), *(tm.tensor(a) for a in shared), is_causal=True)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, enable_gqa=True), q[:1, :, :2], k[:1, :, :3],
               v[:1, :, :3], rtol=1e-4)
    with pytest.raises(tm.ShapeError, match="enable_gqa the key/value heads"):
        F.scaled_dot_product_attention(tm.tensor(q[:, :3]), tm.tensor(k), tm.tensor(v), enable_gqa=True)
    torch = pytest.importorskip("torch")
    theirs = torch.nn.functional.scaled_dot_product_attention(*(torch.tensor(a) for a in (q, k, v)), is_causal=True,
                                                              enable_gqa=True)
    np.testing.assert_allclose(got.numpy(), theirs.numpy(), rtol=1e-10, atol=1e-12)


def test_errors_of_the_older_spellings_name_the_op_called():
    with pytest.raises(tm.ShapeError, match="cat: needs a non-empty sequence"):
        tm.hstack([])
    with pytest.raises(tm.ShapeError, match=r"unflatten: sizes \(4, -1\) do not fit axis 0"):
        tm.ones(6).unflatten(0, (4, -1))
    with pytest.raises(tm.IndexingError, match="count_nonzero: axis 2 is out of range"):
        tm.count_nonzero(tm.ones(2, 3), 2)
    with pytest.raises(tm.ShapeError, match="scaled_dot_product_attention: query .* disagree"):
        F.scaled_dot_product_attention(tm.ones(2, 3), tm.ones(2, 4), tm.ones(2, 3))

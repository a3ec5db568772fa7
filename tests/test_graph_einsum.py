"""tm.einsum against numpy.einsum (and torch.einsum when installed) over explicit and
implicit outputs, diagonals, ellipses, broadcasting and chains, with gradients; and
F.scaled_dot_product_attention against its formula and PyTorch."""
import math

import numpy as np
import pytest

import tvmini as tm
import tvmini.nn.functional as F
from graph_gradcheck import check_grad

CASES = [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("i,j", [(3,), (4,)]),
         ("...ij,...j->...i", [(2, 3, 4), (4,)]), ("ij->", [(3, 4)]), ("ij,ij->ij", [(3, 4), (3, 4)]),
         ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
         ("iij->j", [(3, 3, 2)]), ("ij,j", [(3, 4), (4,)]), ("bi,bi->b", [(4, 3), (4, 3)]), ("i,i->", [(5,), (5,)]),
         ("ji", [(2, 3)]), ("...", [(2, 3)]), ("b...,b...->b", [(2, 3, 4), (2, 3, 4)]), ("ij->ji", [(1, 3)]),
         ("a b, b c -> c a", [(2, 3), (3, 1)]), ("i,ij->j", [(1,), (1, 4)])]


#: numpy refuses an ellipsis summed away; the same sum spelled with letters
NUMPY_SPELLING = {"b...,b...->b": "bij,bij->b"}


def _inputs(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in shapes]


@pytest.mark.parametrize("equation,shapes", CASES, ids=[c[0] for c in CASES])
def test_einsum_matches_numpy(equation, shapes):
    xs = _inputs(shapes)
    got = tm.einsum(equation, *[tm.tensor(x) for x in xs])
    want = np.einsum(NUMPY_SPELLING.get(equation, equation.replace(" ", "")), *xs)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12)


def test_einsum_broadcasts_size_one_axes_and_takes_a_list_as_pytorch():
    torch = pytest.importorskip("torch")
    for equation, shapes in [("ab,ab->ab", [(2, 3), (1, 3)]), ("bij,bjk->bik", [(1, 3, 4), (5, 4, 2)]),
                             ("...ij,...jk", [(2, 1, 3, 4), (5, 4, 2)])] + CASES:
        xs = _inputs(shapes, 1)
        got = tm.einsum(equation, [tm.tensor(x) for x in xs])
        want = torch.einsum(equation, [torch.tensor(x) for x in xs]).numpy()
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-12, atol=1e-12, err_msg=equation)


@pytest.mark.parametrize("equation,shapes", [("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]), ("ii->i", [(3, 3)]),
                                             ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]), ("i,j", [(3,), (2,)]),
                                             ("...ij,...j->...i", [(2, 3, 4), (4,)]), ("ab,ab", [(2, 3), (1, 3)])])
def test_einsum_gradients(equation, shapes):
    check_grad(lambda *ts: tm.einsum(equation, *ts), *_inputs(shapes, 2))


@pytest.mark.parametrize("equation,shapes,message", [
    ("ij,jk->ik", [(2, 3), (4, 5)], "index 'j' has sizes 3 and 4"),
    ("ij->ik", [(2, 3)], "names one no operand has"),
    ("ijk->i", [(2, 3)], "does not match an operand of shape"),
    ("ij,jk", [(2, 3)], "names 2 operands, got 1"),
    ("i1->i", [(2, 3)], "bad operand term"),
    ("ii->i", [(2, 3)], "index 'i' has sizes 2 and 3"),
])
def test_einsum_errors_name_the_problem(equation, shapes, message):
    with pytest.raises(tm.ShapeError, match=message):
        tm.einsum(equation, *[tm.tensor(x) for x in _inputs(shapes)])


def _attention(q, k, v, bias, scale):
    scores = q @ np.swapaxes(k, -1, -2) * scale + bias
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    return weights / weights.sum(-1, keepdims=True) @ v


@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float", "scale"])
def test_scaled_dot_product_attention_follows_its_formula_and_pytorch(kind):
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(2, 3, 5, 4)), rng.normal(size=(2, 3, 6, 4)), rng.normal(size=(2, 3, 6, 7))
    mask = rng.random((5, 6)) > 0.3
    mask[:, 0] = True
    bias = {"none": 0.0, "scale": 0.0, "causal": np.where(np.tril(np.ones((5, 6))) > 0, 0, -np.inf),
            "bool": np.where(mask, 0, -np.inf), "float": rng.normal(size=(1, 3, 5, 6))}[kind]
    kwargs = {"causal": dict(is_causal=True), "scale": dict(scale=0.3), "bool": dict(attn_mask=mask),
              "float": dict(attn_mask=bias)}.get(kind, {})
    mine = {key: tm.tensor(val) if isinstance(val, np.ndarray) else val for key, val in kwargs.items()}
    got = F.scaled_dot_product_attention(tm.tensor(q), tm.tensor(k), tm.tensor(v), **mine)
    np.testing.assert_allclose(got.numpy(), _attention(q, k, v, bias, kwargs.get("scale", 1 / math.sqrt(4))),
                               rtol=1e-10, atol=1e-12)
    check_grad(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, **mine), q, k, v, rtol=1e-4)
    torch = pytest.importorskip("torch")
    theirs = {key: torch.tensor(val) if isinstance(val, np.ndarray) else val for key, val in kwargs.items()}
    want = torch.nn.functional.scaled_dot_product_attention(torch.tensor(q), torch.tensor(k), torch.tensor(v), **theirs)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_scaled_dot_product_attention_refuses_a_mask_with_is_causal_and_int_masks():
    q = tm.ones(2, 3)
    with pytest.raises(tm.ShapeError, match="either attn_mask or is_causal"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=tm.ones(2, 2), is_causal=True)
    with pytest.raises(tm.DTypeError, match="attn_mask must be bool or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=tm.tensor([[1, 0], [0, 1]]))

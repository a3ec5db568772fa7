"""The autodiff Tensor: creation, operators, broadcasting, gradients and the tape.

Gradients are checked against central finite differences in float64 (graph_gradcheck).
"""
import copy
import pickle
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tvmini as tm
from tvmini.errors import AutogradError, DeviceError, DTypeError, ShapeError, TVMiniError
from tvmini.graph import kernel_count
from graph_gradcheck import check_grad
from strategies import examples

RNG = np.random.default_rng(0)


def normal(*shape):
    return RNG.normal(size=shape)


def positive(*shape):
    return RNG.uniform(0.5, 2.0, size=shape)


# ---------------------------------------------------------------- creation


def test_tensor_keeps_numpy_dtype_and_infers_python_types():
    assert tm.tensor(np.zeros(3)).dtype == "float64"
    assert tm.tensor(np.array([1, 2], dtype="int32")).dtype == "int32"
    assert tm.tensor(np.array([1, 2])).dtype == "int64"
    assert tm.tensor([1.0, 2.0]).dtype == "float32"
    assert tm.tensor([1, 2]).dtype == "int64"
    assert tm.tensor(np.zeros(3), dtype="float32").dtype == "float32"
    t = tm.tensor([[1.0, 2.0]], requires_grad=True)
    assert t.requires_grad and t.is_leaf and t.grad is None and t.shape == (1, 2) and t.ndim == 2
    assert str(t.device) == "cpu(0)"


def test_tensor_of_none_or_objects_is_a_dtype_error():
    """tm.tensor(None) failed with a raw TypeError from float(None); PyTorch: "Could not
    infer dtype of NoneType"."""
    for data in (None, [1.0, None], [[2**70], [None]], [1, object()]):
        with pytest.raises(DTypeError, match="tensor\\(\\): cannot infer a dtype for a (NoneType|object)"):
            tm.tensor(data)


def test_creation_helpers():
    assert tm.zeros(2, 3).numpy().tolist() == [[0, 0, 0], [0, 0, 0]]
    assert tm.ones((2,), dtype="float64").numpy().dtype == np.float64
    assert tm.arange(5).numpy().tolist() == [0, 1, 2, 3, 4]
    assert tm.arange(0, 1, 0.5).dtype == "float32"
    n = tm.tensor([2, 5]).max()                              # a 0-d int64 tensor, as PyTorch's lengths.max()
    assert tm.arange(n).dtype == "int64" and tm.arange(1, n).numpy().tolist() == [1, 2, 3, 4]
    assert tm.arange(tm.tensor(1.5)).dtype == "float32"
    tm.manual_seed(3)
    a = tm.randn(4, 5).numpy()
    tm.manual_seed(3)
    assert np.array_equal(a, tm.randn(4, 5).numpy())
    r = tm.rand(100).numpy()
    assert r.min() >= 0 and r.max() < 1
    src = np.arange(6, dtype="int32").reshape(2, 3)
    t = tm.from_numpy(src)
    assert t.dtype == "int32" and np.array_equal(t.numpy(), src)
    assert tm.tensor(2.5).item() == 2.5


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(DTypeError, match="floating-point"):
        tm.tensor([1, 2], requires_grad=True)


def test_cuda_device_is_a_clear_error():
    t = tm.tensor([1.0])
    with pytest.raises(DeviceError, match="cuda"):
        t.to("cuda")
    with pytest.raises(DeviceError, match="cuda"):
        tm.tensor([1.0], device="cuda")
    assert t.to("cpu") is t


def test_to_takes_pytorchs_overloads():
    """to(dtype) positionally, to(device, dtype), to(other) and copy=, as torch's."""
    x = tm.tensor([1.5, -2.5], requires_grad=True)
    cases = {"to(float64)": x.to(tm.float64), "to(np.int64)": x.to(np.int64), "to('int32')": x.to("int32"),
             "to(cpu, float64)": x.to("cpu", tm.float64), "to(other)": x.to(tm.tensor([1], dtype=tm.int64)),
             "to(device=, dtype=)": x.to(device=tm.cpu(0), dtype="float16")}
    want = {"to(float64)": "float64", "to(np.int64)": "int64", "to('int32')": "int32", "to(cpu, float64)": "float64",
            "to(other)": "int64", "to(device=, dtype=)": "float16"}
    for name, got in cases.items():
        assert got.dtype == want[name], name
        np.testing.assert_array_equal(got.numpy(), np.array([1.5, -2.5]).astype(want[name]), err_msg=name)
    assert x.to(tm.float32) is x and x.to(x) is x
    copy = x.to("cpu", copy=True)
    assert copy is not x and copy.data_ptr() != x.data_ptr() and copy.requires_grad
    x.to(tm.float64).sum().backward()                  # a dtype conversion keeps the history
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])
    with pytest.raises(DeviceError, match="unknown device 'gpu'"):
        x.to("gpu")
    with pytest.raises(DTypeError, match="complex64"):
        x.to("complex64")


# ---------------------------------------------------------------- gradients

UNARY = {
    "exp": (lambda x: x.exp(), normal),
    "log": (lambda x: x.log(), positive),
    "sqrt": (lambda x: x.sqrt(), positive),
    "abs": (lambda x: x.abs(), normal),
    "relu": (lambda x: x.relu(), normal),
    "sigmoid": (lambda x: x.sigmoid(), normal),
    "tanh": (lambda x: x.tanh(), normal),
    "cos": (lambda x: x.cos(), normal),
    "sin": (lambda x: x.sin(), normal),
    "neg": (lambda x: -x, normal),
    "square": (lambda x: x.square(), normal),
    "pow_scalar": (lambda x: x ** 3, normal),
    "pow_fraction": (lambda x: x ** 0.5, positive),
    "rpow": (lambda x: 2.0 ** x, normal),
    "scalar_arith": (lambda x: (2.0 - x) * 3.0 + 1.5 - x / 4.0, normal),
    "rdiv": (lambda x: 1.0 / x, positive),
    "mod_scalar": (lambda x: x % 0.7, normal),
    "rmod": (lambda x: 3.0 % x, positive),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradients(name):
    fn, make = UNARY[name]
    check_grad(fn, make(3, 4))


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": lambda a, b: a.maximum(b),
    "minimum": lambda a, b: a.minimum(b),
    "pow": lambda a, b: a ** b,
    "mod": lambda a, b: a % b,
}


@pytest.mark.parametrize("name", sorted(BINARY))
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3, 1), (1, 4)), ((2, 3), (3,)), ((1,), (2, 1, 3))])
def test_binary_gradients_broadcast_both_operands(name, shapes):
    sa, sb = shapes
    a = positive(*sa) if name == "pow" else normal(*sa)
    b = positive(*sb) if name in ("div", "pow", "mod") else normal(*sb)
    check_grad(BINARY[name], a, b)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_gradient_of_one_operand_skips_the_others_kernels(name):
    """With only one operand requiring a gradient, it gets the gradient it gets when both
    do, and backward runs no more kernels (``x * c`` runs one fewer: no ``g * x``)."""
    a0 = positive(2, 3) if name == "pow" else normal(2, 3)
    b0 = positive(3) if name in ("div", "pow", "mod") else normal(3)

    def backward(need):
        a, b = (tm.tensor(v, requires_grad=n) for v, n in zip((a0, b0), need))
        out, calls = BINARY[name](a, b).sum(), []
        observe = lambda module, *_: calls.append(module.name)  # noqa: E731
        tm.runtime.module.add_call_observer(observe)
        try:
            out.backward()
        finally:
            tm.runtime.module.remove_call_observer(observe)
        return [None if t.grad is None else t.grad.numpy() for t in (a, b)], len(calls)
    both, calls_both = backward((True, True))
    for k in (0, 1):
        one, calls_one = backward((k == 0, k == 1))
        np.testing.assert_allclose(one[k], both[k], rtol=1e-12)
        assert one[1 - k] is None and calls_one <= calls_both
        if name == "mul":
            assert calls_one < calls_both


def test_reused_subexpression_accumulates_both_paths():
    check_grad(lambda x: x * x + x, normal(2, 3))
    check_grad(lambda x, y: (x * y).tanh() * (x * y) + y, normal(3), normal(3))


def test_where_and_comparisons():
    check_grad(lambda a, b: tm.graph.ops.where(a > b, a * 2.0, b), normal(2, 3), normal(3))
    a = tm.tensor([1.0, 2.0, 3.0])
    assert (a > 1.5).numpy().tolist() == [False, True, True]
    assert (a == a).numpy().all()
    assert (a <= 2).dtype == "bool"


def test_matmul_gradients():
    check_grad(lambda a, b: a @ b, normal(3, 4), normal(4, 2))
    check_grad(lambda a, b: a @ b, normal(2, 3, 4), normal(2, 4, 5))
    check_grad(lambda a, b: a @ b, normal(4), normal(4, 3))
    check_grad(lambda a, b: a @ b, normal(3, 4), normal(4))
    check_grad(lambda a, b: a @ b, normal(2, 3, 4), normal(4, 2))          # (B, T, C) @ (C, D)
    check_grad(lambda a, b: a @ b, normal(3, 1, 2, 4), normal(2, 4, 3))    # broadcast batch axes


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (2, 3, 4)), ((5, 2, 3), (3,)), ((5, 2, 3), (3, 4)),
                                   ((2, 3), (5, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)), ((2, 5, 2, 3), (2, 5, 3, 4))])
def test_matmul_follows_numpy_shapes(sa, sb):
    """PyTorch's (and numpy's) matmul rules: vectors, rows of any rank times a matrix,
    broadcast batch axes (it refused everything beyond 2-D @ 2-D and 3-D @ 3-D)."""
    a, b = normal(*sa), normal(*sb)
    got = tm.tensor(a) @ tm.tensor(b)
    assert got.shape == np.matmul(a, b).shape
    np.testing.assert_allclose(got.numpy(), np.matmul(a, b), rtol=1e-12)
    with pytest.raises(tm.ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        tm.tensor(normal(2, 3)) @ tm.tensor(normal(4, 5))


# ---------------------------------------------------------------- forward values

@given(st.data())
@examples(15)
def test_broadcast_arithmetic_matches_numpy(data):
    ndim = data.draw(st.integers(1, 3))
    shape = data.draw(st.lists(st.integers(1, 5), min_size=ndim, max_size=ndim))
    other = [d if data.draw(st.booleans()) else 1 for d in shape][data.draw(st.integers(0, ndim - 1)):]
    a, b = RNG.normal(size=shape).astype("float32"), RNG.normal(size=other).astype("float32")
    ta, tb = tm.tensor(a), tm.tensor(b)
    np.testing.assert_allclose((ta * tb + tb).numpy(), a * b + b, rtol=1e-6)
    np.testing.assert_allclose((tb - ta).numpy(), b - a, rtol=1e-6)
    np.testing.assert_allclose((ta / (tb.abs() + 1.0)).numpy(), a / (np.abs(b) + 1), rtol=1e-5)


def test_python_scalars_are_runtime_arguments():
    x = tm.tensor(np.ones(7, "float32"))
    (x * 2.0).numpy()
    before = kernel_count()
    for value in (3.0, -1.5, 0.25, 7):
        np.testing.assert_allclose((x * value).numpy(), np.full(7, value, "float32"))
    assert kernel_count() == before


def test_integer_tensors_follow_pytorch_promotion():
    i = tm.tensor([1, 2, 3])
    assert (i + 1).dtype == "int64" and (i + 1).numpy().tolist() == [2, 3, 4]
    assert (i * 0.5).dtype == "float32"
    assert (i / 2).numpy().tolist() == [0.5, 1.0, 1.5]
    assert (tm.tensor(np.array([True, False])) + 1).dtype == "int64"


def test_floor_division_and_remainder_follow_python():
    """``//`` and ``%`` as Python and PyTorch (rounding toward negative infinity, the
    remainder with the divisor's sign), with numbers on either side; ``//`` records no
    gradient (PyTorch's has none), an integer division by zero gives 0 (numpy's answer)."""
    a, b = np.array([7, -7, 7, -7, 5]), np.array([2, 2, -2, -2, 0])
    x, y = tm.tensor(a), tm.tensor(b)
    assert (x // y).dtype == "int64" and (x // y).numpy().tolist() == [3, -4, -4, 3, 0]
    assert (x % y).numpy().tolist() == [1, 1, -1, -1, 0]
    assert (x // 3).numpy().tolist() == [2, -3, 2, -3, 1] and (x % -3).numpy().tolist() == [-2, -1, -2, -1, -1]
    assert (17 // x).numpy().tolist() == [2, -3, 2, -3, 3] and (17 % x).numpy().tolist() == [3, -4, 3, -4, 2]
    f = tm.tensor(np.array([5.5, -3.25], "float32"), requires_grad=True)
    np.testing.assert_array_equal((f // 2.0).numpy(), [2, -2])
    np.testing.assert_array_equal((f % 2.0).numpy(), [1.5, 0.75])
    assert not (f // 2.0).requires_grad and (f % 2.0).requires_grad


def test_narrow_integer_tensors_keep_their_dtype_and_wrap_as_in_pytorch():
    """A uint8/int8 tensor next to a Python int stays uint8/int8; the number is converted
    to that dtype (wrapping) and so is the result, as PyTorch does (values checked
    against torch 2.x): uint8 [250, 3] + 300 is [38, 47], > 300 compares with 44."""
    u = tm.tensor(np.array([250, 3], "uint8"))
    for result, want in ((u + 10, [4, 13]), (u + 300, [38, 47]), (u - 5, [245, 254]), (u * 2, [244, 6]),
                         (10 - u, [16, 7])):
        assert result.dtype == "uint8" and result.numpy().tolist() == want
    assert (u > 300).numpy().tolist() == [True, False] and (u < -1).numpy().tolist() == [True, True]
    s = tm.tensor(np.array([120, -128], "int8"))
    assert (s + 10).dtype == "int8" and (s + 10).numpy().tolist() == [-126, -118]
    assert (u + 1.5).dtype == "float32" and (u / 2).numpy().tolist() == [125.0, 1.5]


def test_float16_tensors_take_scalars_and_differentiate_in_float16():
    """A float16 tensor's scalar ops and reduction gradients stay float16 (the scalar
    reaches the kernel as a float32 argument, converted inside), eager and jitted."""
    x0 = np.linspace(-2, 2, 24, dtype="float16").reshape(4, 6)
    x = tm.tensor(x0, requires_grad=True)
    y = (2.0 - x * x * 0.5 + 1.0 / (x * x + 1.0)).mean()
    assert y.dtype == "float16" and (x ** 2).dtype == "float16"
    y.backward()
    assert x.grad.dtype == "float16"
    x64 = x0.astype("float64")
    np.testing.assert_allclose(float(y.numpy()), (2 - x64 * x64 * 0.5 + 1 / (x64 * x64 + 1)).mean(), rtol=2e-3)
    np.testing.assert_allclose(x.grad.numpy(), (-x64 - 2 * x64 / (x64 * x64 + 1) ** 2) / 24, rtol=1e-2, atol=1e-3)

    @tm.jit
    def step(t):
        (t * 3.0).sum().backward()

    for _ in range(2):
        x.grad = None
        step(x)
    np.testing.assert_array_equal(x.grad.numpy(), np.full((4, 6), 3, "float16"))


# ---------------------------------------------------------------- tape semantics

def test_gradients_accumulate_until_zeroed():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3 + 2, 3 + 4])
    x.grad = None
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_non_scalar_backward_needs_a_head_gradient():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2.0
    with pytest.raises(ShapeError, match="head gradient"):
        y.backward()
    y.backward(tm.tensor([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 20])


def test_second_backward_through_freed_graph_is_an_error():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(tm.AutogradError, match="backward through the graph a second time.*freed.*retain_graph=True"):
        y.backward()
    try:
        import torch
    except ImportError:
        return
    q = torch.tensor([1.0, 2.0], requires_grad=True)
    z = (q * q).sum()
    z.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph=True"):
        z.backward()


def _retained_backwards(T, x0):
    """Three backward passes through one graph (two with ``retain_graph=True``): the
    gradient after each, under module ``T`` (tvmini or torch)."""
    x = T.tensor(x0, requires_grad=True)
    y = (x * x).exp().sum() + x.max(0).values * 3.0 + (x / 4.0).tanh().sum()
    grads = []
    for retain in (True, True, False):
        y.backward(retain_graph=retain)
        grads.append(x.grad.numpy().copy())
    return grads, y


def test_retain_graph_keeps_the_graph_for_another_backward_as_pytorch():
    """``backward(retain_graph=True)`` was a TypeError; as in PyTorch it keeps the graph,
    gradients accumulating pass after pass, and the last backward without it frees it."""
    x0 = np.array([0.5, -1.0, 0.5], np.float32)
    grads, y = _retained_backwards(tm, x0)
    np.testing.assert_allclose(grads[1], 2 * grads[0], rtol=1e-6)
    np.testing.assert_allclose(grads[2], 3 * grads[0], rtol=1e-6)
    with pytest.raises(tm.AutogradError, match="second time"):
        y.backward()
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    with tm.no_grad():
        x += 1.0                 # a saved input written in place: the retained graph is stale
    with pytest.raises(tm.AutogradError, match="modified by an inplace operation"):
        y.backward()
    try:
        import torch
    except ImportError:
        return
    for got, want in zip(grads, _retained_backwards(torch, x0)[0]):
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_create_graph_is_refused_clearly():
    """Higher-order gradients (PyTorch's ``create_graph=True``) are not supported: an
    AutogradError saying so, not a TypeError about the keyword or a silent first-order
    result."""
    y = (tm.tensor([1.0, 2.0], requires_grad=True) ** 2).sum()
    with pytest.raises(tm.AutogradError, match="create_graph=True.*higher-order gradients are not supported"):
        y.backward(create_graph=True)


def test_backward_without_requires_grad_is_an_error():
    with pytest.raises(TVMiniError, match="does not require grad"):
        (tm.tensor([1.0]) * 2.0).sum().backward()


def test_no_grad_and_detach_record_nothing():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    with tm.no_grad():
        y = x * 2.0
    assert not y.requires_grad and y.grad_fn is None
    z = x.detach() * 2.0
    assert not z.requires_grad
    w = x * 2.0
    assert w.requires_grad and w.grad_fn is not None and not w.is_leaf

    @tm.no_grad()
    def double(t):
        return t * 2.0
    assert not double(x).requires_grad


def test_no_grad_decorates_generators_and_recursion_as_pytorch():
    """On a generator function the mode holds inside each step of the generator (and
    the caller's between them); a recursive decorated call restores the outer mode."""
    x = tm.tensor([1.0, 2.0], requires_grad=True)

    @tm.no_grad()
    def doubles(t):
        while True:
            sent = yield t * 2.0
            t = sent if sent is not None else t
    gen = doubles(x)
    assert not next(gen).requires_grad and (x * 2.0).requires_grad
    assert not gen.send(x).requires_grad
    gen.close()

    @tm.enable_grad()
    def tracked(t):
        yield t * 2.0
    with tm.no_grad():
        assert next(tracked(x)).requires_grad and not (x * 2.0).requires_grad

    @tm.no_grad()
    def depth(k):
        return depth(k - 1) if k else (x * 2.0).requires_grad
    assert depth(2) is False and (x * 2.0).requires_grad


def test_clone_is_a_differentiable_copy():
    """As PyTorch's clone (CloneBackward): the gradient passes through unchanged, eagerly
    and in a jitted step, and the copy does not share memory with its source."""
    x = tm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = x * 2.0
    saved = h.clone()
    assert saved.requires_grad and not saved.is_leaf and saved.data_ptr() != h.data_ptr()
    (h.relu() + saved).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 2.0, 4.0])     # relu' * 2 + 2
    w = tm.nn.Parameter(tm.tensor([1.0, 2.0]))
    step = tm.jit(lambda: (w.clone() * w).sum().backward())
    for _ in range(2):
        w.grad = None
        step()
        np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])     # d/dw w * w
    copy = w.clone()
    with tm.no_grad():
        copy += 1.0
    assert w.numpy().tolist() == [1.0, 2.0] and not tm.tensor([1.0]).clone().requires_grad
    assert not any(v.requires_grad for v in tm.nn.Linear(2, 2).state_dict().values())    # snapshots


def test_deepcopy_and_pickle_make_independent_leaves_as_pytorch():
    """A deep copy or an unpickled tensor computed with the original's memory (their raw
    pointer was copied over), so writing the copy wrote the original. As PyTorch: a deep
    copy keeps the class, requires_grad and a copy of .grad; a pickle keeps the class and
    requires_grad; copy.copy shares the data; only leaves are deep-copied."""
    w = tm.nn.Parameter(tm.tensor([1.0, 2.0]))
    (w * w).sum().backward()
    for twin in (copy.deepcopy(w), pickle.loads(pickle.dumps(w))):
        assert type(twin) is tm.nn.Parameter and twin.requires_grad and twin.is_leaf
        with tm.no_grad():
            twin += 10.0
        assert twin.numpy().tolist() == [11.0, 12.0] and w.numpy().tolist() == [1.0, 2.0]
        assert (twin * 1.0).numpy().tolist() == [11.0, 12.0]
    deep, unpickled = copy.deepcopy(w), pickle.loads(pickle.dumps(w))
    assert deep.grad.numpy().tolist() == [2.0, 4.0] and deep.grad.data_ptr() != w.grad.data_ptr()
    assert unpickled.grad is None
    assert copy.copy(w).data_ptr() == w.data_ptr()
    labels = pickle.loads(pickle.dumps(tm.tensor([3, 1])))
    assert labels.dtype == "int64" and not labels.requires_grad and labels.numpy().tolist() == [3, 1]
    with pytest.raises(AutogradError, match="leaf"):
        copy.deepcopy(w * 2.0)


def test_grad_mode_is_per_thread():
    """no_grad in one thread leaves another thread's ops recording (PyTorch's rule)."""
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    with tm.no_grad():
        worker = threading.Thread(target=lambda: seen.append((x * 2.0).requires_grad))
        worker.start()
        worker.join()
        assert not (x * 2.0).requires_grad
    assert seen == [True] and (x * 2.0).requires_grad


def test_deep_chain_does_not_recurse():
    x = tm.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y + 1.0
    y.sum().backward()
    assert x.grad.item() == 1.0


# ---------------------------------------------------------------- errors at op time

@pytest.mark.parametrize("x,y,want", [("float32", "float64", "float64"), ("int64", "float32", "float32"),
                                       ("bool", "int32", "int32"), ("uint8", "int8", "int32"), ("int32", "int64", "int64"),
                                       ("float16", "float32", "float32"), ("bool", "float16", "float16")])
def test_mixed_dtypes_promote_as_pytorch(x, y, want):
    """Tensor-tensor arithmetic, comparisons and where promote (they raised DTypeError);
    uint8 with int8 gives int32 where PyTorch gives int16 (not a tvmini dtype)."""
    a = np.array([[1, 0, 3]], x)
    b = np.array([[2], [1]], y)
    got = tm.tensor(a) + tm.tensor(b)
    assert got.dtype == want
    np.testing.assert_array_equal(got.numpy(), a.astype(want) + b.astype(want))
    assert (tm.tensor(a) < tm.tensor(b)).dtype == "bool"
    np.testing.assert_array_equal((tm.tensor(a) < tm.tensor(b)).numpy(), a.astype(want) < b.astype(want))
    assert tm.where(tm.tensor(a > 0), tm.tensor(a), tm.tensor(b)).dtype == want


def test_mixed_float_dtypes_differentiate_both_operands():
    a = tm.tensor(np.array([1.0, 2.0], "float32"), requires_grad=True)
    b = tm.tensor(np.array([3.0, 4.0], "float64"), requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == "float32" and b.grad.dtype == "float64"
    np.testing.assert_array_equal(a.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 2.0])


def test_matmul_needs_one_dtype_as_pytorch():
    a = tm.tensor(np.zeros((2, 3), "float32"))
    with pytest.raises(DTypeError, match=r"matmul.*float32.*\(2, 3\).*float64.*\(3, 2\)"):
        a @ tm.tensor(np.zeros((3, 2), "float64"))


INT_PRODUCTS = [((3, 4), (4, 5)), ((37, 50), (50, 29)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)),
                ((4,), (4,)), ((4,), (4, 3)), ((2, 1, 3, 4), (5, 4, 2))]


def _wrapped_product(a, b):
    """numpy's ``a @ b`` wrapped into ``a``'s integer dtype: computed modulo 2**64 (exact
    for every narrower dtype too) and cast back."""
    with np.errstate(over="ignore"):
        return np.matmul(a.astype(np.uint64), b.astype(np.uint64)).astype(a.dtype)


@pytest.mark.parametrize("dtype", ["int32", "int64", "int8", "uint8"])
def test_integer_matmul_is_exact_and_wraps_as_pytorch(dtype):
    """Integer ``@`` (2-D, batched, broadcast, vectors) was refused ("matmul needs float32
    or float64"); PyTorch computes it in the dtype, wrapping. Full-range values: every
    product and sum overflows somewhere."""
    info = np.iinfo(dtype)
    rng = np.random.default_rng(7)
    for sa, sb in INT_PRODUCTS:
        a = rng.integers(info.min, info.max, sa, endpoint=True).astype(dtype)
        b = rng.integers(info.min, info.max, sb, endpoint=True).astype(dtype)
        got = tm.tensor(a) @ tm.tensor(b)
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy(), _wrapped_product(a, b), err_msg=f"{sa} @ {sb}")
        try:
            import torch
        except ImportError:
            continue
        np.testing.assert_array_equal(got.numpy(), (torch.tensor(a) @ torch.tensor(b)).numpy())
    with pytest.raises(DTypeError, match=r"matmul: bool tensors \(shapes \(2, 2\) and \(2, 2\)\).*\.int\(\)"):
        tm.tensor(np.ones((2, 2), bool)) @ tm.tensor(np.ones((2, 2), bool))


def test_integer_matmul_on_the_emulated_gpu(emulated_gpu):
    rng = np.random.default_rng(8)
    for dtype in ("int32", "int64", "int8", "uint8"):
        for sa, sb in INT_PRODUCTS[1:4]:
            info = np.iinfo(dtype)
            a = rng.integers(info.min, info.max, sa, endpoint=True).astype(dtype)
            b = rng.integers(info.min, info.max, sb, endpoint=True).astype(dtype)
            got = tm.tensor(a, device="cuda") @ tm.tensor(b, device="cuda")
            assert got.device.kind == "cuda" and got.dtype == dtype
            np.testing.assert_array_equal(got.numpy(), _wrapped_product(a, b), err_msg=f"{dtype} {sa} @ {sb}")


def test_shape_mismatch_names_op_and_shapes():
    with pytest.raises(ShapeError, match=r"mul.*\(2, 3\).*\(4,\)"):
        tm.zeros(2, 3) * tm.zeros(4)
    with pytest.raises(ShapeError, match=r"matmul.*\(2, 3\).*\(2, 3\)"):
        tm.zeros(2, 3) @ tm.zeros(2, 3)


# ---------------------------------------------------------------- reductions and shapes

@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis,keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_reduction_gradients(op, axis, keepdims):
    def reduce(x):      # max/min over one int axis give (values, indices), as PyTorch
        out = getattr(x, op)(axis=axis, keepdims=keepdims)
        return out.values if isinstance(axis, int) and op in ("max", "min") else out
    check_grad(reduce, normal(2, 3, 4))


def test_reductions_match_numpy():
    a = RNG.normal(size=(3, 5)).astype("float32")
    t = tm.tensor(a)
    np.testing.assert_allclose(t.sum().numpy(), a.sum(), rtol=1e-5)
    np.testing.assert_allclose(t.mean(0).numpy(), a.mean(0), rtol=1e-5)
    np.testing.assert_allclose(t.max(1, keepdims=True).values.numpy(), a.max(1, keepdims=True))
    assert t.argmax(1).numpy().tolist() == a.argmax(1).tolist()
    assert t.argmax().item() == a.argmax()
    with pytest.raises(ShapeError, match="axis 2 is out of range"):
        t.sum(2)
    with pytest.raises(IndexError, match="sum.*axis 2 is out of range"):     # an IndexError, as PyTorch's
        t.sum(2)


def test_max_gradient_shares_ties_evenly():
    x = tm.tensor([1.0, 3.0, 3.0], requires_grad=True)
    x.max().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0, 0.5, 0.5])


TIED = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 0.0], [5.0, 1.0, 5.0], [4.0, 4.0, 4.0]], np.float32)
EXTREMES = {   # PyTorch's rules: ties share max()/amax's gradient, max(dim)'s goes to the returned index
    "max()": (lambda t: t.max(), None),
    "min()": (lambda t: t.min(), None),
    "max(1)": (lambda t: t.max(1).values, ("argmax", 1)),
    "max(0)": (lambda t: t.max(0)[0], ("argmax", 0)),
    "min(dim=1)": (lambda t: t.min(dim=1).values, ("argmin", 1)),
    "max(-1, keepdim)": (lambda t: t.max(-1, keepdim=True)[0], ("argmax", 1)),
    "min(0, keepdim)": (lambda t: t.min(0, keepdim=True).values, ("argmin", 0)),
    "amax(1)": (lambda t: t.amax(1), None),
    "amin((0, 1))": (lambda t: t.amin((0, 1)), None),
    "maximum": (lambda t: t.maximum(t[:, :1]), None),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_extreme_gradients_on_ties_follow_pytorch(name):
    """``x.max(dim)`` shared a tie's gradient among the tied values; PyTorch sends it all
    to the index it returned (the first), while ``max()``, ``amax`` and ``maximum``
    share it. The head gradient is random, so a misrouted share shows."""
    fn, routed = EXTREMES[name]
    x = tm.tensor(TIED, requires_grad=True)
    out = fn(x)
    head = RNG.normal(size=out.shape).astype("float32")
    (out * tm.tensor(head)).sum().backward()
    if routed is not None:      # the whole head gradient at the index max/min(dim) returned
        arg, axis = routed
        index = np.expand_dims(getattr(np, arg)(TIED, axis), axis)
        want = np.zeros_like(TIED)
        np.put_along_axis(want, index, head.reshape(index.shape), axis)
        np.testing.assert_array_equal(x.grad.numpy(), want)
    try:
        import torch
    except ImportError:
        return
    q = torch.tensor(TIED, requires_grad=True)
    (fn(q) * torch.tensor(head)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), q.grad.numpy(), rtol=1e-6)


def test_shape_op_gradients():
    check_grad(lambda x: x.reshape(4, 3) * 2.0, normal(2, 6))
    check_grad(lambda x: x.reshape(-1), normal(2, 3))
    check_grad(lambda x: x.T, normal(2, 3))
    check_grad(lambda x: x.transpose(0, 2), normal(2, 3, 4))
    check_grad(lambda x: x.permute(1, 2, 0), normal(2, 3, 4))
    check_grad(lambda x: x.broadcast_to((3, 2, 4)), normal(2, 1))
    x = tm.tensor(normal(3), requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == "float32" and y.requires_grad
    (y * 2.0).sum().backward()
    assert x.grad.dtype == "float64" and x.grad.numpy().tolist() == [2.0, 2.0, 2.0]
    assert not (x > 0).requires_grad and not x.astype("int64").requires_grad


@pytest.mark.parametrize("index", [
    (slice(1, 3),), (0,), (slice(None), 1), (slice(None, None, 2), slice(1, None)),
    (Ellipsis, 2), (None, slice(0, 2)), (-1, slice(0, 4, 3)),
])
def test_indexing_matches_numpy_and_differentiates(index):
    a = normal(3, 4)
    np.testing.assert_allclose(tm.tensor(a)[index].numpy(), a[index])
    check_grad(lambda x: x[index], a)


def test_indexing_errors():
    t = tm.zeros(3, 4)
    with pytest.raises(ShapeError, match="out of range"):
        t[3]
    with pytest.raises(ShapeError, match="too many indices"):
        t[0, 0, 0]
    with pytest.raises(ShapeError, match="step must be positive"):
        t[::-1]
    with pytest.raises(ShapeError, match="cannot reshape"):
        t.reshape(5, 2)


# ---------------------------------------------------------------- PyTorch's surface (probe regressions)

def test_iteration_gives_rows_like_pytorch():
    # iterating used to run past the end (index 2 raised a ShapeError, not IndexError)
    t = tm.tensor([[1.0, 2.0], [3.0, 4.0]])
    rows = list(t)
    assert [r.numpy().tolist() for r in rows] == [[1.0, 2.0], [3.0, 4.0]]
    a, b = t
    assert b.numpy().tolist() == [3.0, 4.0]
    assert sum(tm.tensor([1.0, 2.0, 3.0])).item() == 6.0
    assert [v.item() for v in sorted(tm.tensor([3.0, 1.0, 2.0]))] == [1.0, 2.0, 3.0]
    with pytest.raises(TypeError, match="0-d"):
        iter(tm.tensor(1.0))
    with pytest.raises(IndexError, match="out of range"):
        tm.zeros(2)[5]


def test_numpy_on_the_left_defers_to_the_tensor():
    # __array_ufunc__ = None: numpy calls Tensor's reflected operator, history is kept
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = np.float64(2.0) * x
    assert isinstance(y, tm.Tensor) and y.requires_grad
    y.sum().backward()
    assert x.grad.numpy().tolist() == [2.0, 2.0]
    assert isinstance(np.ones(2, "float32") + tm.tensor([1.0, 2.0]), tm.Tensor)
    np.testing.assert_array_equal(np.asarray(tm.tensor([1.0, 2.0])), [1.0, 2.0])


def test_non_numeric_operands_raise_type_error_as_pytorch():
    # None used to become NaN (x + None) and x == None a tensor; PyTorch: TypeError / False
    x = tm.tensor([1.0])
    for op in (lambda: x + None, lambda: x * None, lambda: None - x, lambda: x < None, lambda: x + "a"):
        with pytest.raises(TypeError):
            op()
    assert (x == None) is False and (x != None) is True  # noqa: E711


def test_bad_indices_are_refused():
    t = tm.zeros(2, 3)
    # x[True] used to be x[1]; x[1.0] was accepted; x[..., ...] raised a raw IndexError
    for index in (True, np.bool_(False), 1.0, (0, 1.5), (Ellipsis, Ellipsis)):
        with pytest.raises(tm.IndexingError, match=r"\(2, 3\)"):
            t[index]


@pytest.mark.parametrize("call", [
    lambda t: t.transpose(0, 5), lambda t: t.permute(3, 1, 2), lambda t: t.flatten(7), lambda t: t.sum(-4),
    lambda t: t.mean((0, 3)), lambda t: t.max(3), lambda t: t.argmax(5), lambda t: tm.nn.functional.softmax(t, 3),
    lambda t: t.size(3), lambda t: t.flatten(0, 9),
])
def test_out_of_range_axes_raise_index_errors(call):
    # they used to wrap around silently (transpose(0, 5) on 3-D swapped axes 0 and 2)
    with pytest.raises(tm.IndexingError, match=r"axis -?\d+ is out of range for a tensor of shape \(2, 3, 4\)"):
        call(tm.zeros(2, 3, 4))


def test_sum_of_empty_axes_reduces_everything_as_pytorch():
    a = normal(2, 3)
    assert tm.tensor(a).sum(()).shape == ()
    np.testing.assert_allclose(tm.tensor(a).sum(()).item(), a.sum())
    check_grad(lambda x: x.sum(()), a)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64", "bool"])
def test_integer_sums_and_products_are_int64(dtype):
    # a uint8 sum used to wrap in uint8 (16 x 200 gave 128)
    a = np.full(16, 200 if dtype == "uint8" else 1, dtype) if dtype != "bool" else np.ones(16, bool)
    s = tm.tensor(a).sum()
    assert s.dtype == "int64" and s.item() == a.astype("int64").sum()
    p = tm.tensor(np.array([3, 5, 7] if dtype != "bool" else [True, True], dtype)).prod(0)
    assert p.dtype == "int64" and p.item() == np.prod(np.array([3, 5, 7] if dtype != "bool" else [1, 1]))


def test_float16_sum_and_mean_accumulate_in_float32():
    # float16 accumulation stalls at 2048; PyTorch accumulates in float32
    ones = tm.tensor(np.ones(5000, "float16"))
    assert ones.sum().dtype == "float16" and ones.sum().item() == 5000.0
    assert ones.mean().dtype == "float16" and ones.mean().item() == 1.0
    a = np.full((4, 3000), 0.1, "float16")
    np.testing.assert_allclose(tm.tensor(a).sum(1).numpy(), a.astype("float32").sum(1).astype("float16"))


def test_pytorch_spellings():
    a = normal(2, 3, 4)
    t = tm.tensor(a)
    assert t.size() == (2, 3, 4) and t.size(-1) == 4 and t.numel() == 24 and t.dim() == 3
    np.testing.assert_allclose(t.sum(dim=1, keepdim=True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_allclose(t.mean(dim=(0, 2)).numpy(), a.mean((0, 2)))
    values, indices = t.max(1)
    np.testing.assert_allclose(values.numpy(), a.max(1))
    assert indices.dtype == "int64" and indices.numpy().tolist() == a.argmax(1).tolist()
    assert t.min(dim=2, keepdim=True).indices.numpy().tolist() == a.argmin(2)[..., None].tolist()
    assert t.max().shape == () and t.argmin(dim=0).numpy().tolist() == a.argmin(0).tolist()
    assert t.flatten(1).shape == (2, 12) and t.flatten(0, 1).shape == (6, 4) and t.flatten().shape == (24,)
    assert tm.zeros(2, 1, 4).expand((2, 5, 4)).shape == (2, 5, 4)
    assert tm.zeros(2, 1, 4).expand(3, -1, 5, -1).shape == (3, 2, 5, 4)
    check_grad(lambda x: x.expand(3, -1, 5), normal(2, 1))
    assert abs(tm.tensor([-1.5])).item() == 1.5
    np.testing.assert_allclose(tm.nn.functional.softmax(t, dim=1).numpy().sum(1), np.ones((2, 4)), rtol=1e-6)


def test_bool_operators_are_logical():
    p, q = np.array([True, True, False, False]), np.array([True, False, True, False])
    tp, tq = tm.tensor(p), tm.tensor(q)
    for got, want in [(tp & tq, p & q), (tp | tq, p | q), (tp ^ tq, p ^ q), (~tp, ~p),
                      (tp * tq, p & q), (tp + tq, p | q), (tp.maximum(tq), p | q), (tp.minimum(tq), p & q)]:
        assert got.dtype == "bool" and got.numpy().tolist() == want.tolist()
    with pytest.raises(DTypeError, match="bool or integer"):
        tm.tensor([1.0, 2.0]) & tm.tensor([3.0, 4.0])


BOOL_SUBTRACTIONS = {   # PyTorch refuses each (NotImplementedError); numpy refuses bool - bool
    "bool - bool": (lambda b, i, f: b - b, "two bool operands.*logical_xor"),
    "bool - True": (lambda b, i, f: b - True, "two bool operands.*logical_xor"),
    "True - bool": (lambda b, i, f: True - b, "two bool operands.*logical_xor"),
    "bool - int": (lambda b, i, f: b - i, "a bool operand.*logical_not"),
    "float - bool": (lambda b, i, f: f - b, "a bool operand.*logical_not"),
    "int - True": (lambda b, i, f: i - True, "a bool operand.*logical_not"),
    "1 - bool": (lambda b, i, f: 1 - b, "a bool operand.*logical_not"),
    "bool - 1.5": (lambda b, i, f: b - 1.5, "a bool operand.*logical_not"),
    "int -= bool": (lambda b, i, f: i.__isub__(b), "a bool operand.*logical_not"),
    "-bool": (lambda b, i, f: -b, "neg: negation.*bool tensor of shape \\(2,\\).*logical_not"),
}


@pytest.mark.parametrize("name", sorted(BOOL_SUBTRACTIONS))
def test_subtraction_and_negation_of_bools_are_refused_as_pytorch(name):
    """``bool - bool`` gave int32 (and ``-mask`` -1): PyTorch refuses subtraction with a
    bool operand and negating a bool tensor, pointing to ``^`` and ``~``; so does tvmini,
    with a DTypeError naming the operands and the fix."""
    fn, message = BOOL_SUBTRACTIONS[name]
    with pytest.raises(DTypeError, match=message):
        fn(tm.tensor([True, False]), tm.tensor([1, 2]), tm.tensor([1.5, 2.0]))
    try:
        import torch
    except ImportError:
        return
    with pytest.raises(NotImplementedError, match="bool"):
        fn(torch.tensor([True, False]), torch.tensor([1, 2]), torch.tensor([1.5, 2.0]))


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int32", "int64"])
def test_integer_operators_are_bitwise(dtype):
    """``& | ^ ~ << >>`` on integer tensors as PyTorch's (they raised DTypeError); a bool
    operand counts as the integer type, shifts broadcast and take Python ints."""
    a = np.array([[5, 3, 127, 0]], dtype) if dtype[0] == "u" else np.array([[5, -3, 127, -128]], dtype)
    b = np.array([[1], [3]], dtype)
    ta, tb = tm.tensor(a), tm.tensor(b)
    for got, want in [(ta & tb, a & b), (ta | tb, a | b), (ta ^ tb, a ^ b), (~ta, ~a), (ta << tb, a << b),
                      (ta >> tb, a >> b), (ta & 6, a & 6), (ta ^ tm.tensor(np.array([True, False, True, True])),
                                                            a ^ np.array([1, 0, 1, 1], dtype))]:
        assert got.dtype == dtype
        np.testing.assert_array_equal(got.numpy(), want)


# ---------------------------------------------------------------- gradient aliasing and in-place versions

def test_leaf_grads_are_never_aliased():
    # the head gradient used to become s.grad itself, and a + b gave both leaves one
    # gradient object: editing one (zero_grad(set_to_none=False), clipping) changed the other
    s = tm.tensor([1.0, 2.0], requires_grad=True)
    head = tm.ones(2)
    (s + 1).backward(head)
    assert s.grad is not head
    s.grad.zero_()
    assert head.numpy().tolist() == [1.0, 1.0]
    a, b = tm.tensor([1.0, 2.0], requires_grad=True), tm.tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad.copy_(np.array([7.0, 7.0]))
    assert b.grad.numpy().tolist() == [1.0, 1.0]


def test_retain_grad_keeps_a_computed_tensors_gradient_as_pytorch():
    x = tm.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * x
    z = y.relu()
    y.retain_grad()
    z.retain_grad()
    x.retain_grad()                             # a leaf keeps its gradient anyway
    w = y + z                                   # y reaches the loss twice: its gradient is the sum
    w.sum().backward()
    assert y.grad.numpy().tolist() == [2.0, 2.0, 2.0] and z.grad.numpy().tolist() == [1.0, 1.0, 1.0]
    assert x.grad.numpy().tolist() == [4.0, -8.0, 12.0] and w.grad is None
    y.grad.zero_()
    assert z.grad.numpy().tolist() == [1.0, 1.0, 1.0]       # each holds its own gradient
    with pytest.raises(tm.AutogradError, match="retain_grad: .* does not require a gradient"):
        tm.ones(2).retain_grad()


def test_only_leaves_stop_requiring_a_gradient():
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(tm.AutogradError, match=r"requires_grad_\(False\): .* not a leaf; use .detach\(\)"):
        y.requires_grad_(False)
    assert x.requires_grad_(False) is x and not x.requires_grad


def test_inplace_write_to_a_saved_tensor_raises_at_backward():
    # exp's gradient reads its output: zeroing it used to give a silent gradient of 0
    x = tm.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with tm.no_grad():                         # in grad mode the write itself is refused
        y.zero_()
    with pytest.raises(tm.AutogradError, match=r"modified by an inplace operation.*\(2,\).*version 1; expected "
                                               r"version 0"):
        y.sum().backward()
    w, a = tm.tensor([3.0, 4.0], requires_grad=True), tm.tensor([1.0, 1.0], requires_grad=True)
    loss = (w * a).sum()
    with tm.no_grad():
        w.copy_(np.array([100.0, 100.0]))      # mul's gradient for a reads w
    with pytest.raises(RuntimeError, match="inplace"):
        loss.backward()


def test_inplace_write_the_gradient_does_not_read_is_allowed():
    # add needs no values for its gradient (PyTorch allows this too)
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    loss = (w + 1.0).sum()
    with tm.no_grad():
        w.copy_(np.array([100.0, 100.0]))
    loss.backward()
    assert w.grad.numpy().tolist() == [1.0, 1.0]


def test_zero_and_copy_follow_the_in_place_rules():
    # zero_() and copy_() wrote into a leaf that requires grad in grad mode (PyTorch refuses,
    # as tvmini's own clamp_, masked_fill_ and x[i] = v did)
    w = tm.tensor([3.0, 4.0], requires_grad=True)
    with pytest.raises(tm.AutogradError, match="in-place zero_ into a tensor of shape \\(2,\\) that requires grad"):
        w.zero_()
    with pytest.raises(tm.AutogradError, match="in-place copy_ into a tensor of shape \\(2,\\) that requires grad"):
        w.copy_(np.array([1.0, 1.0]))
    with pytest.raises(tm.AutogradError, match="in-place copy_ a tensor that requires grad"):
        tm.zeros(2).copy_(w)
    with pytest.raises(tm.IndexingError, match="copy where PyTorch returns a view"):
        tm.zeros(2, 2).T.zero_()
    source = tm.ones(2, 2)
    source[0].zero_()                          # a view in PyTorch: the write reaches the source
    source[1].copy_(np.array([5.0, 6.0]))
    assert source.numpy().tolist() == [[0.0, 0.0], [5.0, 6.0]]
    assert w.numpy().tolist() == [3.0, 4.0]
    with tm.no_grad():                         # how nn.init and optimizers write parameters
        w.copy_(np.array([1.0, 2.0]))
        assert w.numpy().tolist() == [1.0, 2.0]
        w.zero_()
    assert w.numpy().tolist() == [0.0, 0.0]
    try:
        import torch
    except ImportError:
        return
    q = torch.tensor([3.0, 4.0], requires_grad=True)
    for write in (lambda: q.zero_(), lambda: q.copy_(torch.ones(2))):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            write()


def test_optimizer_step_bumps_the_parameter_version():
    w = tm.nn.Parameter(tm.tensor([1.0, 2.0]))
    opt = tm.optim.SGD([w], lr=0.1)
    (w * w).sum().backward()
    stale = (w * w).sum()                      # recorded before the step below
    opt.step()
    with pytest.raises(tm.AutogradError):
        stale.backward()


# ---------------------------------------------------------------- division and pow (probe regressions)

def test_division_by_a_number_is_correctly_rounded():
    # x / 10.0 used to be x * (1/10.0): 397 of these 2000 quotients were off by one ulp
    a = np.arange(1, 2001, dtype=np.float32) * np.float32(0.37)
    np.testing.assert_array_equal((tm.tensor(a) / 10.0).numpy(), a / np.float32(10))
    check_grad(lambda x: x / 3.0, normal(4))


def test_division_by_zero_gives_inf_and_nan():
    # it used to raise Python's ZeroDivisionError (computing 1/0 on the host)
    with np.errstate(divide="ignore", invalid="ignore"):
        want = np.array([1.0, -1.0, 0.0], np.float32) / np.float32(0)
    np.testing.assert_array_equal((tm.tensor([1.0, -1.0, 0.0]) / 0).numpy(), want)
    q = tm.tensor([1, 2]) / 0                     # integers promote to float32, as PyTorch
    assert q.dtype == "float32" and q.numpy().tolist() == [np.inf, np.inf]


def test_pow_exponent_gradient_is_zero_where_the_base_is_zero():
    # g * x**e * log(x) was NaN at x == 0; PyTorch gives 0 there for e >= 0
    base, exp = tm.tensor([0.0, 2.0, 0.0]), tm.tensor([2.0, 2.0, 0.0], requires_grad=True)
    (base ** exp).sum().backward()
    np.testing.assert_allclose(exp.grad.numpy(), [0.0, 4 * np.log(2.0), 0.0], rtol=1e-6)
    check_grad(lambda x, e: x ** e, positive(3), normal(3))


def _pow_grads(fn, values):
    x = tm.tensor(np.array(values, np.float32), requires_grad=True)
    fn(x).sum().backward()
    return x.grad.numpy()


POW_AT_ZERO = {     # d/dx at x = [0, 2, -1]: PyTorch's values (0 where the function is flat)
    "x ** 0": (lambda x: x ** 0, [0.0, 0.0, 0.0]),
    "x ** 0.0": (lambda x: x ** 0.0, [0.0, 0.0, 0.0]),
    "x ** tensor(0)": (lambda x: x ** (tm.tensor(np.zeros(3, np.float32)) if isinstance(x, tm.Tensor)
                                       else x.new_zeros(3)), [0.0, 0.0, 0.0]),
    "0.0 ** x": (lambda x: 0.0 ** x, [0.0, 0.0, -np.inf]),
    "(-2.0) ** x": (lambda x: (-2.0) ** x, [np.nan, np.nan, np.nan]),
    "3.0 ** x": (lambda x: 3.0 ** x, [np.log(3.0), 9 * np.log(3.0), np.log(3.0) / 3]),
}


@pytest.mark.parametrize("name", sorted(POW_AT_ZERO))
def test_pow_gradients_where_the_power_is_flat_or_undefined(name):
    # x ** 0 had gradient 0 * 0**-1 = NaN at x = 0, and 0.0 ** x, (-2.0) ** x raised
    # Python's math domain error in backward; PyTorch gives 0, 0 (-inf for x < 0) and NaN
    fn, want = POW_AT_ZERO[name]
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_allclose(_pow_grads(fn, [0.0, 2.0, -1.0]), want, rtol=1e-6)
    try:
        import torch
    except ImportError:
        return
    q = torch.tensor([0.0, 2.0, -1.0], requires_grad=True)
    fn(q).sum().backward()
    np.testing.assert_allclose(_pow_grads(fn, [0.0, 2.0, -1.0]), q.grad.numpy(), rtol=1e-6)


# ---------------------------------------------------------------- result dtypes as PyTorch

def test_integer_results_keep_integer_dtypes():
    # int ** 2 and 2 ** int used to be float32, relu of ints float32
    a = np.array([-3, 0, 5, 7], "int64")
    t = tm.tensor(a)
    for got, want in [(t ** 2, a ** 2), (2 ** tm.tensor([3, 0, 10]), 2 ** np.array([3, 0, 10])),
                      (t.relu(), np.maximum(a, 0)), (t.abs(), np.abs(a)), (-t, -a)]:
        assert got.dtype == "int64" and got.numpy().tolist() == want.tolist()
    assert (t ** 0.5).dtype == "float32" and (2.5 ** tm.tensor([3])).dtype == "float32"
    with pytest.raises(DTypeError, match="negative integer powers"):
        t ** -1


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_power_is_exact_and_wraps_as_numpy(dtype):
    # exponentiation by squaring (topi.broadcast._int_power): exact below 64, wrapping
    base = np.array([7, -7, 3, 2, -1, 1, 0, 12345], dtype)
    exp = np.array([40, 21, 63, 100, 101, 200, 9, 7], dtype)
    with np.errstate(over="ignore"):
        want = base ** exp
    assert (tm.tensor(base) ** tm.tensor(exp)).numpy().tolist() == want.tolist()
    assert (tm.tensor(base) ** 13).numpy().tolist() == (base ** np.array(13, dtype)).tolist()


@pytest.mark.parametrize("data,dtype", [([2 ** 63], None), ([-2 ** 63 - 1], None), ([2 ** 40], "int32"),
                                        ([300], "uint8"), ([-256], "uint8"), ([128], "int8"), ([1, 2 ** 70], None),
                                        ([[1.5], [10 ** 400]], None), (2 ** 64, "int64"), ([-1, 2 ** 64 - 1], None),
                                        ([[1, 2], [-3, 2 ** 64 - 1]], None), ([True, 2 ** 64 - 1], None)])
def test_creation_refuses_an_int_the_dtype_cannot_hold(data, dtype):
    # numpy's conversion wrapped these (2**63 became -2**63, 2**40 as int32 0, 300 as uint8 44)
    # or made floats of them ([-1, 2**64 - 1], ints past both int64 and uint64, became float32)
    with pytest.raises(tm.ValueOverflowError, match="tensor\\(\\): .* does not fit|past") as info:
        tm.tensor(data, dtype=dtype)
    assert isinstance(info.value, OverflowError)
    try:
        import torch
    except ImportError:
        return
    with pytest.raises((RuntimeError, OverflowError, ValueError)):
        torch.tensor(data, dtype=None if dtype is None else getattr(torch, dtype))


def test_creation_keeps_ints_the_dtype_holds():
    assert tm.tensor([2 ** 63 - 1, -2 ** 63]).numpy().tolist() == [2 ** 63 - 1, -2 ** 63]
    assert tm.tensor([-1, 255], dtype="uint8").numpy().tolist() == [255, 255]      # as PyTorch: -1 wraps
    t = tm.tensor([1.5, 2 ** 70])                                     # floats beside a big int: float32
    assert t.dtype == "float32" and t.numpy().tolist() == [1.5, float(np.float32(2.0 ** 70))]
    assert tm.tensor([2 ** 40], dtype="float32").numpy().tolist() == [2.0 ** 40]
    t = tm.tensor([-1, 2 ** 64 - 1], dtype="float64")                 # asked for floats: as PyTorch
    assert t.dtype == "float64" and t.numpy().tolist() == [-1.0, 2.0 ** 64]


INT_SCALAR_OPS = {   # an int past the tensor's dtype wraps into it, as PyTorch (numpy's answer)
    "add": lambda t, n: t + n, "rsub": lambda t, n: n - t, "mul": lambda t, n: t * n, "eq": lambda t, n: t == n,
    "lt": lambda t, n: t < n, "floordiv": lambda t, n: t // n, "mod": lambda t, n: t % n,
}


@pytest.mark.parametrize("dtype", ["int32", "uint8", "int8"])
@pytest.mark.parametrize("name", sorted(INT_SCALAR_OPS))
def test_an_int_past_the_dtype_wraps_into_it_as_pytorch(dtype, name):
    # int32 + 2**40 used to fail inside the kernel call: "scalar s0 = ... does not fit in int32"
    f, a = INT_SCALAR_OPS[name], np.array([0, 1, -5, 100]).astype(dtype)
    for n in (2 ** 40 + 3, 2 ** 32 + 7, -(2 ** 33) - 1):
        wrapped = np.array(n % 2 ** 64, np.uint64).astype(dtype)     # n wrapped into the dtype
        with np.errstate(over="ignore"):
            want = f(a, wrapped)
        got = f(tm.tensor(a), n)
        assert got.dtype == str(want.dtype), (n, got.dtype, want.dtype)
        np.testing.assert_array_equal(got.numpy(), want)
        try:
            import torch
        except ImportError:
            continue
        np.testing.assert_array_equal(got.numpy(), f(torch.tensor(a), n).numpy())


def test_a_number_past_every_float_or_int64_is_refused_naming_the_op():
    # float32 * 10**400 used to be a ctypes ArgumentError from the kernel call
    with pytest.raises(tm.ValueOverflowError, match="mul: an int of 1329 bits is past the range of float32"):
        tm.tensor([1.0]) * 10 ** 400
    with pytest.raises(tm.ValueOverflowError, match="eq: an int of 71 bits does not fit in int64"):
        tm.tensor([1], dtype="int32") == 2 ** 70
    assert (tm.tensor([1.0]) + 2 ** 70).numpy().tolist() == [float(np.float32(2.0 ** 70))]   # a float: kept


def test_full_infers_its_dtype_as_pytorch():
    assert tm.full((2,), 3).dtype == "int64" and tm.full((2,), True).dtype == "bool"
    assert tm.full((2,), 3.0).dtype == "float32" and tm.full((2,), 3, dtype="float64").dtype == "float64"


def test_integer_tensor_against_a_float_number_promotes():
    # maximum(int, 0.5) used to truncate 0.5 to 0
    got = tm.tensor([0, 1, 2]).maximum(0.5)
    assert got.dtype == "float32" and got.numpy().tolist() == [0.5, 1.0, 2.0]
    assert tm.tensor([0, 3]).minimum(1).numpy().tolist() == [0, 1]


def test_max_min_argmax_of_a_bool_tensor():
    """Reductions of bool tensors compile (max/min stay bool; they failed in LLVM);
    argmax/argmin refuse them, as PyTorch's, while max(dim) gives the indices."""
    a = np.array([[True, False, True], [False, False, False], [False, True, True]])
    t = tm.tensor(a)
    assert t.max().item() and not t.min().item()
    np.testing.assert_array_equal(t.max(1).values.numpy(), a.max(1))
    np.testing.assert_array_equal(t.min(0).values.numpy(), a.min(0))
    np.testing.assert_array_equal(t.max(1).indices.numpy(), a.argmax(1))
    with pytest.raises(tm.DTypeError, match="argmax"):
        t.argmax(1)


def test_more_creation_helpers_as_pytorch():
    np.testing.assert_array_equal(tm.eye(3, 4, dtype="float64").numpy(), np.eye(3, 4))
    np.testing.assert_allclose(tm.linspace(-1, 1, 5).numpy(), [-1, -0.5, 0, 0.5, 1])
    tm.manual_seed(3)
    ints = tm.randint(2, 9, (4, 5))
    assert ints.dtype == "int64" and ints.shape == (4, 5) and 2 <= ints.numpy().min() and ints.numpy().max() < 9
    assert tm.randint(3, size=(100,)).numpy().max() < 3
    like = tm.zeros(2, 3, dtype="float64")
    assert tm.randn_like(like).dtype == "float64" and tm.rand_like(like).shape == (2, 3)
    assert tm.full_like(like, 2).numpy().tolist() == [[2.0] * 3] * 2
    assert tm.empty(4, 2).shape == (4, 2) and tm.empty_like(like).dtype == "float64"


def test_zero_dim_tensors_promote_as_pytorch_scalars():
    f32, i32 = tm.tensor(np.ones(2, "float32")), tm.tensor(np.ones(2, "int32"))
    assert (f32 * tm.tensor(np.float64(2.0))).dtype == "float32"
    assert (i32 + tm.tensor(np.int64(2))).dtype == "int32"
    assert (tm.tensor(np.array([1, 2])) + tm.tensor(np.float64(2.5))).dtype == "float64"
    assert (tm.tensor(np.ones(2, "float16")) / tm.tensor(np.array([2, 2]))).dtype == "float16"
    assert (tm.tensor(np.float64(1.0)) * tm.tensor(np.float32(2.0))).dtype == "float64"


def test_where_with_numbers_promotes_and_one_hot_checks_labels():
    c = tm.tensor(np.array([True, False]))
    got = tm.where(c, tm.tensor(np.array([3, 4])), 0.5)
    assert got.dtype == "float32" and got.numpy().tolist() == [3.0, 0.5]
    assert tm.where(c, 1.0, -1.0).numpy().tolist() == [1.0, -1.0] and tm.where(c, 1, 0).dtype == "int64"
    with pytest.raises(IndexError, match="index -1 is out of range"):
        tm.nn.functional.one_hot(tm.tensor(np.array([0, -1])), 2)
    assert tm.randint(5, (3,)).shape == (3,)            # PyTorch's randint(high, size)


def test_host_random_draws_are_refused_inside_jit():
    """Their values would be frozen into the trace (dropout is redrawn each replay)."""
    step = tm.jit(lambda a: a + tm.randn_like(a))
    with pytest.raises(TVMiniError, match="randn\\(\\) draws on the host"):
        step(tm.zeros(3))
    with pytest.raises(DTypeError, match="floating-point"):
        tm.randn_like(tm.tensor(np.array([1, 2])))


def test_dtype_methods_where_and_clamp_in_place():
    x = tm.tensor(np.array([1.5, -2.0, 0.3]))
    assert x.half().dtype == "float16" and x.int().dtype == "int32" and x.bool().numpy().all()
    np.testing.assert_array_equal(x.where(x > 0, 0.0).numpy(), [1.5, 0.0, 0.3])
    assert x.clamp_(-1, 1) is x
    np.testing.assert_array_equal(x.numpy(), [1.0, -1.0, 0.3])


def test_cross_entropy_with_every_label_ignored():
    """PyTorch's NaN loss with a zero gradient (the division by the kept weight was a NaN
    gradient too)."""
    t = tm.tensor(np.random.default_rng(0).random((3, 4)), requires_grad=True)
    loss = tm.nn.functional.cross_entropy(t, tm.tensor(np.array([-100, -100, -100])))
    loss.backward()
    assert np.isnan(float(loss)) and not t.grad.numpy().any()


def test_top_level_names_as_pytorch():
    assert tm.zeros(2, dtype=tm.float64).dtype == "float64" and tm.int32 == "int32" and tm.bool == "bool"
    np.testing.assert_array_equal(tm.matmul(tm.ones(2, 3), tm.ones(3)).numpy(), [3.0, 3.0])
    np.testing.assert_array_equal(tm.maximum(tm.ones(2), tm.zeros(2)).numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(tm.minimum(tm.ones(2), tm.zeros(2)).numpy(), [0.0, 0.0])


def test_the_graph_is_fixed_when_an_op_runs():
    """Turning requires_grad on after an op ran does not send that op's gradient there
    (PyTorch's graph is fixed when recorded; the flag was read during backward)."""
    x, w = tm.ones(3), tm.ones(3, requires_grad=True)
    y = (x * w).sum()
    x.requires_grad_(True)
    y.backward()
    assert x.grad is None and w.grad is not None

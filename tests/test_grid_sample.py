"""F.affine_grid and F.grid_sample against PyTorch (float64, gradients for the input,
the grid and theta), finite differences, errors, a jitted spatial-transformer step and
the emulated GPU."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tvmini as tm
import tvmini.nn.functional as F
from tvmini import nn
from tvmini.errors import TVMiniError
from graph_gradcheck import check_grad

torch = pytest.importorskip("torch")
TF = torch.nn.functional
RNG = np.random.default_rng(11)
X4 = RNG.normal(size=(2, 3, 5, 6))
GRID4 = RNG.uniform(-1.3, 1.3, size=(2, 4, 7, 2))      # points outside [-1, 1] exercise the padding


def _against_torch(mine, theirs, *arrays):
    """Outputs and every input's gradient under one head, float64."""
    ours = [tm.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = mine(*ours), theirs(*refs)
    np.testing.assert_allclose(out.numpy(), ref.detach().numpy(), rtol=1e-10, atol=1e-12)
    head = RNG.normal(size=out.shape)
    out.backward(tm.tensor(head))
    ref.backward(torch.tensor(head))
    for k, (a, b) in enumerate(zip(ours, refs)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-9, atol=1e-11, err_msg=f"input {k}")


@pytest.mark.parametrize("mode, padding_mode, align_corners", [
    ("bilinear", "zeros", False), ("bilinear", "border", True), ("bilinear", "reflection", True),
    ("nearest", "reflection", False), ("bicubic", "zeros", True), ("bicubic", "border", False),
])
def test_grid_sample_4d_matches_torch(mode, padding_mode, align_corners):
    _against_torch(lambda x, g: F.grid_sample(x, g, mode, padding_mode, align_corners),
                   lambda x, g: TF.grid_sample(x, g, mode, padding_mode, align_corners), X4, GRID4)


@pytest.mark.parametrize("mode, padding_mode", [("bilinear", "zeros"), ("nearest", "reflection")])
def test_grid_sample_5d_matches_torch(mode, padding_mode):
    x, grid = RNG.normal(size=(2, 2, 3, 4, 5)), RNG.uniform(-1.2, 1.2, size=(2, 2, 3, 4, 3))
    _against_torch(lambda x, g: F.grid_sample(x, g, mode, padding_mode, False),
                   lambda x, g: TF.grid_sample(x, g, mode, padding_mode, False), x, grid)


@settings(max_examples=2, deadline=None)
@given(h=st.integers(1, 4), w=st.integers(1, 5), oh=st.integers(1, 3), align=st.booleans())
def test_grid_sample_on_drawn_shapes_down_to_size_one(h, w, oh, align):
    x, grid = RNG.normal(size=(1, 2, h, w)), RNG.uniform(-1.5, 1.5, size=(1, oh, 2, 2))
    _against_torch(lambda x, g: F.grid_sample(x, g, "bilinear", "border", align),
                   lambda x, g: TF.grid_sample(x, g, "bilinear", "border", align), x, grid)


def test_grid_sample_gradients_match_finite_differences():
    """The input's and the grid's gradients against central differences, on the shapes
    and options of cases above (their kernels are built); reflection padding here (its
    kinks are at the random points with probability 0)."""
    check_grad(lambda x, g: F.grid_sample(x, g, "bilinear", "reflection", True), X4, GRID4)
    check_grad(lambda x, g: F.grid_sample(x, g, "bicubic", "zeros", True), X4, GRID4)



@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2 ** 16), mode=st.sampled_from(["bilinear", "nearest", "bicubic"]),
       padding=st.sampled_from(["zeros", "border"]), snap=st.booleans(), width=st.sampled_from([8, 5]))
def test_input_gradient_skips_only_points_that_miss(seed, mode, padding, snap, width):
    """The input's gradient adds only the points whose outer-axis weights reach a row
    (the rest are skipped): on scattered grids, some far outside, some (``snap``) exactly
    on pixel rows and columns (a tap of weight exactly 0), it is torch's, in float32 with
    a last axis of whole vectors (8) and not (5)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(2, 3, 6, width)).astype("float32")
    grid = rng.uniform(-1.6, 1.6, size=(2, 5, 3, 2))
    if snap:    # align_corners=True: pixel k sits at -1 + 2k / (size - 1)
        grid = -1 + 2 * np.round((grid + 1) / 2 * (np.array([width, 6]) - 1)) / (np.array([width, 6]) - 1)
    grid = grid.astype("float32")
    ours, ref = tm.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    head = rng.normal(size=(2, 3, 5, 3)).astype("float32")
    F.grid_sample(ours, tm.tensor(grid), mode, padding, True).backward(tm.tensor(head))
    TF.grid_sample(ref, torch.tensor(grid), mode, padding, True).backward(torch.tensor(head))
    np.testing.assert_allclose(ours.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)

@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 3, 2, 3, 4)], ids=["4d", "size_one", "5d"])
def test_affine_grid_matches_torch(size):
    theta = RNG.normal(size=(2, len(size) - 2, len(size) - 1))
    for align in (False, True):
        if align and 1 in size[2:]:
            continue            # PyTorch warns this is not an intended use (it differs from its own 1.2)
        _against_torch(lambda t: F.affine_grid(t, size, align), lambda t: TF.affine_grid(t, size, align), theta)


def test_spatial_transformer_step_jitted_equals_eager():
    """theta from a Linear layer, affine_grid, grid_sample, a loss: the traced SGD step
    gives eager's losses and parameters."""
    def make():
        tm.manual_seed(2)
        return nn.Linear(6, 6)

    def step(layer, opt, x):
        opt.zero_grad()
        theta = (layer(x.flatten(1)[:, :6]) * 0.1).reshape(2, 2, 3) + tm.tensor(
            np.array([[1.0, 0, 0], [0, 1.0, 0]], "float32"))
        grid = F.affine_grid(theta, (2, 1, 3, 4), align_corners=False)
        loss = (F.grid_sample(x, grid, padding_mode="border", align_corners=False) ** 2).mean()
        loss.backward()
        opt.step()
        return loss
    layers = [make(), make()]
    opts = [tm.optim.SGD(layer.parameters(), lr=0.5) for layer in layers]
    jitted = tm.jit(lambda x: step(layers[1], opts[1], x))
    for _ in range(3):
        x = tm.tensor(RNG.normal(size=(2, 1, 3, 4)).astype("float32"))
        assert jitted(x).item() == pytest.approx(step(layers[0], opts[0], x).item(), rel=1e-5)
    for p, q in zip(layers[0].parameters(), layers[1].parameters()):
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, message", [
    (lambda: F.grid_sample(tm.randn(1, 1, 3, 3), tm.randn(1, 2, 2, 2), mode="area"), "mode must be one of"),
    (lambda: F.grid_sample(tm.randn(1, 1, 3, 3), tm.randn(1, 2, 2, 2), padding_mode="wrap"), "padding_mode must be"),
    (lambda: F.grid_sample(tm.randn(1, 1, 3, 3), tm.randn(1, 2, 2, 3)), r"grid of shape \(1, 2, 2, 3\)"),
    (lambda: F.grid_sample(tm.randn(1, 1, 3, 3), tm.randn(2, 2, 2, 2)), "grid of shape"),
    (lambda: F.grid_sample(tm.randn(1, 3, 3), tm.randn(1, 2, 2)), "input must be 4-D"),
    (lambda: F.grid_sample(tm.randn(1, 1, 2, 3, 3), tm.randn(1, 1, 2, 2, 3), mode="bicubic"), "bicubic"),
    (lambda: F.grid_sample(tm.randn(1, 1, 3, 3), tm.tensor(np.zeros((1, 2, 2, 2)))), "dtypes"),
    (lambda: F.affine_grid(tm.randn(2, 2, 3), (1, 1, 3, 3)), r"theta of shape \(2, 2, 3\)"),
    (lambda: F.affine_grid(tm.randn(1, 2, 3), (1, 1, 3)), "size must be 4 or 5"),
], ids=["mode", "padding_mode", "components", "batch", "rank", "bicubic_5d", "dtype", "theta", "size"])
def test_bad_arguments_raise_named_errors(call, message):
    with pytest.raises(TVMiniError, match=message):
        call()


def test_emulated_gpu_runs_grid_sample(emulated_gpu):
    """grid_sample and its two gradient kernels on the emulated GPU agree with the CPU."""
    x, grid = X4[:1, :2].astype("float32"), GRID4[:1, :2, :3].astype("float32")
    results = []
    for device in ("cuda", "cpu"):
        leaves = [tm.tensor(v, device=device, requires_grad=True) for v in (x, grid)]
        out = F.grid_sample(*leaves, padding_mode="reflection")
        out.backward(tm.ones(*out.shape, device=device))
        results.append([out.numpy()] + [leaf.grad.numpy() for leaf in leaves])
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    launched = " ".join(name for name, _, _ in emulated_gpu.launches)
    assert "_grid_sample_grad_input_" in launched and "_grid_sample_grad_grid_" in launched

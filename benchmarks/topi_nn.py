"""The "nn" section of ``benchmarks/ops.py``: topi kernels at the training shapes, next
to numpy (and torch when installed).

Rows: dense forward (x @ w.T + b) and its two gradient matmuls (grad_x = g @ w,
grad_w = g.T @ x) for the OVERFIT MLP (batch 1024, 2-64-256-64-2) and the MNIST MLP
(batch 128, 784-256-128-10), matmul 1024^3; forward and both gradients of the LeNet conv
layers (batch 64), a ResNet stage-1 layer (1x64x56x56, 64 3x3 filters, padding 1:
``benchmarks/conv2d.py``'s shape), ResNet's stride-2 3x3 layer and 7x7 stride-2 stem,
two pointwise (1x1) ResNet-50 layers, a bottleneck's 256 -> 64 and a stride-2 projection
256 -> 512 (computed as products over pixels), a MobileNet depthwise 3x3 layer and a
grouped (4 groups) one. Every kernel is checked before it is timed: the matrix products
against numpy, the convolutions against torch (when installed).
"""
import numpy as np

import tvmini as tm
from tvmini import te, topi

from common import best_seconds

DENSE = [("overfit", 1024, 2, 64), ("overfit", 1024, 64, 256), ("overfit", 1024, 256, 64),
         ("overfit", 1024, 64, 2), ("mnist", 128, 784, 256), ("mnist", 128, 256, 128), ("mnist", 128, 128, 10)]
CONV = [("lenet conv1", (64, 1, 28, 28), (6, 1, 5, 5), {}), ("lenet conv2", (64, 6, 12, 12), (16, 6, 5, 5), {}),
        ("1x64x56x56 3x3 pad 1", (1, 64, 56, 56), (64, 64, 3, 3), dict(padding=1)),
        ("3x3 s2 64->128 56x56", (1, 64, 56, 56), (128, 64, 3, 3), dict(stride=2, padding=1)),
        ("stem 7x7 s2 3->64 224", (1, 3, 224, 224), (64, 3, 7, 7), dict(stride=2, padding=3)),
        ("3x3 s2 128->256 28x28", (1, 128, 28, 28), (256, 128, 3, 3), dict(stride=2, padding=1)),
        ("3x3 s2 256->512 14x14", (1, 256, 14, 14), (512, 256, 3, 3), dict(stride=2, padding=1)),
        ("3x3 512 7x7", (1, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),
        ("batch 8 3x3 128 28x28", (8, 128, 28, 28), (128, 128, 3, 3), dict(padding=1)),
        ("batch 8 3x3 512 7x7", (8, 512, 7, 7), (512, 512, 3, 3), dict(padding=1)),
        ("1x1 256->64 56x56", (1, 256, 56, 56), (64, 256, 1, 1), {}),
        ("1x1 256->512 s2 56x56", (1, 256, 56, 56), (512, 256, 1, 1), dict(stride=2)),
        ("depthwise 3x3 128 56x56", (1, 128, 56, 56), (128, 1, 3, 3), dict(padding=1, groups=128)),
        ("grouped 3x3 g4 8x64x28x28", (8, 64, 28, 28), (64, 16, 3, 3), dict(padding=1, groups=4))]


def build(outs, inputs):
    f = tm.build(topi.default_schedule(outs), list(inputs) + [outs], name="bench")
    return f


def time_kernel(f, args, repeat):
    return f.time_evaluator(number=10, repeat=repeat)(*args).min


def report(label, flops, ours, numpy_s, torch_s):
    row = f"{label:<34} {ours * 1e3:8.3f} {flops / ours / 1e9:8.1f} {numpy_s * 1e3:8.3f} {numpy_s / ours:7.2f}"
    if torch_s is not None:
        row += f" {torch_s * 1e3:8.3f} {torch_s / ours:7.2f}"
    print(row)


def matmul_case(label, a_np, b_np, ta, tb, ref, torch_fn, repeat, bias=None):
    a = te.placeholder(a_np.shape, name="a")
    b = te.placeholder(b_np.shape, name="b")
    if bias is not None:
        c = te.placeholder(bias.shape, name="bias")
        out, inputs, args = topi.dense(a, b, c), [a, b, c], [a_np, b_np, bias]
    else:
        out, inputs, args = topi.matmul(a, b, ta, tb), [a, b], [a_np, b_np]
    f = build(out, inputs)
    result = np.zeros(ref().shape, "float32")
    f(*args, result)
    np.testing.assert_allclose(result, ref(), rtol=1e-3, atol=1e-3)
    M, N = result.shape
    K = a_np.shape[0] if ta else a_np.shape[1]
    report(label, 2.0 * M * N * K, time_kernel(f, args + [result], repeat), best_seconds(ref, repeat),
           None if torch_fn is None else best_seconds(torch_fn, repeat))


def conv_case(label, xs, ws, attrs, torch, repeat):
    rng = np.random.default_rng(0)
    x_np, w_np = rng.standard_normal(xs, dtype="float32"), rng.standard_normal(ws, dtype="float32")
    x, w = te.placeholder(xs, name="x"), te.placeholder(ws, name="w")
    y = topi.conv2d(x, w, **attrs)
    f = build(y, [x, w])
    y_np = np.zeros([int(e.value) for e in y.shape], "float32")
    f(x_np, w_np, y_np)
    g_np = rng.standard_normal(y_np.shape, dtype="float32")
    g = te.placeholder(y_np.shape, name="g")
    f_gx = build(topi.conv2d_grad_input(g, w, xs, **attrs), [g, w])
    f_gw = build(topi.conv2d_grad_weight(g, x, ws, **attrs), [g, x])
    gx, gw = np.zeros(xs, "float32"), np.zeros(ws, "float32")
    flops = 2.0 * y_np.size * ws[1] * ws[2] * ws[3]
    t_fwd = t_gx = t_gw = None
    if torch is not None:
        tx, tw, tg = (torch.from_numpy(a) for a in (x_np, w_np, g_np))
        F = torch.nn.functional
        np.testing.assert_allclose(y_np, F.conv2d(tx, tw, **attrs).numpy(), rtol=1e-3, atol=1e-3)
        f_gx(g_np, w_np, gx)
        f_gw(g_np, x_np, gw)
        np.testing.assert_allclose(gx, torch.nn.grad.conv2d_input(xs, tw, tg, **attrs).numpy(),
                                   rtol=1e-3, atol=1e-3)
        np.testing.assert_allclose(gw, torch.nn.grad.conv2d_weight(tx, ws, tg, **attrs).numpy(),
                                   rtol=1e-3, atol=1e-2)
        t_fwd = best_seconds(lambda: F.conv2d(tx, tw, **attrs), repeat)
        t_gx = best_seconds(lambda: torch.nn.grad.conv2d_input(xs, tw, tg, **attrs), repeat)
        t_gw = best_seconds(lambda: torch.nn.grad.conv2d_weight(tx, ws, tg, **attrs), repeat)
    ours = [time_kernel(f, [x_np, w_np, y_np], repeat), time_kernel(f_gx, [g_np, w_np, gx], repeat),
            time_kernel(f_gw, [g_np, x_np, gw], repeat)]
    for what, t, tt in zip(("forward", "grad_input", "grad_weight"), ours, (t_fwd, t_gx, t_gw)):
        row = f"{label + ' ' + what:<34} {t * 1e3:8.3f} {flops / t / 1e9:8.1f} {'':>8} {'':>7}"
        if tt is not None:
            row += f" {tt * 1e3:8.3f} {tt / t:7.2f}"
        print(row)


def run(repeat, torch):
    """Print the section's table; kernels are timed as the fastest of ``repeat`` batches."""
    head = f"{'kernel':<34} {'ms':>8} {'GFLOP/s':>8} {'numpy ms':>8} {'x numpy':>7}"
    print(head + (f" {'torch ms':>8} {'x torch':>7}" if torch else ""))
    rng = np.random.default_rng(0)
    for model, batch, n_in, n_out in DENSE:
        x = rng.standard_normal((batch, n_in), dtype="float32")
        w = rng.standard_normal((n_out, n_in), dtype="float32")
        b = rng.standard_normal((n_out,), dtype="float32")
        g = rng.standard_normal((batch, n_out), dtype="float32")
        tag = f"{model} {n_in}->{n_out} b{batch}"
        T = (lambda a: torch.from_numpy(a)) if torch else None
        matmul_case(f"{tag} fwd", x, w, False, True, lambda: x @ w.T + b, torch and (
            lambda tx=T(x), tw=T(w), tb=T(b): torch.nn.functional.linear(tx, tw, tb)), repeat, bias=b)
        matmul_case(f"{tag} grad_x", g, w, False, False, lambda: g @ w, torch and (
            lambda tg=T(g), tw=T(w): tg @ tw), repeat)
        matmul_case(f"{tag} grad_w", g, x, True, False, lambda: g.T @ x, torch and (
            lambda tg=T(g), tx=T(x): tg.T @ tx), repeat)
    a = rng.standard_normal((1024, 1024), dtype="float32")
    b = rng.standard_normal((1024, 1024), dtype="float32")
    matmul_case("matmul 1024^3", a, b, False, False, lambda: a @ b,
                torch and (lambda ta=torch.from_numpy(a), tb=torch.from_numpy(b): ta @ tb), max(3, repeat // 4))
    for label, xs, ws, attrs in CONV:
        conv_case(label, xs, ws, attrs, torch, repeat)

"""The graph layer on CUDA: every kernel a training step needs has a CUDA build.

Without a GPU (the CI machines): each training step below is traced by ``tm.jit`` on the
CPU, and every kernel of its program — the ops, their gradients, the optimizer updates
(in place), fused elementwise chains and GEMM/conv epilogues — is scheduled with
``topi.default_schedule(..., "cuda")`` and lowered to CUDA C exactly as the graph layer's
dispatch does for a CUDA tensor; with nvcc, the whole step's CUDA C is compiled to PTX
in one call. With a GPU (or the emulator), the same steps run on ``tm.cuda(0)`` and must give
the CPU's losses and parameters within float tolerance.
"""
import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, topi
from tvmini.codegen import cuda
from tvmini.errors import TVMiniError
from tvmini.graph.dispatch import define_outputs
from tvmini.graph.jit.device import DeviceStep

from test_cuda import HAS_NVCC, needs_gpu
from test_jit import _trainer as jit_trainer
from test_topi_cuda import compile_together


# Adam and RMSprop divide a gradient by its running magnitude: a gradient that is zero up
# to rounding (~1e-8: a bias feeding BatchNorm, a channel ReLU silenced) becomes a step
# of the full learning rate in a direction the rounding picks, which differs between the
# CPU's and the GPU's summation orders (found running these steps through
# tvmini's CUDA emulator). So a layer feeding BatchNorm has no bias (as usual), and the
# adaptive optimizers take eps = 1e-4: rounding noise then moves a parameter by ~1e-4 lr.
def _mlp(nn):
    return nn.Sequential(nn.Linear(2, 16, bias=False), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(16, 3))


def _cnn(nn):
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3, bias=False),
                         nn.BatchNorm2d(6), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6, 3))


def _overfit(nn):
    """The OVERFIT MLP's layers (3 classes here): at batch 1024 its products' padded rows
    once made the CUDA GEMM stage all of the input in shared memory (68 KiB)."""
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                         nn.Linear(64, 3))


def _mobile(nn):
    """Pointwise (GEMM) and depthwise convolutions, and a transposed one."""
    return nn.Sequential(nn.Conv2d(2, 8, 1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8),
                         nn.ReLU(), nn.ConvTranspose2d(8, 4, 2, stride=2, groups=2), nn.Tanh(),
                         nn.Conv2d(4, 4, 1, stride=2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))


# name -> (model, input shape, optimizer)
STEPS = {
    "overfit_b1024_adam": (_overfit, (1024, 2), lambda ps: tm.optim.Adam(ps, lr=1e-3, eps=1e-4)),
    "mlp_adam": (_mlp, (32, 2), lambda ps: tm.optim.Adam(ps, lr=1e-2, eps=1e-4)),
    "mlp_sgd_nesterov": (_mlp, (32, 2), lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True,
                                                                weight_decay=1e-4)),
    "cnn_rmsprop": (_cnn, (4, 1, 10, 10), lambda ps: tm.optim.RMSprop(ps, lr=1e-3, centered=True, momentum=0.5,
                                                                      eps=1e-4)),
    "cnn_adamw": (_cnn, (4, 1, 10, 10), lambda ps: tm.optim.AdamW(ps, lr=1e-3, eps=1e-4)),
    "mobile_sgd": (_mobile, (4, 2, 8, 8), lambda ps: tm.optim.SGD(ps, lr=0.05, momentum=0.9)),
    # Adadelta's step is a stage of its own that the in-place state updates read
    "mlp_adadelta": (_mlp, (32, 2), lambda ps: tm.optim.Adadelta(ps, weight_decay=1e-4)),
}


def _trainer(name, device="cpu", zero_grad=True):
    """(model, step, three batches) of ``STEPS[name]`` on ``device``; without ``zero_grad``
    the gradients accumulate across steps."""
    model_fn, shape, optimizer = STEPS[name]

    def make_model():
        tm.manual_seed(0)
        return model_fn(nn).to(device)
    model, _, step = jit_trainer(optimizer, zero_grad=zero_grad, make_model=make_model)
    rng = np.random.default_rng(3)
    batches = [(tm.tensor(rng.standard_normal(shape).astype("float32"), device=device),
                tm.tensor(rng.integers(0, 3, shape[0]), device=device)) for _ in range(3)]
    return model, step, batches


def _cuda_sources(name):
    """{kernel name: CUDA C} of every kernel in the traced CPU step ``name``."""
    _, step, batches = _trainer(name)
    jitted = tm.jit(step, skip_passes=("lanes",))     # CPU-only: per-core slices of the batch
    jitted(*batches[0])
    sources = {}
    for k, node in enumerate(jitted.graph.nodes):
        if node.op == "copy":
            continue
        specs = [(v.shape, v.dtype) for v in node.inputs]
        placeholders, scalars, outs = define_outputs(node.define, specs, node.scalar_dtypes, node.attrs)
        by_name = {p.name: p for p in placeholders}
        inplace = {out: by_name[spec.inplace_of] for out, spec in zip(outs, node.module.arg_specs[-len(outs):])
                   if spec.inplace_of}
        kernel = f"{name}_{k}_{'_'.join(node.members)}"
        sch = topi.default_schedule(outs, "cuda")
        func = tm.lower(sch, placeholders + scalars + outs, name=kernel, inplace=inplace.items())
        kernels, _ = cuda.split_kernels(func, sch)
        sources[kernel] = cuda.module_source([cuda.CudaPrinter(kn, func.may_alias).source() for kn in kernels])
    return sources


@pytest.mark.parametrize("name", sorted(STEPS))
def test_every_kernel_of_a_training_step_has_a_cuda_build(name):
    sources = _cuda_sources(name)
    members = " ".join(sources)
    for op in ("cross_entropy", "_update", "conv2d_grad_weight" if "cnn" in name else "relu"):
        assert op in members, f"{op} missing from the traced kernels of {name}"
    for kernel, source in sources.items():
        assert "__global__ void" in source, kernel
    if HAS_NVCC:
        assert ".entry" in compile_together(list(sources.values()), name=f"graph_{name}")


@needs_gpu
@pytest.mark.parametrize("name", sorted(STEPS))
def test_training_on_cuda_matches_the_cpu(name):
    results = []
    for device in ("cpu", "cuda"):
        model, step, batches = _trainer(name, device)
        losses = []
        for x, y in batches:
            tm.manual_seed(11)
            losses.append(step(x, y).item())
        results.append((losses, [p.numpy() for p in model.parameters()]))
    (cpu_losses, cpu_params), (gpu_losses, gpu_params) = results
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-4)
    for a, b in zip(gpu_params, cpu_params):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)


def _train(name, device, jit=False, zero_grad=True, observed_at=None):
    """Losses and (parameter, gradient) arrays after six steps of ``STEPS[name]`` (its
    three batches twice) on ``device``, eagerly or by ``tm.jit``; ``observed_at``: the
    step run under ``tm.profiler`` (its events are returned too)."""
    model, step, batches = _trainer(name, device, zero_grad)
    run = tm.jit(step) if jit else step
    losses, events = [], None
    for k, (x, y) in enumerate(batches + batches):
        tm.manual_seed(11)
        if k == observed_at:
            with tm.profiler() as prof:
                losses.append(run(x, y).item())
            events = prof.events
        else:
            losses.append(run(x, y).item())
    if jit:
        assert run.variants == (1 if zero_grad else 2)     # (the first step finds no gradients)
        assert isinstance(run._last.step, DeviceStep) == (device == "cuda")
    return losses, [(p.numpy(), p.grad.numpy()) for p in model.parameters()], events, run


def _assert_same_training(got, want):
    np.testing.assert_allclose(got[0], want[0], rtol=1e-4)
    for (p, g), (q, h) in zip(got[1], want[1]):
        np.testing.assert_allclose(p, q, rtol=1e-3, atol=1e-5)
        np.testing.assert_allclose(g, h, rtol=1e-3, atol=1e-4)


@needs_gpu
@pytest.mark.parametrize("name", sorted(STEPS))
def test_jit_training_on_cuda_matches_the_cpu(name):
    """The traced step replayed on the device (fused kernels and optimizer updates, its
    temporaries in one arena there, launches from a prepared list) trains as the CPU's
    eager steps do, dropout masks redrawn and BatchNorm statistics kept."""
    _assert_same_training(_train(name, "cuda", jit=True), _train(name, "cpu"))


@needs_gpu
def test_jit_on_cuda_accumulates_gradients_and_shows_every_kernel_to_the_profiler():
    """Without zero_grad each replay adds to the gradients it is passed; a replay under
    the profiler runs the same calls one by one through their Modules (on views of the
    device arena) and reports each."""
    got = _train("mlp_sgd_nesterov", "cuda", jit=True, zero_grad=False, observed_at=4)
    _assert_same_training(got, _train("mlp_sgd_nesterov", "cpu", zero_grad=False))
    events, jitted = got[2], got[3]
    assert len(events) == jitted._last.step.kernel_calls > 0
    assert all(event.device == "cuda(0)" for event in events)


@needs_gpu
def test_a_jit_step_on_two_devices_is_refused():
    def step(a, b):
        return a * 2.0, b * 2.0
    ones = np.ones(3, "float32")
    with pytest.raises(TVMiniError, match="ran kernels on cpu.*cuda.*a step runs on one device"):
        tm.jit(step)(tm.tensor(ones), tm.tensor(ones, device="cuda"))


@needs_gpu
def test_an_exported_cuda_inference_step_predicts_without_building(tmp_path, monkeypatch):
    """A CNN in eval mode, jitted on the device and exported: ``load_jit`` gives a
    predictor on the device that launches the step's kernels from their PTX (lowering and
    every CUDA compiler disabled) and matches the jitted step, for device and numpy
    inputs; a CPU input is refused."""
    from tvmini.codegen import cuda_compile, cuda_host
    tm.manual_seed(0)
    model = _cnn(nn).to("cuda")
    model.eval()
    predict = tm.jit(lambda x: {"logits": model(x), "probs": nn.functional.softmax(model(x), 1)})
    x = np.random.default_rng(1).standard_normal((5, 1, 8, 8)).astype("float32")
    want = {k: v.numpy() for k, v in predict(tm.tensor(x, device="cuda")).items()}
    lib = predict.export(tmp_path / "cnn.so")

    def refuse(*args, **kwargs):
        raise AssertionError("built or compiled although the step is exported")
    for module, name in ((cuda_host, "lower"), (cuda_compile, "_chosen_compiler")):
        monkeypatch.setattr(module, name, refuse)
    predictor = tm.runtime.load_jit(lib)
    assert predictor.device == tm.cuda(0)
    for given in (tm.nd.array(x, device=tm.cuda(0)), x):
        got = predictor(given)
        assert got["logits"].device == tm.cuda(0)
        for key in want:
            np.testing.assert_allclose(got[key].numpy(), want[key], rtol=1e-5, atol=1e-6)
    with pytest.raises(tm.DeviceError, match="input x is on cpu.*runs on cuda"):
        predictor(tm.nd.array(x))

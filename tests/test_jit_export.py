"""JitFunction.export / tm.runtime.load_jit: a jitted inference step exported as a shared
library plus a parameter file predicts, in a fresh process that never imports the graph
layer nor compiles anything, what the eager model computes; training steps are refused
with the reason; bad inputs and bad files are clear errors."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn
from tvmini.errors import BuildError, DataError, DTypeError, ShapeError, TVMiniError
from tvmini.runtime.export import _compiler

from test_jit import _trainer

ROOT = Path(__file__).resolve().parents[1]

try:
    _compiler()
except BuildError as err:
    pytest.skip(f"exporting links with the system C compiler: {err}", allow_module_level=True)


def _mlp():
    tm.manual_seed(0)
    return nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 16), nn.ReLU(), nn.Linear(16, 4)), (8, 6)


def _mlp_batchnorm():
    tm.manual_seed(1)
    model = nn.Sequential(nn.Linear(6, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 4))
    rng = np.random.default_rng(2)
    with tm.no_grad():                   # training-mode batches move the running statistics off 0 / 1
        for _ in range(3):
            model(tm.tensor(rng.standard_normal((16, 6)).astype("float32") * 3 + 1))
    return model, (8, 6)


def _convnet():
    tm.manual_seed(3)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(4 * 5 * 5, 10)), (3, 1, 10, 10)


def _mlp_large_batch():
    tm.manual_seed(5)
    return nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)), (600, 6)


def _export(make, tmp_path, returns="tensor"):
    """Export ``make()``'s model in eval mode; returns (library path, input, eager
    outputs, the JitFunction)."""
    model, shape = make()
    model.eval()
    x = np.random.default_rng(4).standard_normal(shape).astype("float32")
    with tm.no_grad():
        logits = model(tm.tensor(x))
        want = [logits.numpy(), nn.functional.softmax(logits, axis=1).numpy()]

    def predict(images):
        logits = model(images)
        if returns == "tensor":
            return logits
        return {"logits": logits, "rest": (nn.functional.softmax(logits, axis=1), [logits])}
    jitted = tm.jit(predict)
    with tm.no_grad():
        jitted(tm.tensor(x))
    library = jitted.export(tmp_path / "model.so")
    return library, x, want, jitted


@pytest.mark.parametrize("make, returns", [(_mlp, "tensor"), (_mlp_batchnorm, "tensor"), (_convnet, "nested")])
def test_fresh_process_predicts_like_eager(make, returns, tmp_path):
    library, x, want, _ = _export(make, tmp_path, returns)
    assert library == str(tmp_path / "model.so") and (tmp_path / "model.params").is_file()
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", np.stack([want[0], want[1]]))
    code = f"""
import sys
import numpy as np
import tvmini as tm
import tvmini.codegen as cg
predict = tm.runtime.load_jit({library!r})
x, want = np.load({str(tmp_path / "x.npy")!r}), np.load({str(tmp_path / "want.npy")!r})
assert [i.name for i in predict.inputs] == ["images"], predict.inputs
first = predict(x)
second = predict(tm.nd.array(x))
if {returns!r} == "tensor":
    results = [(first, want[0]), (second, want[0])]
else:
    assert sorted(first) == ["logits", "rest"] and isinstance(first["rest"], tuple)
    assert isinstance(first["rest"][1], list) and first["rest"][1][0] is first["logits"]
    results = [(first["logits"], want[0]), (first["rest"][0], want[1]), (second["logits"], want[0])]
for got, expected in results:
    assert isinstance(got, tm.nd.NDArray)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
assert (first if {returns!r} == "tensor" else first["logits"]) is not (
    second if {returns!r} == "tensor" else second["logits"]), "outputs are fresh arrays"
assert "tvmini.graph" not in sys.modules, "the predictor must not import the graph layer"
assert not cg._compiled, "load_jit must not compile anything"
print("predicted", len(results))
"""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("predicted")


def test_exported_batch_lanes_predict_like_eager(monkeypatch, tmp_path):
    """With two threads a large batch's forward runs in two lanes; the exported library
    runs them the same way (its own parallel region) and predicts like eager."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    library, x, want, jitted = _export(_mlp_large_batch, tmp_path)
    assert any(node.lanes is not None for node in jitted.graph.nodes), str(jitted.graph)
    predict = tm.runtime.load_jit(library)
    np.testing.assert_allclose(predict(x).numpy(), want[0], rtol=1e-5, atol=1e-5)


def test_two_exports_load_side_by_side(tmp_path):
    """Kernels are internal to their library: two models (sharing kernel shapes) load in
    one process and each predicts its own results."""
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    lib_a, x_a, want_a, _ = _export(_mlp, tmp_path / "a")
    lib_b, x_b, want_b, _ = _export(_mlp_batchnorm, tmp_path / "b")
    a, b = tm.runtime.load_jit(lib_a), tm.runtime.load_jit(lib_b)
    np.testing.assert_allclose(a(x_a).numpy(), want_a[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b(x_b).numpy(), want_b[0], rtol=1e-5, atol=1e-5)


def _train_step():
    _, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1), make_model=lambda: _mlp()[0])
    return step, (tm.tensor(np.ones((8, 6), "float32")), tm.tensor(np.zeros(8, "int64")))


def _forward(model, shape=(8, 6), train=True):
    model.train(train)
    return lambda x: model(x), (tm.tensor(np.ones(shape, "float32")),)


@pytest.mark.parametrize("make, reason", [
    (_train_step, "computes or resets gradients"),
    (lambda: _forward(nn.Sequential(nn.Linear(6, 4), nn.Dropout(0.5))), r"dropout in training mode.*model\.eval\(\)"),
    (lambda: _forward(nn.Sequential(nn.Linear(6, 4), nn.BatchNorm1d(4))), r"in place \(BatchNorm.*model\.eval\(\)"),
    (lambda: _forward(nn.Sequential(nn.Linear(6, 4), nn.ReLU())), r"Sequential was in training mode.*model\.eval\(\)"),
    (lambda: (lambda x, y: nn.functional.cross_entropy(x, y), (tm.tensor(np.ones((8, 6), "float32")),
                                                              tm.tensor(np.zeros(8, "int64")))),
     "depends on an argument's values"),
])
def test_export_refuses_training_steps(make, reason, tmp_path):
    step, args = make()
    jitted = tm.jit(step)
    with pytest.raises(TVMiniError, match="call the function once"):
        jitted.export(tmp_path / "model.so")
    jitted(*args)
    with pytest.raises(TVMiniError, match=f"cannot export .* as an inference function: .*{reason}"):
        jitted.export(tmp_path / "model.so")
    assert not os.listdir(tmp_path), "a refused export writes nothing"


def test_export_refuses_dropout_run_in_batch_lanes(monkeypatch, tmp_path):
    """Dropout's seed is drawn anew per call also where its kernel runs inside batch lanes."""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "2")
    model = nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64)).eval()
    jitted = tm.jit(lambda x: nn.functional.dropout(model(x), 0.5))
    x = tm.tensor(np.ones((512, 6), "float32"))
    first, second = jitted(x).numpy(), jitted(x).numpy()
    assert "lanes of 512 rows" in str(jitted.graph) and not np.array_equal(first, second)
    with pytest.raises(TVMiniError, match="dropout in training mode"):
        jitted.export(tmp_path / "model.so")


def test_predict_checks_its_inputs(tmp_path):
    library, x, _, _ = _export(_mlp, tmp_path)
    predict = tm.runtime.load_jit(library)
    with pytest.raises(ShapeError, match=r"input images has shape \(4, 6\), expected \(8, 6\)"):
        predict(x[:4])
    with pytest.raises(DTypeError, match="input images has dtype float64, expected float32"):
        predict(x.astype("float64"))
    with pytest.raises(ShapeError, match="input images is not C-contiguous"):
        predict(np.ones((6, 8), "float32").T)
    with pytest.raises(DTypeError, match="input images must be an NDArray or a numpy.ndarray, got list"):
        predict(x.tolist())
    with pytest.raises(tm.ArgumentError, match=r"takes 1 inputs \(images\), got 2"):
        predict(x, x)


def test_bad_files_are_clear_errors(tmp_path):
    library, x, want, _ = _export(_mlp, tmp_path)
    params = tmp_path / "model.params"
    blob = params.read_bytes()
    with pytest.raises(DataError, match="no exported tvmini library at .*missing.so"):
        tm.runtime.load_jit(tmp_path / "missing.so")
    params.write_bytes(blob[:-100])
    with pytest.raises(DataError, match=f"parameter file {params} has {len(blob) - 100} bytes.*truncated"):
        tm.runtime.load_jit(library)
    params.write_bytes(blob[:10] + bytes([blob[10] ^ 1]) + blob[11:])
    with pytest.raises(DataError, match=f"parameter file {params} is corrupt or was not exported with"):
        tm.runtime.load_jit(library)
    params.unlink()
    with pytest.raises(DataError, match=f"needs its parameter file {params}, which does not exist"):
        tm.runtime.load_jit(library)
    params.write_bytes(blob)
    np.testing.assert_allclose(tm.runtime.load_jit(library)(x).numpy(), want[0], rtol=1e-5, atol=1e-5)
    with pytest.raises(DataError, match=r"holds a tvmini jit library.*tm\.runtime\.load_jit"):
        tm.runtime.load_module(library)
    kernel = tm.build(*_scale_kernel(), name="scale")
    kernel.export_library(str(tmp_path / "kernel.so"))
    with pytest.raises(DataError, match=r"holds a tvmini kernel library.*tm\.runtime\.load_module"):
        tm.runtime.load_jit(tmp_path / "kernel.so")


def _scale_kernel():
    from tvmini import te
    A = te.placeholder((4,), name="A")
    B = te.compute((4,), lambda i: A[i] * 2.0, name="B")
    return te.create_schedule(B.op), [A, B]

"""End-to-end training through the examples' own functions (no subprocesses).

* OVERFIT: a short BatchNorm + ReLU run on raw coordinates of a small image lowers the
  loss by a clear margin and writes its frames, video, final PNG and plot.
* MNIST: an MLP trained on a few hundred images beats chance (10%) by a clear margin;
  the shared MNIST test files are used when present, otherwise IDX files written here
  with a learnable synthetic pattern.
* Resume: one epoch, checkpoint, resume for a second epoch gives the same model and
  history as two epochs straight (model, optimizer state and data order are restored).
"""
import os
import sys

import numpy as np
import pytest

from tvmini.data import write_idx

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)

import mnist as mnist_example  # noqa: E402
import overfit as overfit_example  # noqa: E402
from _cli import UsageError, run  # noqa: E402

import tvmini as tm  # noqa: E402

SHARED_MNIST = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "mnist")


@pytest.fixture(autouse=True)
def one_thread_per_kernel(monkeypatch):
    """Kernels built here use one thread: the test suite shares 2 cores with other processes,
    and libgomp's spinning workers make these small kernels ~5x slower when cores are
    oversubscribed. (Read at build time; it is part of the kernel, so no cache is shared
    with the other tests' kernels.)"""
    monkeypatch.setenv("TVMINI_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    """The shared MNIST files, or a synthetic 10-class IDX set (a bright square whose place is the class)."""
    if os.path.isfile(os.path.join(SHARED_MNIST, "t10k-images-idx3-ubyte.gz")):
        return SHARED_MNIST
    root = tmp_path_factory.mktemp("synthetic_mnist")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 2000).astype(np.uint8)
    images = rng.integers(0, 60, (2000, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row, col = 4 + (label // 5) * 12, 2 + (label % 5) * 5
        images[i, row:row + 6, col:col + 4] = 250
    write_idx(root / "t10k-images-idx3-ubyte.gz", images)
    write_idx(root / "t10k-labels-idx1-ubyte.gz", labels)
    return str(root)


def test_overfit_bn_relu_lowers_loss(tmp_path):
    # 600 steps: the image opencv 5 renders at this size is learned more slowly than
    # opencv 4's (after 300 steps 0.791 vs 0.822 accuracy, majority class 0.771 vs 0.779)
    result = overfit_example.train(activation="relu", normalize="raw", batchnorm=True, steps=600, eval_every=200,
                                   lr=1e-2, batch_size=256, height=40, width=120, out=str(tmp_path), name="bn",
                                   progress=False)
    losses = np.asarray(result["history"]["train_loss"])
    first, last = losses[:10].mean(), losses[-20:].mean()
    assert last < 0.8 * first, f"loss {first:.3f} -> {last:.3f}"
    assert result["history"]["eval_step"] == [200, 400, 600]
    image = result["image"]
    majority = max(image.mean(), 1 - image.mean())
    accuracy = result["history"]["accuracy"]
    assert accuracy[-1] > majority + 0.02, f"accuracy {accuracy} not above all-one-class {majority:.3f}"
    assert accuracy[-1] == result["accuracy"]
    files = result["files"]
    assert len(os.listdir(files["frames"])) == 3
    for key in ("final_png", "video", "plot"):
        assert os.path.getsize(files[key]) > 0, key


def test_overfit_main_parses_presets(tmp_path):
    args = overfit_example.parse_args(["--experiment", "cos-three", "--full"])
    assert (args.height, args.width, args.steps) == (300, 1000, 20000)
    assert overfit_example.EXPERIMENTS["cos-three"]["normalize"] == "three"
    model = overfit_example.build_model("cos", batchnorm=True)
    shapes = [p.shape for p in model.parameters()]
    assert (64, 2) in shapes and (256, 64) in shapes and (2, 64) in shapes


def test_mnist_mlp_beats_chance(mnist_dir):
    result = mnist_example.train("mlp", data=mnist_dir, epochs=3, batch_size=32, limit=480, progress=False,
                                 log=lambda message: None)
    assert result["accuracy"] > 0.5, result["history"]
    assert result["history"]["train_loss"][-1] < result["history"]["train_loss"][0]


def test_checkpoint_resume_continues(mnist_dir, tmp_path):
    common = dict(data=mnist_dir, batch_size=32, limit=160, progress=False, log=lambda message: None)
    straight = mnist_example.train("softmax", epochs=2, out=str(tmp_path / "straight"), **common)
    first = mnist_example.train("softmax", epochs=1, out=str(tmp_path / "split"), **common)
    assert first["history"]["epoch"] == [1]
    messages = []
    resumed = mnist_example.train("softmax", epochs=2, out=str(tmp_path / "split"), resume=True,
                                  **dict(common, log=messages.append))
    assert any("after epoch 1" in message for message in messages)
    assert resumed["history"]["epoch"] == [1, 2]
    np.testing.assert_allclose(resumed["history"]["train_loss"], straight["history"]["train_loss"], rtol=1e-5)
    for (name, a), (_, b) in zip(resumed["model"].state_dict().items(), straight["model"].state_dict().items()):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6, err_msg=name)


def test_resume_refuses_a_missing_checkpoint_and_another_model(mnist_dir, tmp_path):
    """--resume without a checkpoint, or with one of another model (here: --dropout changed,
    which also renumbers the MLP's layers), is a UsageError saying so, not a traceback from
    deep inside; an option the model kind ignores (--batchnorm for an MLP) resumes."""
    common = dict(data=mnist_dir, batch_size=32, limit=64, progress=False, log=lambda message: None)
    with pytest.raises(UsageError, match="no checkpoint at .*checkpoint.npz"):
        mnist_example.train("mlp", epochs=1, out=str(tmp_path), resume=True, **common)
    mnist_example.train("mlp", epochs=1, out=str(tmp_path), **common)
    with pytest.raises(UsageError, match=r"other settings \(dropout 0.0 there, 0.2 now\)"):
        mnist_example.train("mlp", epochs=2, out=str(tmp_path), resume=True, dropout=0.2, **common)
    resumed = mnist_example.train("mlp", epochs=2, out=str(tmp_path), resume=True, batchnorm=True, **common)
    assert resumed["history"]["epoch"] == [1, 2]


@pytest.mark.parametrize("example,argv,message", [
    (overfit_example, ["--steps", "0"], "argument --steps: must be at least 1, got 0"),
    (overfit_example, ["--eval-every", "0"], "argument --eval-every: must be at least 1"),
    (overfit_example, ["--batch-size", "-3"], "argument --batch-size: must be at least 1, got -3"),
    (mnist_example, ["--limit", "0"], "argument --limit: must be at least 1"),
    (mnist_example, ["--profile", "0"], "argument --profile: must be at least 1"),
    (mnist_example, ["--dropout", "1"], "argument --dropout: a probability in [0, 1)"),
])
def test_examples_refuse_what_they_cannot_run(capsys, example, argv, message):
    with pytest.raises(SystemExit) as exit_info:
        example.parse_args(argv)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err


def test_the_script_entry_reports_user_errors_without_a_traceback(monkeypatch):
    """A DeviceError (with how to run without a GPU), a DataError and a UsageError end the
    script with one line; anything else is a bug and keeps its traceback."""
    monkeypatch.setattr(sys, "argv", ["mnist.py"])

    def failing(error):
        def main():
            raise error
        return main
    for error, fragments in ((tm.DeviceError("the CUDA driver failed to start"),
                              ["mnist.py: error: the CUDA driver failed", "TVMINI_CUDA_BINDING=emulator"]),
                             (tm.DataError("missing file"), ["mnist.py: error: missing file"]),
                             (UsageError("--resume: no checkpoint"), ["mnist.py: error: --resume: no checkpoint"])):
        with pytest.raises(SystemExit) as exit_info:
            run(failing(error))
        assert all(fragment in exit_info.value.code for fragment in fragments), exit_info.value.code
    with pytest.raises(ZeroDivisionError):
        run(failing(ZeroDivisionError()))
    assert run(lambda: 7) == 7


def test_overfit_main_runs_every_preset(tmp_path, capsys):
    results = overfit_example.main(["--experiment", "all", "--steps", "2", "--eval-every", "1", "--height", "16",
                                    "--width", "40", "--batch-size", "64", "--out", str(tmp_path), "--no-progress"])
    assert [r["name"] for r in results] == list(overfit_example.EXPERIMENTS)
    printed = capsys.readouterr().out
    for name in overfit_example.EXPERIMENTS:
        assert f"{name}: final pixel accuracy" in printed
        assert os.path.isfile(tmp_path / f"{name}_final.png")
    assert os.path.getsize(tmp_path / "comparison.png") > 0
    assert all(len(r["history"]["accuracy"]) == 2 for r in results)


def test_mnist_main_writes_checkpoint_and_plot(mnist_dir, tmp_path, capsys):
    result = mnist_example.main(["--model", "softmax", "--data", mnist_dir, "--epochs", "1", "--limit", "64",
                                 "--out", str(tmp_path), "--no-progress"])
    assert "softmax: final test accuracy" in capsys.readouterr().out
    assert os.path.isfile(tmp_path / "softmax" / "checkpoint.npz")
    assert os.path.getsize(result["files"]["plot"]) > 0


@pytest.mark.parametrize("model_kind", ["mlp", "cnn"])
def test_mnist_export_deploys_the_trained_model(mnist_dir, tmp_path, model_kind):
    """--export: the exported predictor, loaded back, scores the test set as the model
    did (the last, short batch padded to the traced shape)."""
    result = mnist_example.train(model_kind, data=mnist_dir, epochs=1, batch_size=32, limit=96, batchnorm=True,
                                 dropout=0.25, out=str(tmp_path), export=True, progress=False, log=lambda *_: None)
    assert os.path.isfile(result["files"]["library"]) and os.path.isfile(tmp_path / "model.params")
    assert result["exported_accuracy"] == result["accuracy"]


@pytest.mark.parametrize("batchnorm", [False, True])
def test_overfit_jit_training_equals_eager(batchnorm):
    """--jit trains the same model: every step's loss and the final accuracy equal eager's."""
    kwargs = dict(batchnorm=batchnorm, steps=6, eval_every=3, lr=1e-2, batch_size=128, height=16, width=40,
                  progress=False)
    eager = overfit_example.train(**kwargs)
    jitted = overfit_example.train(**kwargs, jit=True)
    np.testing.assert_allclose(jitted["history"]["train_loss"], eager["history"]["train_loss"], rtol=1e-5)
    assert jitted["accuracy"] == eager["accuracy"]


def test_mnist_jit_training_equals_eager(mnist_dir):
    """--jit with a CNN (conv, pooling, dropout) and a smaller last batch (a second variant)."""
    kwargs = dict(model_kind="cnn", data=mnist_dir, epochs=1, batch_size=24, limit=60, dropout=0.25,
                  progress=False, log=lambda *_: None)
    eager = mnist_example.train(**kwargs)
    jitted = mnist_example.train(**kwargs, jit=True)
    np.testing.assert_allclose(jitted["history"]["train_loss"], eager["history"]["train_loss"], rtol=1e-5)
    assert jitted["accuracy"] == eager["accuracy"]

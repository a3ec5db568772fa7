"""Train MNIST (or Fashion-MNIST) classifiers on tvmini: softmax regression, an MLP, a LeNet-style CNN.

    python examples/mnist.py --model softmax
    python examples/mnist.py --model mlp --epochs 10
    python examples/mnist.py --model cnn --batchnorm --dropout 0.5
    python examples/mnist.py --model cnn --resume            # continue from OUT/checkpoint.npz
    python examples/mnist.py --model mlp --dataset fashion-mnist   # apt-get install dataset-fashion-mnist
    python examples/mnist.py --model cnn --profile            # per-kernel table of 10 training steps
    python examples/mnist.py --model cnn --export             # also deploy it: OUT/cnn/model.so + model.params

Data come from ``--data`` (default: ``$TVMINI_MNIST``, else ``../shared/data/mnist``
next to the repository). When only the 10,000-image test files are there, they
are split 8,000 train / 2,000 test (deterministically) and the run says so.
Each epoch prints the mean training loss and the test accuracy, saves a
checkpoint (model and optimizer state, the epoch and the model's settings, which
``--resume`` checks, with ``tm.save``) and redraws the curves plot. ``--export`` then traces the trained model's inference
with ``tm.jit``, exports it (``model.so`` and ``model.params``, on the training
device), loads it back with ``tm.runtime.load_jit`` as a deployed program would, and
scores the test set through that predictor.

Measured on the CPU (2 shared cores, ``--threads 1``), test accuracy:

    MNIST 8k/2k split   softmax 0.9135 (10 epochs)   mlp 0.9515 (10), 0.954 with --dropout 0.2 (20)
                        cnn 0.971 (5), --batchnorm --dropout 0.5: 0.9795 (5), 0.978 (8; 0.981 at 7)
    Fashion-MNIST       mlp 0.882 (10 epochs)        cnn --batchnorm 0.9018 (2 epochs)
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# libgomp's threads spin while waiting for work by default: on cores shared with other
# processes that made every parallel kernel ~20x slower (177 vs 7-11 ms per OVERFIT step).
# libgomp reads this when it is loaded, i.e. with tvmini's first parallel kernel.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tvmini as tm  # noqa: E402
from tvmini import nn  # noqa: E402
from tvmini.data import DataLoader, train_test_sets  # noqa: E402
from tvmini.data.mnist import DEBIAN_FASHION_MNIST  # noqa: E402
from _cli import UsageError, positive_int, run  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = os.environ.get("TVMINI_MNIST", os.path.normpath(os.path.join(REPO, "..", "shared", "data", "mnist")))
#: Per-model defaults: (epochs, learning rate) for Adam.
DEFAULTS = {"softmax": (10, 1e-2), "mlp": (10, 1e-3), "cnn": (5, 1e-3)}


def build_model(kind, batchnorm=False, dropout=0.0):
    """softmax: 784-10; mlp: 784-256-128-10 with ReLU; cnn: LeNet (conv5x5x20, pool, conv5x5x50, pool, fc500, fc10).

    ``dropout`` > 0 adds Dropout after each hidden fully-connected layer (mlp, cnn);
    ``batchnorm`` adds BatchNorm2d after each convolution (cnn).
    """
    def dropped():
        return [nn.Dropout(dropout)] if dropout else []

    if kind == "softmax":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    if kind == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), *dropped(), nn.Linear(256, 128), nn.ReLU(),
                             *dropped(), nn.Linear(128, 10))
    if kind == "cnn":
        def conv_block(cin, cout):
            block = [nn.Conv2d(cin, cout, kernel_size=5)]
            if batchnorm:
                block.append(nn.BatchNorm2d(cout))
            return block + [nn.ReLU(), nn.MaxPool2d(2)]
        head = [nn.Flatten(), nn.Linear(50 * 4 * 4, 500), nn.ReLU(), *dropped()]
        return nn.Sequential(*conv_block(1, 20), *conv_block(20, 50), *head, nn.Linear(500, 10))
    raise ValueError(f"unknown model {kind!r}: expected softmax, mlp or cnn")


def evaluate(model, dataset, batch_size, device):
    """Accuracy over ``dataset`` (eval mode, no history)."""
    model.eval()
    correct = 0
    with tm.no_grad():
        for images, labels in DataLoader(dataset, batch_size, as_numpy=True):
            logits = model(tm.tensor(images, device=device)).numpy()
            correct += int((logits.argmax(axis=1) == labels).sum())
    model.train()
    return correct / len(dataset)


def export_and_score(model, dataset, batch_size, device, path):
    """Export ``model``'s eval-mode inference for batches of ``batch_size`` to ``path``,
    load it with ``tm.runtime.load_jit`` and score ``dataset`` through the predictor
    (a short last batch is padded with zeros: the exported shapes are fixed).
    Returns (library path, accuracy, milliseconds per batch)."""
    model.eval()
    predict = tm.jit(lambda images: model(images))
    with tm.no_grad():
        predict(tm.zeros(batch_size, 1, 28, 28, device=device))       # traces the shape to deploy
    library = predict.export(path)
    model.train()
    predictor = tm.runtime.load_jit(library)
    correct, seconds, batches = 0, 0.0, 0
    for images, labels in DataLoader(dataset, batch_size, as_numpy=True):
        padded = np.zeros((batch_size, 1, 28, 28), "float32")
        padded[:len(labels)] = images
        started = time.perf_counter()
        logits = predictor(padded).numpy()[:len(labels)]
        seconds, batches = seconds + time.perf_counter() - started, batches + 1
        correct += int((logits.argmax(axis=1) == labels).sum())
    return library, correct / len(dataset), 1e3 * seconds / max(batches, 1)


def model_settings(kind, batchnorm=False, dropout=0.0):
    """The options ``build_model`` builds ``kind`` with, those it ignores for that kind left
    out: a checkpoint records them, so that ``--resume`` refuses a different model."""
    return {"model": kind, "batchnorm": bool(batchnorm) and kind == "cnn",
            "dropout": float(dropout) if kind != "softmax" else 0.0}


def save_checkpoint(path, model, optimizer, epoch, history, settings):
    """Model and optimizer state, the model's ``settings``, the number of finished epochs and the
    curves so far, as one ``tm.save`` file."""
    tm.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch, "settings": settings,
             "history": {key: np.asarray(values, dtype=np.float64) for key, values in history.items()}}, path)


def load_checkpoint(path, model, optimizer, settings):
    """Restore model and optimizer from ``path``; returns (finished epochs, history). A UsageError
    when the checkpoint is missing or holds a model of other ``settings`` (a checkpoint written
    before settings were recorded is checked by its parameters' names and shapes only)."""
    if not os.path.exists(path):
        raise UsageError(f"--resume: no checkpoint at {path}; train without --resume first")
    state = tm.load(path)
    saved = state.get("settings")
    if saved is not None and saved != settings:
        differ = ", ".join(f"{key} {saved.get(key)!r} there, {value!r} now" for key, value in settings.items()
                           if saved.get(key) != value)
        raise UsageError(f"--resume: {path} holds a model of other settings ({differ}); resume with the "
                         f"checkpoint's options or train into another --out")
    try:
        model.load_state_dict(state["model"])
    except tm.TVMiniError as err:
        raise UsageError(f"--resume: {path} does not fit this model (other --model, --batchnorm or "
                         f"--dropout?): {err}") from None
    optimizer.load_state_dict(state["optimizer"])
    history = {key: [float(v) for v in np.asarray(values)] for key, values in state["history"].items()}
    return int(np.asarray(state["epoch"])), history


def train(model_kind="mlp", data=DEFAULT_DATA, epochs=None, batch_size=64, lr=None, seed=0, out=None,
          resume=False, batchnorm=False, dropout=0.0, device="cpu", dataset="mnist", limit=None, progress=True,
          log=print, jit=False, export=False):
    """Train one classifier; returns a dict with the history, final accuracy, wall time and files.

    ``jit`` compiles the training step with ``tm.jit`` (one variant per batch shape).
    ``export`` (needs ``out``) deploys the trained model as ``out/model.so`` (see the
    module docstring) and adds the predictor's test accuracy as ``exported_accuracy``.

    ``limit`` keeps only the first ``limit`` training and ``limit // 4`` test
    images (quick runs and tests). With ``resume``, training continues after the
    epoch stored in ``out/checkpoint.npz`` up to ``epochs`` in total; a UsageError when
    there is no checkpoint or it holds another model (``model_settings``).
    """
    from _report import plot_curves
    from _train import make_train_step
    from tqdm import tqdm

    default_epochs, default_lr = DEFAULTS[model_kind]
    epochs = default_epochs if epochs is None else epochs
    lr = default_lr if lr is None else lr
    train_set, test_set, note = train_test_sets(data, dataset=dataset)
    log(note)
    if limit:
        train_set = train_set.subset(np.arange(min(limit, len(train_set))))
        test_set = test_set.subset(np.arange(min(max(limit // 4, 1), len(test_set))))
        log(f"limited to {len(train_set)} train / {len(test_set)} test images")

    tm.manual_seed(seed)
    model = build_model(model_kind, batchnorm, dropout).to(device)
    settings = model_settings(model_kind, batchnorm, dropout)
    optimizer = tm.optim.Adam(model.parameters(), lr=lr)
    history = {"epoch": [], "train_loss": [], "test_accuracy": [], "seconds": []}
    checkpoint = os.path.join(out, "checkpoint.npz") if out else None
    start_epoch = 0
    if resume:
        if not checkpoint:
            raise UsageError("--resume needs an output directory (out), where the checkpoint is")
        start_epoch, history = load_checkpoint(checkpoint, model, optimizer, settings)
        log(f"resumed from {checkpoint} after epoch {start_epoch}")

    files = {}
    train_step = make_train_step(model, optimizer, jit)
    for epoch in range(start_epoch + 1, epochs + 1):
        started = time.perf_counter()
        # one generator per epoch, seeded by (seed, epoch): a resumed run sees the same batches
        loader = DataLoader(train_set, batch_size, shuffle=True, seed=[seed, epoch], as_numpy=True)
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"{model_kind} epoch {epoch}/{epochs}", disable=not progress, dynamic_ncols=True)
        for images, labels in bar:
            loss = train_step(tm.tensor(images, device=device), tm.tensor(labels, device=device))
            value = float(loss.item())
            total += value * len(labels)
            count += len(labels)
            bar.set_postfix(loss=f"{value:.4f}")
        bar.close()
        accuracy = evaluate(model, test_set, 500, device)
        seconds = time.perf_counter() - started
        for key, value in (("epoch", epoch), ("train_loss", total / count), ("test_accuracy", accuracy),
                           ("seconds", seconds)):
            history[key].append(value)
        log(f"epoch {epoch}: train loss {total / count:.4f}, test accuracy {accuracy:.4f} ({seconds:.1f} s)")
        if out:
            os.makedirs(out, exist_ok=True)
            save_checkpoint(checkpoint, model, optimizer, epoch, history, settings)
            files["checkpoint"] = checkpoint
            files["plot"] = plot_curves(os.path.join(out, f"{model_kind}_curves.png"), [
                ("mean training cross-entropy", {model_kind: (history["epoch"], history["train_loss"])}),
                ("test accuracy", {model_kind: (history["epoch"], history["test_accuracy"])})],
                xlabel="epoch", title=f"{dataset} {model_kind}: {note.split(';')[-1].strip()}")
    final = history["test_accuracy"][-1] if history["test_accuracy"] else None
    result = dict(history=history, accuracy=final, wall_seconds=float(np.sum(history["seconds"])), files=files,
                  model=model, optimizer=optimizer, note=note)
    if export:
        if not out:
            raise ValueError("export needs an output directory (out)")
        files["library"], result["exported_accuracy"], ms = export_and_score(
            model, test_set, 500, device, os.path.join(out, "model.so"))
        log(f"exported {files['library']} (+ model.params); loaded back, its test accuracy is "
            f"{result['exported_accuracy']:.4f} ({ms:.2f} ms per batch of 500)")
    return result


def profile(model_kind="mlp", data=DEFAULT_DATA, batch_size=64, lr=None, seed=0, batchnorm=False, dropout=0.0,
            device="cpu", dataset="mnist", steps=10, trace=None):
    """Profile ``steps`` training steps (after one that builds the kernels; at most one epoch)
    with ``tm.profiler``; print the per-kernel table and, if ``trace`` is a path, write a
    Chrome trace there."""
    train_set, _, _ = train_test_sets(data, dataset=dataset)
    tm.manual_seed(seed)
    model = build_model(model_kind, batchnorm, dropout).to(device)
    optimizer = tm.optim.Adam(model.parameters(), lr=DEFAULTS[model_kind][1] if lr is None else lr)
    batches = iter(DataLoader(train_set, batch_size, shuffle=True, seed=seed, as_numpy=True))

    from _train import profile_steps
    return profile_steps(model, optimizer, batches, steps, device, trace)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=sorted(DEFAULTS), default="mlp")
    parser.add_argument("--data", help="directory of the IDX files (default: mnist: $TVMINI_MNIST or "
                        "../shared/data/mnist; fashion-mnist: Debian's /usr/share/datasets/fashion-mnist)")
    parser.add_argument("--dataset", choices=["mnist", "fashion-mnist"], default="mnist",
                        help="which checksums and class names the files are judged by")
    parser.add_argument("--epochs", type=positive_int, help="total epochs (default: softmax 10, mlp 10, cnn 5)")
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument("--lr", type=float, help="Adam learning rate (default: softmax 1e-2, otherwise 1e-3)")
    parser.add_argument("--batchnorm", action="store_true", help="cnn: BatchNorm2d after each convolution")
    parser.add_argument("--dropout", type=float, default=0.0, help="mlp, cnn: dropout probability after each hidden fully-connected layer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=positive_int, help="use only this many training images (quick runs)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="mnist_out", help="directory for the checkpoint and the plot")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.npz")
    parser.add_argument("--threads", type=positive_int, help="threads per parallel kernel (sets TVMINI_NUM_THREADS; "
                        "default: one per core)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bars (for logs)")
    parser.add_argument("--jit", action="store_true", help="compile the training step with tm.jit")
    parser.add_argument("--export", action="store_true", help="after training, export the model's inference as "
                        "OUT/MODEL/model.so (+ model.params), load it back and score the test set with it")
    parser.add_argument("--profile", type=positive_int, nargs="?", const=10, metavar="STEPS",
                        help="instead of training, profile STEPS (default 10) training steps: print the per-kernel "
                        "table and write OUT/MODEL/trace.json")
    args = parser.parse_args(argv)
    if not 0.0 <= args.dropout < 1.0:
        parser.error(f"argument --dropout: a probability in [0, 1) expected, got {args.dropout}")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        os.environ["TVMINI_NUM_THREADS"] = str(args.threads)   # read when kernels are built, i.e. from here on
    out = os.path.join(args.out, args.model) if args.out else None
    data = args.data or (DEFAULT_DATA if args.dataset == "mnist" else DEBIAN_FASHION_MNIST)
    if args.profile:
        return profile(args.model, data=data, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                       batchnorm=args.batchnorm, dropout=args.dropout, device=args.device, dataset=args.dataset,
                       steps=args.profile, trace=os.path.join(out, "trace.json") if out else None)
    result = train(args.model, data=data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, out=out, resume=args.resume, batchnorm=args.batchnorm, dropout=args.dropout,
                   device=args.device, dataset=args.dataset, limit=args.limit, progress=not args.no_progress,
                   jit=args.jit, export=args.export)
    if result["accuracy"] is not None:
        print(f"{args.model}: final test accuracy {result['accuracy']:.4f} after {len(result['history']['epoch'])} "
              f"epochs ({result['wall_seconds']:.1f} s of training this run and before)")
    for kind, path in result["files"].items():
        print(f"  {kind}: {path}")
    return result


if __name__ == "__main__":
    run(main)

"""Fit an OVERFIT: an MLP learns where a picture of the word OVERFIT is white, from (y, x) alone.

The experiment of MegEngine's "Fit an OVERFIT" notes, on tvmini. A 2-64-256-64-2
fully-connected network reads a pixel coordinate and predicts its class (ink or
background); Adam (lr 1e-4) on batches of 1024 random coordinates. Every
``--eval-every`` steps the whole image is predicted and written as a frame; the
frames become a video of the convergence, the last one the final PNG, and the
loss/accuracy curves a plot. The presets are the notes' experiments; what tvmini
measured with ``--full`` (300x1000 image, 20k steps, seed 0; full-image pixel accuracy,
all-black scores 0.842):

    relu-raw     ReLU on raw pixel coordinates: never converges, stays ~all-black      0.845
    relu-unit    ReLU on coordinates scaled to [-1, 1]: converges (slowly at lr 1e-4)   0.908
    tanh-unit    tanh on [-1, 1]: barely moves in 20k steps                            0.859
    cos-unit     cos on [-1, 1] ...                                                    0.869
    cos-three    ... against cos on [-3, 3]: clearly faster, the best final picture    0.979
    bn-relu-raw  BatchNorm + ReLU on raw coordinates: fastest start (0.90 by step 3.5k) 0.946

    python examples/overfit.py                               # quick default: 120x400 image, 3000 steps
    python examples/overfit.py --experiment cos-three --full # the full 300x1000 image, 20k steps
    python examples/overfit.py --experiment all --full       # every preset, plus a comparison plot
    python examples/overfit.py --profile                     # per-kernel table of 10 training steps

The examples set ``OMP_WAIT_POLICY=PASSIVE`` unless it is set already: libgomp's worker
threads otherwise spin while they wait for work, and on cores shared with other processes
that made every parallel kernel ~20x slower (177 instead of 7-11 ms per OVERFIT step).
``--threads N`` fixes the threads per parallel kernel.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# Why: the module docstring. libgomp reads this when it is loaded, i.e. with tvmini's
# first parallel kernel.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import tvmini as tm  # noqa: E402
from tvmini import nn  # noqa: E402
from tvmini.data import overfit  # noqa: E402
from _cli import positive_int, run  # noqa: E402

EXPERIMENTS = {
    "relu-raw": dict(activation="relu", normalize="raw", batchnorm=False),
    "relu-unit": dict(activation="relu", normalize="unit", batchnorm=False),
    "tanh-unit": dict(activation="tanh", normalize="unit", batchnorm=False),
    "cos-unit": dict(activation="cos", normalize="unit", batchnorm=False),
    "cos-three": dict(activation="cos", normalize="three", batchnorm=False),
    "bn-relu-raw": dict(activation="relu", normalize="raw", batchnorm=True),
}
#: --full: the original experiment's image and length.
FULL = dict(height=300, width=1000, steps=20000, eval_every=500)
#: Rows of the full-image grid predicted per forward pass (a fixed size: one compiled kernel set).
GRID_CHUNK = 8192
ACTIVATIONS = {"relu": lambda: nn.ReLU(), "tanh": lambda: nn.Tanh(), "cos": lambda: nn.Cos()}


def build_model(activation="relu", batchnorm=False, hidden=(64, 256, 64)):
    """The 2-64-256-64-2 MLP; with ``batchnorm`` a BatchNorm1d before each activation."""
    layers, width = [], 2
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if batchnorm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        width = size
    layers.append(nn.Linear(width, 2))
    return nn.Sequential(*layers)


def predict_image(model, grid, height, width, device):
    """Predicted class of every pixel, as a (height, width) int array (model in eval mode, no history)."""
    padded = np.zeros((-(-len(grid) // GRID_CHUNK) * GRID_CHUNK, 2), np.float32)
    padded[:len(grid)] = grid
    model.eval()
    classes = []
    with tm.no_grad():
        for start in range(0, len(padded), GRID_CHUNK):
            logits = model(tm.tensor(padded[start:start + GRID_CHUNK], device=device)).numpy()
            classes.append(logits.argmax(axis=1))
    model.train()
    return np.concatenate(classes)[:len(grid)].reshape(height, width)


def validation_loss(model, batch, device):
    coords, labels = batch
    model.eval()
    with tm.no_grad():
        loss = nn.functional.cross_entropy(model(tm.tensor(coords, device=device)), tm.tensor(labels, device=device))
    model.train()
    return float(loss.item())


def train(activation="relu", normalize="unit", batchnorm=False, steps=2000, eval_every=100, lr=1e-4, seed=0,
          batch_size=overfit.TRAIN_BATCH, height=120, width=400, image_path=None, device="cpu", out=None,
          name="overfit", progress=True, video=True, jit=False):
    """Train one OVERFIT model; returns a dict of the curves, final accuracy, wall time and written files.

    ``jit``: compile the training step with ``tm.jit`` (the same results, fewer Python calls).

    ``out`` (a directory) receives ``NAME_frames/step_XXXXXX.png``, ``NAME.mp4`` (or .avi),
    ``NAME_final.png`` and ``NAME_curves.png``; ``out=None`` writes nothing.
    """
    from _report import plot_curves, save_frame, write_video
    from _train import make_train_step
    from tqdm import tqdm

    if image_path:
        image = overfit.load_image(image_path, height=height, width=width)
    else:
        image = overfit.render_word("OVERFIT", height=height, width=width)
    height, width = image.shape
    tm.manual_seed(seed)
    model = build_model(activation, batchnorm).to(device)
    optimizer = tm.optim.Adam(model.parameters(), lr=lr)
    sampler = overfit.CoordinateSampler(image, batch_size, normalize, seed=seed)
    valid_batch = next(overfit.CoordinateSampler(image, overfit.VALID_BATCH, normalize, seed=seed + 1))
    grid = overfit.image_grid(height, width, normalize)

    history = dict(step=[], train_loss=[], eval_step=[], valid_loss=[], accuracy=[], white_fraction=[])
    frames, files = [], {}
    frame_dir = os.path.join(out, f"{name}_frames") if out else None
    train_step = make_train_step(model, optimizer, jit)
    started = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=name, disable=not progress, dynamic_ncols=True)
    for step in bar:
        coords, labels = next(sampler)
        loss = train_step(tm.tensor(coords, device=device), tm.tensor(labels, device=device))
        history["step"].append(step)
        history["train_loss"].append(float(loss.item()))
        if step % eval_every and step != steps:
            continue
        predicted = predict_image(model, grid, height, width, device)
        accuracy = overfit.pixel_accuracy(predicted, image)
        history["eval_step"].append(step)
        history["valid_loss"].append(validation_loss(model, valid_batch, device))
        history["accuracy"].append(accuracy)
        history["white_fraction"].append(float(predicted.mean()))
        bar.set_postfix(loss=f"{history['train_loss'][-1]:.4f}", acc=f"{accuracy:.4f}")
        if frame_dir:
            caption = f"{name} step {step} acc {accuracy:.3f}"
            frames.append(save_frame(os.path.join(frame_dir, f"step_{step:06d}.png"), predicted, caption))
    wall = time.perf_counter() - started
    bar.close()

    if out:
        files["final_png"] = os.path.join(out, f"{name}_final.png")
        save_frame(files["final_png"], predicted, f"{name} final accuracy {accuracy:.4f}")
        if video:
            files["video"] = write_video(os.path.join(out, f"{name}.mp4"), frames, fps=8)
        files["plot"] = plot_curves(os.path.join(out, f"{name}_curves.png"), [
            ("cross-entropy", {"train (per step)": (history["step"], history["train_loss"]),
                               "validation (4096)": (history["eval_step"], history["valid_loss"])}, "log"),
            ("full-image pixel accuracy", {name: (history["eval_step"], history["accuracy"])}),
        ], title=f"OVERFIT {name}: {activation}, {normalize} coordinates{', BatchNorm' if batchnorm else ''}")
        files["frames"] = frame_dir
    return dict(name=name, history=history, accuracy=accuracy, wall_seconds=wall, files=files, image=image,
                final_prediction=predicted)


def profile(activation="relu", normalize="unit", batchnorm=False, lr=1e-4, seed=0, batch_size=overfit.TRAIN_BATCH,
            height=120, width=400, device="cpu", steps=10, trace=None):
    """Profile ``steps`` training steps (after one that builds the kernels) with ``tm.profiler``;
    print the per-kernel table and, if ``trace`` is a path, write a Chrome trace there."""
    image = overfit.render_word("OVERFIT", height=height, width=width)
    tm.manual_seed(seed)
    model = build_model(activation, batchnorm).to(device)
    optimizer = tm.optim.Adam(model.parameters(), lr=lr)
    sampler = overfit.CoordinateSampler(image, batch_size, normalize, seed=seed)

    from _train import profile_steps
    return profile_steps(model, optimizer, sampler, steps, device, trace)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--experiment", choices=sorted(EXPERIMENTS) + ["all"],
                        help="a preset of the issue's experiments (sets activation/normalize/batchnorm)")
    parser.add_argument("--activation", choices=sorted(ACTIVATIONS), default="relu")
    parser.add_argument("--normalize", choices=sorted(overfit.NORMALIZATIONS), default="unit",
                        help="raw pixel coordinates, [-1, 1] (unit) or [-3, 3] (three)")
    parser.add_argument("--batchnorm", action="store_true", help="BatchNorm1d before each activation")
    parser.add_argument("--steps", type=positive_int, default=None,
                        help="training steps (default 3000; 20000 with --full)")
    parser.add_argument("--eval-every", type=positive_int, default=None, help="steps between evaluations/frames")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=positive_int, default=overfit.TRAIN_BATCH)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--height", type=positive_int, default=None,
                        help="image height (default 120; 300 with --full; a --image file keeps its own)")
    parser.add_argument("--width", type=positive_int, default=None, help="image width (default 400; 1000 with --full)")
    parser.add_argument("--full", action="store_true", help="the original size and length: 300x1000, 20k steps")
    parser.add_argument("--image", help="train on this image file (grayscale, binarised at 128) instead")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--out", default="overfit_out", help="directory for frames, video, PNG and plot")
    parser.add_argument("--threads", type=positive_int, help="threads per parallel kernel (sets TVMINI_NUM_THREADS; "
                        "default: one per core)")
    parser.add_argument("--no-progress", action="store_true", help="no tqdm bar (for logs)")
    parser.add_argument("--jit", action="store_true", help="compile the training step with tm.jit")
    parser.add_argument("--profile", type=positive_int, nargs="?", const=10, metavar="STEPS",
                        help="instead of training, profile STEPS (default 10) training steps: print the per-kernel "
                        "table and write OUT/NAME_trace.json")
    args = parser.parse_args(argv)
    base = FULL if args.full else dict(height=120, width=400, steps=3000, eval_every=100)
    # a user's image keeps its own size unless --height/--width say otherwise
    for key in ("steps", "eval_every") if args.image else ("height", "width", "steps", "eval_every"):
        if getattr(args, key) is None:
            setattr(args, key, base[key])
    return args


def main(argv=None):
    from _report import plot_curves

    args = parse_args(argv)
    if args.threads:
        os.environ["TVMINI_NUM_THREADS"] = str(args.threads)   # read when kernels are built, i.e. from here on
    if args.experiment == "all":
        runs = list(EXPERIMENTS.items())
    elif args.experiment:
        runs = [(args.experiment, EXPERIMENTS[args.experiment])]
    else:
        name = f"{args.activation}-{args.normalize}{'-bn' if args.batchnorm else ''}"
        runs = [(name, dict(activation=args.activation, normalize=args.normalize, batchnorm=args.batchnorm))]
    if args.profile:
        return [profile(**config, lr=args.lr, seed=args.seed, batch_size=args.batch_size, height=args.height,
                        width=args.width, device=args.device, steps=args.profile,
                        trace=os.path.join(args.out, f"{name}_trace.json") if args.out else None)
                for name, config in runs]
    results = []
    for name, config in runs:
        result = train(**config, steps=args.steps, eval_every=args.eval_every, lr=args.lr, seed=args.seed,
                       batch_size=args.batch_size, height=args.height, width=args.width, image_path=args.image, device=args.device,
                       out=args.out, name=name, progress=not args.no_progress, jit=args.jit)
        history = result["history"]
        height, width = result["image"].shape
        print(f"{name}: final pixel accuracy {result['accuracy']:.4f} over the {height}x{width} image "
              f"after {args.steps} steps ({result['wall_seconds']:.1f} s, "
              f"{1000 * result['wall_seconds'] / args.steps:.1f} ms/step incl. evaluation); "
              f"predicted white fraction {history['white_fraction'][-1]:.3f} (true {result['image'].mean():.3f}, "
              f"between {min(history['white_fraction']):.3f} and {max(history['white_fraction']):.3f} "
              f"over the evaluations)")
        for kind, path in result["files"].items():
            print(f"  {kind}: {path}")
        results.append(result)
    if len(results) > 1:
        path = plot_curves(os.path.join(args.out, "comparison.png"), [
            ("full-image pixel accuracy", {r["name"]: (r["history"]["eval_step"], r["history"]["accuracy"])
                                           for r in results}),
            ("validation cross-entropy", {r["name"]: (r["history"]["eval_step"], r["history"]["valid_loss"])
                                          for r in results}, "log")], title="OVERFIT experiments")
        print(f"comparison plot: {path}")
    return results


if __name__ == "__main__":
    run(main)

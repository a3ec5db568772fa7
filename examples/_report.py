"""Pictures the training examples leave behind: annotated frames, a video, curve plots.

Kept apart from ``tvmini`` because it is presentation only (opencv for frames
and video, matplotlib for plots); both examples import it.
"""
import os

import cv2
import numpy as np


def save_frame(path, classes, caption=None, scale=1):
    """Write a class image (0 = black, 1 = white) as a PNG, with a caption strip under it.

    Returns the BGR frame so it can also go into a video.
    """
    gray = (np.asarray(classes) * 255).astype(np.uint8)
    if scale != 1:
        gray = cv2.resize(gray, (gray.shape[1] * scale, gray.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    frame = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    if caption:
        strip_height = max(18, frame.shape[0] // 10)
        strip = np.full((strip_height, frame.shape[1], 3), 64, np.uint8)
        font_scale = strip_height / 40.0
        cv2.putText(strip, caption, (4, int(strip_height * 0.72)), cv2.FONT_HERSHEY_SIMPLEX, font_scale,
                    (80, 220, 255), max(1, int(font_scale * 2)), cv2.LINE_AA)
        frame = np.concatenate([frame, strip], axis=0)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(str(path), frame):
        raise OSError(f"opencv could not write {path}")
    return frame


def write_video(path, frames, fps=10):
    """Write equally sized BGR frames as a video; mp4 (mp4v) first, then avi (MJPG) if mp4 is unavailable.

    Returns the path actually written (its extension says which container).
    """
    if not frames:
        raise ValueError("write_video needs at least one frame")
    height, width = frames[0].shape[:2]
    stem = os.path.splitext(str(path))[0]
    for extension, codec in ((".mp4", "mp4v"), (".avi", "MJPG")):
        target = stem + extension
        writer = cv2.VideoWriter(target, cv2.VideoWriter_fourcc(*codec), fps, (width, height))
        if not writer.isOpened():
            continue
        for frame in frames:
            writer.write(frame)
        writer.release()
        if os.path.exists(target) and os.path.getsize(target) > 0:
            return target
    raise OSError(f"opencv could write neither {stem}.mp4 nor {stem}.avi (no video codec available)")


def plot_curves(path, panels, xlabel="step", title=None):
    """Save a matplotlib figure with one subplot per panel (a PNG).

    ``panels`` is a list of ``(ylabel, {series_name: (xs, ys)})``, or of
    ``(ylabel, series, "log")`` for a logarithmic y axis (losses, whose first
    steps would otherwise flatten the rest); the panels share ``xlabel``.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, (ylabel, series, *scale) in zip(axes[0], panels):
        for name, (xs, ys) in series.items():
            axis.plot(xs, ys, label=name, marker="o" if len(xs) < 30 else None)
        if scale:
            axis.set_yscale(scale[0])
        axis.set_xlabel(xlabel)
        axis.set_ylabel(ylabel)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path

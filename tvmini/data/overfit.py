"""The OVERFIT task: learn a binary image from pixel coordinates.

The target is a two-class image: ``render_word`` draws a word (``OVERFIT``) in
white on black with opencv, ``load_image`` reads a user's picture; both are
binarised at 128 (class 1 = bright). ``CoordinateSampler`` draws uniformly random
continuous coordinates ``(y, x)`` over the image, ``y`` growing upwards (the
image's row axis flipped, as in a plot), labelled with the class of the pixel
they fall in. ``image_grid`` gives the centre of every pixel in image order so a
model's predictions reshape straight back into a picture.

Normalisation modes (the experiments compare them): ``"raw"`` keeps pixel
units (y in [0, H), x in [0, W)), ``"unit"`` maps each axis to [-1, 1] and
``"three"`` to [-3, 3].
"""
import numpy as np

from ..errors import DataError, ShapeError

#: Batch sizes of the original experiment.
TRAIN_BATCH = 1024
VALID_BATCH = 4096
NORMALIZATIONS = {"raw": None, "unit": 1.0, "three": 3.0}


def _binarise(gray):
    return (np.asarray(gray) >= 128).astype(np.int64)


def render_word(text="OVERFIT", height=300, width=1000):
    """A (height, width) int64 class image of ``text`` drawn with ``cv2.putText`` (1 = ink).

    The font scale is chosen so the text fills about 90% of the width and 70% of
    the height; the grey anti-aliased edge is binarised at 128.
    """
    import cv2
    if height < 8 or width < 8:
        raise ShapeError(f"render_word image of {height}x{width} pixels is too small to hold text (min 8x8)")
    font = cv2.FONT_HERSHEY_SIMPLEX
    (unit_w, unit_h), _ = cv2.getTextSize(text, font, 1.0, 1)
    scale = min(0.9 * width / unit_w, 0.7 * height / unit_h)
    thickness = max(1, int(round(scale * 2.5)))
    (text_w, text_h), baseline = cv2.getTextSize(text, font, scale, thickness)
    canvas = np.zeros((height, width), dtype=np.uint8)
    origin = ((width - text_w) // 2, (height + text_h) // 2)
    cv2.putText(canvas, text, origin, font, scale, 255, thickness, cv2.LINE_AA)
    return _binarise(canvas)


def load_image(path, height=None, width=None):
    """A user's image as an int64 class image (grayscale, binarised at 128), optionally resized."""
    import cv2
    gray = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise DataError(f"cannot read image {path}: missing or not an image format opencv understands")
    if height is not None or width is not None:
        height = height or gray.shape[0]
        width = width or gray.shape[1]
        gray = cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA)
    return _binarise(gray)


def normalize_coordinates(yx, shape, mode="unit"):
    """Map float (y, x) pixel-unit coordinates over an image of ``shape`` by ``mode`` (float32)."""
    if mode not in NORMALIZATIONS:
        raise DataError(f"unknown coordinate normalisation {mode!r}: expected one of {sorted(NORMALIZATIONS)}")
    yx = np.asarray(yx, dtype=np.float64)
    half_range = NORMALIZATIONS[mode]
    if half_range is None:
        return yx.astype(np.float32)
    extent = np.asarray(shape[:2], dtype=np.float64)
    return (half_range * (2.0 * yx / extent - 1.0)).astype(np.float32)


def labels_at(image, yx):
    """Class of the pixel under each (y-up, x) coordinate: row ``H - 1 - floor(y)``, column ``floor(x)``."""
    height, width = image.shape
    rows = height - 1 - np.floor(yx[:, 0]).astype(np.int64)
    cols = np.floor(yx[:, 1]).astype(np.int64)
    return image[np.clip(rows, 0, height - 1), np.clip(cols, 0, width - 1)]


class CoordinateSampler:
    """Infinite iterator of ``(coords, labels)`` batches over a class image.

    ``coords`` is float32 (batch_size, 2) in the chosen normalisation, ``labels``
    int64 (batch_size,). The same ``seed`` gives the same sequence of batches.
    """

    def __init__(self, image, batch_size=TRAIN_BATCH, normalize="unit", seed=None):
        image = np.asarray(image)
        if image.ndim != 2:
            raise ShapeError(f"CoordinateSampler needs a 2-D class image, got shape {image.shape}")
        if normalize not in NORMALIZATIONS:
            raise DataError(f"unknown coordinate normalisation {normalize!r}: expected one of {sorted(NORMALIZATIONS)}")
        self.image = image
        self.batch_size = int(batch_size)
        self.normalize = normalize
        self._rng = np.random.default_rng(seed)

    def sample_pixels(self):
        """One batch in raw pixel units (y up) with labels, before normalisation."""
        height, width = self.image.shape
        yx = self._rng.random((self.batch_size, 2)) * np.array([height, width], dtype=np.float64)
        return yx, labels_at(self.image, yx)

    def __iter__(self):
        return self

    def __next__(self):
        yx, labels = self.sample_pixels()
        return normalize_coordinates(yx, self.image.shape, self.normalize), labels


def image_grid(height, width, normalize="unit"):
    """Coordinates (float32, (height*width, 2)) of every pixel centre, in image row-major order.

    Row 0 of the image (its top) has the largest y, so ``predictions.reshape(height, width)``
    is the predicted picture the right way up.
    """
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    yx = np.stack([(height - 1 - rows) + 0.5, cols + 0.5], axis=-1).reshape(-1, 2)
    return normalize_coordinates(yx, (height, width), normalize)


def pixel_accuracy(predicted, image):
    """Fraction of pixels whose predicted class equals the image's class."""
    predicted = np.asarray(predicted).reshape(np.shape(image))
    return float(np.mean(predicted == image))

"""Spatial transformers: PyTorch's ``F.affine_grid`` and ``F.grid_sample``.

``affine_grid`` is a product of the fixed base grid (each output position's normalized
coordinates and a 1) with the transposed ``theta``: one matmul, whose gradient gives
``theta``'s. ``grid_sample`` is one kernel (``topi.grid_sample``), and so is each of its
gradients: the input's (a gather of the output gradient over the sampling points) and
the grid's (a sum over the channels at each point).
"""
import numpy as np

from ..errors import ShapeError
from ..runtime import ndarray as nd
from ..topi.grid_sample import (MODES, PADDING_MODES, grid_sample as grid_sample_kernel, grid_sample_grad_grid,
                                grid_sample_grad_input)
from . import ops
from .autograd import Function
from .dispatch import run
from .nn_ops import _check_float
from .ops import _kernel
from .shape_ops import reshape, transpose
from .tensor import Tensor


class _GridSample(Function):
    def forward(self, x, grid):
        return run("grid_sample", grid_sample_kernel, [x, grid], attrs=self.attrs)

    def backward(self, g):
        x, grid = self.inputs
        gx = _kernel("grid_sample_grad_input", grid_sample_grad_input, g, grid, input_shape=x.shape,
                     **dict(self.attrs)) if x.requires_grad else None
        ggrid = _kernel("grid_sample_grad_grid", grid_sample_grad_grid, g, x, grid,
                        **dict(self.attrs)) if grid.requires_grad else None
        return gx, ggrid


def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):  # noqa: A002 (torch's)
    """Sample ``input`` (N, C, H, W) at ``grid`` (N, OH, OW, 2) of (x, y) coordinates in
    [-1, 1] (-1: the left/top edge; ``align_corners``: the centre of the corner pixels)
    -> (N, C, OH, OW); a 5-D input (N, C, D, H, W) with grid (N, OD, OH, OW, 3) samples
    volumes ("bilinear" there is trilinear). ``mode``: "bilinear", "nearest" or "bicubic"
    (4-D only); ``padding_mode`` for points outside: "zeros", "border" or "reflection".
    ``align_corners=None`` is False, as PyTorch's default."""
    _check_float("grid_sample", input, grid)
    ops.check_same("grid_sample", input, grid)
    if mode not in MODES:
        raise ShapeError(f"grid_sample: mode must be one of {MODES}, got mode={mode!r}")
    if padding_mode not in PADDING_MODES:
        raise ShapeError(f"grid_sample: padding_mode must be one of {PADDING_MODES}, got padding_mode={padding_mode!r}")
    if input.ndim not in (4, 5):
        raise ShapeError(f"grid_sample: input must be 4-D (N, C, H, W) or 5-D (N, C, D, H, W), got shape "
                         f"{input.shape}")
    spatial = input.ndim - 2
    if grid.ndim != input.ndim or grid.shape[0] != input.shape[0] or grid.shape[-1] != spatial:
        raise ShapeError(f"grid_sample: grid of shape {grid.shape} must be (N, {'OD, ' * (spatial == 3)}OH, OW, "
                         f"{spatial}) with the N of input {input.shape}")
    if mode == "bicubic" and spatial == 3:
        raise ShapeError(f"grid_sample: mode='bicubic' needs a 4-D input, got shape {input.shape}")
    if min(input.shape[2:]) < 1 or min(grid.shape[1:-1]) < 1:
        raise ShapeError(f"grid_sample: empty input {input.shape} or grid {grid.shape}")
    attrs = (("mode", mode), ("padding_mode", padding_mode), ("align_corners", bool(align_corners)))
    return _GridSample.apply(input, grid, attrs=attrs)


def _base_coordinates(steps, align_corners):
    """PyTorch's normalized coordinates of ``steps`` positions: -1 .. 1, the pixel centres
    unless ``align_corners`` (one position: 0)."""
    if steps <= 1:
        return np.zeros(max(steps, 0))
    line = np.linspace(-1.0, 1.0, steps)
    return line if align_corners else line * (steps - 1) / steps


def affine_grid(theta, size, align_corners=None):
    """The sampling grid of the affine maps ``theta``: (N, 2, 3) for ``size`` (N, C, H, W)
    gives (N, H, W, 2), (N, 3, 4) for (N, C, D, H, W) gives (N, D, H, W, 3); each output
    position's normalized (x, y[, z], 1) times ``theta`` transposed. ``align_corners=None``
    is False, as PyTorch's default."""
    _check_float("affine_grid", theta)
    size = tuple(size)
    if len(size) not in (4, 5) or not all(isinstance(s, int) and s >= 1 for s in size):
        raise ShapeError(f"affine_grid: size must be 4 or 5 positive ints (N, C, [D,] H, W), got {size!r}")
    spatial = len(size) - 2
    if theta.shape != (size[0], spatial, spatial + 1):
        raise ShapeError(f"affine_grid: theta of shape {theta.shape} must be ({size[0]}, {spatial}, {spatial + 1}) "
                         f"for size {size}")
    # coordinates of each position, x fastest: grid component k runs along spatial axis -1 - k
    lines = [_base_coordinates(s, bool(align_corners)) for s in size[2:]]
    mesh = np.meshgrid(*lines, indexing="ij")
    base = np.stack([mesh[spatial - 1 - k] for k in range(spatial)] + [np.ones(size[2:])], axis=-1)
    base = Tensor._wrap(nd.array(base.reshape(1, -1, spatial + 1).astype(theta.dtype), device=theta.device))
    grid = ops.matmul(base, transpose(theta, (0, 2, 1)))
    return reshape(grid, (size[0],) + size[2:] + (spatial,))

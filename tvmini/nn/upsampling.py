"""Upsampling layers (PyTorch's): ``Upsample`` and the fixed-mode
``UpsamplingNearest2d`` / ``UpsamplingBilinear2d`` (align_corners=True), over
:func:`tvmini.nn.functional.interpolate`."""
from . import functional as F
from .module import Module


class Upsample(Module):
    """Resize (N, C, L) or (N, C, H, W) inputs to ``size`` or by ``scale_factor`` with
    ``mode`` "nearest", "linear" or "bilinear" (see ``F.interpolate``)."""

    def __init__(self, size=None, scale_factor=None, mode="nearest", align_corners=None, recompute_scale_factor=None):
        super().__init__()
        self.size, self.mode, self.align_corners = size, mode, align_corners
        self.scale_factor = float(scale_factor) if isinstance(scale_factor, (int, float)) else scale_factor
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, x):
        return F.interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self):
        what = f"scale_factor={self.scale_factor}" if self.scale_factor is not None else f"size={self.size}"
        return f"{what}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    def __init__(self, size=None, scale_factor=None):
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)

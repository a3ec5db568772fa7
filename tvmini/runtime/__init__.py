"""The runtime: devices, arrays and callable compiled kernels.

This layer sits at the bottom of tvmini and imports nothing above it (only
``tvmini.errors``). ``ndarray`` is exposed as a submodule so the package can
offer it as ``tm.nd`` (``tm.nd.array``, ``tm.nd.empty``, ``tm.nd.zeros``).
"""

from . import ndarray
from .device import Device, as_device, cpu, cuda
from .benchmark import BenchmarkResult
from ..errors import ArgumentError
from .export import load_module
from .module import ArgSpec, Module
from .predictor import Predictor, load_jit
from .ndarray import NDArray

__all__ = [
    "ArgSpec",
    "ArgumentError",
    "BenchmarkResult",
    "Device",
    "Module",
    "NDArray",
    "as_device",
    "cpu",
    "cuda",
    "Predictor",
    "load_jit",
    "load_module",
    "ndarray",
]

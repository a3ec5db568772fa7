"""Creation helpers of the graph layer (PyTorch's names): filled tensors (``zeros``,
``ones``, ``full``, ``eye``, ``linspace``, ``logspace``, ``arange``), random ones from
tvmini's seeded generator (``manual_seed``, ``randn``, ``rand``, ``randint``,
``randint_like``) and ``from_numpy``.
``tensor()`` itself lives with :class:`Tensor`, which uses it."""
import numpy as np

from ..errors import DTypeError, ShapeError, TVMiniError
from ..runtime import as_device
from ..runtime import ndarray as nd
from . import dispatch
from .tensor import Tensor, _shape_args


def zeros(*shape, dtype="float32", device=None, requires_grad=False):
    """A tensor of zeros: ``zeros(2, 3)`` or ``zeros((2, 3))``."""
    return Tensor(nd.zeros(_shape_args(shape), dtype, device), requires_grad)


def ones(*shape, dtype="float32", device=None, requires_grad=False):
    """A tensor of ones."""
    return full(_shape_args(shape), 1, dtype=dtype, device=device, requires_grad=requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False):
    """A tensor of ``shape`` filled with ``value``; without ``dtype`` it is inferred as
    PyTorch's: bool for a bool, int64 for an int, float32 otherwise."""
    if dtype is None:
        dtype = "bool" if isinstance(value, (bool, np.bool_)) else \
            "int64" if isinstance(value, (int, np.integer)) else "float32"
    return Tensor(nd.array(np.full(shape, value, dtype=nd.normalize_dtype(dtype)), device=device), requires_grad)


def zeros_like(t, dtype=None):
    return zeros(t.shape, dtype=dtype or t.dtype, device=t.device)


def ones_like(t, dtype=None):
    return ones(t.shape, dtype=dtype or t.dtype, device=t.device)


def full_like(t, value, dtype=None):
    return full(t.shape, value, dtype=dtype or t.dtype, device=t.device)


def empty(*shape, dtype="float32", device=None, requires_grad=False):
    """A tensor of ``shape`` whose values are whatever the fresh memory holds."""
    return Tensor(nd.empty(_shape_args(shape), dtype, device=as_device(device or "cpu")), requires_grad)


def empty_like(t, dtype=None):
    return empty(t.shape, dtype=dtype or t.dtype, device=t.device)


def eye(n, m=None, dtype="float32", device=None, requires_grad=False):
    """The ``n`` x ``m`` identity (``m`` defaults to ``n``)."""
    return Tensor(nd.array(np.eye(n, m, dtype=nd.normalize_dtype(dtype)), device=device), requires_grad)


def linspace(start, end, steps, dtype="float32", device=None, requires_grad=False):
    """``steps`` evenly spaced values from ``start`` to ``end``, both included."""
    return Tensor(nd.array(np.linspace(start, end, steps).astype(nd.normalize_dtype(dtype)), device=device),
                  requires_grad)


def logspace(start, end, steps, base=10.0, *, dtype="float32", device=None, requires_grad=False):
    """``steps`` values ``base ** e`` for exponents evenly spaced from ``start`` to ``end``
    (computed in float64, then converted to ``dtype``)."""
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ShapeError(f"logspace: steps must be a non-negative int, got {steps!r}")
    values = np.power(float(base), np.linspace(start, end, steps))
    return Tensor(nd.array(values.astype(nd.normalize_dtype(dtype)), device=device), requires_grad)


_generator = np.random.default_rng()


def manual_seed(seed):
    """Seed the generator behind :func:`randn`, :func:`rand` and the ``nn.init`` functions."""
    global _generator
    _generator = np.random.default_rng(seed)


def generator():
    """The numpy Generator used for host-side random initialisation."""
    return _generator


def _host_draw(name):
    """The generator, for a draw on the host; refused inside ``tm.jit``, whose replays
    would repeat the traced numbers forever."""
    if dispatch.thread.tracer is not None:
        raise TVMiniError(f"{name}() draws on the host, so a tm.jit step would replay the same numbers on every "
                          "call: draw outside the step and pass the tensor in (dropout is redrawn each replay)")
    return _generator


def randn(*shape, dtype="float32", device=None, requires_grad=False):
    """Standard normal samples (drawn on the host from the seeded generator)."""
    values = _host_draw("randn").standard_normal(_shape_args(shape)).astype(nd.normalize_dtype(dtype))
    return Tensor(nd.array(values, device=device), requires_grad)


def rand(*shape, dtype="float32", device=None, requires_grad=False):
    """Uniform samples in [0, 1)."""
    values = _host_draw("rand").random(_shape_args(shape)).astype(nd.normalize_dtype(dtype))
    return Tensor(nd.array(values, device=device), requires_grad)


def randint(low, high=None, size=(), dtype="int64", device=None):
    """Integers drawn uniformly from ``[low, high)``; PyTorch's forms ``randint(high, size)``
    and ``randint(low, high, size)`` both work."""
    if isinstance(high, (tuple, list)):
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    values = _host_draw("randint").integers(low, high, size=tuple(size)).astype(nd.normalize_dtype(dtype))
    return Tensor(nd.array(values, device=device))


def randint_like(input, low=0, high=None, *, dtype=None, device=None):
    """Integers from ``[low, high)`` in ``input``'s shape (and dtype and device unless
    given); ``randint_like(input, high)`` draws from ``[0, high)``, as PyTorch's."""
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ShapeError(f"randint_like: expected low < high, got low={low} and high={high}")
    return randint(low, high, input.shape, dtype=dtype or input.dtype, device=device or input.device)


def _float_like(op, t, dtype):
    dtype = dtype or t.dtype
    if not dtype.startswith("float"):
        raise DTypeError(f"{op}: draws floating-point numbers, not {dtype} (tensor of shape {t.shape})")
    return dtype


def randn_like(t, dtype=None):
    return randn(t.shape, dtype=_float_like("randn_like", t, dtype), device=t.device)


def rand_like(t, dtype=None):
    return rand(t.shape, dtype=_float_like("rand_like", t, dtype), device=t.device)


def arange(start, stop=None, step=1, dtype=None, device=None):
    """``start, start+step, ...`` below ``stop`` (int64 for integer arguments, 0-d integer
    tensors too, else float32)."""
    start, stop, step = (v.item() if isinstance(v, Tensor) else v for v in (start, stop, step))
    if stop is None:
        start, stop = 0, start
    if dtype is None:
        dtype = "int64" if all(isinstance(v, (int, np.integer)) for v in (start, stop, step)) else "float32"
    return Tensor(nd.array(np.arange(start, stop, step, dtype=nd.normalize_dtype(dtype)), device=device))


def from_numpy(array):
    """A tensor holding a copy of numpy ``array`` (its dtype kept). tvmini arrays are
    64-byte aligned and owned by the runtime, so the memory is not shared."""
    if not isinstance(array, np.ndarray):
        raise DTypeError(f"from_numpy() takes a numpy array, got {type(array).__name__}")
    return Tensor(nd.array(array))

"""Sampling on tvmini's counter-based generator: PyTorch's ``bernoulli`` (and
``bernoulli_``), the in-place fills ``uniform_``, ``normal_``, ``exponential_``,
``geometric_``, ``log_normal_``, ``cauchy_``, ``random_``, ``tm.normal``,
``tm.multinomial`` and ``tm.poisson`` (``topi.poisson``: inversion below rate 10,
Hörmann's transformed rejection above).

Every draw is one kernel of ``topi.sampling``: each element a hash of its index and a
seed, the seed drawn from tvmini's generator (``tm.manual_seed`` reproduces a sequence
of draws), so the numbers are made where the tensor lives, on the host or the GPU.
Under ``tm.jit`` each replay of a step draws a new seed for every sampling call, as
dropout does (:class:`_Redraw`), so a compiled step samples anew on every call instead of
repeating the traced numbers. A distribution's parameters are runtime scalars of the
kernel: a new ``std`` builds no new kernel.

``tm.normal`` and ``tm.bernoulli`` of parameter tensors that require grad give a result
that does too, with a zero gradient to them, as PyTorch's; an in-place fill of a tensor
autodiff tracks leaves it tracked with no gradient to what it held, as PyTorch's.
"""
import numpy as np

from ..errors import ArgumentError, DTypeError, ShapeError
from ..runtime import ndarray as nd
from ..topi import poisson as poisson_kernels
from ..topi import sampling
from . import dispatch, indexing, ops
from .autograd import Function, is_grad_enabled, no_grad
from .creation import generator as _generator, zeros
from .dispatch import run
from .jit.ir import ReplayScalars
from .sort_ops import cumsum, topk
from .tensor import Tensor, add_methods

#: Seeds are drawn below this (a jit replay passes scalars through float64 slots, exact
#: for integers up to 2^53).
SEED_LIMIT = 1 << 31


class _Redraw:
    """The scalars of one traced sampling call, for every ``tm.jit`` replay (a
    :class:`~.jit.ir.ReplayScalars` source): a new seed from tvmini's generator, as an
    eager call would draw, followed by the call's fixed parameters."""

    def __init__(self, params):
        self.params = list(params)

    def replay_scalars(self, keys):
        values = []
        for _ in keys:
            values += [_draw_seed(None), *self.params]
        return values


def _draw_seed(generator):
    """A seed for one draw: from ``generator`` (a numpy Generator) if given, else from
    tvmini's seeded generator."""
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise ArgumentError(f"generator must be a numpy.random.Generator (or None), got {type(generator).__name__}")
    return int((generator or _generator()).integers(SEED_LIMIT))


def _run(name, define, inputs, params, param_dtypes, attrs=(), generator=None):
    """``define(*inputs, seed, *params)`` with a fresh seed, redrawn at every jit replay."""
    replay = None
    if dispatch.thread.tracer is not None:
        if generator is not None:
            raise ArgumentError(f"{name}: generator= inside tm.jit would fix the traced numbers for every replay; "
                                "leave it None (each replay draws from tvmini's generator)")
        if any(abs(p) > 1 << 53 for p in params):
            raise ArgumentError(f"{name}: parameters beyond 2^53 ({params}) do not pass exactly through a tm.jit "
                                "replay; draw outside the step")
        replay = ReplayScalars(_Redraw(params), "draw")
    return Tensor._wrap(run(name, define, [t._data for t in inputs], (_draw_seed(generator), *params),
                            ("int64", *param_dtypes), attrs, replay))


class _Drawn(Function):
    """A draw (input 0) from a distribution of parameter tensors (the other inputs):
    the draw itself, recorded with a zero gradient for the parameters, as PyTorch's
    ``normal`` and ``bernoulli`` (their results require grad where a parameter does)."""
    nondiff = (0,)
    saved = ()

    def forward(self, drawn, *params):
        return drawn

    def backward(self, g):
        return (None, *[zeros(t.shape, dtype=t.dtype, device=t.device) for t in self.inputs[1:]])


def _zero_gradient(drawn, *params):
    """``drawn``, tracked with a zero gradient to the ``params`` that require grad."""
    params = [p for p in params if isinstance(p, Tensor)]
    if is_grad_enabled() and any(p.requires_grad for p in params):
        return _Drawn.apply(drawn, *params)
    return drawn


def _fill_kernel(x, seed, a, b, kind):
    return sampling.fill(x, seed, a, b, kind)


def _sample_like(like, kind, a=0.0, b=0.0, generator=None):
    """A tensor of ``like``'s shape, dtype and device drawn from ``kind``
    (``topi.sampling.KINDS``) with parameters ``a`` and ``b``."""
    if not like.numel():
        return Tensor._wrap(nd.empty(like.shape, like.dtype, like.device))
    return _run(f"sample_{kind}", _fill_kernel, [like], (float(a), float(b)), ("float64", "float64"),
                (("kind", kind),), generator)


def _float_tensor(op, x):
    if not x.dtype.startswith("float"):
        raise DTypeError(f"{op}: draws floating-point numbers, not into a {x.dtype} tensor of shape {x.shape}")


def _number(op, name, value):
    if isinstance(value, Tensor):
        if value.ndim:
            raise ShapeError(f"{op}: {name} must be a number, got a tensor of shape {value.shape}")
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{op}: {name} must be a number, got {type(value).__name__}")
    return float(value)


def _fill_(op, self, kind, a=0.0, b=0.0, generator=None, check_float=True):
    """Overwrite ``self`` in place with a draw (under the rules of in-place ops: not a
    leaf that requires grad, outside ``tm.no_grad()``); returns self."""
    if check_float:
        _float_tensor(op, self)
    return indexing.update(self, lambda old, _: _sample_like(old, kind, a, b, generator), None, op)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    """Fill in place with draws of U(a, b) (``a <= b``); returns self."""
    a, b = _number("uniform_", "a", a), _number("uniform_", "b", b)
    if a > b:
        raise ArgumentError(f"uniform_: expects a <= b, got a={a} and b={b}")
    return _fill_("uniform_", self, "uniform", a, b, generator)


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    """Fill in place with draws of N(mean, std²) (``std >= 0``); returns self."""
    mean, std = _number("normal_", "mean", mean), _number("normal_", "std", std)
    if std < 0:
        raise ArgumentError(f"normal_: expects std >= 0.0, got {std}")
    return _fill_("normal_", self, "normal", mean, std, generator)


def log_normal_(self, mean=1.0, std=2.0, *, generator=None):
    """Fill in place with ``exp`` of draws of N(mean, std²) (``std > 0``); returns self."""
    mean, std = _number("log_normal_", "mean", mean), _number("log_normal_", "std", std)
    if std <= 0:
        raise ArgumentError(f"log_normal_: expects std > 0.0, got {std}")
    return _fill_("log_normal_", self, "log_normal", mean, std, generator)


def exponential_(self, lambd=1.0, *, generator=None):
    """Fill in place with draws of the exponential distribution of rate ``lambd`` > 0
    (mean ``1 / lambd``); returns self."""
    lambd = _number("exponential_", "lambd", lambd)
    if lambd <= 0:
        raise ArgumentError(f"exponential_: expects lambd > 0.0, got {lambd}")
    return _fill_("exponential_", self, "exponential", lambd, 0.0, generator)


def cauchy_(self, median=0.0, sigma=1.0, *, generator=None):
    """Fill in place with draws of the Cauchy distribution at ``median`` of scale
    ``sigma`` > 0; returns self."""
    median, sigma = _number("cauchy_", "median", median), _number("cauchy_", "sigma", sigma)
    if sigma <= 0:
        raise ArgumentError(f"cauchy_: expects sigma > 0.0, got {sigma}")
    return _fill_("cauchy_", self, "cauchy", median, sigma, generator)


def geometric_(self, p, *, generator=None):
    """Fill in place with the number of Bernoulli(p) trials up to the first success
    (1, 2, ...; ``0 < p < 1``), in any non-bool dtype; returns self."""
    p = _number("geometric_", "p", p)
    if not 0 < p < 1:
        raise ArgumentError(f"geometric_: expects p in (0, 1), got {p}")
    if self.dtype == "bool":
        raise DTypeError(f"geometric_: not for a bool tensor (shape {self.shape})")
    return _fill_("geometric_", self, "geometric", p, 0.0, generator, check_float=False)


#: the largest integer random_() draws for each dtype by default: the dtype's maximum
#: (floats: 2^mantissa digits, every integer up to it exact)
_RANDOM_TOP = {"float16": 1 << 11, "bfloat16": 1 << 8, "float32": 1 << 24, "float64": 1 << 53, "int8": 127,
               "uint8": 255, "int16": (1 << 15) - 1, "int32": (1 << 31) - 1, "int64": (1 << 63) - 1, "bool": 1}


def _random_kernel(x, seed, low, span):
    return sampling.random_integers(x, seed, low, span)


def random_(self, *args, to=None, generator=None):
    """Fill in place with integers drawn uniformly (PyTorch's overloads): ``random_()``
    from ``[0, top]`` with ``top`` the dtype's largest value (floats: ``2^mantissa
    digits``), ``random_(to)`` from ``[0, to)``, ``random_(from, to)`` from
    ``[from, to)``; returns self."""
    if len(args) > 2 or (len(args) == 2 and to is not None):
        raise ArgumentError(f"random_: takes (), (to) or (from, to), got {len(args)} positional arguments and "
                            f"to={to!r}")
    if len(args) == 2:
        low, high = args
    elif len(args) == 1:
        low, high = (args[0], to) if to is not None else (0, args[0])
    else:
        low, high = 0, to
    if high is None:
        high = _RANDOM_TOP[self.dtype] + 1
    for name, value in (("from", low), ("to", high)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ArgumentError(f"random_: {name} must be an int, got {value!r}")
    low, high = int(low), int(high)
    if low >= high:
        raise ArgumentError(f"random_: expects from < to, got from={low} and to={high}")
    if high - 1 > _RANDOM_TOP[self.dtype] or (self.dtype.startswith("float") and low < -_RANDOM_TOP[self.dtype]):
        raise ArgumentError(f"random_: [{low}, {high}) does not fit a {self.dtype} tensor exactly")
    if high - low > 1 << 63:
        raise ArgumentError(f"random_: the range [{low}, {high}) spans more than 2^63 values")

    def draw(old, _):
        if not old.numel():
            return old
        span = high - low if high - low < 1 << 63 else 0       # 0: all 63 bits (topi.sampling)
        return _run("random_integers", _random_kernel, [old], (low, span), ("int64", "int64"),
                    generator=generator)
    return indexing.update(self, draw, None, "random_")


def _bernoulli_kernel(p, seed):
    return sampling.bernoulli(p, seed)


def _probabilities(op, p):
    """Refuse probabilities outside [0, 1] (where the values can be read: on the host,
    outside tm.jit)."""
    if dispatch.thread.tracer is None and p.device.kind == "cpu" and p.numel():
        values = p.numpy()
        if not (values.min() >= 0 and values.max() <= 1):      # NaN fails too
            raise ArgumentError(f"{op}: expects all probabilities in [0, 1], got values in "
                                f"[{values.min()}, {values.max()}] (shape {p.shape})")


def bernoulli(input, p=None, *, generator=None):
    """1 with probability ``input[i]`` (float probabilities in [0, 1]) else 0, in
    ``input``'s dtype; with ``p`` (a number), 1 with probability ``p`` in every element
    of a tensor of ``input``'s shape and dtype (PyTorch's ``bernoulli(input, p)``)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"bernoulli: takes a Tensor, got {type(input).__name__}")
    if p is not None:
        p = _number("bernoulli", "p", p)
        if not 0 <= p <= 1:
            raise ArgumentError(f"bernoulli: expects p in [0, 1], got {p}")
        _float_tensor("bernoulli", input)
        return _sample_like(input.detach(), "bernoulli", p, 0.0, generator)
    _float_tensor("bernoulli", input)
    _probabilities("bernoulli", input)
    if not input.numel():
        return Tensor._wrap(nd.empty(input.shape, input.dtype, input.device))
    return _zero_gradient(_run("bernoulli", _bernoulli_kernel, [input.detach()], (), (), generator=generator), input)


def bernoulli_(self, p=0.5, *, generator=None):
    """Fill in place with 1 with probability ``p`` (a number, or a tensor of
    probabilities broadcasting to this one's shape) else 0; returns self. Any non-bool
    dtype (the draws are 0 and 1)."""
    if self.dtype == "bool":
        raise DTypeError(f"bernoulli_: not for a bool tensor (shape {self.shape})")
    if not isinstance(p, Tensor):
        p = _number("bernoulli_", "p", p)
        if not 0 <= p <= 1:
            raise ArgumentError(f"bernoulli_: expects p in [0, 1], got {p}")
        return _fill_("bernoulli_", self, "bernoulli", p, 0.0, generator, check_float=False)
    ops.check_device("bernoulli_", self, p)
    _float_tensor("bernoulli_ (the probabilities)", p)
    _probabilities("bernoulli_", p)
    probabilities = ops.broadcast_to(p.detach(), self.shape) if p.shape != self.shape else p.detach()
    return indexing.update(self, lambda old, _: bernoulli(probabilities, generator=generator), None, "bernoulli_")


def _normal_args(mean, std):
    return [v for v in (mean, std) if isinstance(v, Tensor)]


def normal(mean, std=1.0, size=None, *, generator=None, dtype=None, device=None, requires_grad=False):
    """Draws of N(mean, std²) (PyTorch's ``torch.normal`` overloads): ``mean`` and/or
    ``std`` tensors (broadcast together; a number for the other), or both numbers and
    ``size`` (a tensor of ``dtype``, default float32, on ``device``)."""
    tensors = _normal_args(mean, std)
    if not tensors:
        if size is None:
            raise ArgumentError("normal: with a number mean and std, give size (the shape to draw)")
        mean, std = _number("normal", "mean", mean), _number("normal", "std", std)
        if std < 0:
            raise ArgumentError(f"normal: expects std >= 0.0, got {std}")
        shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
        out = zeros(shape, dtype=dtype or "float32", device=device)
        _float_tensor("normal", out)
        out = _sample_like(out, "normal", mean, std, generator)
        return out.requires_grad_(True) if requires_grad else out
    if size is not None:
        raise ArgumentError("normal: size is for a number mean and std; with tensors the shape is theirs")
    for name, t in (("mean", mean), ("std", std)):
        if isinstance(t, Tensor):
            _float_tensor(f"normal ({name})", t)
    if isinstance(std, Tensor) and dispatch.thread.tracer is None and std.device.kind == "cpu" and std.numel() \
            and not std.numpy().min() >= 0:
        raise ArgumentError(f"normal: expects all std >= 0.0, got a minimum of {std.numpy().min()}")
    if not isinstance(std, Tensor) and _number("normal", "std", std) < 0:
        raise ArgumentError(f"normal: expects std >= 0.0, got {std}")
    if len(tensors) == 2:
        ops.check_device("normal", mean, std)
        shape = ops.broadcast_shapes("normal", mean.shape, std.shape)
    else:
        shape = tensors[0].shape
    like = Tensor._wrap(nd.empty(shape, tensors[0].dtype, tensors[0].device))
    with no_grad():
        noise = _sample_like(like, "normal", 0.0, 1.0, generator)
        drawn = noise * (std.detach() if isinstance(std, Tensor) else std) + \
            (mean.detach() if isinstance(mean, Tensor) else mean)
    return _zero_gradient(drawn, mean, std)


def _poisson_kernel(rates, seed):
    return poisson_kernels.poisson(rates, seed)


def poisson(input, generator=None):
    """Draws of the Poisson distribution of rate ``input[i]`` (a float tensor of finite,
    non-negative rates) in ``input``'s shape, dtype and device; a result with a zero
    gradient to ``input``, as PyTorch's. Exact samplers: inversion below rate 10,
    transformed rejection (PTRS) from 10 on (see ``topi.poisson``)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"poisson: takes a Tensor, got {type(input).__name__}")
    _float_tensor("poisson", input)
    if dispatch.thread.tracer is None and input.device.kind == "cpu" and input.numel():
        values = input.numpy()
        if not (values.min() >= 0 and np.isfinite(values).all()):          # NaN fails too
            raise ArgumentError(f"poisson: invalid Poisson rate, expected rate to be non-negative and finite, got "
                                f"values in [{values.min()}, {values.max()}] (input of shape {input.shape})")
    if not input.numel():
        return Tensor._wrap(nd.empty(input.shape, input.dtype, input.device))
    flat = ops.reshape(input.detach(), (input.numel(),))
    drawn = _run("poisson", _poisson_kernel, [flat], (), (), generator=generator)
    return _zero_gradient(ops.reshape(drawn, input.shape), input)


def _race_kernel(weights, seed):
    return sampling.race_keys(weights, seed)


def _categorical_kernel(cdf, seed, num_samples):
    return sampling.categorical(cdf, seed, num_samples)


def multinomial(input, num_samples, replacement=False, *, generator=None):
    """``num_samples`` category indices (int64) per row of ``input`` (1-D, or 2-D rows
    of non-negative weights, not all 0), drawn with probability proportional to the
    weights; without ``replacement`` no index repeats in a row (each next draw among
    the categories left, PyTorch's distribution: the ``num_samples`` earliest arrivals
    of exponential clocks of rate ``weight``, then sorted by arrival)."""
    if not isinstance(input, Tensor):
        raise DTypeError(f"multinomial: takes a Tensor, got {type(input).__name__}")
    if input.ndim not in (1, 2):
        raise ShapeError(f"multinomial: input must be 1-D or 2-D, got shape {input.shape}")
    _float_tensor("multinomial", input)
    if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples <= 0:
        raise ArgumentError(f"multinomial: num_samples must be a positive int, got {num_samples!r}")
    n = input.shape[-1]
    if n == 0:
        raise ShapeError(f"multinomial: input of shape {input.shape} has no categories")
    if not replacement and num_samples > n:
        raise ArgumentError(f"multinomial: cannot draw {num_samples} samples without replacement from "
                            f"{n} categories")
    rows = ops.reshape(input.detach(), (-1, n)) if input.ndim == 1 else input.detach()
    if dispatch.thread.tracer is None and rows.device.kind == "cpu":
        values = rows.numpy()
        if not (np.all(np.isfinite(values)) and values.min() >= 0):
            raise ArgumentError("multinomial: weights must be finite and non-negative "
                                f"(input of shape {input.shape})")
        positive = (values > 0).sum(axis=1)
        if positive.min() == 0:
            raise ArgumentError(f"multinomial: a row of input (shape {input.shape}) sums to 0")
        if not replacement and positive.min() < num_samples:
            raise ArgumentError(f"multinomial: cannot draw {num_samples} samples without replacement from a row "
                                f"with {positive.min()} categories of non-zero weight")
    if replacement:
        out = _run("multinomial", _categorical_kernel, [cumsum(rows, 1)], (), (),
                   (("num_samples", int(num_samples)),), generator)
    else:
        keys = _run("race_keys", _race_kernel, [rows], (), (), generator=generator)
        out = topk(keys, int(num_samples), dim=1, largest=False)[1]
    return ops.reshape(out, (num_samples,)) if input.ndim == 1 else out


def _bernoulli_method(self, p=None, *, generator=None):
    return bernoulli(self, p, generator=generator)


add_methods({
    "bernoulli": _bernoulli_method,
    "bernoulli_": bernoulli_,
    "uniform_": uniform_,
    "normal_": normal_,
    "log_normal_": log_normal_,
    "exponential_": exponential_,
    "cauchy_": cauchy_,
    "geometric_": geometric_,
    "random_": random_,
    "multinomial": lambda self, num_samples, replacement=False, *, generator=None: multinomial(
        self, num_samples, replacement, generator=generator),
})


"""Counter-based random numbers: every element is a hash of (its index, seed, offset).

No generator state lives anywhere: element ``i`` of a draw is ``hash(i + offset, seed)``,
so a kernel is a plain elementwise compute, any schedule gives the same numbers, and the
same seed reproduces the same tensor (dropout's mask in backward is recomputed from the
seed instead of stored).

Runtime arguments: ``seed`` and ``offset`` are scalar expressions — normally
``te.var(..., dtype="int64")`` (see :func:`seed_var`) listed among ``tm.build``'s
arguments and passed as Python ints at call time, so a new training step changes the
seed without recompiling; Python ints work too (they are baked into the kernel).

The hash is the tir intrinsic ``counter_hash`` (``tir/counter_hash.py``: xor-shift and
wrapping 32-bit multiply rounds, 32 bits out), which every code generator renders as
straight-line integer code (vector code on the CPU) and the numpy reference evaluates
the same way. The statistical tests in tests/test_topi_random.py (moments, chi-square
over bins and over pairs, correlation of neighbours and of neighbouring seeds) check
that the result is fit for initialisation and dropout; it is not cryptographic.
"""
import math

from .. import te
from ..errors import DTypeError, TVMiniError
from ..tir import counter_hash
from ..tir import dtype as dt
from ..tir import expr as E

__all__ = ["seed_var", "uniform", "normal", "bernoulli_mask", "dropout", "random_bits"]


def seed_var(name="seed"):
    """An int64 scalar argument for ``seed``/``offset`` (list it among build's args)."""
    return te.var(name, dtype="int64")


def _int64(value, what):
    value = E.convert(value)
    if not dt.is_int(value.dtype):
        raise DTypeError(f"random: {what} must be an integer (a Python int or an int te.var), got {value.dtype}")
    return value.astype("int64")


def _hash(counter, seed):
    """32 random bits of the int64 ``counter`` and ``seed``, as int64 in [0, 2^32)."""
    return E.call(counter_hash.NAME, counter, seed)


def _flat_index(shape, idx):
    flat = E.const(0, "int64")
    for i, n in zip(idx, shape):
        flat = flat * n.astype("int64") + i.astype("int64")
    return flat


def _unit(bits, dtype):
    """A hash as a float in the open interval (0, 1): 24 bits for float32, 32 for float64."""
    if dtype == "float64":
        return (bits.astype("float64") + 0.5) * (1.0 / (1 << 32))
    return ((bits // 256).astype(dtype) + 0.5) * (1.0 / (1 << 24))


def _draw(shape, seed, offset, stream, fn, name):
    if isinstance(shape, int):
        shape = (shape,)
    seed, offset = _int64(seed, "seed"), _int64(offset, "offset")
    shape = [E.convert(n) for n in shape]

    def body(*idx):
        counter = _flat_index(shape, idx) + offset
        return fn(lambda k: _hash(counter * stream + k, seed))
    return te.compute(shape, body, name=name, tag="elemwise")


def _float_dtype(dtype, op):
    dtype = dt.canonical(dtype)
    if not dt.is_float(dtype):
        raise DTypeError(f"{op}: dtype must be a float type, got {dtype}")
    return dtype


def random_bits(shape, seed, offset=0):
    """Uniform integers in [0, 2^32) as int64 (the raw hash)."""
    return _draw(shape, seed, offset, 1, lambda bits: bits(0), "random_bits")


def uniform(shape, seed, dtype="float32", low=0.0, high=1.0, offset=0):
    """Uniform numbers in the open interval (low, high); float32 has 24 random bits,
    float64 32. ``offset`` shifts the counter: element ``i`` with offset ``k`` equals
    element ``i + k`` of the same seed's flat stream."""
    dtype = _float_dtype(dtype, "uniform")
    return _draw(shape, seed, offset, 1, lambda bits: low + (high - low) * _unit(bits(0), dtype), "uniform")


def normal(shape, seed, dtype="float32", mean=0.0, std=1.0, offset=0):
    """Normal numbers by Box-Muller from two uniforms per element (counters 2i, 2i+1)."""
    dtype = _float_dtype(dtype, "normal")

    def fn(bits):
        u1, u2 = _unit(bits(0), dtype), _unit(bits(1), dtype)
        return mean + std * (te.sqrt(-2.0 * te.log(u1)) * te.cos((2 * math.pi) * u2))
    return _draw(shape, seed, offset, 2, fn, "normal")


def _check_p(p_keep, op):
    if isinstance(p_keep, (int, float)) and not 0 < p_keep <= 1:
        raise TVMiniError(f"{op}: p_keep must be in (0, 1], got {p_keep}")


def bernoulli_mask(shape, p_keep, seed, dtype="float32", offset=0):
    """1 with probability ``p_keep`` (a number or a float te.var), else 0."""
    _check_p(p_keep, "bernoulli_mask")
    dtype = dt.canonical(dtype)
    return _draw(shape, seed, offset, 1, lambda bits: te.if_then_else(
        _unit(bits(0), "float32") < p_keep, E.const(1, dtype), E.const(0, dtype)), "bernoulli_mask")


def dropout(x, p_keep, seed, offset=0):
    """``x / p_keep`` where the mask of ``bernoulli_mask(x.shape, p_keep, seed)`` is 1,
    else 0, in one kernel. The gradient is ``dropout(grad, p_keep, seed)`` with the same
    seed and offset (the mask is recomputed, not stored)."""
    if not isinstance(x, te.Tensor):
        raise TVMiniError(f"dropout: expects a te tensor, got {type(x).__name__}")
    _check_p(p_keep, "dropout")
    seed, offset = _int64(seed, "seed"), _int64(offset, "offset")

    def body(*idx):
        keep = _unit(_hash(_flat_index(x.shape, idx) + offset, seed), "float32") < p_keep
        return te.if_then_else(keep, x[idx] / E.convert(p_keep).astype(x.dtype), E.const(0, x.dtype))
    return te.compute(x.shape, body, name="dropout", tag="elemwise")

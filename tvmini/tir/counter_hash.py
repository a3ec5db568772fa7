"""The counter hash: 32 well-mixed random bits from a 64-bit counter and a 64-bit seed.

``topi.random`` draws element ``i`` of a stream as ``counter_hash(i + offset, seed)``, the
tir intrinsic ``tir.call("counter_hash", counter, seed)`` (int64, in [0, 2^32)). It is an
intrinsic rather than an expression of tir arithmetic because a good mixer is made of
xor-shifts and wrapping 32-bit multiplies: the tir has neither, and as an expression tree
every ``x ^ (x >> 16)`` reads ``x`` twice, so a few rounds grow the tree exponentially
(and every pass walks the tree).

The algorithm is written once, below, against a handful of operations on unsigned 32-bit
words (``ops``: ``low``/``high`` words of a 64-bit value, ``xor``, ``shr``, ``mul``,
``add``; a Python int operand is a constant), and each backend renders it with its own
``ops``: numpy for the reference (:func:`numpy_hash`), LLVM IR on the CPU (scalar or
vector: the vectorizer's lanes run it side by side), a C device function on CUDA
(:func:`c_function`).

The mixer is Chris Wellons' "lowbias32" (from his hash-prospector search: xor-shift,
multiply, twice; a bijection of 32-bit words with low avalanche bias). The seed's two
words are mixed into a key (it does not depend on the counter, so compilers hoist it out
of the loop); the counter's low word is mixed with the key, then the result with the mixed
high word, so counters 2^32 apart differ too. Not cryptographic; tests/test_topi_random.py
checks moments, chi-square over bins and pairs, and correlations of neighbours and seeds.
"""
import numpy as np

GOLDEN = 0x9E3779B9
_MUL1, _MUL2 = 0x7FEB352D, 0x846CA68B
#: The intrinsic's name in ``tir.Call``.
NAME = "counter_hash"


def _mix(ops, x):
    """lowbias32: a bijection of 32-bit words."""
    x = ops.xor(x, ops.shr(x, 16))
    x = ops.mul(x, _MUL1)
    x = ops.xor(x, ops.shr(x, 15))
    x = ops.mul(x, _MUL2)
    return ops.xor(x, ops.shr(x, 16))


def hash32(ops, counter, seed):
    """The hash of the 64-bit ``counter`` and ``seed`` as one 32-bit word (in ``ops``' terms)."""
    key = _mix(ops, ops.xor(ops.low(seed), _mix(ops, ops.add(ops.high(seed), GOLDEN))))
    x = _mix(ops, ops.xor(ops.low(counter), key))
    return _mix(ops, ops.xor(ops.add(x, key), _mix(ops, ops.add(ops.high(counter), key))))


class _NumpyOps:
    """uint32 arrays; Python ints are constants."""

    @staticmethod
    def _u32(v):
        return np.uint32(v) if isinstance(v, int) else v

    def low(self, v):
        return (np.asarray(v, np.int64).view(np.uint64) & np.uint64(0xFFFFFFFF)).astype(np.uint32)

    def high(self, v):
        return (np.asarray(v, np.int64).view(np.uint64) >> np.uint64(32)).astype(np.uint32)

    def xor(self, a, b):
        return a ^ self._u32(b)

    def shr(self, a, k):
        return a >> np.uint32(k)

    def mul(self, a, b):
        return a * self._u32(b)

    def add(self, a, b):
        return a + self._u32(b)


def numpy_hash(counter, seed):
    """The hash of int64 arrays (or ints) ``counter`` and ``seed``, as int64 in [0, 2^32)."""
    with np.errstate(over="ignore"):
        return hash32(_NumpyOps(), counter, seed).astype(np.int64)


class _CStatements:
    """C statements, one ``unsigned int`` temporary per operation."""

    def __init__(self):
        self.lines = []

    def _let(self, expression):
        name = f"h{len(self.lines)}"
        self.lines.append(f"unsigned int {name} = {expression};")
        return name

    @staticmethod
    def _operand(v):
        return f"{v}u" if isinstance(v, int) else v

    def low(self, v):
        return self._let(f"(unsigned int)(unsigned long long){v}")

    def high(self, v):
        return self._let(f"(unsigned int)((unsigned long long){v} >> 32)")

    def xor(self, a, b):
        return self._let(f"{a} ^ {self._operand(b)}")

    def shr(self, a, k):
        return self._let(f"{a} >> {k}")

    def mul(self, a, b):
        return self._let(f"{a} * {self._operand(b)}")

    def add(self, a, b):
        return self._let(f"{a} + {self._operand(b)}")


def c_function(name, qualifiers=""):
    """C source of ``long long name(long long counter, long long seed)`` computing the hash,
    on one line (like the other helpers ahead of a CUDA module's kernels)."""
    ops = _CStatements()
    result = hash32(ops, "counter", "seed")
    return (f"{qualifiers}long long {name}(long long counter, long long seed) {{ {' '.join(ops.lines)} "
            f"return (long long){result}; }}\n")

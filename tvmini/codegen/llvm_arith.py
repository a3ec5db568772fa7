"""The arithmetic of LLVM code generation that is more than one instruction: numpy's
float ``maximum``/``minimum`` (NaN-propagating, x86's max/min instructions on vectors),
integer and float floor division and remainder as numpy computes them, and shifts that
are defined for every count. ``FunctionBuilder`` (``codegen.llvm``) inherits these; they
use its ``builder``, ``_extern`` and ``_intrinsic``."""
import llvmlite.ir as ir

from ..tir import dtype as dt
from ..tir import expr as E
from .llvm_target import host_features


def splat(ty, value):
    """The constant ``value`` of type ``ty`` (every lane of it when ``ty`` is a vector)."""
    if isinstance(ty, ir.VectorType):
        return ir.Constant(ty, [ir.Constant(ty.element, value)] * ty.count)
    return ir.Constant(ty, value)


class Arithmetic:
    """Multi-instruction arithmetic of a ``FunctionBuilder`` (see the module docstring)."""

    def _float_min_max(self, op, a, b_):
        """numpy's ``maximum``/``minimum`` (``op`` ">" or "<"): ``a`` if it is NaN, else
        ``a op b ? a : b`` (so a NaN ``b`` too gives NaN, and of two equal zeros ``b``).
        ``llvm.maximum`` (which also orders -0 below +0) is six x86 instructions on the
        dependency chain of a max reduction. Two selects are four, but LLVM folds them
        into one select on ``a`` unordered-or-greater, a compare into a mask register
        that costs more latency than the whole ``maxps``; on x86 vectors the inner
        select is therefore the ``maxps``/``minps`` instruction itself
        (``_x86_min_max``), which LLVM leaves alone (1024x1024 float32, Zen 5, 2
        threads, interleaved A/B: max over rows 48 -> 41 us, min over columns 40 -> 31,
        argmax 74 -> 63, max of all 32 -> 25)."""
        b = self.builder
        native = self._x86_min_max(op, a.type)
        inner = (b.call(native[0], [a, b_] + native[1]) if native is not None
                 else b.select(b.fcmp_ordered(op, a, b_), a, b_))
        return b.select(b.fcmp_unordered("uno", a, a), a, inner)

    def _x86_min_max(self, op, t):
        """``(function, extra arguments)`` of the x86 ``max``/``min`` instruction on float
        vector type ``t`` (``a op b ? a : b``, so ``b`` when either is NaN: the same
        result as the portable select, signed zeros included), or None where the host
        has no such instruction for ``t``."""
        width = {ir.FloatType(): 32, ir.DoubleType(): 64}.get(getattr(t, "element", None))
        if not isinstance(t, ir.VectorType) or width is None:
            return None
        bits, kind, suffix = t.count * width, "max" if op == ">" else "min", "ps" if width == 32 else "pd"
        names = {128: (f"llvm.x86.{'sse' if width == 32 else 'sse2'}.{kind}.{suffix}", "sse2"),
                 256: (f"llvm.x86.avx.{kind}.{suffix}.256", "avx"),
                 512: (f"llvm.x86.avx512.{kind}.{suffix}.512", "avx512f")}
        if bits not in names or not host_features().get(names[bits][1]):
            return None
        if bits == 512:      # the AVX-512 form takes a rounding/exception control: 4, the current mode
            return self._extern(names[bits][0], t, [t, t, ir.IntType(32)]), [ir.Constant(ir.IntType(32), 4)]
        return self._extern(names[bits][0], t, [t, t]), []

    def _floor_divmod(self, cls, a, b_, dtype):
        b = self.builder
        if dt.is_float(dtype):
            return self._float_divmod(cls, a, b_, dtype)
        if dtype.startswith("uint") or dtype == "bool":
            return b.udiv(a, b_) if cls is E.FloorDiv else b.urem(a, b_)
        zero = splat(a.type, 0)
        q, r = b.sdiv(a, b_), b.srem(a, b_)
        adjust = b.and_(b.icmp_signed("!=", r, zero), b.xor(b.icmp_signed("<", r, zero), b.icmp_signed("<", b_, zero)))
        if cls is E.FloorDiv:
            return b.sub(q, b.zext(adjust, a.type))
        return b.select(adjust, b.add(r, b_), r)

    def _float_divmod(self, cls, a, b_, dtype):
        """Float ``a // b`` and ``a % b`` as numpy (and Python) compute them: from the
        exact remainder ``fmod`` (``frem``), then moved to the divisor's sign; the
        quotient is ``(a - fmod) / b`` rounded to the nearest integer. ``a - floor(a / b)
        * b`` lost the remainder to rounding (``1e20 % 3`` gave 0, ``7.5 % inf`` NaN,
        ``3 // 0.1`` 30)."""
        b = self.builder
        zero, copysign = splat(a.type, 0.0), self._intrinsic("llvm.copysign", dtype, 2)
        mod = b.frem(a, b_)
        nonzero = b.fcmp_unordered("!=", mod, zero)                 # NaN counts as nonzero, as in C
        flip = b.and_(nonzero, b.xor(b.fcmp_ordered("<", b_, zero), b.fcmp_ordered("<", mod, zero)))
        if cls is E.FloorMod:
            return b.select(nonzero, b.select(flip, b.fadd(mod, b_), mod), b.call(copysign, [zero, b_]))
        exact = b.fdiv(a, b_)
        div = b.fdiv(b.fsub(a, mod), b_)
        div = b.select(flip, b.fsub(div, splat(a.type, 1.0)), div)
        down = b.call(self._intrinsic("llvm.floor", dtype, 1), [div])
        nearest = b.select(b.fcmp_ordered(">", b.fsub(div, down), splat(a.type, 0.5)), b.fadd(down, splat(a.type, 1.0)),
                           down)
        quotient = b.select(b.fcmp_unordered("!=", div, zero), nearest, b.call(copysign, [zero, exact]))
        return b.select(b.fcmp_ordered("==", b_, zero), exact, quotient)

    def bitwise(self, name, dtype, args):
        """Integer ``& | ^ ~ << >>``; a shift count outside ``[0, width)`` gives 0 (-1 for
        ``>>`` of a negative signed value) instead of LLVM's poison."""
        b = self.builder
        if name == "bitwise_not":
            return b.not_(args[0])
        if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
            return {"bitwise_and": b.and_, "bitwise_or": b.or_, "bitwise_xor": b.xor}[name](*args)
        value, count = args
        width = dt.bits(dtype)
        out_of_range = b.icmp_unsigned(">=", count, splat(count.type, width))
        signed = not dtype.startswith("uint")
        if name == "left_shift":
            return b.select(out_of_range, splat(value.type, 0), b.shl(value, count))
        shifted = b.ashr(value, count) if signed else b.lshr(value, count)
        fill = b.ashr(value, splat(value.type, width - 1)) if signed else splat(value.type, 0)
        return b.select(out_of_range, fill, shifted)

"""Loop IR -> LLVM IR (llvmlite), for the host CPU.

The generated function is ``void name(ptr noalias A, ptr noalias B, ..., i32 n, ...)``:
one pointer per buffer argument, then the symbolic extents. Every ``Allocate`` is
hoisted to the function entry (its size depends only on symbolic extents): small
constant-size buffers live on the stack, others are ``malloc``ed and freed on exit.
``Select`` (``te.if_then_else``) evaluates only the taken branch when a branch loads
memory, so padded reads never touch memory outside a buffer — unless every load of both
branches provably stays inside its buffer (:meth:`FunctionBuilder.always_safe`, from the
constant ranges of the enclosing loops), when both are computed and selected without a
branch (in vector code: loads and gathers without a mask).
"""
import llvmlite.ir as ir

from ..errors import BuildError
from ..runtime.module import entry_symbol
from ..tir import counter_hash
from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.arith import const_interval
from ..tir.functor import walk
from ..tir.simplify import simplify
from ..tir.stmt import Allocate, For, ForKind
from .llvm_arith import Arithmetic, splat
from .llvm_target import parallel_runtime, runtime_has
from .parallel import building_serially

STACK_LIMIT_BYTES = 64 * 1024
HEAP_ALIGN = 64
# Fast-math flags on float arithmetic (+ - * /). Strict, the default: only contraction
# (a*b+c -> fma), which changes nothing but the rounding of the intermediate product;
# sums keep the order the schedule gives them, so results do not depend on how LLVM
# vectorizes. Fast (``build(..., fastmath=True)``): also reassociation (a reduction may be
# summed in several partial sums: LLVM vectorizes it), no signed zeros and reciprocal
# division (x / y -> x * (1 / y)). Never nnan/ninf: NaN and infinity keep propagating.
STRICT_FLOAT_FLAGS = ("contract",)
FAST_FLOAT_FLAGS = ("reassoc", "nsz", "arcp", "contract")

_FLOAT_TYPES = {"float16": ir.HalfType(), "float32": ir.FloatType(), "float64": ir.DoubleType()}
#: math functions LLVM has no intrinsic for: called in the C math library (float, double)
_LIBM = {name: {"float32": f"{name}f", "float64": name}
         for name in ("tanh", "erf", "tan", "atan", "asin", "acos", "expm1", "log1p")}
_INTRINSIC = {"exp": "llvm.exp", "log": "llvm.log", "sqrt": "llvm.sqrt", "cos": "llvm.cos", "sin": "llvm.sin",
              "floor": "llvm.floor", "ceil": "llvm.ceil", "round": "llvm.rint", "trunc": "llvm.trunc",
              "abs": "llvm.fabs", "power": "llvm.pow", "exp2": "llvm.exp2", "log2": "llvm.log2",
              "log10": "llvm.log10"}


def llvm_type(dtype, in_memory=False):
    if dtype in _FLOAT_TYPES:
        return _FLOAT_TYPES[dtype]
    if dtype == "bool":
        return ir.IntType(8 if in_memory else 1)
    return ir.IntType(dt.bits(dtype))


class KernelModule(ir.Module):
    """An LLVM module of kernels; ``float_flags`` are the fast-math flags of its float
    arithmetic (every function emitted into it, parallel bodies included, uses them)."""

    def __init__(self, name, float_flags):
        super().__init__(name=name)
        self.float_flags = float_flags


class _HashOps:
    """The counter hash's 32-bit operations (``tir/counter_hash.py``) as LLVM
    instructions on i32 values, or i32 vectors where the 64-bit inputs are vectors."""

    def __init__(self, builder, wide_type):
        self.b = builder
        count = getattr(wide_type, "count", None)
        self.word = ir.IntType(32) if count is None else ir.VectorType(ir.IntType(32), count)

    def _value(self, v):
        return splat(self.word, v) if isinstance(v, int) else v

    def low(self, v):
        return self.b.trunc(v, self.word)

    def high(self, v):
        return self.b.trunc(self.b.lshr(v, splat(v.type, 32)), self.word)

    def xor(self, a, c):
        return self.b.xor(a, self._value(c))

    def shr(self, a, k):
        return self.b.lshr(a, splat(self.word, k))

    def mul(self, a, c):
        return self.b.mul(a, self._value(c))

    def add(self, a, c):
        return self.b.add(a, self._value(c))


class FunctionBuilder(Arithmetic):
    """Emits one function: ``void name(ptr noalias buffers..., scalars...)``.

    ``parallel`` says whether loops marked parallel are run on the thread pool (only in
    the kernel itself: inside a parallel body, nested parallel loops run serially).
    Buffers in ``may_alias`` (an in-place output and its input) are not marked noalias.
    ``ranges`` maps loop variables to their constant inclusive bounds (a parallel body
    inherits its kernel's, its own loop's included).
    """

    def __init__(self, module, name, buffers, scalars, body, parallel=True, may_alias=frozenset(), ranges=None):
        self.module, self.body = module, body
        self.parallel = parallel and parallel_runtime() is not None and not building_serially()
        self.may_alias = may_alias
        self.ranges = dict(ranges or {})
        self.float_flags = module.float_flags
        ptr = ir.PointerType()
        arg_types = [ptr] * len(buffers) + [llvm_type(v.dtype) for v in scalars]
        self.fn = ir.Function(module, ir.FunctionType(ir.VoidType(), arg_types), name=name)
        self.entry = self.fn.append_basic_block("entry")
        self.builder = ir.IRBuilder(self.fn.append_basic_block("body"))
        self.vars, self.buffers, self.heap = {}, {}, []
        self.n_parallel = 0
        self.index_depth = [0]      # shared with vector builders: > 0 while emitting an address
        for arg, buf in zip(self.fn.args, buffers):
            arg.name = buf.name
            if buf not in may_alias:
                arg.add_attribute("noalias")
            self.buffers[buf] = arg
        for arg, v in zip(self.fn.args[len(buffers):], scalars):
            arg.name = v.name
            self.vars[v] = arg

    def build(self):
        self._allocate_all()
        self.stmt(self.body)
        for p in self.heap:
            self.builder.call(self._extern("free", ir.VoidType(), [ir.PointerType()]), [p])
        self.builder.ret_void()
        entry = ir.IRBuilder(self.entry)
        entry.branch(self.fn.blocks[1])
        return self.fn

    # memory -------------------------------------------------------------------
    def _allocations(self, stmt, found):
        """Allocations owned by this function (not those inside a lifted parallel body)."""
        if stmt is None:
            return found
        if isinstance(stmt, Allocate):
            found.append(stmt.buffer)
        if isinstance(stmt, For) and stmt.kind is ForKind.PARALLEL and self.parallel:
            return found
        for field in ("body", "then_case", "else_case"):
            self._allocations(getattr(stmt, field, None), found)
        for x in getattr(stmt, "seq", ()):
            self._allocations(x, found)
        return found

    def _allocate_all(self):
        allocs = self._allocations(self.body, [])
        entry = ir.IRBuilder(self.entry)
        for buf in allocs:
            elem = llvm_type(buf.dtype, in_memory=True)
            count = _size(buf.shape) if all(isinstance(x, E.Const) for x in buf.shape) else None
            itemsize = max(1, dt.bits(buf.dtype) // 8)
            if count is not None and count * itemsize <= STACK_LIMIT_BYTES:
                ptr = entry.alloca(elem, size=ir.Constant(ir.IntType(64), count), name=buf.name)
                ptr.align = 64
                ptr.type = ir.PointerType()   # opaque like every other buffer pointer (vector stores)
            else:
                n = ir.Constant(ir.IntType(64), count) if count is not None else \
                    self.builder.zext(self.expr(_product(buf.shape)), ir.IntType(64))
                nbytes = self.builder.mul(n, ir.Constant(ir.IntType(64), itemsize))
                # aligned_alloc wants a multiple of the alignment: round up to whole cache lines
                nbytes = self.builder.and_(self.builder.add(nbytes, ir.Constant(ir.IntType(64), HEAP_ALIGN - 1)),
                                           ir.Constant(ir.IntType(64), -HEAP_ALIGN))
                ptr = self.builder.call(self._extern("aligned_alloc", ir.PointerType(), [ir.IntType(64)] * 2),
                                        [ir.Constant(ir.IntType(64), HEAP_ALIGN), nbytes], name=buf.name)
                self.heap.append(ptr)
            self.buffers[buf] = ptr

    def _extern(self, name, ret, args):
        fn = self.module.globals.get(name)
        if fn is None:
            fn = ir.Function(self.module, ir.FunctionType(ret, args), name=name)
        return fn

    def index_bounds(self, load):
        """(lowest, highest) index ``load`` reads over the loop ranges and its buffer's
        size, or None unless all three are constants."""
        if not all(isinstance(x, E.Const) for x in load.buffer.shape):
            return None
        bounds = const_interval(load.indices[0], self.ranges)
        return None if bounds is None else (*bounds, _size(load.buffer.shape))

    def in_bounds(self, load):
        """Whether ``load`` reads inside its buffer for every value of the loop variables
        (constant buffer size and loop ranges; anything else is not proven)."""
        bounds = self.index_bounds(load)
        return bounds is not None and bounds[0] >= 0 and bounds[1] < bounds[2]

    def always_safe(self, e):
        """Whether ``e`` may be evaluated whatever guards it: each of its loads
        :meth:`in_bounds` and each division by a nonzero constant."""
        unsafe = []

        def visit(n):
            if isinstance(n, E.BufferLoad):
                safe = self.in_bounds(n)
            elif isinstance(n, (E.FloorDiv, E.FloorMod)):
                safe = isinstance(n.b, E.Const) and n.b.value != 0
            else:
                return
            if not safe:
                unsafe.append(n)
        walk(e, visit)
        return not unsafe

    def _address(self, buf, index):
        base = self.buffers.get(buf)
        if base is None:
            raise BuildError(f"buffer {buf.name} is used outside its allocation")
        idx = self.builder.sext(self.index_value(index), ir.IntType(64))
        return self.builder.gep(base, [idx], inbounds=True, source_etype=llvm_type(buf.dtype, in_memory=True))

    def index_value(self, index):
        """The int32 element ``index`` of an address. An index of loop variables,
        scalars and constants only (no division, modulo or load) is computed with
        ``nsw`` adds and multiplies: an index into a buffer (under 2^31 elements) never
        wraps, and with the flag LLVM widens ``sext(a + b)`` to ``sext(a) + sext(b)``
        and folds constant offsets and loop steps into the 64-bit address instead of
        recomputing and sign-extending each index (the stem convolution's eight weight
        broadcasts per tap were a ``lea`` and a ``movslq`` each: forward 0.90-1.05 ->
        0.73-0.83 ms). Not with a division or modulo inside: LLVM 22's loop vectorizer
        then turned ``i * 8 + j % 8`` over a fused ``j`` into one contiguous load
        (wrong lanes; ``test_fused_axis_modulo_index_vectorizes_correctly``)."""
        if _has_memory_or_division(index):
            return self.expr(index)
        self.index_depth[0] += 1
        try:
            return self.expr(index)
        finally:
            self.index_depth[0] -= 1

    # statements ---------------------------------------------------------------
    def stmt(self, s):
        if s is None:
            return
        getattr(self, "stmt_" + type(s).__name__)(s)

    def stmt_SeqStmt(self, s):
        for x in s.seq:
            self.stmt(x)

    def stmt_Allocate(self, s):
        self.stmt(s.body)

    def stmt_LetStmt(self, s):
        self.vars[s.var] = self.expr(s.value)
        self.stmt(s.body)

    def stmt_BufferStore(self, s):
        (index,) = s.indices
        value = self.expr(s.value)
        if s.buffer.dtype == "bool":
            value = self.builder.zext(value, ir.IntType(8))
        store = self.builder.store(value, self._address(s.buffer, index))
        store.align = max(1, dt.bits(s.buffer.dtype) // 8)

    def stmt_IfThenElse(self, s):
        cond = self.expr(s.cond)
        if s.else_case is None:
            with self.builder.if_then(cond):
                self.stmt(s.then_case)
        else:
            with self.builder.if_else(cond) as (then, otherwise):
                with then:
                    self.stmt(s.then_case)
                with otherwise:
                    self.stmt(s.else_case)

    def stmt_For(self, s):
        if s.kind is ForKind.THREAD_BINDING:
            raise BuildError(f"loop {s.var.name} is bound to {s.thread_tag}; thread bindings need target 'cuda'")
        self._record_range(s)
        if s.kind is ForKind.PARALLEL and self.parallel:
            return self._parallel_for(s)
        if s.kind is ForKind.VECTORIZED:
            from .vectorize import emit_vectorized
            if emit_vectorized(self, s):
                return
        if s.kind is ForKind.SERIAL and isinstance(s.body, For) and s.body.kind is ForKind.VECTORIZED:
            from .transpose import emit_transposed
            if emit_transposed(self, s):
                return
        start = self.expr(s.min)

        def body(i):
            self.vars[s.var] = i
            self.stmt(s.body)
        self.counted_loop(s.var.name, start, self.builder.add(start, self.expr(s.extent)), 1, body)

    def _record_range(self, s):
        """Constant bounds of loop ``s``'s variable over all its runs (for the in-bounds
        proofs), when the enclosing loops' ranges bound its first and last value: a
        loop whose bounds depend on outer loops (``tir.loop_guards``) gets the hull."""
        first = const_interval(s.min, self.ranges)
        last = const_interval(simplify(s.min + s.extent - 1), self.ranges)
        if first is not None and last is not None and first[0] <= last[1]:
            self.ranges[s.var] = (first[0], last[1])

    def counted_loop(self, name, start, stop, step, body):
        """``for i in range(start, stop, step)`` in LLVM (``start``/``stop`` values of one
        integer type, ``step`` a positive int); ``body(i)`` emits one iteration."""
        b = self.builder
        pre = b.block
        head = b.append_basic_block(f"{name}.head")
        loop = b.append_basic_block(f"{name}.body")
        done = b.append_basic_block(f"{name}.done")
        b.branch(head)
        b.position_at_end(head)
        i = b.phi(start.type, name=name)
        i.add_incoming(start, pre)
        b.cbranch(b.icmp_signed("<", i, stop), loop, done)
        b.position_at_end(loop)
        body(i)
        i.add_incoming(b.add(i, ir.Constant(start.type, step), flags=["nsw"]), b.block)
        b.branch(head)
        b.position_at_end(done)

    def _parallel_for(self, s):
        """Lift the loop body into its own function and run it on the thread pool."""
        from .parallel import emit_parallel_launch
        self.n_parallel += 1
        emit_parallel_launch(self, s, f"{self.fn.name}_par{self.n_parallel}")

    # expressions --------------------------------------------------------------
    def expr(self, e):
        for cls in type(e).__mro__:
            method = getattr(self, "expr_" + cls.__name__, None)
            if method is not None:
                return method(e)
        raise BuildError(f"no LLVM lowering for expression {e}")

    def value_type(self, dtype):
        """The LLVM type of a ``dtype`` value here (a vector of it in a vectorized body)."""
        return llvm_type(dtype)

    def expr_Const(self, e):
        return splat(self.value_type(e.dtype), e.value)

    def expr_Var(self, e):
        v = self.vars.get(e)
        if v is None:
            raise BuildError(f"variable {e.name} is used outside the loop or argument that defines it")
        return v

    def expr_BufferLoad(self, e):
        (index,) = e.indices
        load = self.builder.load(self._address(e.buffer, index), typ=llvm_type(e.buffer.dtype, in_memory=True))
        load.align = max(1, dt.bits(e.buffer.dtype) // 8)
        if e.dtype == "bool":       # any nonzero byte is True, as numpy reads a bool array
            return self.builder.icmp_unsigned("!=", load, ir.Constant(load.type, 0))
        return load

    def expr_Cast(self, e):
        v, src, dst = self.expr(e.value), e.value.dtype, e.dtype
        b = self.builder
        if dst == "bool":
            zero = splat(v.type, 0)
            return b.fcmp_unordered("!=", v, zero) if dt.is_float(src) else b.icmp_unsigned("!=", v, zero)
        t = self.value_type(dst)
        if src == "float64" and dst == "float16" and not runtime_has("__truncdfhf2"):
            # x86 converts double -> half only through libgcc (GCC >= 12); without it, through
            # float (which may round twice) rather than a call of a missing function
            v, src = b.fptrunc(v, self.value_type("float32")), "float32"
        if dt.is_float(src) and dt.is_float(dst):
            return b.fpext(v, t) if dt.bits(dst) > dt.bits(src) else b.fptrunc(v, t)
        if dt.is_float(src):
            return b.fptoui(v, t) if dst.startswith("uint") else b.fptosi(v, t)
        unsigned = src.startswith("uint") or src == "bool"
        if dt.is_float(dst):
            return b.uitofp(v, t) if unsigned else b.sitofp(v, t)
        if dt.bits(dst) > dt.bits(src) or src == "bool":
            return b.zext(v, t) if unsigned else b.sext(v, t)
        return b.trunc(v, t) if dt.bits(dst) < dt.bits(src) else v

    def expr_BinaryOp(self, e):
        a, b_ = self.expr(e.a), self.expr(e.b)
        b = self.builder
        dtype = e.a.dtype
        f, unsigned = dt.is_float(dtype), dtype.startswith("uint") or dtype == "bool"
        cls = type(e)
        if isinstance(e, E.CmpOp) and cls not in (E.And, E.Or):
            if f:
                return b.fcmp_ordered(cls.symbol, a, b_) if cls is not E.NE else b.fcmp_unordered("!=", a, b_)
            return (b.icmp_unsigned if unsigned else b.icmp_signed)(cls.symbol, a, b_)
        if cls is E.And:
            return b.and_(a, b_)
        if cls is E.Or:
            return b.or_(a, b_)
        if cls in (E.Add, E.Sub, E.Mul):
            name = {E.Add: "add", E.Sub: "sub", E.Mul: "mul"}[cls]
            if f:
                return getattr(b, "f" + name)(a, b_, flags=self.float_flags)
            wraps = unsigned or not self.index_depth[0]
            return getattr(b, name)(a, b_, flags=() if wraps else ("nsw",))
        if cls is E.Div:
            return b.fdiv(a, b_, flags=self.float_flags)
        if cls in (E.Min, E.Max):
            op = ("<" if cls is E.Min else ">")
            if f:
                return self._float_min_max(op, a, b_)
            return b.select((b.icmp_unsigned if unsigned else b.icmp_signed)(op, a, b_), a, b_)
        if cls in (E.FloorDiv, E.FloorMod):
            return self._floor_divmod(cls, a, b_, dtype)
        raise BuildError(f"no LLVM lowering for {cls.__name__}")

    def expr_Not(self, e):
        return self.builder.not_(self.expr(e.a))

    def expr_Select(self, e):
        return self.select_on(self.expr(e.cond), e.t, e.f)

    def select_on(self, cond, t, f):
        """``cond ? t : f`` for an i1 ``cond``, evaluating only the taken side if it
        touches memory or divides (unless that is :meth:`always_safe`)."""
        if not (_has_memory_or_division(t) or _has_memory_or_division(f)) or \
                (self.always_safe(t) and self.always_safe(f)):
            return self.builder.select(cond, self.expr(t), self.expr(f))
        b = self.builder
        with b.if_else(cond) as (then, otherwise):
            with then:
                tv, tb = self.expr(t), b.block
            with otherwise:
                fv, fb = self.expr(f), b.block
        phi = b.phi(tv.type)
        phi.add_incoming(tv, tb)
        phi.add_incoming(fv, fb)
        return phi

    def expr_Call(self, e):
        args = [self.expr(a) for a in e.args]
        b = self.builder
        if e.name == "abs" and not dt.is_float(e.dtype):
            v = args[0]
            return b.select(b.icmp_signed("<", v, splat(v.type, 0)), b.neg(v), v)
        if e.name == "sigmoid":
            one = splat(args[0].type, 1.0)
            ex = self.math_call("exp", e.dtype, [b.fneg(args[0])])
            return b.fdiv(one, b.fadd(one, ex))
        if e.name == counter_hash.NAME:
            ops = _HashOps(b, args[0].type)
            return b.zext(counter_hash.hash32(ops, *args), args[0].type)
        if e.name in E.BITWISE_INTRINSICS:
            return self.bitwise(e.name, e.dtype, args)
        if e.name == "fmod":         # C's fmod: LLVM's exact remainder instruction
            return b.frem(*args)
        return self.math_call(e.name, e.dtype, args)

    def math_call(self, name, dtype, args):
        """The math function ``name`` (exp, log, tanh, ...) of ``args``: an LLVM intrinsic,
        or the C math library's function where LLVM has none (tanh)."""
        b = self.builder
        if name in _LIBM:
            if dtype not in _LIBM[name]:
                wide = b.fpext(args[0], self.value_type("float32"))
                return b.fptrunc(self.call_libm(name, "float32", wide), args[0].type)
            return self.call_libm(name, dtype, args[0])
        return b.call(self._intrinsic(_INTRINSIC[name], dtype, len(args)), args)

    def _intrinsic(self, name, dtype, nargs):
        """LLVM intrinsic ``name`` overloaded for this builder's value type of ``dtype``."""
        t = self.value_type(dtype)
        suffix = {"float16": "f16", "float32": "f32", "float64": "f64"}[dtype]
        if isinstance(t, ir.VectorType):
            suffix = f"v{t.count}{suffix}"
        return self._extern(f"{name}.{suffix}", t, [t] * nargs)

    def call_libm(self, name, dtype, value):
        """``value`` through the C math library's ``name`` (no LLVM intrinsic exists for it)."""
        t = llvm_type(dtype)
        return self.builder.call(self._extern(_LIBM[name][dtype], t, [t]), [value])


def _size(shape):
    """Elements of a constant ``shape``."""
    count = 1
    for x in shape:
        count *= x.value
    return count


def _product(shape):
    out = shape[0]
    for x in shape[1:]:
        out = out * x
    return out


def _has_memory_or_division(e):
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, (E.BufferLoad, E.FloorDiv, E.FloorMod)) else None)
    return bool(found)


def emit_module(funcs, name="tvmini", fastmath=False):
    """An llvmlite module holding every PrimFunc in ``funcs``, each as the function
    ``entry_symbol(f.name)``; ``fastmath`` picks the float flags (``FAST_FLOAT_FLAGS``
    instead of ``STRICT_FLOAT_FLAGS``)."""
    from .llvm_target import target_machine
    module = KernelModule(name, FAST_FLOAT_FLAGS if fastmath else STRICT_FLOAT_FLAGS)
    tm = target_machine()
    module.triple = tm.triple
    module.data_layout = str(tm.target_data)
    for f in funcs:
        FunctionBuilder(module, entry_symbol(f.name), f.params, f.scalar_params, f.body, may_alias=f.may_alias).build()
    return module

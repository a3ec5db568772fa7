"""Vectorized loops: a ``vectorized for`` becomes LLVM vector code of the host's width.

A loop ``vectorized for i in range(E)`` is emitted as ``E // L`` iterations that each
compute ``L`` consecutive values of ``i`` at once; the ``E % L`` remaining ones run as
narrower vectors (halving the width) and finally one scalar iteration, so no lane is
ever masked off just for the tail (masked loads and stores are much slower). ``L`` is the number of lanes of the host's widest SIMD
register (``llvm_target.vector_bits``) for the widest dtype the body touches, or ``E``
when that is smaller (8 x float32 with AVX2).

Inside the body:

* ``i`` is the vector ``<base, base+1, ..., base+L-1>``; values that do not depend on
  ``i`` are computed once as scalars and broadcast;
* a buffer access whose flat index is ``i + (something uniform)`` is a vector load or
  store, any other index a gather or scatter (one address per lane);
* a guard that depends on ``i`` (``if`` from a non-divisible split, ``if_then_else``
  padding) becomes a lane mask: masked-off lanes neither load nor store, so the code
  stays inside its buffers exactly as the scalar loop does.

A body this module cannot prove safe to run lane-parallel (nested loops, allocations,
a buffer both read and written at different indices, integer division by a value that
is not a constant, bool buffers) is emitted as the ordinary scalar loop instead.
"""
import llvmlite.ir as ir

from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.arith import linear_form
from ..tir.functor import free_vars, walk
from ..tir.stmt import BufferStore, IfThenElse, SeqStmt
from .llvm import FunctionBuilder, llvm_type
from .llvm_target import vector_bits
from .vecmath import vector_function

I32, I64 = ir.IntType(32), ir.IntType(64)
# Lane strides read as contiguous loads and a shuffle rather than a gather.
STRIDED_LOADS = (2, 3, 4)


def emit_vectorized(fb, loop):
    """Emit ``loop`` (constant extent, kind vectorized) as vector code; False if it can't be."""
    if not isinstance(loop.extent, E.Const) or not _vectorizable(loop):
        return False
    widest = max(dt.bits(d) for d in _dtypes(loop.body))
    lanes = min(loop.extent.value, max(1, vector_bits() // widest))
    if lanes < 2:
        return False
    VectorBuilder(fb, loop, lanes).emit()
    return True


def _dtypes(body):
    found = set()
    walk(body, lambda n: found.add(n.dtype) if isinstance(n, E.PrimExpr) else None)
    walk(body, lambda n: found.add(n.buffer.dtype) if isinstance(n, (BufferStore, E.BufferLoad)) else None)
    return found or {"int32"}


def _vectorizable(loop):
    """Whether every lane of ``loop``'s body may run at the same time (see module doc)."""
    ok = [True]
    accesses = {}

    def visit(n):
        if isinstance(n, (BufferStore, E.BufferLoad)):
            if n.buffer.dtype in ("bool", "float16"):
                ok[0] = False
            accesses.setdefault(n.buffer, []).append((isinstance(n, BufferStore), n.indices[0]))
        elif isinstance(n, (E.FloorDiv, E.FloorMod)) and dt.is_int(n.dtype) and not isinstance(n.b, E.Const):
            ok[0] = False
        elif isinstance(n, E.PrimExpr) and n.dtype == "float16":
            ok[0] = False
    if not _only_stores_and_guards(loop.body):
        return False
    walk(loop.body, visit)
    if not ok[0]:
        return False
    for uses in accesses.values():
        stores = [index for is_store, index in uses if is_store]
        if not stores:
            continue
        if any(_stride(index, loop.var) in (None, 0) for index in stores):
            return False       # lanes writing one place (or an unknown pattern): keep the order
        if len(uses) > 1 and len({str(index) for _, index in uses}) > 1:
            return False       # read and written at different places: lanes could depend on each other
    return True


def _only_stores_and_guards(s):
    if isinstance(s, SeqStmt):
        return all(_only_stores_and_guards(x) for x in s.seq)
    if isinstance(s, IfThenElse):
        return _only_stores_and_guards(s.then_case) and (s.else_case is None or _only_stores_and_guards(s.else_case))
    return isinstance(s, BufferStore)


def _stride(index, var):
    """The coefficient of ``var`` in ``index`` if ``index`` is linear in it, else None."""
    form = linear_form(index)
    stride = 0
    for atom, coeff in form.terms.values():
        if atom is var:
            stride = coeff
        elif any(v is var for v in free_vars(atom)):
            return None
    return stride


class VectorBuilder(FunctionBuilder):
    """A ``FunctionBuilder`` whose values are ``lanes``-wide vectors (shares the parent's state)."""

    def __init__(self, parent, loop, lanes):   # noqa: super().__init__ would start a new function
        self.__dict__.update(parent.__dict__)
        self.vars = dict(parent.vars)
        self.parent, self.loop, self.lanes = parent, loop, lanes
        self.mask = None            # <lanes x i1> of the active lanes; None: all of them

    # types and values --------------------------------------------------------
    def value_type(self, dtype):
        return ir.VectorType(llvm_type(dtype), self.lanes)

    def broadcast(self, scalar):
        vec = ir.VectorType(scalar.type, self.lanes)
        b = self.builder
        one = b.insert_element(ir.Constant(vec, ir.Undefined), scalar, ir.Constant(I32, 0))
        return b.shuffle_vector(one, ir.Constant(vec, ir.Undefined), ir.Constant(ir.VectorType(I32, self.lanes), [0] * self.lanes))

    def lane_ids(self):
        return ir.Constant(ir.VectorType(I32, self.lanes), list(range(self.lanes)))

    def _uniform(self, e):
        """Whether ``e`` has one value for every lane and may be computed once as a
        scalar, whatever the lanes' guards (under a mask only if :meth:`always_safe`)."""
        if not self._lane_invariant(e):
            return False
        return self.mask is None or self.always_safe(e)

    def _lane_invariant(self, e):
        return not any(v is self.loop.var for v in free_vars(e))

    def _if_any_lane(self, e):
        """Lane-invariant ``e`` that a guard protects (a load at a data-dependent index,
        a division) as a scalar computed only when some lane is active, as the scalar
        loop would for that lane; 0 when none is. As a vector under the lane mask
        instead, it was undefined on the masked-off lanes, and a vector load addressed
        by the first lane read another row when that lane was off (``select(M[r, j] ==
        key, G[r, j], 0)`` with ``r = rows[order[k]]``)."""
        b = self.builder
        any_lane = b.call(self._extern(f"llvm.vector.reduce.or.v{self.lanes}i1", ir.IntType(1), [self.mask.type]),
                          [self.mask])
        start = b.block
        with b.if_then(any_lane):
            value = self.parent_expr(e)
            computed = b.block
        phi = b.phi(value.type)
        phi.add_incoming(value, computed)
        phi.add_incoming(ir.Constant(value.type, 0), start)
        return phi

    # loop --------------------------------------------------------------------
    def emit(self):
        loop, lanes, b = self.loop, self.lanes, self.builder
        start = self.parent.expr(loop.min)
        full, tail = divmod(loop.extent.value, lanes)
        if full:
            self.parent.counted_loop(f"{loop.var.name}.chunk", ir.Constant(I32, 0), ir.Constant(I32, full * lanes),
                                     lanes, lambda k: self._chunk(b.add(start, k)))
        offset, width = full * lanes, lanes
        while offset < loop.extent.value:     # the tail: narrower whole vectors, then scalars
            while width > loop.extent.value - offset:
                width //= 2
            chunk_start = b.add(start, ir.Constant(I32, offset))
            if width >= 2:
                VectorBuilder(self.parent, loop, width)._chunk(chunk_start)
            else:
                self.parent.vars[loop.var] = chunk_start
                self.parent.stmt(loop.body)
            offset += width

    def _chunk(self, base):
        self.vars[self.loop.var] = self.builder.add(self.broadcast(base), self.lane_ids())
        self.stmt(self.loop.body)

    def _and_mask(self, cond):
        return cond if self.mask is None else self.builder.and_(self.mask, cond)

    # expressions -------------------------------------------------------------
    def expr(self, e):
        if self._lane_invariant(e):
            if self.mask is None or self.always_safe(e):
                return self.broadcast(self.parent_expr(e))
            return self.broadcast(self._if_any_lane(e))
        return super().expr(e)

    def parent_expr(self, e):
        """``e`` computed as a scalar (it has the same value on every lane)."""
        return self.parent.expr(e)

    def expr_Var(self, e):
        value = super().expr_Var(e)
        return value if isinstance(value.type, ir.VectorType) else self.broadcast(value)

    def _pointers(self, buf, index):
        """(kind, address): "vector" with the first lane's address, or "gather" with one per lane."""
        base = self.buffers[buf]
        elem = llvm_type(buf.dtype, in_memory=True)
        stride = _stride(index, self.loop.var)
        b = self.builder
        if stride == 1:
            lane0 = b.extract_element(self.index_value(index), ir.Constant(I32, 0))
            return "vector", b.gep(base, [b.sext(lane0, I64)], inbounds=True, source_etype=elem)
        offsets = b.sext(self.index_value(index), ir.VectorType(I64, self.lanes))
        addresses = b.gep(base, [offsets], inbounds=True, source_etype=elem)
        addresses.type = ir.VectorType(ir.PointerType(), self.lanes)   # llvmlite types it as one ptr
        return "gather", addresses

    def _masked_intrinsic(self, op, buf):
        """``llvm.masked.{load,store,gather,scatter}`` for ``buf``'s element type."""
        elem = llvm_type(buf.dtype, in_memory=True)
        vec, mask_t = ir.VectorType(elem, self.lanes), ir.VectorType(ir.IntType(1), self.lanes)
        ptrs = ir.VectorType(ir.PointerType(), self.lanes)
        suffix = f"v{self.lanes}{_type_suffix(elem)}"
        signature = {
            "load": (vec, [ir.PointerType(), I32, mask_t, vec], f"{suffix}.p0"),
            "store": (ir.VoidType(), [vec, ir.PointerType(), I32, mask_t], f"{suffix}.p0"),
            "gather": (vec, [ptrs, I32, mask_t, vec], f"{suffix}.v{self.lanes}p0"),
            "scatter": (ir.VoidType(), [vec, ptrs, I32, mask_t], f"{suffix}.v{self.lanes}p0"),
        }[op]
        return self._extern(f"llvm.masked.{op}.{signature[2]}", signature[0], signature[1])

    def _all_lanes(self, masked=True):
        """The active lanes' mask (every lane when unmasked or not ``masked``)."""
        if masked and self.mask is not None:
            return self.mask
        return ir.Constant(ir.VectorType(ir.IntType(1), self.lanes), [1] * self.lanes)

    def expr_BufferLoad(self, e):
        kind, address = self._pointers(e.buffer, e.indices[0])
        b = self.builder
        align = ir.Constant(I32, max(1, dt.bits(e.buffer.dtype) // 8))
        vec = ir.VectorType(llvm_type(e.buffer.dtype, in_memory=True), self.lanes)
        unmasked = self.mask is None or self.in_bounds(e)
        stride = _stride(e.indices[0], self.loop.var)
        if kind == "gather" and unmasked and stride in STRIDED_LOADS:
            return self._strided_load(e, stride)
        if kind == "vector" and unmasked:
            load = b.load(address, typ=vec)
            load.align = align.constant
            return load
        passthru = ir.Constant(vec, None)
        op = "load" if kind == "vector" else "gather"
        return b.call(self._masked_intrinsic(op, e.buffer), [address, align, self._all_lanes(not unmasked), passthru])

    def _strided_load(self, e, stride):
        """Lanes ``stride`` elements apart as ``stride`` contiguous vector loads and
        shuffles. AVX2 has no fast gather (LLVM splits one into a load and an insert per
        lane); a stride-2 pooling window is two loads and a shuffle.

        The loads are whole consecutive vectors from ``shift`` elements before the first
        lane's (:meth:`_chunk_shift`) when those stay inside the buffer: with the index's
        constant phase as the shift they start where whole vectors of the buffer were
        stored, so a buffer just written (a padded row in L1) forwards to them. Else the
        last load ends on the last lane's element, overlapping the one before it, so
        nothing outside what the lanes read is touched; a load that straddles two
        just-stored vectors waits for both to reach the cache (8x32x112x112 column
        phases of a stride-2 convolution, one thread: 1.23 -> 0.6-0.7 ms, the padding
        alone 0.5)."""
        b, lanes = self.builder, self.lanes
        elem = llvm_type(e.buffer.dtype, in_memory=True)
        vec = ir.VectorType(elem, lanes)
        first = b.gep(self.buffers[e.buffer], [b.sext(b.extract_element(self.index_value(e.indices[0]), ir.Constant(I32, 0)), I64)],
                      inbounds=True, source_etype=elem)
        span = stride * (lanes - 1) + 1
        shift = self._chunk_shift(e, stride)
        if shift is not None:
            starts = [t * lanes - shift for t in range(stride)]
        else:
            starts = [t * lanes for t in range(stride - 1)] + [span - lanes]
        chunks = []
        for start in starts:
            load = b.load(b.gep(first, [ir.Constant(I64, start)], inbounds=True, source_etype=elem), typ=vec)
            load.align = max(1, dt.bits(e.buffer.dtype) // 8)
            chunks.append(load)
        wide = _concatenate(b, chunks)
        # lane i of chunk t is element t * lanes + i of the concatenation, offset start_t + i from the first lane
        picks = [next(t * lanes + o - start for t, start in reversed(list(enumerate(starts))) if start <= o)
                 for o in range(0, span, stride)]
        return b.shuffle_vector(wide, wide, ir.Constant(ir.VectorType(I32, lanes), picks))

    def _chunk_shift(self, e, stride):
        """Elements ``shift`` (0 <= shift < ``stride``) such that ``stride`` whole vectors
        from ``shift`` before the first lane's element cover the lanes of strided load
        ``e`` inside its buffer, or None when that is not proven. The shift is the
        index's constant phase modulo the stride when every other term is a multiple of
        it (the copies of an unrolled phase loop), else 0."""
        bounds = self.index_bounds(e)
        if bounds is None:
            return None
        lowest, highest, size = bounds
        _, phase = linear_form(e.indices[0]).split_divisible(stride)
        shift = phase.const if phase.is_const() else 0
        # the last lane reads at most the highest index; the loads end stride - 1 - shift past it
        return shift if lowest - shift >= 0 and highest + stride - 1 - shift < size else None

    # statements --------------------------------------------------------------
    def stmt_BufferStore(self, s):
        value = self.expr(s.value)
        kind, address = self._pointers(s.buffer, s.indices[0])
        b = self.builder
        align = ir.Constant(I32, max(1, dt.bits(s.buffer.dtype) // 8))
        if kind == "vector" and self.mask is None:
            b.store(value, address).align = align.constant
            return
        op = "store" if kind == "vector" else "scatter"
        b.call(self._masked_intrinsic(op, s.buffer), [value, address, align, self._all_lanes()])

    def stmt_IfThenElse(self, s):
        if self._uniform(s.cond):
            cond = self.parent_expr(s.cond)
            return self._branch(cond, lambda: self.stmt(s.then_case), lambda: self.stmt(s.else_case))
        cond = super().expr(s.cond)
        outer = self.mask
        self.mask = self._and_mask(cond)
        self.stmt(s.then_case)
        if s.else_case is not None:
            self.mask = self._and_mask_with(outer, self.builder.not_(cond))
            self.stmt(s.else_case)
        self.mask = outer

    def _and_mask_with(self, outer, cond):
        return cond if outer is None else self.builder.and_(outer, cond)

    def _branch(self, cond, then, otherwise):
        b = self.builder
        with b.if_else(cond) as (then_block, else_block):
            with then_block:
                then()
            with else_block:
                otherwise()

    def expr_Select(self, e):
        if self._uniform(e.cond):
            return self.select_on(self.parent_expr(e.cond), e.t, e.f)
        cond = super().expr(e.cond)
        outer = self.mask
        self.mask = self._and_mask(cond)
        t = self.expr(e.t)
        self.mask = self._and_mask_with(outer, self.builder.not_(cond))
        f = self.expr(e.f)
        self.mask = outer
        return self.builder.select(cond, t, f)

    def math_call(self, name, dtype, args):
        """glibc's vector function for the whole vector where there is one (see
        ``vecmath``); otherwise the intrinsic or libm function (lane by lane)."""
        symbol = vector_function(name, dtype, self.lanes)
        if symbol is None:
            return super().math_call(name, dtype, args)
        vec = args[0].type
        return self.builder.call(self._extern(symbol, vec, [vec] * len(args)), args)

    def call_libm(self, name, dtype, value):
        """No vector form in libm: call it lane by lane."""
        b = self.builder
        out = ir.Constant(value.type, ir.Undefined)
        for j in range(self.lanes):
            lane = ir.Constant(I32, j)
            out = b.insert_element(out, self.parent.call_libm(name, dtype, b.extract_element(value, lane)), lane)
        return out


def _concatenate(b, vectors):
    """One vector of ``vectors`` (equal types) end to end, padded with zero lanes to a
    power-of-two count of them."""
    vectors = list(vectors)
    while len(vectors) > 1:
        if len(vectors) % 2:
            vectors.append(ir.Constant(vectors[0].type, None))
        width = vectors[0].type.count
        both = ir.Constant(ir.VectorType(I32, 2 * width), list(range(2 * width)))
        vectors = [b.shuffle_vector(vectors[i], vectors[i + 1], both) for i in range(0, len(vectors), 2)]
    return vectors[0]


def _type_suffix(elem):
    if isinstance(elem, ir.FloatType):
        return "f32"
    if isinstance(elem, ir.DoubleType):
        return "f64"
    return f"i{elem.width}"

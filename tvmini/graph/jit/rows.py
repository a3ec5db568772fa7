"""Batch rows in a kernel's te definition: which arrays are split by rows, and the
kernel restricted to a range of rows.

A training step's forward and backward kernels mostly treat the rows of a batch
independently: row ``b`` of ``relu(x @ W.T + c)`` reads row ``b`` of ``x`` only, and a
weight gradient ``g.T @ x`` is a *sum* over rows. :func:`classify` proves this from the
te definition, stage by stage, given which inputs are split by rows:

* a stage is **rows** along its axis ``p`` when every split input it reads is indexed,
  on that input's batch axis, by exactly the stage's ``p``-th axis variable; where that
  variable appears elsewhere too (in the arithmetic: dropout hashes each element's
  global position; in an index of an array read whole) the stage is **positional**: a
  lane's kernel sees its first row added to the variable there (``restrict``'s
  ``first_row``), so it computes exactly the whole kernel's values for its rows;
* a product's accumulation padded past the last row (rows read at ``min(v, batch - 1)``,
  ``topi.nn._padded_rows``) is rows too, of its padded extent;
* a stage is a **partial** (a sum over rows) when those reads use a reduction variable
  instead — of a sum over the whole batch — or when it is linear in partial stages it
  reads (a product's crop, a mean's scaling): the sums of two halves' partials then add
  up to the whole;
* any other use of a split input (a max over rows, a row read at a shifted index)
  makes the kernel unsplittable.

:func:`restrict` rebuilds the definition for ``rows`` rows: the same bodies (constants
such as a mean's ``1/batch`` keep the whole batch's value), batch axes and sums over
the batch shortened. Running it on each range of rows and adding the partials gives
the whole kernel's result (sums up to the order of their float additions).

A kernel that reads its own sums over rows together with the rows (a batch norm
normalises its rows by their mean) is not splittable as one; :func:`cut_points` finds
the sums to take whole and :func:`pieces` / :func:`piece_define` cut it after them into
kernels run one after another, each of which splits.
"""
from ...errors import TVMiniError
from ...te.tensor import ComputeOp, IterVar, PlaceholderOp, ProducerLoad, Reduce
from ...tir.expr import Add, Cast, Const, Div, Min, Mul, Range, Select, Sub, Var
from ...tir.functor import Mutator, walk
from ...tir.simplify import simplify
from ...topi.nn import GEMM_ROW_PAD

PARTIAL = "partial"


class Classes(dict):
    """:func:`classify`'s result: {tensor: class}, and ``positional``, the rows stages
    that use their row variable outside the split arrays' row indices."""

    def __init__(self, *args):
        super().__init__(*args)
        self.positional = set()


class NotSplittable(TVMiniError):
    """The kernel does not treat batch rows independently (the reason says where).
    ``sums``: the sums over rows whose use stopped the analysis (a stage reading them
    with rows, or not linearly), which :func:`cut_points` can take whole instead."""

    def __init__(self, message, sums=()):
        super().__init__(message)
        self.sums = frozenset(sums)


def _extent(e):
    return e.value if isinstance(e, Const) else None


def ops_in_order(outs):
    """Every compute op of ``outs`` (producers before consumers)."""
    order, seen = [], set()

    def visit(op):
        if op in seen or isinstance(op, PlaceholderOp):
            return
        seen.add(op)
        for t in op.input_tensors:
            visit(t.op)
        order.append(op)
    for t in outs:
        visit(t.op)
    return order


def _body(op):
    """``op``'s body simplified over its axes' ranges, so that an index which is the row
    in disguise (a reshape's ``(i * 256 + j) // 256 % batch`` for ``j < 256``) reads as
    the row. A lane's ranges lie inside these, so the simplified body holds there too.
    A compute of several outputs (the sort network's padded keys and positions) is not
    split: its bodies share one loop nest the analysis does not model."""
    if len(op.bodies) != 1:
        raise NotSplittable(f"stage {op.name} computes {len(op.bodies)} outputs in one loop nest")
    bounds = {}
    for iv in op.axis + op.reduce_axis:
        low, extent = _extent(iv.dom.min), _extent(iv.dom.extent)
        if low is not None and extent is not None:
            bounds[iv.var] = (low, low + extent - 1)
    return simplify(op.body, bounds)


def _linear(e, partial):
    """Whether ``e`` is linear and homogeneous in loads of ``partial`` tensors."""
    if isinstance(e, ProducerLoad):
        return e.tensor in partial
    if isinstance(e, Const):
        return e.value == 0
    if isinstance(e, (Add, Sub)):
        return _linear(e.a, partial) and _linear(e.b, partial)
    if isinstance(e, Mul):
        return (_linear(e.a, partial) and not _reads(e.b, partial)) or \
               (_linear(e.b, partial) and not _reads(e.a, partial))
    if isinstance(e, Div):
        return _linear(e.a, partial) and not _reads(e.b, partial)
    if isinstance(e, Cast):
        return e.dtype.startswith("float") and _linear(e.value, partial)
    if isinstance(e, Select):
        return not _reads(e.cond, partial) and _linear(e.t, partial) and _linear(e.f, partial)
    return False


def _reads(e, tensors):
    found = []
    walk(e, lambda n: found.append(n) if isinstance(n, ProducerLoad) and n.tensor in tensors else None)
    return bool(found)


def _row_index(index, batch):
    """The variable of a batch-axis index ``v`` or ``min(v, batch - 1)`` (a product's
    padded rows read the last row again), with whether it is the clamped form; else None."""
    if isinstance(index, Var):
        return index, False
    if isinstance(index, Min) and isinstance(index.a, Var) and _extent(index.b) == batch - 1:
        return index.a, True
    return None


def classify(outs, inputs, batch, cut=frozenset()):
    """Classes of the tensors of the definition ``outs`` whose placeholders ``inputs``
    map to their batch axis (an int: split by rows), None (whole) or ``"free"`` (an
    array from outside the step: split along the axis of extent ``batch`` it is read
    at by the batch variable, if any). Returns {tensor: class} for every split or
    partial tensor, inferred placeholders included: the batch axis (an int), PARTIAL,
    or ``(axis, extent)`` for a product's accumulation padded past the last row;
    raises :class:`NotSplittable`.

    An array inferred split is split for every stage: the analysis runs again with it
    given, until nothing new is inferred (a stage before the one that revealed it may
    sum over its rows). Sums in ``cut`` (see :func:`cut_points`) are read as whole
    arrays, as they are once added up."""
    while True:
        cls = _classify_once(outs, inputs, batch, cut)
        inferred = {t: cls[t] for t, axis in inputs.items() if axis == "free" and t in cls}
        if not inferred:
            return cls
        inputs = {**inputs, **inferred}


def _classify_once(outs, inputs, batch, cut):
    cls = Classes({t: axis for t, axis in inputs.items() if isinstance(axis, int)})
    free = {t for t, axis in inputs.items() if axis == "free"}

    def read(t):                               # the class a load of ``t`` sees
        return None if t in cut else cls.get(t)
    for op in ops_in_order(outs):
        body = _body(op)
        loads = []
        walk(body, lambda n: loads.append(n) if isinstance(n, ProducerLoad) else None)
        partial_in = {ld.tensor for ld in loads if read(ld.tensor) == PARTIAL}
        row_loads = [ld for ld in loads if read(ld.tensor) not in (None, PARTIAL)]
        found = [_row_index(ld.indices[_axis(cls[ld.tensor])], batch) for ld in row_loads]
        if any(f is None for f in found) or len({id(v) for v, _ in found}) > 1:
            raise NotSplittable(f"stage {op.name} reads batch rows at "
                                f"{', '.join(str(ld.indices[_axis(cls[ld.tensor])]) for ld in row_loads)}")
        if partial_in:
            if found:
                raise NotSplittable(f"stage {op.name} mixes batch rows and sums over them", partial_in)
            if isinstance(body, Reduce) and (body.reducer.name != "sum" or _reads(body.condition, partial_in)):
                raise NotSplittable(f"stage {op.name} reduces a sum over rows with {body.reducer.name}", partial_in)
            if not _linear(body.source if isinstance(body, Reduce) else body, partial_in):
                raise NotSplittable(f"stage {op.name} is not linear in the sums over rows it reads", partial_in)
            cls[op.output(0)] = PARTIAL
            continue
        if not found:
            continue
        v, clamped = found[0][0], any(c for _, c in found)
        for ld in loads:                       # arrays from outside read by the batch variable
            if ld.tensor in free and ld.tensor not in cls:
                at = [a for a, i in enumerate(ld.indices) if i is v and _extent(ld.tensor.shape[a]) == batch]
                if len(at) == 1:
                    cls[ld.tensor] = at[0]
        row_loads = [ld for ld in loads if read(ld.tensor) not in (None, PARTIAL)]
        if any((_row_index(ld.indices[_axis(cls[ld.tensor])], batch) or (None,))[0] is not v for ld in row_loads):
            raise NotSplittable(f"stage {op.name} reads an array from outside at rows other than {v}")
        uses = [0]
        walk(body, lambda n: uses.__setitem__(0, uses[0] + 1) if n is v else None)
        axes = [p for p, iv in enumerate(op.axis) if iv.var is v]
        reduce_axes = [iv for iv in op.reduce_axis if iv.var is v]
        extent = _extent(op.axis[axes[0]].dom.extent) if axes else None
        rows = axes and extent == batch and not clamped
        if uses[0] != len(row_loads):
            if not rows:
                raise NotSplittable(f"stage {op.name} uses the batch row {v} outside the rows' own index")
            cls.positional.add(op)
        if rows:
            cls[op.output(0)] = axes[0]
        elif axes and clamped and extent is not None and extent > batch:
            cls[op.output(0)] = (axes[0], extent)
        elif reduce_axes and not clamped and body.reducer.name == "sum" \
                and _extent(reduce_axes[0].dom.extent) == batch and _extent(reduce_axes[0].dom.min) == 0:
            cls[op.output(0)] = PARTIAL
        else:
            raise NotSplittable(f"stage {op.name} reads batch rows at {v}, neither its own rows nor a sum over them")
    return cls


def _axis(c):
    return c if isinstance(c, int) else c[0]


def cut_points(outs, inputs, batch):
    """The sums over rows to take whole so that the rest of the definition splits:
    grown from the sums each failure names until :func:`classify` succeeds (a batch
    norm: its mean, read with the rows by the variance, and its variance, read by the
    inverse standard deviation). Returns (cut, classes); raises NotSplittable when a
    failure names no new sum."""
    cut = frozenset()
    while True:
        try:
            return cut, classify(outs, inputs, batch, cut)
        except NotSplittable as err:
            if not err.sums or err.sums <= cut:
                raise
            cut = cut | err.sums


def pieces(outs, placeholders, cut):
    """The definition cut after the sums in ``cut`` into kernels run one after
    another (each cut sum is added up between them): a list of (stage indices, inputs,
    outputs) per piece, stages by index in dataflow order; an input is ("in", k) for
    placeholder k or ("op", j) for stage j of an earlier piece; outputs are ("op", j)
    for the stages a later piece reads or the definition returns."""
    order = ops_in_order(outs)
    index = {op: j for j, op in enumerate(order)}
    level = {}
    for op in order:
        level[op] = max([level[t.op] + (t in cut) for t in op.input_tensors if t.op in index], default=0)
    returned = {t.op for t in outs}
    result = []
    for piece in range(max(level.values()) + 1):
        stages = [j for j, op in enumerate(order) if level[op] == piece]
        ins, outs_ = [], []
        for j in stages:
            for t in order[j].input_tensors:
                ref = ("op", index[t.op]) if t.op in index else ("in", placeholders.index(t))
                if (ref[0] == "in" or level[t.op] < piece) and ref not in ins:
                    ins.append(ref)
        for j in stages:
            op = order[j]
            if op in returned or any(level[o] > piece and op.output(0) in o.input_tensors for o in order):
                outs_.append(("op", j))
        result.append((stages, ins, outs_))
    return result


def piece_define(define, specs, scalar_dtypes, attrs, piece):
    """A te definition of one piece (see :func:`pieces`) of kernel ``define``: called
    with a placeholder per piece input, then the scalars."""
    stages, ins, outs = piece

    def build(*args):
        from ..dispatch import define_outputs
        scalar_vars = list(args[len(ins):])
        whole, _, results = define_outputs(define, specs, scalar_dtypes, attrs, scalar_vars)
        order = ops_in_order(results)
        tmap = {(whole[k] if kind == "in" else order[k].output(0)): ph for (kind, k), ph in zip(ins, args)}
        for j in stages:
            op, vmap, ivmap = order[j], {}, {}
            axes = [_fresh(iv, iv.dom.extent, vmap, ivmap) for iv in op.axis]
            for iv in op.reduce_axis:
                _fresh(iv, iv.dom.extent, vmap, ivmap)
            body = _Restrict(vmap, ivmap, tmap, None, None).visit(op.body)
            tmap[op.output(0)] = ComputeOp(op.name, axes, body, op.tag, op.attrs).output(0)
        return [tmap[order[j].output(0)] for _, j in outs]
    return build


class _Restrict(Mutator):
    """Rebuilds a stage's body on the new tensors and variables; ``clamped`` is the
    variable of a padded batch axis, whose ``min(v, batch - 1)`` becomes ``min(v, rows - 1)``.
    ``row``: (row variable, first row) of a positional stage, whose row variable becomes
    ``v + first row`` except where it indexes the rows of a split array (``split``:
    {tensor: batch axis})."""

    def __init__(self, vmap, ivmap, tmap, clamped, rows, row=None, split=None):
        self.vmap, self.ivmap, self.tmap, self.clamped, self.rows = vmap, ivmap, tmap, clamped, rows
        self.row, self.split = row, split or {}

    def visit_Var(self, v):
        new = self.vmap.get(v, v)
        if self.row is not None and v is self.row[0]:
            return Add(new, Const(self.row[1], new.dtype))
        return new

    def visit_Min(self, e):
        if e.a is self.clamped and self.clamped is not None:
            return Min(self.vmap[e.a], Const(self.rows - 1, e.b.dtype))
        return self.generic(e)

    def visit_ProducerLoad(self, e):
        at = self.split.get(e.tensor) if self.row is not None else None
        indices = tuple(self.vmap[i] if k == at and i is self.row[0] else self.visit(i)
                        for k, i in enumerate(e.indices))
        return ProducerLoad(self.tmap.get(e.tensor, e.tensor), indices)

    def visit_Reduce(self, e):
        return Reduce(e.reducer, self.visit(e.source), [self.ivmap[iv] for iv in e.axis],
                      self.visit(e.condition))


def restrict(outs, placeholders, cls, batch, rows, first_row=0):
    """``outs`` (a definition classified by :func:`classify` as ``cls``) rebuilt on
    ``placeholders`` (old placeholder -> new one, ``rows`` rows on split axes) with every
    batch axis and every sum over the batch ``rows`` long; a padded accumulation keeps
    its padding unit (``topi.nn.GEMM_ROW_PAD``). Positional stages see their rows as
    ``first_row`` onwards of the whole batch."""
    tmap = dict(placeholders)
    split = {t: _axis(c) for t, c in cls.items() if c not in (None, PARTIAL)}
    for op in ops_in_order(outs):
        vmap, ivmap, axes = {}, {}, []
        c = cls.get(op.output(0))
        for p, iv in enumerate(op.axis):
            extent = iv.dom.extent
            if c is not None and c != PARTIAL and p == _axis(c):
                extent = rows if isinstance(c, int) else -(-rows // GEMM_ROW_PAD) * GEMM_ROW_PAD
            axes.append(_fresh(iv, extent, vmap, ivmap))
        for iv in op.reduce_axis:
            shortened = c == PARTIAL and _extent(iv.dom.extent) == batch and _reads_rows_at(op, iv.var, cls, batch)
            _fresh(iv, rows if shortened else iv.dom.extent, vmap, ivmap)
        clamped = op.axis[c[0]].var if isinstance(c, tuple) else None
        row = (op.axis[c].var, first_row) if first_row and op in cls.positional else None
        body = _Restrict(vmap, ivmap, tmap, clamped, rows, row, split).visit(_body(op))
        new = ComputeOp(op.name, axes, body, op.tag, op.attrs)
        tmap[op.output(0)] = new.output(0)
    return [tmap[t] for t in outs]


def _fresh(iv, extent, vmap, ivmap):
    new = IterVar(Range(iv.dom.min, extent), iv.name, iv.kind)
    vmap[iv.var], ivmap[iv] = new.var, new
    return new


def _reads_rows_at(op, var, cls, batch):
    """Whether ``op`` reads a split array's rows at ``var``."""
    loads = []
    walk(_body(op), lambda n: loads.append(n) if isinstance(n, ProducerLoad) else None)
    return any(cls.get(ld.tensor) not in (None, PARTIAL)
               and (_row_index(ld.indices[_axis(cls[ld.tensor])], batch) or (None,))[0] is var for ld in loads)


def lane_define(define, attrs, specs, axes, batch, rows, first_row=0):
    """A te definition ``define(*placeholders, *scalars)`` of kernel ``define`` (with
    ``attrs``, on inputs ``specs``) restricted to ``rows`` rows from ``first_row`` on:
    ``axes[k]`` is input k's batch axis or None; the placeholders it is called with have
    the restricted shapes."""
    def restricted(*args):
        from ..dispatch import define_outputs
        scalar_vars = list(args[len(specs):])
        whole, _, outs = define_outputs(define, specs, [v.dtype for v in scalar_vars], attrs, scalar_vars)
        cls = classify(outs, dict(zip(whole, axes)), batch)
        return restrict(outs, dict(zip(whole, args[:len(specs)])), cls, batch, rows, first_row)
    return restricted

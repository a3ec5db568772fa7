"""Bound inference: which region of each stage must be computed, and its loop ranges.

A root stage covers its whole domain. A stage attached with ``compute_at(C, L)``
computes only what its readers read during one iteration of loop ``L``: ``C`` and any
stage computed (directly or through others) at ``L`` or a loop inside it. ``C``'s loops
outside ``L`` (and ``L`` itself) are fixed, the loops inside it and all those of the
other readers range over their extents, and the interval analysis of ``tir.arith``
bounds every index read. Where the analysis cannot give a region of constant (or
symbolic-only) size, the whole domain is used, which is always correct for a producer.
A stage computed with ``compute_with(P, L)`` computes, per iteration of ``L``, the block
of its domain equal to the block ``P`` computes then, exactly (it runs once per
iteration, and may update in place): that block must be a box, or the schedule is an
error (:func:`_with_region`).
"""
from ..errors import ScheduleError
from ..te.relation import Split, derived_extents, root_values
from ..te.tensor import ProducerLoad
from ..tir.arith import interval
from ..tir.expr import Const, GE, LT, Max, Min, Var
from ..tir.functor import free_vars, substitute, walk
from ..tir.simplify import is_const_int, simplify


class StageBounds:
    """Loop ranges of one stage: region per root axis, leaf extents, root values, guards."""

    def __init__(self, stage, body, region, taken=frozenset()):
        self.stage, self.body = stage, body
        self.region = region                      # root IterVar -> (lo, extent) expressions
        self.loop_var = loop_vars(stage, taken)   # leaf IterVar -> the variable of its loop
        self.extents = derived_extents(stage.relations, {iv: ext for iv, (lo, ext) in region.items()})
        for iv in stage.leaf_iter_vars:
            self.extents[iv] = simplify(self.extents[iv])
        offsets, split_guards = root_values(stage.relations, self.extents, self.loop_var)
        self.root_value = {iv: simplify(lo + offsets[iv]) for iv, (lo, _) in region.items()}
        self.guards = [g for _, g in split_guards]
        for iv in stage.op.axis:
            lo, ext = region[iv]
            if lo is not iv.dom.min or ext is not iv.dom.extent:
                value = self.root_value[iv]
                self.guards += [GE(value, iv.dom.min), LT(value, simplify(iv.dom.min + iv.dom.extent))]
        self.reads = substitute(body, {iv.var: v for iv, v in self.root_value.items()})

    def origin(self):
        """Lowest index of the computed region per data axis (the buffer's origin)."""
        return [self.region[iv][0] for iv in self.stage.op.axis]


def loop_vars(stage, taken):
    """The variable of each of ``stage``'s loops: the leaf IterVar's own, unless another
    stage's loops already use it (``taken``: one ``te.reduce_axis`` object given to a
    producer and to its consumer); then a fresh variable of the same name, so a producer
    computed inside that loop of its consumer does not shadow the consumer's variable."""
    return {iv: Var(iv.var.name, iv.var.dtype) if iv.var in taken else iv.var for iv in stage.leaf_iter_vars}


def _accesses(expr, op):
    found = []
    walk(expr, lambda n: found.append(n.indices) if isinstance(n, ProducerLoad) and n.tensor.op is op else None)
    return found


def infer_region(stage, consumers, bounds, symbolic):
    """The region ``{root IterVar: (lo, extent)}`` of ``stage`` (see module docstring)."""
    op = stage.op
    full = {iv: (iv.dom.min, iv.dom.extent) for iv in stage.root_iter_vars}
    if stage.attach_type not in ("scope", "with"):
        return full
    parent = stage.attach_stage
    if parent not in bounds:
        why = ("has no loops of its own (it is inlined)" if parent.attach_type == "inline" else
               f"does not read {stage.name} (compute_at puts a stage inside a loop of a stage that reads it)")
        raise ScheduleError(f"stage {stage.name} is computed at {parent.name}.{stage.attach_ivar.name} but "
                            f"{parent.name} {why}")
    pb = bounds[parent]
    leaves = parent.leaf_iter_vars
    pos = leaves.index(stage.attach_point())
    env = {}
    for i, iv in enumerate(leaves):
        bound = parent.bindings.get(iv)
        relax_thread = stage.scope == "shared" and _block_thread(bound)
        if i > pos or relax_thread:
            env[pb.loop_var[iv]] = (Const(0, "int32"), simplify(pb.extents[iv] - 1))
    if stage.scope == "shared":
        _relax_thread_loops_of_ancestors(parent, bounds, env)
    if stage.attach_type == "with":
        return _with_region(stage, full, pb, pos)
    accesses = [access for c in consumers for access in _consumer_accesses(stage, c, leaves, pos, bounds, env)]
    region = dict(full)
    for d, iv in enumerate(op.axis):
        los, his = [], []
        for idx, where in accesses:
            # simplified first: a fused loop's (p // w) * w + p % w reads one window, not whole rows
            iv_bounds = interval(simplify(idx[d]), where)
            if iv_bounds is None:
                break
            los.append(iv_bounds[0])
            his.append(iv_bounds[1])
        else:
            lo, hi = los[0], his[0]
            for a, b in zip(los[1:], his[1:]):
                lo, hi = simplify(Min(lo, a)), simplify(Max(hi, b))
            extent = simplify(hi - lo + 1)
            if not (free_vars(extent) <= symbolic):
                window = _clamped_window(lo, hi, iv)
                if window is None:
                    continue
                lo, extent = window
            whole = simplify(extent - iv.dom.extent)
            if isinstance(whole, Const) and whole.value >= 0:
                continue
            region[iv] = (lo, extent)
    return region


def _with_region(stage, full, pb, pos):
    """The region of a ``compute_with`` stage: exactly the block of its domain that its
    parent computes in one iteration of the loop at ``pos``, which must be a box.

    The stage runs once per iteration of that loop, over its region, right after the
    parent's block. A region larger than the block (the whole domain, or the box
    bounding a block that is none: columns (C, KH, KW) fused and split by 32 make
    blocks that start and end inside a kernel's taps) would compute elements more than
    once (an in-place update applied twice) and before the parent has computed the
    elements they read (garbage read back). Where the block is no box
    (:func:`_block_shape`), and where a loop inside the attach point is bound to GPU
    threads or blocks (each would compute the whole block), it is a ScheduleError. A
    loop that runs once, like every loop around it, computes the whole domain once."""
    parent = pb.stage
    leaves = parent.leaf_iter_vars
    where = f"stage {stage.name} is computed with {parent.name} at loop {leaves[pos].name}"
    inner = [iv for iv in leaves[pos + 1:] if not parent._is_reduce(iv)]
    for iv in inner:
        bound = parent.bindings.get(iv)
        if bound is not None and bound.thread_tag != "vthread":
            raise ScheduleError(f"{where}, around {parent.name}'s loop {iv.name} bound to {bound.thread_tag}: every "
                                f"thread would compute {stage.name}'s whole block (and read elements other threads "
                                "write); pick a loop inside the thread-bound loops")
    shape = _block_shape(parent, pb.extents, set(inner))
    if shape is None:
        if all(is_const_int(pb.extents[iv], 1) for iv in leaves[:pos + 1]):
            return full
        raise ScheduleError(f"{where}: the elements {parent.name} computes in one iteration of {leaves[pos].name} "
                            f"are not a box of {stage.name}'s domain (a fused loop split across rows), so "
                            f"{stage.name} would compute elements more than once and before {parent.name} has "
                            "computed them; pick a loop whose iterations compute whole boxes (an outer loop, or "
                            "blocks of whole rows of the fused axes)")
    first = {pb.loop_var[iv]: Const(0, pb.loop_var[iv].dtype) for iv in leaves[pos + 1:]}
    region = dict(full)
    for parent_axis, iv in zip(parent.op.axis, stage.op.axis):
        length = shape[parent_axis]
        if length is None:                           # the whole axis
            continue
        lo = simplify(substitute(pb.root_value[parent_axis], first))
        if not (length >= _const_value(iv.dom.extent) and is_const_int(lo - iv.dom.min, 0)):
            region[iv] = (lo, Const(length, "int32"))
    return region


def _const_value(e):
    e = simplify(e)
    return e.value if isinstance(e, Const) else float("inf")


def _block_shape(stage, extents, inner):
    """``{root axis: length}`` of the box of ``stage``'s domain its loops compute while
    the leaves ``inner`` run and all other leaves stay fixed, ``length`` None for a whole
    axis; None when that is not provably a box.

    The relations are walked from the leaves to the roots, each IterVar's values being
    its whole range or an aligned block ``[a*L, a*L + L)`` (a fixed value is the block
    of 1, and so is the whole range of an extent-1 loop): a split of a fixed or block
    outer and a whole inner is a block of ``L * factor``, of a fixed outer and a block
    inner a block when ``L`` divides the factor, of two whole ones whole; a fused whole
    is two wholes, a fused block a block of the outer axis and a whole inner one when
    the inner extent divides ``L``, or a fixed outer and a block of the inner one when
    ``L`` divides that extent. Anything else (a whole outer around a fixed inner: a
    strided set) is no box. Values a split's padding puts past its parent's extent are
    guarded away in the stage's loops; the box keeps them where they map past the end of
    a root axis (its own guards drop them), but a padded split whose parent feeds the
    inner side of a split or fuse (where they would alias the next elements) keeps no
    box unless both its loops run whole."""
    origin = {}
    for rel in stage.relations:
        if isinstance(rel, Split):
            origin[rel.outer], origin[rel.inner] = rel.parent, None
        else:
            origin[rel.fused] = rel.outer

    def past_the_end_leaves_the_domain(iv):
        while iv in origin:
            iv = origin[iv]
            if iv is None:
                return False
        return True

    def length(iv, value):
        return 1 if value is None and is_const_int(extents[iv], 1) else value
    # IterVars running over their whole range (a loop of one iteration always does)
    whole = set(inner) | {iv for iv in stage.leaf_iter_vars if is_const_int(extents[iv], 1)}
    state = {iv: length(iv, None if iv in inner else 1) for iv in stage.leaf_iter_vars}   # None: whole
    bad = object()
    for rel in reversed(stage.relations):
        if isinstance(rel, Split):
            outer, inner_state = state.get(rel.outer, bad), state.get(rel.inner, bad)
            factor = extents[rel.inner]
            f = factor.value if isinstance(factor, Const) else None
            padded = not is_const_int(extents[rel.outer] * extents[rel.inner] - extents[rel.parent], 0)
            if rel.outer in whole and rel.inner in whole:
                value = None
                whole.add(rel.parent)
            elif padded and not past_the_end_leaves_the_domain(rel.parent):
                value = bad
            elif isinstance(outer, int) and rel.inner in whole and f is not None:
                value = outer * f
            elif outer == 1 and isinstance(inner_state, int) and f is not None and f % inner_state == 0:
                value = inner_state
            else:
                value = bad
            state[rel.parent] = value if value is bad else length(rel.parent, value)
        else:
            fused = state.get(rel.fused, bad)
            ext = simplify(extents[rel.inner])
            e = ext.value if isinstance(ext, Const) else None
            if rel.fused in whole:
                outer, inner_state = None, None
                whole.update((rel.outer, rel.inner))
            elif fused is None or fused is bad or e is None or e <= 0:
                outer = inner_state = bad
            elif fused % e == 0:
                outer, inner_state = fused // e, None
            elif e % fused == 0:
                outer, inner_state = 1, fused
            else:
                outer = inner_state = bad
            state[rel.outer] = outer if outer is bad else length(rel.outer, outer)
            state[rel.inner] = inner_state if inner_state is bad else length(rel.inner, inner_state)
    shape = {}
    for iv in stage.op.axis:
        value = state.get(iv, bad)
        if value is bad:
            return None
        shape[iv] = value
    return shape


def _consumer_accesses(stage, consumer, leaves, pos, bounds, env):
    """``[(indices, ranges)]`` of what ``consumer`` reads of ``stage`` during one iteration
    of the loop ``stage`` is computed at: the parent's own reads, or those of a stage
    computed (directly or through others) in the parent at or inside that loop, all of
    whose loops, and its hosts', then run in that iteration (a softmax's exponentials are
    read by the row's sum and its quotient). A reader elsewhere could need values
    computed in another iteration."""
    parent = stage.attach_stage
    if consumer is parent:
        return [(idx, env) for idx in _accesses(bounds[parent].reads, stage.op)]
    chain, host = [consumer], consumer
    while host.attach_type == "scope" and host.attach_stage is not parent:
        host = host.attach_stage
        chain.append(host)
    if host.attach_type != "scope" or leaves.index(host.attach_point()) < pos:
        raise ScheduleError(f"stage {stage.name} is computed at {parent.name}.{stage.attach_ivar.name} but "
                            f"{consumer.name} reads it outside that loop; compute_at needs every reader inside "
                            f"it ({parent.name} or a stage computed at or inside that loop of {parent.name})")
    inner = dict(env)
    for s in chain:
        for iv in s.leaf_iter_vars:
            inner[bounds[s].loop_var[iv]] = (Const(0, "int32"), simplify(bounds[s].extents[iv] - 1))
    return [(idx, inner) for idx in _accesses(bounds[consumer].reads, stage.op)]


def _clamped_window(lo, hi, iv):
    """A constant-size region covering ``[lo, hi]`` when both clamp the same way,
    ``lo = min(a, c)`` and ``hi = min(a + d, c)`` with constants ``c`` and ``d >= 0``
    (an index clamped to the last row, as the GEMM's row padding reads A): the window
    ``[min(a, c - d), min(a, c - d) + d]`` holds both ends and stays at or below ``c``;
    it is used when it also stays inside ``iv``'s domain. Else None (the exact region's
    size varies, so the whole domain is used)."""
    if not (isinstance(lo, Min) and isinstance(hi, Min)):
        return None
    c, c_hi = simplify(lo.b), simplify(hi.b)
    d = simplify(hi.a - lo.a)
    if not (isinstance(c, Const) and isinstance(c_hi, Const) and isinstance(d, Const)
            and c.value == c_hi.value and d.value >= 0):
        return None
    dom_lo, dom_extent = simplify(iv.dom.min), simplify(iv.dom.extent)
    if not (isinstance(dom_lo, Const) and isinstance(dom_extent, Const)
            and c.value - d.value >= dom_lo.value and c.value < dom_lo.value + dom_extent.value):
        return None
    return simplify(Min(lo.a, Const(c.value - d.value, c.dtype))), Const(d.value + 1, d.dtype)


def _block_thread(bound):
    """Whether a loop bound to ``bound`` (a thread IterVar or None) runs over the threads
    of a block, real (threadIdx) or virtual (vthread): a shared buffer computed inside it
    holds what all of them read."""
    return bound is not None and (bound.thread_tag.startswith("threadIdx") or bound.thread_tag == "vthread")


def _relax_thread_loops_of_ancestors(parent, bounds, env):
    """A shared buffer is filled by every thread of the block: the threadIdx- and
    vthread-bound loops of the stages ``parent`` is (transitively) attached to range over
    their extents too."""
    ancestor = parent
    while ancestor.attach_type == "scope":
        ancestor = ancestor.attach_stage
        for iv in ancestor.leaf_iter_vars:
            bound = ancestor.bindings.get(iv)
            if _block_thread(bound):
                env[bounds[ancestor].loop_var[iv]] = (Const(0, "int32"), simplify(bounds[ancestor].extents[iv] - 1))

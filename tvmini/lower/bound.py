"""Bound inference: which region of each stage must be computed, and its loop ranges.

A root stage covers its whole domain. A stage attached with ``compute_at(C, L)``
computes only what its readers read during one iteration of loop ``L``: ``C`` and any
stage computed (directly or through others) at ``L`` or a loop inside it. ``C``'s loops
outside ``L`` (and ``L`` itself) are fixed, the loops inside it and all those of the
other readers range over their extents, and the interval analysis of ``tir.arith``
bounds every index read. A stage computed with ``compute_with(P, L)`` computes, per
iteration of ``L``, the block of its domain equal to the block ``P`` computes then.
Where the analysis cannot give a region of constant (or symbolic-only) size, the whole
domain is used, which is always correct.
"""
from ..errors import ScheduleError
from ..te.relation import derived_extents, root_values
from ..te.tensor import ProducerLoad
from ..tir.arith import interval
from ..tir.expr import Const, GE, LT, Max, Min, Var
from ..tir.functor import free_vars, substitute, walk
from ..tir.simplify import simplify


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
        accesses = [([pb.root_value[iv] for iv in parent.op.axis], env)]      # the element parent computes
    else:
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

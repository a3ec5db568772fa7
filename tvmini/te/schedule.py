"""Schedules: *how* to compute. A ``Stage`` per compute op records loop structure.

Primitives never rewrite loops directly: ``split``/``fuse`` add relations between
IterVars (``te.relation``), ``reorder`` permutes the leaf list, ``vectorize``/``unroll``/
``parallel``/``bind`` annotate a leaf, ``compute_at``/``compute_with``/``compute_inline``/
``compute_root`` set where the stage is computed. ``tvmini.lower`` turns all of it into loops. Every
misuse raises ``ScheduleError`` naming the stage and the axis.
"""
import operator

from ..errors import ScheduleError
from ..tir.expr import convert
from ..tir.stmt import ForKind
from .relation import Fuse, Split, depends_on
from .tensor import ComputeOp, IterVar, PlaceholderOp, Tensor


class Stage:
    """The schedule of one compute operation."""

    def __init__(self, op, schedule):
        self.op = op
        self.origin_op = op
        self.schedule = schedule
        self.scope = "global"
        self.store_predicate = None      # set_store_predicate's condition
        self.reset_loops()
        self.attach_type = "root"        # "root", "inline", "scope" (compute_at) or "with" (compute_with)
        self.attach_stage = None
        self.attach_ivar = None
        self.history = []                # (primitive name, description) for walkthroughs

    def reset_loops(self):
        """Forget every loop transformation (after the op was replaced wholesale)."""
        self.root_iter_vars = list(self.op.axis) + list(self.op.reduce_axis)
        self.leaf_iter_vars = list(self.root_iter_vars)
        self.all_iter_vars = list(self.root_iter_vars)
        self.relations = []
        self.iter_kinds = {}             # IterVar -> ForKind
        self.bindings = {}               # IterVar -> thread IterVar

    @property
    def name(self):
        return self.op.name

    @property
    def is_output(self):
        return self.op in self.schedule.outputs

    def __repr__(self):
        return f"stage({self.name})"

    # checks -----------------------------------------------------------------
    def _leaf(self, axis, what):
        if not isinstance(axis, IterVar):
            raise ScheduleError(f"stage {self.name}: {what} needs an axis (IterVar), got {axis!r}")
        if axis not in self.leaf_iter_vars:
            if axis in self.all_iter_vars:
                why = "it was already split or fused; use the axes that returned"
            else:
                why = "it belongs to another stage"
            raise ScheduleError(f"stage {self.name}: cannot {what} axis {axis.name}: it is not a current loop "
                                f"of this stage ({why}); current loops: {[iv.name for iv in self.leaf_iter_vars]}")
        return self.leaf_iter_vars.index(axis)

    def _not_annotated(self, axis, what):
        """Refuse to restructure a bound or annotated loop: its binding or annotation
        would silently stay on an axis that is no longer a loop."""
        kind = self.iter_kinds.get(axis, ForKind.SERIAL)
        if axis in self.bindings or kind is not ForKind.SERIAL:
            label = f"bound to {self.bindings[axis].thread_tag}" if axis in self.bindings else kind.name.lower()
            raise ScheduleError(f"stage {self.name}: cannot {what} axis {axis.name}: it is already {label}; "
                                f"{what} it first, then bind or annotate the resulting loops")

    def _is_reduce(self, axis):
        return depends_on(self.relations, axis, self.op.reduce_axis)

    def _log(self, primitive, text):
        self.history.append((primitive, text))
        self.schedule.history.append((self, primitive, text))
        self.schedule.states.append(self.schedule.copy(with_history=False))   # for tm.explain

    # loop structure ---------------------------------------------------------
    def split(self, parent, factor=None, nparts=None):
        """Split ``parent`` into (outer, inner) with inner extent ``factor`` or ``nparts`` outer."""
        pos = self._leaf(parent, "split")
        self._not_annotated(parent, "split")
        if (factor is None) == (nparts is None):
            raise ScheduleError(f"stage {self.name}: split of {parent.name} needs exactly one of factor= or nparts=")
        amount = _positive_index(factor if factor is not None else nparts)
        if amount is None:
            raise ScheduleError(f"stage {self.name}: split of {parent.name} needs a positive int, "
                                f"got {factor if factor is not None else nparts!r}")
        factor, nparts = (amount, None) if factor is not None else (None, amount)
        outer = IterVar(None, parent.name + ".outer", parent.kind)
        inner = IterVar(None, parent.name + ".inner", parent.kind)
        self.relations.append(Split(parent, outer, inner, factor, nparts))
        self.all_iter_vars += [outer, inner]
        self.leaf_iter_vars[pos:pos + 1] = [outer, inner]
        self._log("split", f"{parent.name} -> {outer.name}, {inner.name} "
                  f"({'factor' if factor is not None else 'nparts'}={amount})")
        return outer, inner

    def tile(self, x_parent, y_parent, x_factor, y_factor):
        """Split two axes and order them (x.outer, y.outer, x.inner, y.inner)."""
        xo, xi = self.split(x_parent, factor=x_factor)
        yo, yi = self.split(y_parent, factor=y_factor)
        self.reorder(xo, yo, xi, yi)
        return xo, yo, xi, yi

    def fuse(self, *axes):
        """Fuse consecutive leaf axes (outermost first) into one."""
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        if not axes:
            raise ScheduleError(f"stage {self.name}: fuse needs at least one axis")
        positions = [self._leaf(a, "fuse") for a in axes]
        for a in axes:
            self._not_annotated(a, "fuse")
        if positions != list(range(positions[0], positions[0] + len(axes))):
            raise ScheduleError(f"stage {self.name}: fuse needs consecutive loops in order, got "
                                f"{[a.name for a in axes]} at positions {positions}")
        kinds = {self._is_reduce(a) for a in axes}
        if len(kinds) > 1:
            raise ScheduleError(f"stage {self.name}: cannot fuse data axes with reduce axes {[a.name for a in axes]}")
        fused = axes[0]
        for nxt in axes[1:]:
            new = IterVar(None, f"{fused.name}.{nxt.name}.fused", fused.kind)
            self.relations.append(Fuse(fused, nxt, new))
            self.all_iter_vars.append(new)
            fused = new
        self.leaf_iter_vars[positions[0]:positions[-1] + 1] = [fused]
        if len(axes) > 1:
            self._log("fuse", f"{', '.join(a.name for a in axes)} -> {fused.name}")
        return fused

    def reorder(self, *axes):
        """Put ``axes`` in this order, in the positions they occupy now."""
        if len(axes) == 1 and isinstance(axes[0], (list, tuple)):
            axes = tuple(axes[0])
        positions = [self._leaf(a, "reorder") for a in axes]
        if len(set(positions)) != len(positions):
            raise ScheduleError(f"stage {self.name}: reorder lists an axis twice: {[a.name for a in axes]}")
        for pos, axis in zip(sorted(positions), axes):
            self.leaf_iter_vars[pos] = axis
        self._log("reorder", ", ".join(a.name for a in axes))

    # annotations ------------------------------------------------------------
    def _annotate(self, axis, kind, what):
        self._leaf(axis, what)
        if kind in (ForKind.VECTORIZED, ForKind.PARALLEL) and self._is_reduce(axis):
            raise ScheduleError(f"stage {self.name}: cannot {what} reduce axis {axis.name} "
                                "(iterations would race on the same output); use rfactor first")
        if axis in self.bindings:
            raise ScheduleError(f"stage {self.name}: axis {axis.name} is bound to {self.bindings[axis].thread_tag}")
        self.iter_kinds[axis] = kind
        self._log(what, axis.name)

    def vectorize(self, axis):
        """Run ``axis`` as SIMD lanes."""
        self._annotate(axis, ForKind.VECTORIZED, "vectorize")

    def unroll(self, axis):
        """Unroll ``axis``: a loop of constant extent up to ``tir.passes.MAX_UNROLL`` is
        replaced by copies of its body; a longer or symbolic one stays a loop (as TVM's
        unroller leaves it), marked for the compiler (``#pragma unroll`` in CUDA C)."""
        self._annotate(axis, ForKind.UNROLLED, "unroll")

    def parallel(self, axis):
        """Run the iterations of ``axis`` on several cores."""
        self._annotate(axis, ForKind.PARALLEL, "parallel")

    def bind(self, axis, thread_ivar):
        """Map ``axis`` onto a GPU thread axis made by ``te.thread_axis``. A reduce axis
        may be bound to ``threadIdx.*``: the block's threads then combine their partial
        results (a cross-thread reduction, see ``lower.nest``). An axis bound to
        ``vthread`` is a loop every thread runs, interleaved with the thread's other
        work (``lower.vthread``)."""
        self._leaf(axis, "bind")
        if not isinstance(thread_ivar, IterVar) or thread_ivar.kind != "thread":
            raise ScheduleError(f"stage {self.name}: bind of {axis.name} needs te.thread_axis(...), got {thread_ivar!r}")
        tag = thread_ivar.thread_tag
        if self._is_reduce(axis) and tag == "vthread":
            raise ScheduleError(f"stage {self.name}: cannot bind reduce axis {axis.name} to vthread: virtual "
                                "threads run independent iterations; unroll the reduce axis instead")
        if self._is_reduce(axis) and not tag.startswith("threadIdx"):
            # Threads of one block combine their shares through shared memory (a
            # cross-thread reduction); blocks have no such meeting place.
            raise ScheduleError(f"stage {self.name}: cannot bind reduce axis {axis.name} to {tag}: a reduction "
                                "can span the threads of a block (bind it to threadIdx.*), not blocks; rfactor "
                                "it and bind the new data axis to blockIdx instead")
        for other, bound in self.bindings.items():
            same = bound is thread_ivar if tag == "vthread" else bound.thread_tag == tag   # vthreads: by axis
            if other is not axis and same and other in self.leaf_iter_vars:
                # One thread index cannot drive two loops of a stage: both would take the
                # same value and only the diagonal of their iteration space would run.
                raise ScheduleError(f"stage {self.name}: axes {other.name} and {axis.name} cannot both be bound "
                                    f"to {tag}; bind them to different thread axes or fuse them first")
        self.iter_kinds.pop(axis, None)
        self.bindings[axis] = thread_ivar
        self._log("bind", f"{axis.name} -> {tag}")

    # where the stage is computed ---------------------------------------------
    def compute_at(self, parent, axis):
        """Compute this stage inside loop ``axis`` of stage ``parent`` (just the region needed)."""
        if isinstance(parent, Tensor):
            parent = self.schedule[parent]
        if not isinstance(parent, Stage):
            raise ScheduleError(f"stage {self.name}: compute_at needs a stage, got {parent!r}")
        if parent is self:
            raise ScheduleError(f"stage {self.name}: cannot compute_at its own axis {getattr(axis, 'name', axis)}")
        parent._leaf(axis, f"compute_at stage {self.name} at")
        if self.is_output:
            raise ScheduleError(f"stage {self.name} is an output; it cannot be computed at {parent.name}.{axis.name}")
        cursor = parent
        while cursor is not None and cursor.attach_type == "scope":
            cursor = cursor.attach_stage
            if cursor is self:
                raise ScheduleError(f"stage {self.name}: compute_at {parent.name}.{axis.name} makes a cycle "
                                    f"({parent.name} is already computed inside {self.name})")
        self.attach_type, self.attach_stage, self.attach_ivar = "scope", parent, axis
        self._log("compute_at", f"{self.name} inside {parent.name}.{axis.name}")

    def compute_with(self, parent, axis):
        """Compute this stage inside loop ``axis`` of stage ``parent``, right after
        ``parent``'s own work in each iteration, over the block of this stage's domain
        that ``parent`` computes in that iteration (Halide's ``compute_with``).

        The two stages must have the same shape: element ``(i, j)`` of this stage goes with
        element ``(i, j)`` of ``parent``. Unlike ``compute_at``, this stage may be an
        output and ``parent`` need not read it; typically it reads ``parent`` at its own
        element while that block is still in cache — several outputs of one kernel
        computed in one loop nest, such as an optimizer update done inside the tiles of
        the weight-gradient product (see ``topi.epilogue.attach_sibling_outputs``). A
        stage that reads ``parent`` (or another stage computed with it) anywhere but at
        its own element would read values not computed yet: the caller's contract, as
        with ``compute_at``'s regions.
        """
        if isinstance(parent, Tensor):
            parent = self.schedule[parent]
        if not isinstance(parent, Stage) or parent is self:
            raise ScheduleError(f"stage {self.name}: compute_with needs another stage, got {parent!r}")
        parent._leaf(axis, f"compute_with stage {self.name} at")
        mine, theirs = [str(iv.dom.extent) for iv in self.op.axis], [str(iv.dom.extent) for iv in parent.op.axis]
        if mine != theirs:
            raise ScheduleError(f"stage {self.name} {mine} cannot be computed with {parent.name} {theirs}: "
                                "compute_with pairs equal elements, so the shapes must be equal")
        if parent.attach_type != "root":
            raise ScheduleError(f"stage {self.name}: compute_with needs a root stage, but {parent.name} is "
                                f"{'inlined' if parent.attach_type == 'inline' else 'computed inside another stage'}")
        self.attach_type, self.attach_stage, self.attach_ivar = "with", parent, axis
        self._log("compute_with", f"{self.name} with {parent.name}.{axis.name}")

    def attach_point(self):
        """The loop of ``attach_stage`` this stage is computed in, as it is now.

        A ``compute_at(C, j)`` followed by a split of ``j`` computes inside the split's inner
        loop (once per value of ``j``, as before); a fuse of ``j`` as the inner axis computes
        inside the fused loop. Fusing ``j`` as the *outer* axis leaves no loop that runs once
        per ``j``: that is a ScheduleError.
        """
        from .relation import Fuse, Split
        ivar = self.attach_ivar
        for rel in self.attach_stage.relations:
            if isinstance(rel, Split) and rel.parent is ivar:
                ivar = rel.inner
            elif isinstance(rel, Fuse) and ivar in (rel.outer, rel.inner):
                if ivar is rel.outer:
                    raise ScheduleError(
                        f"stage {self.name} is computed at {self.attach_stage.name}.{self.attach_ivar.name}, which was "
                        f"then fused as the outer axis into {rel.fused.name}: no loop runs once per "
                        f"{self.attach_ivar.name}; call compute_at after transforming {self.attach_stage.name}")
                ivar = rel.fused
        if ivar not in self.attach_stage.leaf_iter_vars:
            raise ScheduleError(
                f"stage {self.name} is computed at {self.attach_stage.name}.{self.attach_ivar.name}, a loop that "
                f"{self.attach_stage.name} no longer has (rfactor or cache_write rebuilt its loops); call "
                f"compute_at after rewriting {self.attach_stage.name}")
        return ivar

    def compute_inline(self):
        """Substitute this stage's expression into its consumers; it gets no loops."""
        if self.op.reduce_axis:
            raise ScheduleError(f"stage {self.name} is a reduction (over {[iv.name for iv in self.op.reduce_axis]}); "
                                "a reduction cannot be inlined")
        if self.is_output:
            raise ScheduleError(f"stage {self.name} is an output; it cannot be inlined")
        self.attach_type, self.attach_stage, self.attach_ivar = "inline", None, None
        self._log("compute_inline", self.name)

    def compute_root(self):
        """Compute this stage in full at the top level (the default)."""
        self.attach_type, self.attach_stage, self.attach_ivar = "root", None, None
        self._log("compute_root", self.name)

    def set_scope(self, scope):
        """TVM's ``set_scope``: keep this stage's buffer in ``scope`` ("global",
        "shared" or "local"), as a cache stage's."""
        if scope not in ("global", "shared", "local"):
            raise ScheduleError(f"stage {self.name}: unknown scope {scope!r}; use 'global', 'shared' or 'local'")
        self.scope = scope
        self._log("set_scope", f"{self.name} in {scope}")

    def set_store_predicate(self, predicate):
        """TVM's ``set_store_predicate``: store this stage's results only where
        ``predicate`` holds (it may use the stage's loops and the thread axes its loops
        are bound to). tvmini already stores a cross-thread reduction from one thread, as
        TVM's reduction tutorial asks with ``tx.var.equal(0)``."""
        predicate = convert(predicate)
        if predicate.dtype != "bool":
            raise ScheduleError(f"stage {self.name}: the store predicate {predicate} is {predicate.dtype}, not bool")
        self.store_predicate = predicate
        self._log("set_store_predicate", f"{self.name} where {predicate}")


def _unsupported(name, advice):
    """A Stage method for TVM primitive ``name``, which tvmini does not have."""
    def primitive(self, *args, **kwargs):
        raise ScheduleError(f"stage {self.name}: {name} (TVM's) is not supported by tvmini; {advice}")
    primitive.__name__ = primitive.__qualname__ = name
    primitive.__doc__ = f"TVM's ``{name}``: not supported ({advice})."
    return primitive


for _name, _advice in {
        "pragma": "unroll with unroll(axis), vectorize with vectorize(axis)",
        "storage_align": "buffers are laid out densely",
        "double_buffer": "shared tiles are loaded between barriers",
        "tensorize": "write the inner computation in te and vectorize or unroll its loops",
        "env_threads": "bind loops with bind(axis, te.thread_axis(...))",
        "prefetch": "loads are left to the CPU's prefetcher"}.items():
    setattr(Stage, _name, _unsupported(_name, _advice))


class Schedule:
    """Stages for every compute op reachable from ``outputs``, in dataflow order."""

    def __init__(self, outputs):
        self.outputs = list(dict.fromkeys(t.op if isinstance(t, Tensor) else t for t in outputs))   # outputs of one op once
        for op in self.outputs:
            if not isinstance(op, ComputeOp):
                raise ScheduleError(f"create_schedule: {op.name} is a placeholder, not a compute op")
        self.stages = []
        self.stage_map = {}
        self.history = []                # (stage, primitive name, description), in order applied
        self.states = []                 # a copy of the schedule after each history entry
        for op in _post_order(self.outputs):
            stage = Stage(op, self)
            self.stages.append(stage)
            self.stage_map[op] = stage

    def __getitem__(self, key):
        op = key.op if isinstance(key, Tensor) else key
        if isinstance(op, PlaceholderOp):
            raise ScheduleError(f"{op.name} is a placeholder; it has no stage to schedule")
        stage = self.stage_map.get(op)
        if stage is None:
            raise ScheduleError(f"tensor {getattr(op, 'name', op)} is not computed by this schedule")
        return stage

    def tensor(self, key):
        """The current tensor computed for ``key`` (which may be a pre-rewrite tensor)."""
        if isinstance(key, Tensor) and isinstance(key.op, PlaceholderOp):
            return key
        return self[key].op.output(key.value_index if isinstance(key, Tensor) else 0)

    def copy(self, with_history=True):
        """An independent copy: primitives applied to either leave the other alone.

        Ops, tensors, IterVars and relations are never mutated once made, so they are
        shared; each stage's loop state (relations, loop order, annotations, bindings,
        attachment) is copied. ``with_history=False`` leaves the copy's history (and
        recorded states) empty: the snapshots ``tm.explain`` reads are made that way.
        """
        new = Schedule.__new__(Schedule)
        new.outputs = list(self.outputs)
        new.history = list(self.history) if with_history else []
        new.states = list(self.states) if with_history else []
        twins = {}
        for stage in self.stages:
            twin = twins[stage] = Stage.__new__(Stage)
            twin.__dict__.update(stage.__dict__)
            twin.schedule, twin.history = new, list(stage.history)
            for attr in ("root_iter_vars", "leaf_iter_vars", "all_iter_vars", "relations"):
                setattr(twin, attr, list(getattr(stage, attr)))
            twin.iter_kinds, twin.bindings = dict(stage.iter_kinds), dict(stage.bindings)
        for twin in twins.values():
            twin.attach_stage = twins.get(twin.attach_stage)
        new.stages = [twins[stage] for stage in self.stages]
        new.stage_map = {op: twins[stage] for op, stage in self.stage_map.items()}
        return new

    def normalize(self):
        """TVM's ``normalize`` (rebase every loop to start at 0): tvmini's loops start at
        0 already; returns the schedule."""
        return self

    def create_group(self, outputs, inputs, include_inputs=False):
        """TVM's ``create_group``: not supported."""
        raise ScheduleError("create_group (TVM's) is not supported by tvmini; schedule each stage (compute_at "
                            "puts a stage inside another's loop)")

    # graph rewrites live in te/rewrite.py; bound here as methods.
    from .rewrite import cache_read, cache_write, rfactor


def _positive_index(value):
    """``value`` as a Python int when it is a positive integer of any integer type
    (``int``, ``np.int64``, anything with ``__index__`` but ``bool``), else None."""
    if isinstance(value, bool):
        return None
    try:
        value = operator.index(value)
    except TypeError:
        return None
    return value if value >= 1 else None


def _post_order(ops):
    """Compute ops reachable from ``ops``, producers before consumers (iterative DFS)."""
    order, seen = [], set()
    for root in ops:
        stack = [(root, False)]
        while stack:
            op, done = stack.pop()
            if done:
                if op not in seen:
                    seen.add(op)
                    order.append(op)
                continue
            if op in seen or not isinstance(op, ComputeOp):
                continue
            stack.append((op, True))
            for t in reversed(op.input_tensors):
                stack.append((t.op, False))
    return order


def create_schedule(ops):
    """A schedule for one output op (or tensor) or a list of them."""
    if not isinstance(ops, (list, tuple)):
        ops = [ops]
    return Schedule(ops)

"""The traced program: values (arrays) and nodes (kernel calls and copies), in call order.

A :class:`Value` is one array of the step. Its ``kind`` says where its memory comes from
on every replay:

* ``input``: the array of the jit function's ``binding``-th tensor argument (passed in);
* ``grad_in``: a parameter's gradient from before the step (passed in; the step adds to it);
* ``state``: an array that lives outside the step and keeps its memory (a parameter, an
  optimizer state, a running statistic); kernels may overwrite it in place;
* ``const``: made during the trace from host data and never written (folded or read);
* ``temp``: made and consumed inside the step: memory planning gives it arena space;
* ``output``: returned by the function or left as a parameter's ``.grad``: a fresh array
  per call, passed in;
* ``view``: rows of another value (``view_of``: (value, byte offset)), what one batch
  lane of a data-parallel step reads or writes of an array split by rows.

A :class:`Node` is a kernel call (``op`` with ``define``/``attrs``, the compiled
``module``, ``scalars``) or a ``copy`` (``inputs[0]`` into ``outputs[0]``). A node whose
``inplace`` is set overwrites inputs (its outputs are those same values), so passes keep
it, keep it in order, and never move a read of what it writes across it. A ``lanes``
node (``passes.lanes``) runs its ``lanes`` — lists of kernel calls, one per thread, each
on its own rows of the batch — in parallel; its inputs and outputs are the arrays its
calls share with the rest of the step.
"""
import math
from typing import NamedTuple

INPUT, GRAD_IN, STATE, CONST, TEMP, OUTPUT, VIEW = ("input", "grad_in", "state", "const", "temp", "output",
                                                    "view")
#: Kinds whose pointer is passed to the step at every call.
PASSED = (INPUT, GRAD_IN, OUTPUT)


class Value:
    """One array of the traced step (see the module docstring for ``kind``)."""

    __slots__ = ("id", "shape", "dtype", "kind", "array", "binding", "offset", "view_of")

    def __init__(self, vid, shape, dtype, kind, array=None, binding=None):
        self.id, self.shape, self.dtype, self.kind = vid, tuple(shape), str(dtype), kind
        self.array, self.binding, self.offset = array, binding, None
        self.view_of = None

    @property
    def nbytes(self):
        import numpy as np
        return math.prod(self.shape) * np.dtype(self.dtype).itemsize

    def __repr__(self):
        return f"%{self.id}"

    def describe(self):
        where = {TEMP: f"arena+{self.offset}" if self.offset is not None else "temp"}.get(self.kind, self.kind)
        if self.kind == VIEW:
            base, offset = self.view_of
            where = f"view of {base!r} at byte {offset}"
        if self.kind in (INPUT, OUTPUT) and self.binding is not None:
            where = f"{self.kind} {self.binding}"
        return f"%{self.id}: {self.dtype}{list(self.shape)} ({where})"


class ReplayScalars(NamedTuple):
    """Where a call's per-replay scalars come from: ``source.replay_scalars(keys)``
    returns the scalars of the calls with those keys, one after the other, for the
    step about to run. One call per source and replay computes them for all of its
    calls (an optimizer's updates of every parameter): the Python a replay runs is
    paid again in full on every step, cache misses included, after the step's kernels
    have evicted it (measured: 6 calls of one each, 10 us of a 0.58 ms MNIST MLP step)."""
    source: object
    key: object


class JoinedScalars:
    """The :class:`ReplayScalars` source of a fused call whose members' scalars come from
    different places: ``parts`` is, member by member, (its ReplayScalars, or None for
    the scalars traced as constants; its traced scalars). Each member's source is asked
    for its own scalars, in the members' order (a dropout's forward call before its
    gradient's, as unfused)."""

    def __init__(self, parts):
        self.parts = parts

    def replay_scalars(self, keys):
        values = []
        for _ in keys:
            for replay, traced in self.parts:
                values += traced if replay is None else replay.source.replay_scalars([replay.key])
        return values


def joined_replay(first, second):
    """The ReplayScalars of one call fusing the calls ``first`` then ``second`` (their
    scalars concatenated); None when neither has per-replay scalars."""
    if first.scalars_at_replay is None and second.scalars_at_replay is None:
        return None
    parts = []
    for node in (first, second):
        replay = node.scalars_at_replay
        if replay is not None and isinstance(replay.source, JoinedScalars):
            parts += replay.source.parts
        elif replay is not None or node.scalars:
            parts.append((replay, list(node.scalars)))
    return ReplayScalars(JoinedScalars(parts), None)


class Node:
    """One call of the step: a kernel (``op`` != "copy") or a copy."""

    __slots__ = ("op", "define", "attrs", "module", "inputs", "outputs", "scalars", "scalar_dtypes",
                 "inplace", "scalars_at_replay", "members", "tag", "recipe", "lanes", "rows")

    def __init__(self, op, inputs, outputs, define=None, attrs=(), module=None, scalars=(), scalar_dtypes=(),
                 inplace=False):
        self.op, self.define, self.attrs, self.module = op, define, tuple(attrs), module
        self.inputs, self.outputs = list(inputs), list(outputs)
        self.scalars, self.scalar_dtypes = tuple(scalars), tuple(scalar_dtypes)
        self.inplace = inplace
        #: None, or the :class:`ReplayScalars` giving this call's scalars at each replay
        #: (an optimizer's learning rate and bias corrections for the step it is on).
        self.scalars_at_replay = None
        #: The ops fused into this node, in order (just ``[op]`` when nothing was fused).
        self.members = [op]
        #: Set by fusion on the nodes it makes: "injective" (every stage is) or "gemm" (a
        #: matrix product with a fused epilogue); None on the traced nodes.
        self.tag = None
        #: For a fused node, how to rebuild its te definition (see ``passes.fuse``).
        self.recipe = None
        #: For a ``lanes`` node: the calls of each lane, and each lane's (first row, rows).
        self.lanes, self.rows = None, None

    @property
    def pure(self):
        """Whether the node only computes its outputs (may be removed, merged or moved)."""
        return not self.inplace and self.scalars_at_replay is None and self.op != "copy"

    def calls(self):
        """This node, or a ``lanes`` node's calls (lane by lane)."""
        return [self] if self.lanes is None else [call for lane in self.lanes for call in lane]

    def __repr__(self):
        if self.lanes is not None:
            lines = [f"{', '.join(map(repr, self.outputs))} = lanes x{len(self.lanes)} "
                     f"({', '.join(map(repr, self.inputs))}), in parallel:"]
            for (start, rows), lane in zip(self.rows, self.lanes):
                lines += [f"    lane rows {start}:{start + rows}: {call!r}" for call in lane]
            return "\n  ".join(lines)
        name = "+".join(self.members) if len(self.members) > 1 else self.op
        args = ", ".join(map(repr, self.inputs))
        scalars = f"; {', '.join(f'{s:.6g}' if isinstance(s, float) else str(s) for s in self.scalars)}" \
            if self.scalars and self.scalars_at_replay is None else ("; <scalars per step>" if self.scalars else "")
        outs = ", ".join(map(repr, self.outputs))
        return f"{outs} = {name}({args}{scalars}){' in place' if self.inplace else ''}"


class Program:
    """Values and nodes of one traced step, plus what the call returns and sets."""

    def __init__(self):
        self.values, self.nodes = [], []
        self.outputs = []        # values returned, in the flattened order of the result
        self.grads = []          # (leaf reference, value or None): each leaf's .grad after the step
        self.memory = None       # (bytes without reuse, arena bytes) after memory planning
        self.arena_bytes = 0     # size of the arena the temporaries live in
        self.notes = []          # one line per pass: what it changed

    def new_value(self, shape, dtype, kind, array=None, binding=None):
        value = Value(len(self.values), shape, dtype, kind, array, binding)
        self.values.append(value)
        return value

    def calls(self):
        """Every kernel call and copy of the step, a ``lanes`` node's calls included."""
        return [call for node in self.nodes for call in node.calls()]

    def live_values(self):
        """Values some node or the result still uses, in id order."""
        used = {v.id: v for node in self.nodes for v in node.inputs + node.outputs}
        used.update({v.id: v for v in self.outputs})
        used.update({v.id: v for _, v in self.grads if v is not None})
        return [used[k] for k in sorted(used)]

    def __str__(self):
        lines = ["values:"]
        live = self.live_values()
        lines += [f"  {v.describe()}" for v in live]
        lane_only = {v.id: v for node in self.nodes if node.lanes is not None
                     for call in node.calls() for v in call.inputs + call.outputs}
        for v in live:
            lane_only.pop(v.id, None)
        lines += [f"  {v.describe()}" for _, v in sorted(lane_only.items())]
        lines.append(f"nodes ({len(self.nodes)} calls):")
        lines += [f"  {node!r}" for node in self.nodes]
        lines.append(f"returns: ({', '.join(map(repr, self.outputs))})")
        if self.grads:
            lines.append(f"sets .grad of {len(self.grads)} tensors: "
                         f"{', '.join(repr(v) if v is not None else 'None' for _, v in self.grads)}")
        if self.memory is not None:
            before, after = self.memory
            lines.append(f"memory: temporaries {before / 1024:.1f} KiB without reuse -> arena {after / 1024:.1f} KiB")
        lines += [f"pass {note}" for note in self.notes]
        return "\n".join(lines)

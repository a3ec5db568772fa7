"""In-place outputs: which (output, input) argument pairs may share one buffer.

An optimizer step overwrites the parameter and its state; building the update so that
the new parameter is written over the old one saves a buffer per tensor and, more
importantly, keeps every tensor in the same memory for its whole life (so a traced
training step can be replayed on fixed buffers). ``build(..., inplace={out: in})``
declares such pairs; :func:`check_inplace` accepts a pair only when sharing the buffer
cannot change the result:

* ``in`` is a placeholder and ``out`` an output of the schedule with the same shape and
  dtype, and no input is shared by two outputs;
* ``out``'s stage (after inlining) reads ``in`` only at the element it writes
  (indices exactly its own axes), so each element is read before it is overwritten,
  and is not a reduction (whose init and partial sums overwrite the element between
  reads);
* every other stage reading ``in`` is one that ``out`` depends on and either computed in
  another root loop nest than ``out`` (finished before ``out``'s loop starts) or, when
  both are computed with the same stage (``compute_with``), one that reads ``in`` only
  at its own element (it has read each block before ``out`` overwrites it).
"""
from ..errors import BuildError
from ..te.tensor import PlaceholderOp, ProducerLoad, Reduce
from ..tir.functor import walk


def _loads_of(body, op):
    found = []
    walk(body, lambda n: found.append(n) if isinstance(n, ProducerLoad) and n.tensor.op is op else None)
    return found


def _producers(op):
    """Every op ``op`` transitively reads."""
    seen, stack = set(), [op]
    while stack:
        current = stack.pop()
        if isinstance(current, PlaceholderOp):
            continue
        for t in current.input_tensors:
            if t.op not in seen:
                seen.add(t.op)
                stack.append(t.op)
    return seen


def check_inplace(pairs, bodies, arguments):
    """Raise BuildError unless every ``(out, in)`` te-tensor pair may share its buffer.

    ``bodies`` maps each live stage to its body after inlining; ``arguments`` are the
    function's tensor arguments.
    """
    used = set()
    stages = {s.op: s for s in bodies}
    for out, src in pairs:
        where = f"in-place output {out.name} over input {src.name}"
        if not isinstance(src.op, PlaceholderOp) or src not in arguments or out not in arguments:
            raise BuildError(f"{where}: the input must be a placeholder and both must be arguments")
        if out.op.num_outputs > 1:
            raise BuildError(f"{where}: {out.name} is one of the {out.op.num_outputs} outputs of {out.op.name}; "
                             "in-place outputs are single-output computes")
        if out.op not in stages or isinstance(out.op, PlaceholderOp):
            raise BuildError(f"{where}: {out.name} is not computed by this function")
        if [str(d) for d in out.shape] != [str(d) for d in src.shape] or out.dtype != src.dtype:
            raise BuildError(f"{where}: shapes/dtypes differ ({out.dtype}{list(out.shape)} vs "
                             f"{src.dtype}{list(src.shape)})")
        if src.op in used:
            raise BuildError(f"{where}: {src.name} is already shared with another output")
        used.add(src.op)
        axes = [iv.var for iv in out.op.axis]
        body = bodies[stages[out.op]]
        if isinstance(body, Reduce) and _loads_of(body, src.op):
            raise BuildError(f"{where}: {out.name} is a reduction that reads {src.name}; it writes its first "
                             "partial result over an element before it has read it, so the buffer cannot be "
                             "shared")
        for load in _loads_of(body, src.op):
            if len(load.indices) != len(axes) or any(i is not a for i, a in zip(load.indices, axes)):
                raise BuildError(f"{where}: {out.name} reads {src.name} at another element than the one "
                                 "it writes, so the buffer cannot be shared")
        before = _producers(out.op)
        writer = stages[out.op]
        for stage, body in bodies.items():
            if stage.op is out.op or not _loads_of(body, src.op):
                continue
            finished = _root_of(stage) is not _root_of(writer)
            if stage.op not in before or not (finished or _same_block(stage, writer, body, src)):
                raise BuildError(f"{where}: stage {stage.name} also reads {src.name} but does not finish "
                                 f"before {out.name} is written")


def _root_of(stage):
    """The root stage whose loop nest computes ``stage`` (itself when it is root). A
    producer of ``out`` under another root than ``out``'s is finished before ``out``'s
    root loop starts: root loop nests run one after the other, producers first."""
    while stage.attach_type in ("scope", "with"):
        stage = stage.attach_stage
    return stage


def _same_block(reader, writer, body, src):
    """Whether ``reader`` and ``writer`` are computed with the same stage at the same loop
    and ``reader`` reads ``src`` only at its own element: then in every block ``reader``
    reads what ``writer`` overwrites afterwards, and no other element of ``src``."""
    axes = [iv.var for iv in reader.op.axis]
    return (reader.attach_type == writer.attach_type == "with" and reader.attach_stage is writer.attach_stage
            and reader.attach_point() is writer.attach_point()
            and all(len(ld.indices) == len(axes) and all(i is a for i, a in zip(ld.indices, axes))
                    for ld in _loads_of(body, src.op)))

"""Schedule walkthrough: the loop IR after each primitive applied to a schedule, in order.

``tm.explain(s, args)`` shows what every ``split``/``reorder``/``compute_at``/... did:
section 0 is the default schedule (no primitive applied), section ``i`` the schedule
right after the ``i``-th entry of ``s.history``.

How the intermediate schedules are obtained: every primitive, when it is applied,
appends a copy of the whole schedule to ``s.states`` (``Schedule.copy`` in
``te/schedule.py``: ops, tensors and IterVars are immutable and shared, each stage's
loop state is copied). Lowering those copies shows exactly the schedule the user had
after each step. Replaying the primitives on a fresh schedule was the alternative, but
the history records descriptions, not arguments, and the graph rewrites (cache_read,
cache_write, rfactor) make new ops and IterVars that later primitives refer to, so a
replay would have to map every object of the user's schedule onto its replayed twin.
Copies need no mapping, and cost microseconds per primitive against the tens of
milliseconds of a build. The starting point is a fresh schedule of the outputs'
original ops, which is what the schedule was before its first primitive.
"""
import sys

from .errors import TVMiniError
from .lower import lower
from .te.schedule import Schedule, create_schedule


def explain_steps(sch, args, name="main"):
    """The walkthrough as a list of ``(title, loop IR text)``: ``len(sch.history) + 1`` items.

    An intermediate schedule that cannot be lowered on its own (it may need a later
    primitive to become valid) gets the error message instead of IR.
    """
    if not isinstance(sch, Schedule):
        raise TVMiniError(f"explain needs a te schedule, got {type(sch).__name__}")
    if len(sch.states) != len(sch.history):
        raise TVMiniError(f"explain: schedule has {len(sch.history)} primitives in its history but "
                          f"{len(sch.states)} recorded states; was its history edited by hand?")
    initial = create_schedule([sch[op].origin_op for op in sch.outputs])
    steps = [("the default schedule (no primitive applied)", _lowered(initial, args, name))]
    for (stage, primitive, description), state in zip(sch.history, sch.states):
        steps.append((f"s[{stage.name}].{primitive}: {description}", _lowered(state, args, name)))
    return steps


def _lowered(sch, args, name):
    try:
        return str(lower(sch, args, name=name))
    except TVMiniError as err:
        return f"(this intermediate schedule does not lower: {err})"


def explain(sch, args, name="main", file=None):
    """Print the loop IR of ``sch`` after each primitive, in order, and return the text.

    ``args`` are the kernel's arguments as for ``tm.lower``/``tm.build``; ``file`` is
    where to print (default ``sys.stdout``; ``False`` prints nothing). Each section
    starts with a ``== step <i>: ...`` line naming the stage, the primitive and what it
    did (e.g. ``s[C].split: i -> i.outer, i.inner (factor=8)``).
    """
    sections = [f"== step {i}: {title}\n{ir}" for i, (title, ir) in enumerate(explain_steps(sch, args, name))]
    text = "\n\n".join(sections) + "\n"
    if file is not False:
        print(text, end="", file=sys.stdout if file is None else file)
    return text

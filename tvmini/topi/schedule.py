"""Default schedules for topi operators, chosen per compute by its ``tag``.

Every topi definition tags its computes (``te.compute(..., tag="injective")``). A rule
registered for a tag with :func:`register` schedules one such compute inside a schedule
built for a whole group of outputs; :func:`default_schedule` applies the rules to every
compute reachable from the outputs, consumers before producers (so a rule can
``compute_at``/``compute_inline`` the stages it owns).

Rules per target. ``register(tag)`` registers the rule every target uses unless it has
one of its own; ``register(tag, target="cuda")`` one used only when the target's first
word is "cuda", and ``register("*", target=...)`` that target's rule for computes whose
tag has none (so a GPU target never falls back to a CPU rule). ``default_schedule``
stays the one entry point.

Tunable rules. A rule registered with ``knobs=`` takes a fourth argument, ``config``: a
dict of knob values (split factors, loop order, vector width, parallel or not). Its
``knobs(sch, tensor, target)`` function returns the :class:`Knobs` of one compute — the
candidate values of each knob and the rule's heuristic choice among them — or None
when the rule will not schedule that compute (an inlined stage, a target it leaves
alone), in which case the rule gets ``config=None``. Every config drawn from the
candidates gives the same results; only the speed differs. ``default_schedule`` takes
the config from, in order: its ``configs`` argument, the config source installed with
:func:`set_config_source` (``tvmini.autotune``'s tuning log), the heuristic default.

A compute is identified across processes by its :func:`workload`: the op name, the
shapes and dtypes of the inputs and a fingerprint of the whole te definition feeding
it (names of placeholders and loop variables do not count), which is what tuning logs
are keyed by.
"""
import hashlib
import itertools

from .. import te
from ..errors import ScheduleError
from ..te.tensor import ProducerLoad, Reduce
from ..tir import expr as E
from ..tir.simplify import simplify

_RULES = {}        # (tag, target kind or None) -> (rule, knobs function or None)

#: Tag of an elementwise intermediate that the default schedules never inline: computed
#: whole, in its own loop nest, before its readers, as an output is. For a value read by
#: in-place updates that overwrite what it reads (Adadelta's step: read by the update of
#: the state it is computed from), which inlined would read the overwritten element.
MATERIALIZED = "materialized"


def kept(stage):
    """Whether an injective rule schedules ``stage`` as a loop nest of its own rather
    than inlining it into its readers: outputs and :data:`MATERIALIZED` computes."""
    return stage.is_output or stage.op.tag == MATERIALIZED
_CONFIG_SOURCE = None


def register(tag, knobs=None, target=None):
    """Decorator: ``fn(sch, tensor, target)`` schedules computes tagged ``tag``; with
    ``knobs``, ``fn(sch, tensor, target, config)`` and ``knobs(sch, tensor, target)``
    returning the compute's :class:`Knobs` (or None: nothing to tune, ``config=None``).
    ``target``: None for every target without a rule of its own, else the target kind
    (e.g. "cuda") the rule is for; tag "*" with a target is that target's fallback."""
    def wrap(fn):
        _RULES[tag, target] = (fn, knobs)
        return fn
    return wrap


def target_kind(target):
    """The kind of a target: its first word ("llvm", "cuda", ...)."""
    return str(target).split()[0]


def rule_for(tag, target):
    """(rule, knobs function) scheduling computes tagged ``tag`` for ``target``, or
    (None, None): the target's own rule, its "*" rule, else the rule for every target."""
    kind = target_kind(target)
    for key in ((tag, kind), ("*", kind), (tag, None)):
        if key in _RULES:
            return _RULES[key]
    return None, None


class Knobs:
    """The tunable choices of one rule for one compute.

    ``choices`` maps each knob name to its candidate values (a list, in a fixed order);
    ``default`` is the rule's heuristic config, one candidate per knob.
    """

    def __init__(self, default, choices):
        self.choices = {name: list(values) for name, values in choices.items()}
        self.default = dict(default)
        missing = self.problems(self.default)
        if missing:
            raise ScheduleError(f"Knobs: the default config is not among the candidates: {'; '.join(missing)}")

    def problems(self, config):
        """Why ``config`` is not a config of these knobs (an empty list when it is)."""
        if not isinstance(config, dict):
            return [f"a config is a dict of knob values, got {type(config).__name__}"]
        out = [f"unknown knob {name!r}" for name in config if name not in self.choices]
        for name, values in self.choices.items():
            if name not in config:
                out.append(f"knob {name!r} missing")
            elif not any(type(config[name]) is type(v) and config[name] == v for v in values):
                out.append(f"knob {name!r}={config[name]!r} is not one of {values}")
        return out

    def size(self):
        """How many configs there are (the product of the candidate counts)."""
        total = 1
        for values in self.choices.values():
            total *= len(values)
        return total

    def configs(self):
        """Every config, in a fixed order (the product of the candidate lists)."""
        names = list(self.choices)
        for values in itertools.product(*(self.choices[n] for n in names)):
            yield dict(zip(names, values))

    def __repr__(self):
        return f"Knobs(default={self.default}, choices={self.choices})"


def set_config_source(source):
    """Install ``source(tensor, target, knobs) -> config or None``, consulted for every
    tunable compute that ``default_schedule``'s ``configs`` argument does not cover
    (``tvmini.autotune`` installs its tuning-log lookup); None removes it."""
    global _CONFIG_SOURCE
    _CONFIG_SOURCE = source


def gemm_axes(stage, accumulate):
    """(batch axes, row axis, column axis, column count) of the output stage of a GEMM
    (``nn.gemm_stages``) whose accumulation is ``accumulate``: the column axis is the
    output's last, or the fusion of its axes past the row axis when it has several (a
    pointwise convolution's pixel rows and columns, stored contiguously in that order)."""
    nb = accumulate.ndim - 2
    batch, row, columns = stage.op.axis[:nb], stage.op.axis[nb], stage.op.axis[nb + 1:]
    count = columns[0].dom.extent
    for iv in columns[1:]:
        count = count * iv.dom.extent
    return list(batch), row, columns[0] if len(columns) == 1 else stage.fuse(*columns), simplify(count)


def _computes(outs):
    """Compute ops reachable from ``outs``, consumers before producers."""
    order, seen = [], set()
    stack = [(t.op, False) for t in reversed(outs)]
    while stack:
        op, expanded = stack.pop()
        if expanded:
            order.append(op)
            continue
        if op in seen or not isinstance(op, te.ComputeOp):
            continue
        seen.add(op)
        stack.append((op, True))
        stack.extend((t.op, False) for t in op.input_tensors)
    return list(reversed(order))


def _as_list(outs):
    return [outs] if isinstance(outs, te.Tensor) else list(outs)


def _schedule(outs, target, choose):
    """A schedule of ``outs``; ``choose(op, knobs)`` gives each tunable compute's config."""
    sch = te.create_schedule([t.op for t in outs])
    for op in _computes(outs):
        rule, knobs_fn = rule_for(op.tag, target)
        if rule is None:
            continue
        if knobs_fn is None:
            rule(sch, op.output(0), target)
            continue
        knobs = knobs_fn(sch, op.output(0), target)
        rule(sch, op.output(0), target, None if knobs is None else choose(op, knobs))
    return sch


def default_schedule(outs, target="llvm", configs=None):
    """A schedule for ``outs`` (a te.Tensor or a list) with every tagged compute scheduled.

    ``configs`` maps tunable compute tensors (or their ops) to knob configs to use
    instead of the tuned or heuristic ones; a config that is not one of that compute's
    candidates raises ScheduleError.
    """
    outs = _as_list(outs)
    given = {(k.op if isinstance(k, te.Tensor) else k): v for k, v in (configs or {}).items()}

    def choose(op, knobs):
        if op in given:
            config = given[op]
            problems = knobs.problems(config)
            if problems:
                raise ScheduleError(f"stage {op.name} (tag {op.tag!r}): config {config!r} is not a config of "
                                    f"this rule: {'; '.join(problems)}")
            return dict(config)
        if _CONFIG_SOURCE is not None:
            config = _CONFIG_SOURCE(op.output(0), target, knobs)
            if config is not None:
                return dict(config)
        return dict(knobs.default)
    return _schedule(outs, target, choose)


def tunable(outs, target="llvm"):
    """``[(tensor, Knobs)]`` for the computes of ``outs`` whose rule has knobs, in the
    order ``default_schedule`` visits them (consumers first)."""
    found = []

    def record(op, knobs):
        found.append((op.output(0), knobs))
        return dict(knobs.default)
    _schedule(_as_list(outs), target, record)
    return found


# --------------------------------------------------------------------------- workloads

def _graph(tensor):
    """Ops feeding ``tensor`` (itself included), producers first, in a fixed order."""
    order, seen = [], set()
    stack = [(tensor.op, False)]
    while stack:
        op, expanded = stack.pop()
        if expanded:
            order.append(op)
            continue
        if op in seen:
            continue
        seen.add(op)
        stack.append((op, True))
        stack.extend((t.op, False) for t in reversed(op.input_tensors))
    return order


def _shape_value(extent):
    return extent.value if isinstance(extent, E.Const) else str(extent)


class Workload:
    """What a tuned config is for: one compute, described independently of names.

    ``op`` and ``tag`` name the compute, ``inputs`` lists ``(shape, dtype)`` of the
    placeholders feeding it in the order they are first read, ``output`` is its
    ``(shape, dtype)``; ``key`` is a hash of the canonical text of every compute between
    the inputs and it (bodies, reduce domains, tags, op names), so two definitions
    share a key exactly when they compute the same thing the same way.
    """

    def __init__(self, tensor):
        ops = _graph(tensor)
        labels, names = {}, {}
        lines, inputs = [], []

        def var(v):
            return names.setdefault(v, f"v{len(names)}:{v.dtype}")

        def text(e):
            if isinstance(e, E.Const):
                return f"{e.value!r}:{e.dtype}"
            if isinstance(e, E.Var):
                return var(e)
            if isinstance(e, ProducerLoad):
                return f"{labels[e.tensor.op]}[{','.join(text(i) for i in e.indices)}]"
            if isinstance(e, Reduce):
                axes = ",".join(f"{var(iv.var)}<{text(iv.dom.min)}+{text(iv.dom.extent)}" for iv in e.axis)
                return f"{e.reducer.name}({text(e.source)};{axes};{text(e.condition)})"
            parts = [getattr(e, "name", "")]
            for field in e._fields:
                child = getattr(e, field)
                if isinstance(child, tuple):
                    parts.extend(text(c) for c in child)
                else:
                    parts.append(text(child))
            return f"{type(e).__name__}:{e.dtype}({','.join(parts)})"

        for op in ops:
            shape = [_shape_value(s) for s in op.shape]
            if isinstance(op, te.PlaceholderOp):
                labels[op] = f"in{len(inputs)}"
                inputs.append((shape, op.dtype))
                lines.append(f"{labels[op]}=input({shape},{op.dtype})")
                continue
            labels[op] = f"t{len(lines)}"
            axes = ",".join(f"{var(iv.var)}<{text(iv.dom.extent)}" for iv in op.axis)
            lines.append(f"{labels[op]}={op.name}|{op.tag}({axes})={text(op.body)}")
        self.op, self.tag = tensor.op.name, tensor.op.tag
        self.inputs = inputs
        self.output = ([_shape_value(s) for s in tensor.shape], tensor.dtype)
        self.key = hashlib.sha256("\n".join(lines).encode()).hexdigest()[:32]

    def describe(self):
        """A one-line readable description: op, input shapes and dtypes."""
        ins = ", ".join(f"{dtype}{list(shape)}" for shape, dtype in self.inputs)
        return f"{self.op}({ins})"

    def __repr__(self):
        return f"Workload({self.describe()} -> {self.output[1]}{self.output[0]}, tag={self.tag!r}, key={self.key})"


def workload(tensor):
    """The :class:`Workload` of compute ``tensor`` (what tuning logs key configs by)."""
    return Workload(tensor)

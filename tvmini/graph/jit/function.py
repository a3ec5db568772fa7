"""``tm.jit``: trace a step once per signature, then replay it as one native call.

The first call with a new *signature* — each tensor argument's shape, dtype, device and
``requires_grad`` (also of the tensors inside list, tuple and dict arguments, nested:
they are inputs too, keyed by the containers' types, keys and lengths); every other
argument by value (a numpy array by its dtype, shape and a digest of its bytes); grad
mode — runs the function eagerly under a :class:`~.trace.Tracer`, runs the graph passes
and compiles the step for the device it ran on (:class:`~.native.NativeStep` on the CPU,
:class:`~.device.DeviceStep` on a CUDA device). Later calls with that signature
check the variant's *guards* (the ``training`` flag of every module the trace called,
each of their parameters' and buffers' ``requires_grad`` and array — ``requires_grad_``
freezing or a dtype move replaces what the trace captured —, whether each gradient
the step reads or accumulates into is None, the choices the graph layer made from an
argument's values, e.g. whether the labels of a loss hold its ``ignore_index``, and each
stepped optimizer's ``replay_guard()``: its groups' parameters and the options that
change its update kernels, such as SGD's momentum on or off or ``nesterov``) and replay it;
a call matching no variant traces a new one, so train and eval steps coexist.

What a trace captures is the kernels and copies the call ran. Not captured, as in any
tracing jit (torch.jit.trace, tinygrad's TinyJit): Python side effects (printing,
appending to lists, counters other than the optimizers' own step), data-dependent
control flow (a branch on a tensor's value takes the traced path forever; reading a
value on the host inside the function is an error for that reason), and Python numbers
computed inside the function (frozen as constants; pass them as arguments to make them
part of the signature). Captured correctly: parameters, optimizer states and running
statistics (updated in place by their kernels), gradients (accumulated across calls
until zeroed, as eagerly), optimizer step counts and learning rates (recomputed each
replay, so schedulers work), dropout masks (redrawn each replay).

Results are fresh tensors on every call (the replay never reuses an array it returned)
and carry no autograd history: call ``backward()`` inside the function.

A jitted function may be called from several threads: its calls run one at a time (a
lock per function), since a variant's arena of temporaries, its scalar slots and the
bookkeeping of the gradients it hands out are its own. A trace records only the
calling thread's ops (``dispatch.thread``), so other threads may run eager ops and
other jitted functions meanwhile.
"""
import copy
import functools
import hashlib
import threading
from sys import getrefcount

import numpy as np

from ...errors import TVMiniError
from ...runtime.device import cpu
from ..autograd import is_grad_enabled, no_grad
from ..tensor import Tensor
from .device import DeviceStep
from .export import export_variant
from .native import NativeStep
from .passes import run_pipeline
from .trace import Tracer


def _flatten(result):
    """(list of Tensors, a rebuild function) for a result: None, a Tensor, or a
    (possibly nested) tuple/list/dict of Tensors; a named tuple (``sort``'s, ``max``'s,
    ``solve_ex``'s ...) is rebuilt as its own type, field by field."""
    if result is None:
        return [], lambda values: None
    if isinstance(result, Tensor):
        return [result], lambda values: values[0]
    if isinstance(result, (tuple, list)):
        parts = [_flatten(r) for r in result]
        def rebuild(values, parts=parts, kind=type(result)):
            out, k = [], 0
            for tensors, fn in parts:
                out.append(fn(values[k:k + len(tensors)]))
                k += len(tensors)
            return kind(*out) if hasattr(kind, "_fields") else kind(out)
        return [t for tensors, _ in parts for t in tensors], rebuild
    if isinstance(result, dict):
        keys = list(result)
        tensors, rebuild_values = _flatten([result[k] for k in keys])
        return tensors, lambda values: dict(zip(keys, rebuild_values(values)))
    raise TVMiniError(f"tm.jit: a traced function returns tensors (or tuples, lists, dicts of them) or None, "
                      f"got {type(result).__name__}")


def _signature_part(value, tensors):
    """The signature key of one argument; appends the tensors it holds to ``tensors``
    (the step's inputs, in order). A tensor keys by shape, dtype, device and
    ``requires_grad``; a list, tuple or dict by its type, keys, length and the keys of
    its items (nested), so that the tensors inside it are inputs too — a reused batch
    list refilled with new tensors replays with them, a fresh tuple of tensors of the
    same shapes reuses the variant —; any other value by value: a float by its bits, a
    slice by its parts, a numpy array by :func:`_array_key`, a hashable value itself
    (kept by the key, so a value keyed by identity is never mistaken for a later object
    at its address). An unhashable value of another kind has no key that says when its
    contents change, so it is refused."""
    if isinstance(value, Tensor):
        tensors.append(value)
        data = value._data           # the NDArray's fields directly: this runs on every call
        return ("tensor", data._shape, data._dtype, data._device, value.requires_grad)
    if isinstance(value, (list, tuple)):
        return ("seq", type(value), tuple([_signature_part(v, tensors) for v in value]))
    if isinstance(value, dict):
        return ("dict", type(value), tuple([(k, _signature_part(v, tensors)) for k, v in value.items()]))
    if isinstance(value, (float, np.floating)):     # by its bits: -0.0 is not 0.0, a NaN is the same NaN
        return ("float", type(value), float(value).hex())
    if isinstance(value, slice):            # unhashable before Python 3.12
        return ("slice", tuple([_signature_part(v, tensors) for v in (value.start, value.stop, value.step)]))
    if isinstance(value, np.ndarray):
        return _array_key(value)
    try:
        hash(value)
    except TypeError:
        raise TVMiniError(f"tm.jit: an argument of type {type(value).__name__} is neither a tensor nor hashable, so "
                          f"the signature cannot hold its value (a trace freezes it); pass tensors, numbers, "
                          f"numpy arrays or hashable values") from None
    return ("value", type(value), value)


def _array_key(array):
    """The signature key of a numpy array argument: its values are frozen into the trace
    as constants (``tm.tensor(array)`` inside the function), so it is keyed by value —
    dtype, shape and a digest of its bytes (a pass over them per call; an array of other
    values traces another variant: pass data that changes per call as a tensor)."""
    if array.dtype.hasobject:
        raise TVMiniError(f"tm.jit: a numpy array of Python objects (shape {array.shape}) cannot be keyed by value; "
                          f"pass a tensor or an array of numbers")
    digest = hashlib.blake2b(np.ascontiguousarray(array), digest_size=16).digest()
    return ("ndarray", array.dtype.str, array.shape, digest)


class Variant:
    """One compiled step and the guards under which it is valid."""

    def __init__(self, program, step, modules, leaves, grad_guard, rebuild, input_guards=(), optimizers=()):
        self.program, self.step, self.rebuild = program, step, rebuild
        self.input_guards = input_guards      # (fetch, test, traced result, chooses_path): Tracer.guard_inputs
        self._optimizers = [(opt, opt.replay_guard()) for opt in optimizers]
        self.modules, self.training = modules, [m.training for m in modules]
        self._held = [(t, t.requires_grad, t._data) for t in _module_tensors(modules)]
        self.leaves, self.grad_guard = leaves, grad_guard
        self._guarded = [(ref, must_be_none) for ref, must_be_none in zip(leaves, grad_guard)
                         if must_be_none is not None]
        self._grads = [(ref, None if value is None else step.fresh_index(value.id)) for ref, value in program.grads]
        # the leaves whose .grad a replay sets, when none is a call argument (then the same every call)
        self._fixed_leaves = None if any(ref[0] == "arg" for ref, _ in program.grads) else \
            [_leaf(ref, None) for ref, _ in program.grads]
        self._outputs = [step.fresh_index(v.id) for v in program.outputs]
        self._handed = None          # the gradient tensors the last replay set, per leaf
        # (leaf, fresh array) of the first gradient a replay sets, if any
        self._probe = next(((k, at) for k, (_, at) in enumerate(self._grads) if at is not None), None)

    def matches(self, tensors):
        if [m.training for m in self.modules] != self.training:
            return False
        current = _module_tensors(self.modules)      # a parameter replaced by a new one is a new variant
        if len(current) != len(self._held) or not all(
                t is held and t.requires_grad is flag and t._data is data
                for t, (held, flag, data) in zip(current, self._held)):
            return False
        if not all((_leaf(ref, tensors).grad is None) == must_be_none for ref, must_be_none in self._guarded):
            return False
        if not all(opt.replay_guard() == traced for opt, traced in self._optimizers):
            return False
        return all(test(*fetch(tensors)) == traced for fetch, test, traced, _ in self.input_guards)

    def __call__(self, tensors):
        leaves = self._fixed_leaves or [_leaf(ref, tensors) for ref, _ in self._grads]
        wrap = Tensor._wrap
        if self._still_handed(leaves):
            # Nothing but its leaf refers to any gradient tensor the last replay set: the
            # step may write their arrays again and the tensors stay (a new tensor over
            # the same memory would be indistinguishable from them).
            fresh = self.step(tensors, lambda k: _leaf(self.leaves[k], tensors).grad._data, grad_holders=1)
            probe = self._probe
            if probe is None or self._handed[probe[0]]._data is fresh[probe[1]]:
                # the gradient arrays were reused (all or none are): every tensor stays
                return self.rebuild([wrap(fresh[at]) for at in self._outputs])
        else:
            self._handed = None

            def release():     # every .grad the step sets is dropped, as zero_grad() would
                for leaf in leaves:
                    leaf.grad = None
            fresh = self.step(tensors, lambda k: _leaf(self.leaves[k], tensors).grad._data, release)
        handed = []
        for leaf, (_, at) in zip(leaves, self._grads):
            if at is None:
                leaf.grad = None
            else:
                grad = leaf.grad
                if grad is None or grad._data is not fresh[at]:
                    grad = leaf.grad = wrap(fresh[at])
            handed.append(leaf.grad)
        self._handed = handed
        return self.rebuild([wrap(fresh[at]) for at in self._outputs])

    def _still_handed(self, leaves):
        """Whether every leaf still has the gradient tensor the last replay gave it, in
        its fresh state, and nothing else refers to that tensor (the leaf, our list and
        getrefcount's argument are its three references)."""
        handed = self._handed
        if handed is None:
            return False
        for k in range(len(handed)):
            if leaves[k].grad is not handed[k]:
                return False
            if handed[k] is not None and (getrefcount(handed[k]) != 3 or handed[k].requires_grad
                                          or handed[k]._ctx is not None or handed[k].grad is not None):
                return False
        return True


def _module_tensors(modules):
    """The parameters and buffers of the traced modules (each once): what a replay reads
    by reference, so what must not have been replaced, frozen, unfrozen or given new
    arrays."""
    held = {}
    for m in modules:
        for t in list(m.parameters()) + list(m.buffers()):
            held.setdefault(id(t), t)
    return list(held.values())


def _leaf(ref, tensors):
    kind, what = ref
    return tensors[what] if kind == "arg" else what


def _compile(program, name, tensors):
    """The step of ``program`` for the one device its kernels ran on (that of its tensor
    arguments when it calls none): a native function on the CPU, a prepared list of
    launches on a CUDA device."""
    devices = {node.module.device for node in program.calls() if node.op != "copy"} or \
        {t._data.device for t in tensors if t is not None} or {cpu(0)}
    if len(devices) > 1:
        raise TVMiniError(f"tm.jit: the traced step ran kernels on {', '.join(sorted(map(str, devices)))}; "
                          f"a step runs on one device (move the model and its inputs there with .to())")
    (device,) = devices
    return NativeStep(program, name) if device.kind == "cpu" else DeviceStep(program, device)


class JitFunction:
    """A function compiled by :func:`jit`; call it like the function it wraps."""

    def __init__(self, fn, skip_passes=()):
        self.fn, self.skip_passes = fn, tuple(skip_passes)
        self._variants = {}            # signature -> [Variant]
        self._last = None
        self._lock = threading.RLock()   # re-entrant: a call inside its own trace gets the tracer's error
        functools.update_wrapper(self, fn)
        self._attribute = getattr(fn, "__name__", None)

    def __set_name__(self, owner, name):
        self._attribute = name

    def __get__(self, obj, owner=None):
        """``@tm.jit`` on a method (``def step(self, x)``): on an instance, a JitFunction
        of that instance's own, with ``self`` bound, as torch.compile's; it is cached in
        the instance's ``__dict__`` under the method's name, so the next lookup finds it
        (with the variants it compiled) and it lives as long as the instance."""
        if obj is None:
            return self
        bound = functools.partial(self.fn, obj)
        bound.__name__ = bound.__qualname__ = getattr(self.fn, "__name__", "step")
        method = JitFunction(bound, self.skip_passes)
        try:
            vars(obj)[self._attribute] = method
        except TypeError:
            raise TVMiniError(f"tm.jit on method {self._attribute!r}: a {type(obj).__name__} has no __dict__ to keep "
                              f"its compiled variants in (__slots__); jit a function of the instance "
                              f"instead") from None
        return method

    def __deepcopy__(self, memo):
        """A JitFunction of a deep copy of its function, with no compiled variants (a copied
        instance's jitted method is bound to the copy: the partial's ``self`` is copied)."""
        return JitFunction(copy.deepcopy(self.fn, memo), self.skip_passes)

    def __call__(self, *args, **kwargs):
        names = tuple(sorted(kwargs)) if kwargs else ()
        items = list(args) + [kwargs[k] for k in names] if kwargs else args
        tensors = []
        signature = (tuple([_signature_part(a, tensors) for a in items]), names, is_grad_enabled())
        with self._lock:
            for variant in self._variants.get(signature, ()):
                if variant.matches(tensors):
                    self._last = variant
                    return variant(tensors)
            return self._trace(signature, tensors, args, kwargs)

    def _trace(self, signature, tensors, args, kwargs):
        tracer = Tracer(tensors)
        with tracer:
            result = self.fn(*args, **kwargs)
            outputs, rebuild = _flatten(result)
            program, grad_guard = tracer.finish(outputs)
        refs = [ref for ref, _ in program.grads]
        run_pipeline(program, self.skip_passes)
        for v in program.values:                  # the trace's own arrays are not needed any more
            if v.kind not in ("state", "const", "host"):
                v.array = None
        step = _compile(program, f"jit_{getattr(self.fn, '__name__', 'step')}_{len(self._variants)}", tensors)
        modules = list(tracer.modules.values())
        variant = Variant(program, step, modules, refs, grad_guard, rebuild, tracer.input_guards,
                          tracer.optimizers.values())
        self._variants.setdefault(signature, []).append(variant)
        self._last = variant
        with no_grad():
            return rebuild([Tensor._wrap(t._data) for t in outputs])

    @property
    def graph(self):
        """The optimised program of the variant last run (values, calls, fused groups,
        buffer assignment, memory before/after planning); print it."""
        if self._last is None:
            raise TVMiniError("tm.jit: the function has not been called yet, so there is no graph")
        return self._last.program

    def export(self, path):
        """Write the variant last run, an inference step, as the shared library ``path``
        plus its parameter file beside it ("model.so" -> "model.params"), for
        ``tm.runtime.load_jit(path)`` in any process (no tracing, no compiling there).
        The parameters are copied as they are now; the shapes are the traced ones.
        Returns the library's absolute path. A training step (gradients, optimizer
        updates, dropout or BatchNorm in training mode) is refused with the reason."""
        if self._last is None:
            raise TVMiniError("tm.jit: call the function once (with the shapes to deploy) before exporting it")
        signature = next(s for s, variants in self._variants.items() if self._last in variants)
        return export_variant(self.fn, signature, self._last, path)

    @property
    def variants(self):
        """How many compiled variants (signatures x guards) exist."""
        return sum(len(v) for v in self._variants.values())


def jit(fn=None, *, skip_passes=()):
    """Compile ``fn`` (a training or inference step on Tensors) by tracing it; usable as
    ``@tm.jit`` or ``tm.jit(fn)``. ``skip_passes`` names graph passes to leave out
    ("fold", "cse", "dce", "fuse", "lanes", "update"), e.g. to compare their effect; see
    the module docstring for what a trace captures."""
    if fn is None:
        return lambda f: JitFunction(f, skip_passes)
    return JitFunction(fn, skip_passes)

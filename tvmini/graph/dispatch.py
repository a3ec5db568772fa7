"""The kernel cache: every graph op runs as a compiled tvmini kernel.

An op is described by a *definition* ``define(*placeholders, *scalar_vars, **attrs)``
returning one te tensor or a list of them: a callable, or the name of a ``tvmini.topi``
function (looked up when the kernel is first built). The
first call with a given key — (op name, attrs, input shapes and dtypes, scalar dtypes,
device) — builds the definition with ``topi.default_schedule`` and ``tm.build``; later
calls find the compiled :class:`~tvmini.runtime.Module` in a dict and only allocate the
outputs and call it. Shapes are constants in the kernel (one kernel per shape), which
lets LLVM fully unroll and vectorize small fixed loops; the key carries the device so a
CUDA build slots in beside the CPU one.

Python numbers (a learning rate, the ``2.0`` of ``x * 2.0``, a random seed) are passed as
runtime scalar arguments (``te.var`` listed among the build arguments), so a new value
never triggers a new build.
"""
import hashlib
import marshal
import threading

import numpy as np

from .. import te, topi
from ..codegen import build
from ..errors import TVMiniError
from ..runtime import ndarray as nd
from ..runtime.module import Module

_TARGETS = {"cpu": "llvm", "cuda": "cuda"}

#: key -> (module, output shapes and dtypes); see :func:`run`.
_KERNELS = {}
#: kernel name -> the key it was built for: names are unique in a process (``tm.jit``
#: links its step to kernels by name).
_NAMES = {}


def kernel_count():
    """How many distinct kernels the graph layer has built in this process."""
    return len(_KERNELS)


#: The argument type a kernel takes a scalar of a narrow dtype as.
_PASSED_AS = {"float16": "float32", "int8": "int32", "uint8": "int32", "bool": "int32"}


def define_outputs(define, specs, scalar_dtypes, attrs, scalar_vars=None):
    """(placeholders, scalar vars, output tensors) of ``define`` on inputs with ``specs``
    ((shape, dtype) pairs): what a kernel for these inputs computes, before scheduling.
    ``scalar_vars``: the variables to pass for the scalars (default: new ones). A float16,
    int8, uint8 or bool scalar is passed as a float32 or int32 argument (``te.var`` and
    the kernel ABI have no narrower types; a bool as the int 0 or 1) and handed to
    ``define`` converted, so such a tensor's kernels compute in its dtype (an int8/uint8
    value wraps, as in PyTorch)."""
    if isinstance(define, str):
        define = getattr(topi, define)
    placeholders = [te.placeholder(shape, dtype=dtype, name=f"x{i}") for i, (shape, dtype) in enumerate(specs)]
    if scalar_vars is None:
        scalar_vars = [te.var(f"s{i}", dtype=_PASSED_AS.get(d, d)) for i, d in enumerate(scalar_dtypes)]
    scalars = [v if v.dtype == d else v.astype(d) for v, d in zip(scalar_vars, scalar_dtypes)]
    outs = define(*placeholders, *scalars, **dict(attrs))
    return placeholders, scalar_vars, [outs] if isinstance(outs, te.Tensor) else list(outs)


def _stable(value):
    """``value`` described without what differs between processes (addresses): a
    function by its module and qualified name, a kernel Module by its name, containers
    item by item, anything else by its repr."""
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_stable(v) for v in value) + ")"
    if isinstance(value, Module):
        return value.name
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return repr(value)


def kernel_name(name, key):
    """``name`` and a digest of ``key``: the same in every process for the same kernel,
    so that the on-disk caches (keyed by the schedule and its function name, or by the
    LLVM IR) serve it in the next run too; a suffix keeps two kernels whose keys read
    alike (two closures of one function) apart."""
    base = f"{name}_{hashlib.sha1(_stable(key).encode()).hexdigest()[:10]}"
    candidate, n = base, 1
    while _NAMES.setdefault(candidate, key) != key:
        n += 1
        candidate = f"{base}_{n}"
    return candidate


def build_kernel(name, define, specs, scalar_dtypes, attrs, device, key, inplace=()):
    """Compile ``define`` for inputs ``specs`` with the default schedule for ``device``.

    Returns (module, output (shape, numpy dtype) specs: what ``nd.new`` allocates for a
    call, normalized once here rather than on every call); ``key`` names the kernel (a
    digest of it is appended to ``name``); ``inplace[k]`` is the input the k-th output
    overwrites (None: a fresh output).
    """
    placeholders, scalar_vars, outs = define_outputs(define, specs, scalar_dtypes, attrs)
    target = _TARGETS[device.kind]
    sch = topi.default_schedule(outs, target)
    module = build(sch, placeholders + scalar_vars + outs, target=target, name=kernel_name(name, key),
                   inplace={outs[k]: placeholders[i] for k, i in enumerate(inplace) if i is not None})
    out_specs = tuple((tuple(int(d.value) for d in o.shape), nd.normalize_dtype(o.dtype)) for o in outs)
    return module, out_specs


def attrs_key(attrs):
    """``attrs`` (nested tuples of hashable values) as a cache key in which a float is
    told apart by its bits, not by ``==``: -0.0 is not 0.0 (one kernel served both, and
    the sign was lost), a NaN is the same NaN (never equal to itself, a NaN attribute
    missed the cache on every call: a new kernel per call, without bound), and 0.0 is
    not 0. marshal's format 2 writes exactly that, in C (~0.5 us, every op call pays it;
    format 2 has no back-references, so equal attrs give equal bytes); attrs it cannot
    write (a function) are keyed by :func:`_exact_floats`. The kernel's name digest
    (:func:`kernel_name`) is taken from this key too."""
    try:
        return marshal.dumps(attrs, 2)
    except ValueError:
        return _exact_floats(attrs)


def _exact_floats(attrs):
    """``attrs`` with every float replaced by ``(float, repr)`` (see :func:`attrs_key`)."""
    if isinstance(attrs, tuple):
        return tuple(_exact_floats(a) for a in attrs)
    if isinstance(attrs, (float, np.floating)):
        return (float, repr(float(attrs)))
    return attrs


def _kernel(name, define, inputs, scalar_dtypes, attrs, inplace=()):
    """The compiled kernel and output specs for this op on these inputs (built once)."""
    device = inputs[0]._device
    key = (name, attrs_key(attrs), tuple([(a._shape, a._dtype) for a in inputs]), scalar_dtypes, device, inplace)
    entry = _KERNELS.get(key)
    if entry is None:
        specs = [(a._shape, a._dtype) for a in inputs]
        entry = _KERNELS[key] = build_kernel(name, define, specs, scalar_dtypes, attrs, device, key, inplace)
    return entry


def run(name, define, inputs, scalars=(), scalar_dtypes=(), attrs=(), replay=None):
    """Run op ``name`` on NDArrays ``inputs`` and return its output NDArray (or a list).

    ``scalars`` are Python numbers passed by value, with dtypes ``scalar_dtypes``;
    ``attrs`` is a tuple of (name, hashable value) pairs handed to ``define`` as
    keyword arguments and made part of the cache key. The caller has checked devices
    and dtypes (the Tensor layer raises errors naming the op); the kernel call checks
    every argument again. ``replay``: where a ``tm.jit`` replay gets this call's scalars
    (a :class:`~.jit.ir.ReplayScalars`; None: they are constants of the trace).
    """
    module, out_specs = _kernel(name, define, inputs, scalar_dtypes, attrs)
    device = inputs[0]._device
    outs = [nd.new(shape, dtype, device) for shape, dtype in out_specs]
    module.call_with_fresh_outputs(*inputs, *scalars, *outs)
    tracer = thread.tracer
    if tracer is not None:
        node = tracer.kernel(module, name, define, attrs, inputs, outs, scalars, scalar_dtypes)
        node.scalars_at_replay = replay
    return outs[0] if len(outs) == 1 else outs


def run_inplace(name, define, inputs, overwrites, scalars=(), scalar_dtypes=(), attrs=()):
    """Run op ``name`` writing its k-th output over ``inputs[overwrites[k]]`` (an optimizer
    step overwriting the parameter and its state); ``define`` must be in-place safe (see
    ``tvmini.lower.inplace``, checked when the kernel is built). Returns the replay hook's
    record (the tracer's node) or None."""
    module, _ = _kernel(name, define, inputs, scalar_dtypes, attrs, tuple(overwrites))
    outs = [inputs[i] for i in overwrites]
    module(*inputs, *scalars, *outs)
    for out in outs:            # an in-place write: what autodiff saved from these is stale
        out._version += 1
    tracer = thread.tracer
    if tracer is not None:
        return tracer.kernel(module, name, define, attrs, inputs, outs, scalars, scalar_dtypes)
    return None


_INT32 = (-2 ** 31, 2 ** 31 - 1)


def run_inplace_steps(name, define, inputs, overwrites, steps, scalar_dtypes, attrs=()):
    """:func:`run_inplace` once per tuple of int32 scalars in ``steps`` (the step loop of
    a factorization: the same arrays every call, only the step index changes). Outside
    ``tm.jit`` and without call observers, the arguments are checked once (the first
    step's call, through the module's checks) and every step is then the native call
    alone with its scalars, each checked to be a Python int in int32 range: ~1 us a step
    instead of ~7. Otherwise each step is :func:`run_inplace` (recorded or observed)."""
    fast = thread.tracer is None and Module._trace is None and all(
        type(v) is int and _INT32[0] <= v <= _INT32[1] for step in steps for v in step)
    if not fast or not steps or any(d != "int32" for d in scalar_dtypes):
        for step in steps:
            run_inplace(name, define, inputs, overwrites, scalars=step, scalar_dtypes=scalar_dtypes, attrs=attrs)
        return
    module, _ = _kernel(name, define, inputs, scalar_dtypes, attrs, tuple(overwrites))
    outs = [inputs[i] for i in overwrites]
    count = len(scalar_dtypes)
    module(*inputs, *steps[0], *outs)                   # the full checks, on the first step
    pointers = module._pack([*inputs, *steps[0], *outs])[:-count]
    call = module._cfunc
    for step in steps[1:]:
        call(*pointers, *step)
    for out in outs:            # an in-place write: what autodiff saved from these is stale
        out._version += 1


class StepLoop:
    """A step kernel run again and again on its own outputs: op ``name``'s outputs are
    the next values of its inputs after the first ``constant`` ones (as many, with
    their shapes and dtypes; the constant inputs are passed unchanged to every step),
    such as the rounds of a Jacobi method's sweeps or the reflections of a Householder
    QR. :meth:`run` runs it once per tuple of int32 scalars and returns the latest
    outputs; the next :meth:`run` continues from them (the host may read them between
    two runs, to test convergence).

    Outside ``tm.jit`` and without call observers, the steps write two sets of arrays,
    allocated once per loop, in turn (a step reads the set the step before wrote): the
    first step's arguments are checked as every call's are, the native arguments of a
    step between the two sets are packed (and checked) once, and every later step is
    the native call alone with its scalars, each checked to be a Python int in int32
    range: ~1 us a step instead of ~8-14 and two allocations. The arrays :meth:`run`
    returns are then overwritten by the next run. Otherwise each step is :func:`run`
    (recorded or observed) on fresh outputs."""

    def __init__(self, name, define, inputs, scalar_dtypes, attrs=(), constant=0):
        self.name, self.define, self.scalar_dtypes, self.attrs = name, define, tuple(scalar_dtypes), attrs
        self.module, self.out_specs = _kernel(name, define, inputs, self.scalar_dtypes, attrs)
        self.constants, carried = list(inputs[:constant]), inputs[constant:]
        if [shape for shape, _ in self.out_specs] != [a._shape for a in carried] or \
                any(np.dtype(dtype) != np.dtype(a._dtype) for (_, dtype), a in zip(self.out_specs, carried)):
            raise TVMiniError(f"StepLoop {name}: the kernel's outputs {self.out_specs} are not the next values of "
                              f"its inputs after the first {constant}: {[(a._shape, a._dtype) for a in carried]}")
        self.state = list(carried)
        self._sets = self._pointers = None

    def _native(self, steps):
        """Whether ``steps`` may run as native calls (see the class docstring)."""
        return thread.tracer is None and Module._trace is None and all(d == "int32" for d in self.scalar_dtypes) \
            and all(type(v) is int and _INT32[0] <= v <= _INT32[1] for step in steps for v in step)

    def run(self, steps):
        """Run one step per tuple of scalars in ``steps``; returns the outputs (a list)."""
        if not self._native(steps):
            for step in steps:
                out = run(self.name, self.define, self.constants + self.state, scalars=step,
                          scalar_dtypes=self.scalar_dtypes, attrs=self.attrs)
                self.state = out if isinstance(out, list) else [out]
            return self.state
        module, constants = self.module, self.constants
        for step in steps:
            if self._sets is None:
                device = self.state[0]._device
                self._sets = [[nd.new(shape, dtype, device) for shape, dtype in self.out_specs] for _ in range(2)]
                count = len(self.scalar_dtypes)
                # the native arguments of a step reading set 1 and writing set 0, and back
                self._pointers = [module._pack([*constants, *self._sets[1], *step, *self._sets[0]])[:-count],
                                  module._pack([*constants, *self._sets[0], *step, *self._sets[1]])[:-count]]
            if self.state is self._sets[1]:
                module._cfunc(*self._pointers[0], *step)
                self.state = self._sets[0]
            elif self.state is self._sets[0]:
                module._cfunc(*self._pointers[1], *step)
                self.state = self._sets[1]
            else:                       # the loop's inputs: a checked call into set 0
                module(*constants, *self.state, *step, *self._sets[0])
                self.state = self._sets[0]
        return self.state


class _Thread(threading.local):
    """What the graph layer keeps per thread: ``tracer``, the active
    :class:`~tvmini.graph.jit.trace.Tracer` while ``tm.jit`` records a step on this thread
    (every kernel call is reported to it), None otherwise: one check per call. Per
    thread, so that what other threads run meanwhile (eager ops, replays, reading
    results) is neither recorded into the step nor refused as part of it. A class
    attribute gives each thread's default without the exception a missing thread-local
    attribute costs."""
    tracer = None


thread = _Thread()


def host_check(tensor, test, chooses_path=False):
    """``test(array)`` (a function of the array's values, read on the host) for a CPU
    tensor, wherever its values may be read: at once outside ``tm.jit``; inside a trace
    as an input guard of the step (see :meth:`~.jit.trace.Tracer.guard_input`), so every
    replay tests its own argument and, where the answer differs, traces the call again —
    and the check that asked raises then — instead of running a step chosen for other
    values. None where the values cannot be read: a CUDA tensor (reading would wait for
    the GPU) or one the step computes itself. Value checks (indices in range, labels
    among the classes) go through here, so a jitted step refuses what the eager one does;
    ``chooses_path``: the answer picks the kernels rather than only allowing them (an
    exported step, which cannot ask, is then refused)."""
    if tensor.device.kind != "cpu":
        return None
    tracer = thread.tracer
    return test(tensor._data) if tracer is None else tracer.guard_input(tensor._data, test, chooses_path)


def host_check_all(tensors, test, chooses_path=False):
    """``test(*arrays)`` of several CPU tensors read together (a value check across
    them, as :func:`host_check`'s): at once outside ``tm.jit``; inside a trace a guard
    of the step (:meth:`~.jit.trace.Tracer.guard_inputs`) when each is an argument or a
    constant of the trace. None where they cannot all be read."""
    if any(t.device.kind != "cpu" for t in tensors):
        return None
    arrays = [t._data for t in tensors]
    tracer = thread.tracer
    return test(*arrays) if tracer is None else tracer.guard_inputs(arrays, test, chooses_path)


def host_range(tensor, low, high=None):
    """``(smallest, largest)`` of a CPU tensor's values when some lie outside ``[low,
    high)`` (``high`` None: no upper bound), checked where :func:`host_check` can read
    them (so also in every ``tm.jit`` replay); None when all lie inside or they cannot
    be read. The range checks of indices, class labels and variances use it."""
    def inside(array):
        values = array._storage.host_view()
        return not values.size or bool(values.min() >= low and (high is None or values.max() < high))
    if host_check(tensor, inside) is not False:
        return None
    values = tensor._data._storage.host_view()
    return values.min(), values.max()

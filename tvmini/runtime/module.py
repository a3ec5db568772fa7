"""Module: a compiled kernel that Python can call safely and cheaply.

The code generator hands over a native function taking raw buffer pointers and
int32 extents. Native code trusts those blindly, so :class:`Module` checks every
argument (count, type, device, dtype, shape, symbolic extents, contiguity,
alignment, writability) *before* the call and raises a
:class:`~tvmini.errors.TVMiniError` subclass naming the kernel and argument.
Kernel calls are on the hot path of training (~100 per step), so everything
that depends only on the kernel is precomputed in the constructor and the
per-argument checks are plain attribute reads and comparisons.

Errors raised by a call:

- :class:`ArgumentError` (a TypeError): wrong number of arguments, or a
  written argument whose memory overlaps another argument;
- ShapeError (a ValueError): wrong ndim or extent, a symbolic extent bound to
  different values, an extent beyond int32, and numpy arrays that cannot be
  passed in place (not C-contiguous, misaligned for their dtype, or read-only
  where the kernel writes them: inputs it only reads may be read-only);
- DTypeError (a TypeError): wrong dtype, or not an NDArray/numpy array;
- DeviceError: an argument not on the module's device.
"""

import math
from dataclasses import dataclass
from time import perf_counter_ns

import numpy as np

from ..errors import ArgumentError, BuildError, DeviceError, DTypeError, ShapeError, TVMiniError, ValueOverflowError
from .benchmark import check_timing_params, time_calls
from .device import as_device
from .ndarray import NDArray, normalize_dtype, normalize_shape, numpy_data_ptr

INT32_MAX = 2**31 - 1


@dataclass(frozen=True)
class ArgSpec:
    """One argument of a kernel, in call order: a buffer or a scalar.

    ``shape`` entries are ints or strs naming a symbolic extent, e.g.
    ``("n", 64)``; ``dtype`` is normalised to its name ("float32"). ``written``
    marks buffers the kernel writes: they must be writable, and their memory must not
    overlap any other argument (the generated code assumes no aliasing), except that an in-place
    output may be the very same array as the input named by ``inplace_of``.
    ``scalar`` marks a number passed by value (shape ``()``), e.g. a learning rate.
    """

    name: str
    shape: tuple
    dtype: str
    written: bool = False
    scalar: bool = False
    inplace_of: str = None

    def __post_init__(self):
        dims = tuple(d if isinstance(d, str) else normalize_shape((d,))[0] for d in self.shape)
        object.__setattr__(self, "shape", dims)
        object.__setattr__(self, "dtype", normalize_dtype(self.dtype).name)

    def __str__(self):
        if self.scalar:
            return f"{self.name}: {self.dtype}"
        return f"{self.name}: {self.dtype}[{', '.join(map(str, self.shape))}]"


_SCALAR = object()   # the ``static`` slot of a scalar argument's check
#: (min, max) of each integer dtype a scalar argument may have (``np.iinfo`` costs ~1 us a call).
_INT_RANGES = {name: (int(np.iinfo(name).min), int(np.iinfo(name).max))
               for name in ("int8", "int32", "int64", "uint8")}


def _fmt_shape(shape):
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


#: Prefix of the native symbol of every CPU kernel: a kernel named like a C library
#: function (``expf``, ``memcpy``) would otherwise replace it in the JIT and in exported
#: libraries, and the code LLVM generates (which calls those) would call the kernel.
ENTRY_PREFIX = "tvmini_entry_"


def entry_symbol(name):
    """The native symbol of the CPU kernel ``name`` (users keep seeing ``name``). LLVM
    quotes any ASCII name, but symbols are looked up as ASCII (the JIT, ctypes), so each
    other character becomes ``_u`` and its code point in hex (``kérnel``:
    ``k_u00e9rnel``); ASCII names are kept as they are, as exported libraries name them."""
    return ENTRY_PREFIX + "".join(c if c.isascii() else f"_u{ord(c):04x}" for c in name)


def host_function(source):
    """The function of ``v`` (a dict of symbolic extents) that Python expression
    ``source`` is: a size printed from loop-IR nodes by ``codegen.host_expr`` (a CUDA
    grid or temporary, a call limit). Expressions read from a manifest or an exported
    library are trusted as the code beside them is: both come from the user's own files."""
    return eval(f"lambda v: {source}")   # noqa: S307 -- integer arithmetic printed from IR nodes


class Module:
    """A compiled kernel: call it with one NDArray or numpy array per buffer.

    ``Module(name, target, arg_specs, var_names, cfunc, sources, keepalive)``:

    - ``target``: "llvm" or "cuda" (options after a space are allowed); its
      first word gives :attr:`device`, the device every argument must be on;
    - ``arg_specs``: one :class:`ArgSpec` per argument, in call order;
    - ``var_names``: the symbolic extents the native function takes after the
      pointers, in order; each must appear in some ArgSpec's shape, and its
      value is read from the arguments' shapes;
    - ``cfunc``: called as ``cfunc(*pointers, *var_values, *scalars)``
      (pointers are ints, var values int32-range ints, scalars the numbers
      passed for scalar specs, in order), e.g. a ctypes function;
    - ``sources``: format name -> source text or a zero-argument callable
      producing it (called once, on first :meth:`get_source`);
    - ``keepalive``: anything the native code needs alive (the JIT engine);
    - ``exporter``: ``exporter(module, path)`` writes the library of
      :meth:`export_library` (``runtime.export.object_exporter`` of a CPU
      kernel's object code, ``cuda_exporter`` of a CUDA program); None: the
      module cannot be exported (one loaded from a CPU library);
    - ``limits``: ``(ok, value, what)`` checks of the call's extents and scalars
      (``codegen.host_expr.call_limits``: sizes the kernel computes in int32,
      reads it could not prove inside their tensors), Python expressions of a
      dict ``v`` of them: a call where ``ok`` is false raises ShapeError saying
      ``what.format(value)``.

    Numpy arrays are used in place (outputs are written into them). The
    attributes ``name``, ``target``, ``device``, ``arg_specs`` and
    ``var_names`` describe the kernel.
    """

    def __init__(self, name, target, arg_specs, var_names, cfunc, sources, keepalive, exporter=None, limits=()):
        self.name = name
        self.target = target
        self.device = as_device(target.split()[0])
        self.arg_specs = tuple(arg_specs)
        self.var_names = tuple(var_names)
        self._cfunc = cfunc
        self._sources = dict(sources)
        self._keepalive = keepalive
        self._exporter = exporter
        self.limits = tuple((ok, value, what) for ok, value, what in limits)
        self._validate_signature()
        self._compile_checks()

    def _validate_signature(self):
        """Refuse inconsistent metadata from the code generator (BuildError)."""
        for spec in self.arg_specs:
            if not isinstance(spec, ArgSpec):
                raise BuildError(f"kernel {self.name!r}: arg_specs must be ArgSpecs, got {spec!r}")
        names = [spec.name for spec in self.arg_specs]
        if len(set(names)) != len(names):
            raise BuildError(f"kernel {self.name!r}: duplicate argument names {names}")
        shape_vars = {d for spec in self.arg_specs for d in spec.shape if isinstance(d, str)}
        n_pointers = sum(not spec.scalar for spec in self.arg_specs)
        unbound = [v for v in self.var_names if v not in shape_vars]
        if unbound or len(set(self.var_names)) != len(self.var_names):
            raise BuildError(
                f"kernel {self.name!r}: var_names {list(self.var_names)} must be distinct and "
                f"each appear in an argument shape (not bound: {unbound})"
            )
        argtypes = getattr(self._cfunc, "argtypes", None)
        if argtypes is not None and len(argtypes) != len(names) + len(self.var_names):
            raise BuildError(
                f"kernel {self.name!r}: native function takes {len(argtypes)} arguments, "
                f"expected {n_pointers} pointers + {len(self.var_names)} extents + "
                f"{len(names) - n_pointers} scalars"
            )
        self._signature = ", ".join(names)

    def _compile_checks(self):
        """Precompute what the hot path needs to check each argument.

        Every symbolic extent gets a slot in a values list (the native
        function's extents first, in order). Its first occurrence in call
        order *binds* the slot; later ones *use* it and must agree.
        """
        slots = {var: i for i, var in enumerate(self.var_names)}
        self._sources_of = {}
        checks = []
        for spec in self.arg_specs:
            if spec.scalar:
                checks.append((spec, np.dtype(spec.dtype), _SCALAR, 0, (), (), ()))
                continue
            const_axes, binds, uses = [], [], []
            for axis, dim in enumerate(spec.shape):
                if not isinstance(dim, str):
                    const_axes.append((axis, dim))
                elif dim in self._sources_of:
                    uses.append((axis, slots[dim]))
                else:
                    slots.setdefault(dim, len(slots))
                    self._sources_of[dim] = (spec.name, axis)
                    binds.append((axis, slots[dim]))
            static = None if binds or uses else spec.shape
            checks.append((spec, np.dtype(spec.dtype), static, len(spec.shape),
                           tuple(const_axes), tuple(binds), tuple(uses)))
        self._checks = tuple(checks)
        self._buffer_specs = tuple(spec for spec in self.arg_specs if not spec.scalar)
        self._has_scalars = len(self._buffer_specs) != len(self.arg_specs)
        self._written = tuple(i for i, spec in enumerate(self._buffer_specs) if spec.written)
        position = {spec.name: k for k, spec in enumerate(self._buffer_specs)}
        self._inplace = {i: position[spec.inplace_of] for i, spec in enumerate(self._buffer_specs)
                         if spec.inplace_of is not None}
        self._slot_vars = tuple(slots)
        self._values_template = [0] * len(slots)
        self._fixed = None if self.limits else self._fixed_checks()
        self._limits = tuple((host_function(ok), host_function(value), what) for ok, value, what in self.limits)
        self._scalar_names = tuple(spec.name for spec in self.arg_specs if spec.scalar)

    def _fixed_checks(self):
        """What :meth:`_pack_fixed` compares each argument with, or None when the kernel
        has a symbolic extent or a buffer past int32 indexing (the general checks only):
        ``(dtype, shape, None, None)`` for a buffer, ``(None, None, low, high)`` for a
        scalar (``low``/``high``: an integer scalar's range, None for a float)."""
        fixed = []
        for spec, dtype, static, *_ in self._checks:
            if static is _SCALAR:
                if spec.dtype.startswith("float"):
                    fixed.append((None, None, None, None))
                elif spec.dtype in _INT_RANGES:
                    fixed.append((None, None) + _INT_RANGES[spec.dtype])
                else:
                    return None
            elif static is None or math.prod(static) > INT32_MAX:
                return None
            else:
                fixed.append((dtype, static, None, None))
        return tuple(fixed)

    def _pack_fixed(self, args):
        """The native call's arguments (pointers, then scalars) when every argument is in
        the form the graph layer passes: an NDArray on the kernel's device with the
        spec's very dtype object and shape, a Python float for a float scalar or a Python
        int in range for any scalar; None as soon as one is not (the general checks of
        :meth:`_pack` then accept it or raise the error naming it). Every argument this
        accepts, the general checks accept with the same result: it is their common
        case, without the loop over symbolic extents, numpy arrays and error branches
        (about half the time of a call's checks)."""
        device = self.device
        pointers, scalars = [], []
        for arg, (dtype, shape, low, high) in zip(args, self._fixed):
            if shape is None:
                kind = type(arg)
                if kind is float and low is None or kind is int and low is not None and low <= arg <= high:
                    scalars.append(arg)
                    continue
                return None
            if type(arg) is not NDArray or arg._device is not device or arg._dtype is not dtype \
                    or arg._shape != shape:
                return None
            pointers.append(arg._ptr)
        return pointers + scalars if scalars else pointers

    def _pack(self, args, fresh_outputs=False):
        """Check ``args`` against the specs; return the native call's arguments.
        ``fresh_outputs``: the written arguments were just allocated for this call, so
        nothing can share their memory and the overlap check is skipped."""
        fixed = self._fixed
        if fixed is not None and len(args) == len(fixed):
            cargs = self._pack_fixed(args)
            if cargs is not None:
                if self._written and not fresh_outputs:
                    self._check_overlap(args, cargs)
                return cargs
        if len(args) != len(self._checks):
            raise ArgumentError(
                f"kernel {self.name!r} takes {len(self._checks)} arguments "
                f"({self._signature}), got {len(args)}"
            )
        cargs, values, scalars = self._check_args(args)
        if self._limits:
            self._check_limits(values, scalars)
        if self._written and not fresh_outputs:
            self._check_overlap(args, cargs)
        if values:
            cargs += values[:len(self.var_names)]
        return cargs + scalars if scalars else cargs

    def _check_args(self, args):
        """(pointers, symbolic extent values, scalars) of ``args``, each checked against
        its spec (any error names the kernel and the argument)."""
        device = self.device
        host = device.kind == "cpu"
        cargs, scalars = [], []
        values = self._values_template.copy()
        for arg, (spec, dtype, static, ndim, const_axes, binds, uses) in zip(args, self._checks):
            if static is _SCALAR:
                scalars.append(self._scalar(arg, spec))
                continue
            if type(arg) is NDArray:
                if arg._device is not device:
                    raise DeviceError(
                        f"kernel {self.name!r} runs on {device} but argument {spec.name} "
                        f"is on {arg._device}"
                    )
                if arg._dtype is not dtype and arg._dtype != dtype:
                    raise self._dtype_error(spec, arg._dtype)
                shape = arg._shape
                cargs.append(arg._ptr)
            elif isinstance(arg, np.ndarray):
                flags = arg.flags
                pointer = numpy_data_ptr(arg)
                if (not host or (arg.dtype is not dtype and arg.dtype != dtype)
                        or not flags.c_contiguous or not flags.writeable and spec.written
                        or pointer % dtype.itemsize):
                    raise self._numpy_error(arg, spec, dtype)
                cargs.append(pointer)
                shape = arg.shape
            else:
                raise DTypeError(
                    f"kernel {self.name!r}: argument {spec.name} must be an NDArray or a "
                    f"numpy.ndarray, got {type(arg).__name__}"
                )
            if static is not None:
                if shape != static:
                    raise self._shape_error(spec, shape)
                continue
            if len(shape) != ndim:
                raise self._shape_error(spec, shape)
            for axis, want in const_axes:
                if shape[axis] != want:
                    raise self._shape_error(spec, shape)
            for axis, slot in binds:
                got = shape[axis]
                if got > INT32_MAX:
                    raise ShapeError(
                        f"kernel {self.name!r}: {self._slot_vars[slot]} = {got} from "
                        f"{spec.name}.shape[{axis}] does not fit in int32"
                    )
                values[slot] = got
            for axis, slot in uses:
                if shape[axis] != values[slot]:
                    var = self._slot_vars[slot]
                    first_arg, first_axis = self._sources_of[var]
                    raise ShapeError(
                        f"kernel {self.name!r}: {var} is {values[slot]} from "
                        f"{first_arg}.shape[{first_axis}] but {shape[axis]} from "
                        f"{spec.name}.shape[{axis}]"
                    )
            size = math.prod(shape)
            if size > INT32_MAX:
                raise ShapeError(f"kernel {self.name!r}: argument {spec.name} {tuple(shape)} has "
                                 f"{size} elements; kernels index with int32 (at most {INT32_MAX})")
        return cargs, values, scalars

    def _check_limits(self, values, scalars):
        """ShapeError unless every check of :attr:`limits` passes at the extents
        ``values`` (slot order) and the scalar arguments ``scalars``."""
        v = dict(zip(self._slot_vars, values))
        v.update(zip(self._scalar_names, scalars))
        for ok, value, what in self._limits:
            if not ok(v):
                given = ", ".join(f"{name}={number}" for name, number in v.items())
                raise ShapeError(f"kernel {self.name!r}: at {given} its {what.format(value(v))}")

    def _scalar(self, value, spec):
        """``value`` checked as scalar argument ``spec`` (a Python or numpy number)."""
        if spec.dtype.startswith("float"):
            ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            if ok and isinstance(value, int):
                try:
                    return float(value)
                except OverflowError:
                    raise ValueOverflowError(f"kernel {self.name!r}: scalar {spec.name}, an int of "
                                             f"{int(value).bit_length()} bits, is past the range of {spec.dtype} "
                                             "(of any float)") from None
        else:
            ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
            low, high = _INT_RANGES[spec.dtype]
            if ok and not low <= value <= high:
                raise ShapeError(f"kernel {self.name!r}: scalar {spec.name} = {value} does not fit in {spec.dtype}")
        if not ok:
            raise DTypeError(f"kernel {self.name!r}: argument {spec.name} is a {spec.dtype} scalar, "
                             f"got {type(value).__name__} {value!r}")
        return value

    def _check_overlap(self, args, pointers):
        """Refuse a written argument whose bytes overlap another argument's
        (``pointers``: the buffers' pointers, in order; anything after them is ignored)."""
        if self._has_scalars:   # scalars hold no memory: compare the buffers only
            args = [a for a, spec in zip(args, self.arg_specs) if not spec.scalar]
        sizes = [arg.nbytes for arg in args]
        pointers = pointers[:len(sizes)]
        for i in self._written:
            lo, hi = pointers[i], pointers[i] + sizes[i]
            shared = self._inplace.get(i)
            for j, other in enumerate(pointers):
                if j == shared and other == lo:
                    continue
                if j != i and other < hi and lo < other + sizes[j] and sizes[j]:
                    raise ArgumentError(
                        f"kernel {self.name!r}: argument {self._buffer_specs[i].name} is written by the "
                        f"kernel but shares memory with argument {self._buffer_specs[j].name}; "
                        "pass separate arrays"
                    )

    def _numpy_error(self, arr, spec, dtype):
        """The error for numpy array ``arr`` that cannot be passed in place as
        ``spec`` (the first failing check of ``_pack``'s numpy branch)."""
        name = f"kernel {self.name!r}: argument {spec.name}"
        if self.device.kind != "cpu":
            return DeviceError(
                f"kernel {self.name!r} runs on {self.device} but argument {spec.name} is a "
                f"numpy array in host memory; pass tm.nd.array({spec.name}, device=...)"
            )
        if arr.dtype != dtype:
            return self._dtype_error(spec, arr.dtype)
        if not arr.flags.c_contiguous:
            return ShapeError(f"{name} is not C-contiguous; pass np.ascontiguousarray({spec.name})")
        if not arr.flags.writeable and spec.written:
            return ShapeError(
                f"{name} is a read-only numpy array, and the kernel writes it in place; "
                f"pass a writable copy ({spec.name}.copy())"
            )
        return ShapeError(
            f"{name} is not aligned to its {dtype.itemsize}-byte {dtype.name} elements; "
            f"pass an aligned copy ({spec.name}.copy())"
        )

    def _dtype_error(self, spec, got):
        """The DTypeError for argument ``spec`` having dtype ``got``."""
        return DTypeError(
            f"kernel {self.name!r}: argument {spec.name} has dtype {got}, expected {spec.dtype}"
        )

    def _shape_error(self, spec, shape):
        """The ShapeError for argument ``spec`` having a wrong ndim or constant extent."""
        want = _fmt_shape(spec.shape)
        prefix = f"kernel {self.name!r}: argument {spec.name} has shape {_fmt_shape(shape)}"
        if len(shape) != len(spec.shape):
            return ShapeError(f"{prefix}, expected {len(spec.shape)} dimensions {want}")
        axis = next(
            i for i, (g, w) in enumerate(zip(shape, spec.shape)) if not isinstance(w, str) and g != w
        )
        return ShapeError(
            f"{prefix}, expected {want}: axis {axis} is {shape[axis]}, expected {spec.shape[axis]}"
        )

    #: FLOPs of one call, counted from the loop IR by the code generator — the operations
    #: the loops execute, so a GEMM's zero-padded columns count too; None when unknown
    #: (symbolic extents, or a module loaded by ``load_module``).
    flops = None

    #: ``_observed_call`` while any call observer is registered (see
    #: :func:`add_call_observer`), None otherwise, so an unobserved call costs one
    #: attribute check.
    _trace = None

    def __call__(self, *args):
        """Run the kernel on ``args`` (checked first; see the module docstring)."""
        if self._trace is not None:
            return self._trace(args)
        self._cfunc(*self._pack(args))

    def call_with_fresh_outputs(self, *args):
        """``self(*args)`` where the arguments the kernel writes are arrays just allocated
        for this call (the graph layer's op outputs): nothing else can share their
        memory, so the overlap check (about 0.6 us of an eager op's ~7) is skipped;
        every other check runs."""
        if self._trace is not None:
            return self._trace(args)
        self._cfunc(*self._pack(args, fresh_outputs=True))

    def get_source(self, fmt=None):
        """The kernel's source in format ``fmt``: "ll" (LLVM IR, the CPU default), "asm",
        "tir"; "cuda" (CUDA C, the default on CUDA) and "ptx" for CUDA kernels."""
        if fmt is None:
            fmt = "cuda" if self.device.kind == "cuda" else "ll"
        try:
            source = self._sources[fmt]
        except KeyError:
            raise TVMiniError(
                f"kernel {self.name!r} has no {fmt!r} source; available formats: "
                f"{', '.join(repr(k) for k in sorted(self._sources)) or 'none'}"
            ) from None
        if callable(source):
            source = self._sources[fmt] = source()
        return source

    def export_library(self, path):
        """Write a shared library that ``tm.runtime.load_module(path)`` loads and calls in
        any process, with nothing compiled there: a CPU kernel's machine code, or a CUDA
        module's PTX and launch plan (loading that needs a CUDA driver, not a compiler)."""
        if self._exporter is None:
            raise TVMiniError(f"kernel {self.name!r} has no code to export (a module loaded from a CPU library "
                              "is exported already)")
        return self._exporter(self, path)

    def __getitem__(self, name):
        """TVM's ``mod[mod.entry_name]``: this kernel (a module holds one function)."""
        if name != self.name:
            raise TVMiniError(f"module {self.name!r} holds one function, {self.name!r}; not {name!r}")
        return self

    @property
    def entry_name(self):
        """The kernel's name (TVM's ``f.entry_name``, for ``time_evaluator``)."""
        return self.name

    def time_evaluator(self, func_name=None, dev=None, number=10, repeat=3, min_repeat_ms=0):
        """Return ``f(*args) -> BenchmarkResult`` timing this kernel.

        ``f`` checks its arguments once, makes one warm-up call, then times
        ``repeat`` batches of ``number`` native calls (see
        :func:`~tvmini.runtime.benchmark.time_calls`); each result is the mean
        seconds per call of one batch. On a CUDA device a batch is timed with
        CUDA events around it (device time: launches return before the kernels end).
        ``func_name`` and ``dev`` make TVM's form work,
        ``time_evaluator(f.entry_name, dev, number=...)``: when given they must be this
        kernel's name and device.
        """
        if func_name is not None and func_name != self.name or dev is not None and dev != self.device:
            raise ArgumentError(f"time_evaluator({func_name!r}, {dev!r}): this is kernel {self.name!r} on "
                                f"{self.device}; pass its name and device, or neither")
        check_timing_params(number, repeat, min_repeat_ms)

        def evaluate(*args):
            stopwatch = self._cfunc.stopwatch() if self.device.kind == "cuda" else None
            return time_calls(self._cfunc, self._pack(args), number, repeat, min_repeat_ms, stopwatch)

        return evaluate

    def __repr__(self):
        args = ", ".join(map(str, self.arg_specs))
        return f"Module({self.name!r}, target={self.target!r}, args=[{args}])"


# ---------------------------------------------------------------------------------------
# call observers: debug tracing (``tvmini.debug``) and the profiler (``tvmini.profiler``)

_observers = ()


def add_call_observer(observer):
    """Call ``observer(module, args, start_ns, end_ns)`` after every kernel call.

    ``start_ns``/``end_ns`` are ``time.perf_counter_ns()`` readings taken just around the
    native call, after the argument checks, so the interval is the kernel's own time. Any
    number of observers may be registered; each sees every call, in registration order.
    On CUDA the native call only queues the kernels: the device is waited for before
    and after it, so the interval is the kernels' run time (plus the launch).
    """
    global _observers
    _observers += (observer,)
    Module._trace = _observed_call


def remove_call_observer(observer):
    """Stop calling ``observer`` (registered by :func:`add_call_observer`)."""
    global _observers
    if observer not in _observers:
        raise TVMiniError(f"remove_call_observer: {observer!r} is not registered")
    index = _observers.index(observer)
    _observers = _observers[:index] + _observers[index + 1:]
    if not _observers:
        Module._trace = None


def calls_observed():
    """Whether any call observer is registered (code that calls kernels by other means,
    like ``tm.jit``'s native step, then calls them through Modules so they are seen)."""
    return bool(_observers)


def _observed_call(module, args):
    """``module(*args)`` timed, then reported to every observer. A CUDA module's device
    is waited for before and after the launch, so the interval is its kernels' run time
    (launches alone return at once); observing a CUDA program serialises it."""
    cargs = module._pack(args)
    wait = module._cfunc.synchronize if module.device.kind == "cuda" else None
    if wait:
        wait()
    start = perf_counter_ns()
    module._cfunc(*cargs)
    if wait:
        wait()
    end = perf_counter_ns()
    for observer in _observers:
        observer(module, args, start, end)

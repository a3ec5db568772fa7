"""The whole step as one native function: every kernel called in order from LLVM code.

After the passes, every array of the step has a fixed place except those passed per
call (the function's tensor arguments, gradients carried in from before the step, and
fresh output arrays): temporaries live in one arena, states and constants where they
already are. So a step compiles to a function whose body is the list of kernel calls
with their pointers, constant scalars or scalars loaded from a slot array, and
``llvm.memcpy`` for copies. :func:`emit_calls` writes that body; it is given how to
materialise each array's pointer and each kernel's callee, which is all that differs
between the two ways a step is compiled:

* in process (:class:`NativeStep`): ``void step(double *fslots, int64 *islots, ptr
  passed_0, ...)`` with the arena's, states' and constants' addresses as constants, and
  each kernel declared by a name unique to its address and resolved to that address
  (``llvm.add_symbol``), so a replay costs one ctypes call plus the Python that fills
  the slots (an optimizer's learning rate and bias corrections). While kernel calls
  are observed (``tm.profiler``, ``TVMINI_DEBUG`` tracing) it runs the same calls one
  by one from Python instead, so every kernel of the step is seen and timed;
* exported (``jit.export``): pointers relative to a parameter blob and a workspace,
  kernels linked into the same shared library.
"""
import ctypes

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from ...codegen import llvm_target
from ...codegen.parallel import launch_on_pool, thread_and_team
from ...errors import BuildError, TVMiniError
from ...runtime import ndarray as nd
from ...runtime.module import calls_observed
from .ir import GRAD_IN, HOST, INPUT, OUTPUT, PASSED, TEMP, VIEW

PTR, I64, I32, _I1, _I8 = ir.PointerType(), ir.IntType(64), ir.IntType(32), ir.IntType(1), ir.IntType(8)
_IR_TYPES = {ctypes.c_void_p: PTR, ctypes.c_float: ir.FloatType(), ctypes.c_double: ir.DoubleType(),
             ctypes.c_int32: ir.IntType(32), ctypes.c_int64: I64}


def address_of(kernel):
    """The address of a kernel Module's native function (what identifies the kernel:
    Modules built from equal schedules share it)."""
    return ctypes.cast(kernel._cfunc, ctypes.c_void_p).value


def kernels_of(program):
    """{address: kernel Module} of the distinct kernels the program calls, in first-call order."""
    seen = {}
    for node in program.calls():
        if node.op != "copy":
            seen.setdefault(address_of(node.module), node.module)
    return seen


def declare_kernel(module, kernel, symbol):
    """Declare ``kernel``'s native function as ``symbol`` in the LLVM ``module``."""
    if kernel.var_names:
        raise BuildError(f"tm.jit: kernel {kernel.name} has symbolic extents; graph kernels have constant shapes")
    types = [_IR_TYPES[t] for t in kernel._cfunc.argtypes]
    return ir.Function(module, ir.FunctionType(ir.VoidType(), types), name=symbol)


def emit_calls(b, program, pointer, callee, replay_scalar=None):
    """Emit at builder ``b`` every call of ``program``, in order.

    ``pointer(value)`` gives the LLVM pointer of an array of the step, ``callee(kernel)``
    the declared function of a kernel Module, ``replay_scalar(slot)`` the double written
    to a slot before each replay (for nodes with ``scalars_at_replay``, whose ``scalars``
    are then slot numbers). A ``lanes`` node becomes one launch of libgomp's pool whose
    threads each run their lane's calls (:func:`_emit_lanes`)."""
    def pointer_of(value):
        if value.kind != VIEW:
            return pointer(value)
        base, offset = value.view_of
        return b.gep(pointer(base), [ir.Constant(I64, offset)], source_etype=_I8)
    for k, node in enumerate(program.nodes):
        if node.lanes is not None:
            _emit_lanes(b, node, pointer_of, callee, replay_scalar, f"lanes{k}")
        else:
            _emit_call(b, node, pointer_of, callee, replay_scalar)


def _emit_call(b, node, pointer, callee, replay_scalar):
    """Emit one kernel call or copy."""
    if node.op == "copy":
        src, dst = node.inputs[0], node.outputs[0]
        memcpy = b.module.globals.get("llvm.memcpy.p0.p0.i64") or ir.Function(
            b.module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I64, _I1]), name="llvm.memcpy.p0.p0.i64")
        b.call(memcpy, [pointer(dst), pointer(src), ir.Constant(I64, src.nbytes), ir.Constant(_I1, 0)])
        return
    function = callee(node.module)
    pointers = [pointer(v) for v in node.inputs + node.outputs]
    scalar_types = function.function_type.args[len(pointers):]
    scalars = []
    for value, ty in zip(node.scalars, scalar_types):
        if node.scalars_at_replay is not None:
            loaded = replay_scalar(value)
            scalars.append(loaded if isinstance(ty, ir.DoubleType) else
                           b.fptrunc(loaded, ty) if isinstance(ty, ir.FloatType) else b.fptosi(loaded, ty))
        else:
            scalars.append(ir.Constant(ty, float(value) if isinstance(ty, (ir.FloatType, ir.DoubleType))
                                       else int(value)))
    if len(pointers) + len(scalars) != len(function.function_type.args):
        raise BuildError(f"tm.jit: call of {node.module.name} has {len(pointers)} arrays and {len(scalars)} "
                         f"scalars; the kernel takes {len(function.function_type.args)} arguments")
    b.call(function, pointers + scalars)


def _emit_lanes(b, node, pointer, callee, replay_scalar, name):
    """Emit a ``lanes`` node: the pointers and per-replay scalars its calls use go into a
    closure on the stack; libgomp's pool runs a function in which thread ``t`` of the
    team runs lane ``l`` for every ``l`` with ``l % team size == t`` (all lanes when the
    pool gives one thread)."""
    calls = node.calls()
    slots = {}
    for call in calls:
        for v in call.inputs + call.outputs:
            slots.setdefault(v.id, (len(slots), v))
    replayed = sorted({s for call in calls if call.scalars_at_replay is not None for s in call.scalars})
    scalar_slot = {s: len(slots) + k for k, s in enumerate(replayed)}
    closure = b.alloca(I64, size=ir.Constant(I64, max(1, len(slots) + len(replayed))), name=name + ".closure")
    for k, v in slots.values():
        b.store(b.ptrtoint(pointer(v), I64), _slot(b, closure, k))
    for s, k in scalar_slot.items():
        b.store(b.bitcast(replay_scalar(s), I64), _slot(b, closure, k))

    fn = ir.Function(b.module, ir.FunctionType(ir.VoidType(), [PTR]), name=f"{b.function.name}_{name}")
    fn.linkage = "internal"
    tb = ir.IRBuilder(fn.append_basic_block("entry"))
    thread, team = thread_and_team(tb)
    for lane, lane_calls in enumerate(node.lanes):
        with tb.if_then(tb.icmp_unsigned("==", tb.urem(ir.Constant(I32, lane), team), thread)):
            loaded = {}

            def lane_pointer(v, loaded=loaded):
                if v.id not in loaded:
                    loaded[v.id] = tb.inttoptr(tb.load(_slot(tb, fn.args[0], slots[v.id][0]), typ=I64), PTR)
                return loaded[v.id]

            def lane_scalar(s):
                return tb.bitcast(tb.load(_slot(tb, fn.args[0], scalar_slot[s]), typ=I64), ir.DoubleType())
            for call in lane_calls:
                _emit_call(tb, call, lane_pointer, callee, lane_scalar)
    tb.ret_void()
    launch_on_pool(b, fn, closure, len(node.lanes))


def _slot(b, closure, k):
    """The address of 64-bit slot ``k`` of ``closure``."""
    return b.gep(closure, [ir.Constant(I64, k)], source_etype=I64)


def new_llvm_module(name):
    """An empty LLVM module for the host target."""
    module = ir.Module(name=name)
    machine = llvm_target.target_machine()
    module.triple, module.data_layout = machine.triple, str(machine.target_data)
    return module


class NativeStep:
    """One compiled step of ``program`` (after the passes and memory planning)."""

    def __init__(self, program, name="jit_step"):
        for node in program.calls():
            if node.module is not None and node.module.device.kind != "cpu":
                raise TVMiniError(f"tm.jit compiles steps whose kernels run on the CPU; {node.op} ran on "
                                  f"{node.module.device}: call the function without tm.jit on CUDA tensors")
        self.program = program
        self.arena = nd.empty((max(program.arena_bytes, 1),), "uint8")
        used = {v.id: v for v in program.live_values()}
        self.passed = [v for v in used.values() if v.kind in PASSED]
        # Fresh outputs: the gradients a step leaves (replaced together by the next step)
        # share one allocation; what the function returns gets its own, so keeping
        # returned losses does not keep a step's gradients alive.
        returned = {v.id for v in program.outputs}
        outputs = [v for v in self.passed if v.kind == OUTPUT]
        groups = [[v for v in outputs if v.id not in returned], [v for v in outputs if v.id in returned]]
        self._blocks = [nd.ArrayBlock([(v.shape, nd.normalize_dtype(v.dtype)) for v in group]) for group in groups]
        self._fresh_ids = [v.id for v in groups[0] + groups[1]]
        fresh_index = {vid: k for k, vid in enumerate(self._fresh_ids)}
        # where each passed pointer comes from at a replay: (kind, call argument / leaf / fresh array)
        self._plan = [(v.kind, v.binding if v.kind in (INPUT, GRAD_IN) else fresh_index[v.id]) for v in self.passed]
        self.hosts = [v for v in used.values() if v.kind == HOST]
        # the sources of the per-replay scalars in slot order: (source, keys), consecutive
        # nodes of one source together, asked once per replay; those nodes' scalars
        # become slot numbers
        self._replays = []
        n_float = 0
        for node in program.calls():
            if node.scalars_at_replay is not None:
                node.scalars = tuple(range(n_float, n_float + len(node.scalar_dtypes)))
                n_float += len(node.scalar_dtypes)
                source, key = node.scalars_at_replay
                if self._replays and self._replays[-1][0] is source:
                    self._replays[-1][1].append(key)
                else:
                    self._replays.append((source, [key]))
        self._n_dynamic, self._last_values = n_float, None
        self.fslots = np.zeros(max(n_float, 1), np.float64)
        self.islots = np.zeros(1, np.int64)
        self._fslots_ptr, self._islots_ptr = self.fslots.ctypes.data, self.islots.ctypes.data
        self.kernel_calls = sum(node.op != "copy" for node in program.calls())
        self._cfunc, self._keep = self._compile(name)

    def _compile(self, name):
        module = new_llvm_module(name)
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * (2 + len(self.passed))), name=name)
        fslots, _islots, *args = fn.args
        passed = {v.id: arg for v, arg in zip(self.passed, args)}
        b = ir.IRBuilder(fn.append_basic_block("entry"))

        def pointer(value):
            if value.kind in PASSED:
                return passed[value.id]
            address = self.arena._ptr + value.offset if value.kind == TEMP else value.array._ptr
            return ir.Constant(I64, address).inttoptr(PTR)

        declared = {}

        def callee(kernel):
            address = address_of(kernel)
            if address not in declared:
                symbol = f"tvmini_kernel_{address:x}"
                declared[address] = declare_kernel(module, kernel, symbol)
                llvm.add_symbol(symbol, address)
            return declared[address]

        def replay_scalar(slot):
            return b.load(b.gep(fslots, [ir.Constant(I64, slot)], source_etype=ir.DoubleType()), typ=ir.DoubleType())

        emit_calls(b, self.program, pointer, callee, replay_scalar)
        b.ret_void()
        module_ref = llvm_target.compile_ir(str(module))
        engine = llvm_target.jit(module_ref)
        address = engine.get_function_address(name)
        cfunc = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (2 + len(self.passed))))(address)
        self.source = str(module)
        return cfunc, (engine, module_ref, list(kernels_of(self.program).values()), self.arena)

    # ---- a replay ----------------------------------------------------------------------------
    def fresh_index(self, value_id):
        """Where the fresh output array of value ``value_id`` is in a replay's result."""
        return self._fresh_ids.index(value_id)

    def __call__(self, args, grad_of, release=None, grad_holders=0):
        """Run the step. ``args``: the call's tensor arguments by position; ``grad_of(k)``:
        the current ``.grad`` array of leaf k; ``release()``, called once those are read
        and before the outputs are made, drops the caller's references to the arrays
        the step replaces (so that the last step's memory can be reused: see
        ``ArrayBlock``); ``grad_holders``: references to each of the last replay's
        gradient arrays the caller still holds and accounts for (its gradient tensors,
        kept in place when their arrays are reused). Returns the fresh output
        NDArrays, in :meth:`fresh_index` order."""
        if self._replays:      # the dynamic nodes' slots are consecutive, in this order
            values = []
            for source, keys in self._replays:
                values += source.replay_scalars(keys)
            if values != self._last_values:       # (they seldom change: skip numpy's conversion)
                self.fslots[:self._n_dynamic] = self._last_values = values
        for v in self.hosts:
            v.array._storage.from_numpy(v.refill())
        arrays = [args[at].data if kind == INPUT else grad_of(at) if kind == GRAD_IN else at
                  for kind, at in self._plan]
        if release is not None:
            release()
        grads, returned = self._blocks
        fresh = grads.take(grad_holders) + returned.take()
        arrays = [fresh[a] if type(a) is int else a for a in arrays]
        if calls_observed():
            self._run_observed({v.id: a for v, a in zip(self.passed, arrays)})
        else:
            self._cfunc(self._fslots_ptr, self._islots_ptr, *[a._ptr for a in arrays])
        return fresh

    def _run_observed(self, passed):
        """The step kernel by kernel from Python — the same kernels, order, memory and
        scalars as the native function, lanes one after the other — so that call
        observers (``tm.profiler``, debug tracing) see and time every kernel of the step."""
        def array(v):
            if v.id in passed:
                return passed[v.id]
            if v.kind == VIEW:
                return nd.view(array(v.view_of[0]), v.view_of[1], v.shape, v.dtype)
            return nd.view(self.arena, v.offset, v.shape, v.dtype) if v.kind == TEMP else v.array
        for node in self.program.calls():
            if node.op == "copy":
                array(node.outputs[0]).copyfrom(array(node.inputs[0]))
                continue
            scalars = node.scalars if node.scalars_at_replay is None else [self.fslots[k] for k in node.scalars]
            node.module(*[array(v) for v in node.inputs], *scalars, *[array(v) for v in node.outputs])

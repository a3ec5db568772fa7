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
  the slots (an optimizer's learning rate and bias corrections: ``step.Step``);
* exported (``jit.export``): pointers relative to a parameter blob and a workspace,
  kernels linked into the same shared library.
"""
import ctypes

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from ...codegen import llvm_target
from ...codegen.parallel import launch_on_pool, thread_and_team
from ...errors import BuildError
from ...runtime.device import cpu
from .ir import PASSED, TEMP, VIEW
from .step import Step

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


class NativeStep(Step):
    """One compiled step of ``program`` (after the passes and memory planning) whose
    kernels run on the CPU: a replay is one call of the native function."""

    def __init__(self, program, name="jit_step"):
        super().__init__(program, cpu(0))
        self.islots = np.zeros(1, np.int64)
        self._fslots_ptr, self._islots_ptr = self.fslots.ctypes.data, self.islots.ctypes.data
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

    def _run(self, arrays):
        self._cfunc(self._fslots_ptr, self._islots_ptr, *[a._ptr for a in arrays])

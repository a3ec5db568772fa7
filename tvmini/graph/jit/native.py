"""The whole step as one native function: every kernel called in order from LLVM code.

After the passes, every array of the step has a fixed address except those passed per
call (the function's tensor arguments, gradients carried in from before the step, and
fresh output arrays): temporaries live in one arena allocated when the step is
compiled, states and constants where they already are. So the step compiles to

    void step(double *fslots, int64 *islots, ptr passed_0, ptr passed_1, ...)

whose body is the list of kernel calls with constant pointers, constant scalars, or
scalars loaded from the slot arrays (an optimizer's learning rate and bias corrections,
written by Python before each call), and ``llvm.memcpy`` for copies. Each kernel is
declared by a name unique to its address and resolved to that address when the step
is linked, so a replay costs one ctypes call plus the Python that fills the slots.
"""
import ctypes

import llvmlite.binding as llvm
import numpy as np
from llvmlite import ir

from ...codegen import llvm_target
from ...errors import BuildError
from ...runtime import ndarray as nd
from .ir import GRAD_IN, HOST, INPUT, OUTPUT, PASSED, TEMP

_PTR, _I64, _I1 = ir.PointerType(), ir.IntType(64), ir.IntType(1)
_IR_TYPES = {ctypes.c_void_p: _PTR, ctypes.c_float: ir.FloatType(), ctypes.c_double: ir.DoubleType(),
             ctypes.c_int32: ir.IntType(32), ctypes.c_int64: _I64}


def _address(module):
    return ctypes.cast(module._cfunc, ctypes.c_void_p).value


class NativeStep:
    """One compiled step of ``program`` (after the passes and memory planning)."""

    def __init__(self, program, name="jit_step"):
        self.program = program
        self.arena = nd.empty((max(program.arena_bytes, 1),), "uint8")
        used = {v.id: v for node in program.nodes for v in node.inputs + node.outputs}
        used.update({v.id: v for v in program.outputs})
        used.update({v.id: v for _, v in program.grads if v is not None})
        self.passed = [used[k] for k in sorted(used) if used[k].kind in PASSED]
        self.hosts = [used[k] for k in sorted(used) if used[k].kind == HOST]
        self.dynamic = []                        # (node, float slots, int slots)
        n_float = n_int = 0
        for node in program.nodes:
            if node.scalars_at_replay is not None:
                floats = [n_float + k for k, d in enumerate(node.scalar_dtypes)]
                self.dynamic.append(node)
                n_float += len(node.scalar_dtypes)
                node_slots = floats
                node.scalars = tuple(node_slots)   # slot numbers, read by the emitter
        self.fslots = np.zeros(max(n_float, 1), np.float64)
        self.islots = np.zeros(1, np.int64)
        self._fslots_ptr, self._islots_ptr = self.fslots.ctypes.data, self.islots.ctypes.data
        self.kernel_calls = sum(node.op != "copy" for node in program.nodes)
        self._cfunc, self._keep = self._compile(name)

    # ---- code ------------------------------------------------------------------------------
    def _pointer(self, b, value, args):
        if value.kind in PASSED:
            return args[self._passed_index[value.id]]
        address = self.arena._ptr + value.offset if value.kind == TEMP else value.array._ptr
        return ir.Constant(_I64, address).inttoptr(_PTR)

    def _compile(self, name):
        module = ir.Module(name=name)
        machine = llvm_target.target_machine()
        module.triple, module.data_layout = machine.triple, str(machine.target_data)
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR] * (2 + len(self.passed))), name=name)
        fslots, _islots, *args = fn.args
        self._passed_index = {v.id: k for k, v in enumerate(self.passed)}
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        memcpy = ir.Function(module, ir.FunctionType(ir.VoidType(), [_PTR, _PTR, _I64, _I1]),
                             name="llvm.memcpy.p0.p0.i64")
        declared, keep = {}, []
        for node in self.program.nodes:
            if node.op == "copy":
                src, dst = node.inputs[0], node.outputs[0]
                b.call(memcpy, [self._pointer(b, dst, args), self._pointer(b, src, args),
                                ir.Constant(_I64, src.nbytes), ir.Constant(_I1, 0)])
                continue
            kernel = node.module
            if kernel.var_names:
                raise BuildError(f"tm.jit: kernel {kernel.name} has symbolic extents; graph kernels have constant shapes")
            address = _address(kernel)
            symbol = f"tvmini_kernel_{address:x}"
            if symbol not in declared:
                types = [_IR_TYPES[t] for t in kernel._cfunc.argtypes]
                declared[symbol] = ir.Function(module, ir.FunctionType(ir.VoidType(), types), name=symbol)
                llvm.add_symbol(symbol, address)
                keep.append(kernel)
            callee = declared[symbol]
            pointers = [self._pointer(b, v, args) for v in node.inputs + node.outputs]
            scalar_types = callee.function_type.args[len(pointers):]
            scalars = []
            for k, (value, ty) in enumerate(zip(node.scalars, scalar_types)):
                if node.scalars_at_replay is not None:
                    loaded = b.load(b.gep(fslots, [ir.Constant(_I64, value)], source_etype=ir.DoubleType()),
                                    typ=ir.DoubleType())
                    scalars.append(loaded if isinstance(ty, ir.DoubleType) else
                                   b.fptrunc(loaded, ty) if isinstance(ty, ir.FloatType) else b.fptosi(loaded, ty))
                else:
                    scalars.append(ir.Constant(ty, float(value) if isinstance(ty, (ir.FloatType, ir.DoubleType))
                                               else int(value)))
            if len(pointers) + len(scalars) != len(callee.function_type.args):
                raise BuildError(f"tm.jit: call of {kernel.name} has {len(pointers)} arrays and {len(scalars)} "
                                 f"scalars; the kernel takes {len(callee.function_type.args)} arguments")
            b.call(callee, pointers + scalars)
        b.ret_void()
        module_ref = llvm_target.compile_ir(str(module))
        engine = llvm_target.jit(module_ref)
        address = engine.get_function_address(name)
        cfunc = ctypes.CFUNCTYPE(None, *([ctypes.c_void_p] * (2 + len(self.passed))))(address)
        self.source = str(module)
        return cfunc, (engine, module_ref, keep, self.arena)

    # ---- a replay ----------------------------------------------------------------------------
    def __call__(self, args, grad_of):
        """Run the step. ``args``: the call's tensor arguments by position; ``grad_of(k)``:
        the current ``.grad`` array of leaf k. Returns {value id: fresh output NDArray}."""
        fslots = self.fslots
        for node in self.dynamic:
            for slot, value in zip(node.scalars, node.scalars_at_replay()):
                fslots[slot] = value
        for v in self.hosts:
            v.array._storage.from_numpy(v.refill())
        pointers, fresh = [], {}
        for v in self.passed:
            if v.kind == INPUT:
                pointers.append(args[v.binding].data._ptr)
            elif v.kind == GRAD_IN:
                pointers.append(grad_of(v.binding)._ptr)
            else:
                array = fresh[v.id] = nd.empty(v.shape, v.dtype, self.arena._device)
                pointers.append(array._ptr)
        self._cfunc(self._fslots_ptr, self._islots_ptr, *pointers)
        return fresh


assert OUTPUT in PASSED

"""Exporting a jitted inference step: a shared library plus its parameter file.

``JitFunction.export(path)`` hands the variant last run to :func:`export_variant`, which

1. refuses a step that is not pure inference (it computes gradients, runs an optimizer,
   redraws dropout masks, writes running statistics, or a module was in training mode),
   saying why;
2. lays the step's parameters, running statistics and constants out in one blob (each
   array at a 64-byte aligned offset) and writes it beside the library;
3. emits the entry ``tvmini_jit_run(inputs, outputs, params, workspace)`` with the same
   call emitter as the in-process step (:func:`.native.emit_calls`), materialising each
   pointer as a load from the input/output pointer arrays or an offset into the blob
   or the workspace (the arena memory planning laid out);
4. links every kernel's optimised LLVM IR into that module under a unique name, makes
   the kernels internal (so nothing clashes with another library), emits one object and
   links it, with the metadata, into a shared library (``runtime.export.link_library``).

A step traced on a CUDA device replaces 3-4 by data in the metadata
(:func:`_cuda_launches`): each distinct kernel's ``CudaProgram`` and PTX, and the calls
in order with their arrays located as the entry would locate them.

``tvmini.runtime.predictor.load_jit`` loads the result in any process.
"""
import hashlib
import inspect
import os

from llvmlite import ir

from ...codegen import llvm_target
from ...errors import BuildError, TVMiniError
from ...fileio import atomic_open
from ...runtime.export import link_library
from ...runtime.module import entry_symbol
from ...runtime.predictor import ALIGN, ENTRY, FORMAT, params_path
from .ir import CONST, INPUT, OUTPUT, STATE, TEMP, VIEW
from .native import I64, PTR, address_of, declare_kernel, emit_calls, kernels_of, new_llvm_module

_I8 = ir.IntType(8)
_EVAL = "call model.eval(), call the jitted function again (tracing an eval variant), then export"


def export_variant(fn, signature, variant, path):
    """Write the library ``path`` and its parameter file for ``variant`` of ``fn`` (traced
    with ``signature``); returns the library's absolute path."""
    program = variant.program
    name = getattr(fn, "__name__", "step")
    _check_inference(name, program, variant)
    path = os.path.abspath(os.fspath(path))
    params_file = params_path(path)
    if params_file == path:
        raise TVMiniError(f"tm.jit export of {name}: {path} would be its own parameter file; "
                          "name the library e.g. model.so")
    device = variant.step.device
    inputs = _inputs(fn, name, signature, device)
    outputs = list({v.id: v for v in program.outputs}.values())
    out_index = {v.id: k for k, v in enumerate(outputs)}
    in_index = {v.id: v.binding for v in program.live_values() if v.kind == INPUT}
    params, blob = _parameter_blob(program)
    meta = {"kind": "jit", "format": FORMAT, "name": name, "device": device.kind, "inputs": inputs,
            "outputs": [{"name": f"output{k}", "shape": list(v.shape), "dtype": v.dtype} for k, v in enumerate(outputs)],
            "structure": _structure(variant.rebuild([out_index[v.id] for v in program.outputs]), name),
            "workspace_bytes": program.arena_bytes,
            "params": {"file": os.path.basename(params_file), "bytes": len(blob),
                       "sha256": hashlib.sha256(blob).hexdigest(),
                       "arrays": [{"value": v.id, "shape": list(v.shape), "dtype": v.dtype, "offset": offset}
                                  for v, offset in params]}}
    if device.kind == "cuda":
        object_code = None
        meta.update(target="cuda", **_cuda_launches(program, in_index, out_index, params))
    else:
        object_code = _object_code(program, in_index, out_index, params)
        meta["target"] = llvm_target.target_description()
    with atomic_open(params_file) as f:
        f.write(blob)
    return link_library(object_code, meta, path)


def _check_inference(name, program, variant):
    """Raise TVMiniError saying why the traced step is not a pure inference."""
    why = None
    replayed = [op for node in program.calls() if node.scalars_at_replay is not None for op in node.members]
    if program.grads:
        why = ("it computes or resets gradients (backward, zero_grad); export a function that only runs "
               "the model, e.g. tm.jit(lambda x: model(x))")
    elif "dropout" in replayed:
        why = f"it draws random numbers on every call (dropout in training mode); {_EVAL}"
    elif replayed:
        why = "it runs an optimizer update; export a function that only runs the model"
    elif any(chooses_path for *_, chooses_path in variant.input_guards):
        why = ("its path depends on an argument's values (e.g. whether a loss's labels hold ignore_index), "
               "which the library would not check; export a function that only runs the model")
    else:
        written = [v for node in program.nodes for v in node.outputs if v.kind not in (TEMP, OUTPUT)]
        training = [m for m, flag in zip(variant.modules, variant.training) if flag]
        if written:
            why = (f"it writes {written[0].describe()} in place (BatchNorm running statistics in training mode, "
                   f"an optimizer state, or an input); {_EVAL}")
        elif training:
            why = (f"module {type(training[0]).__name__} was in training mode when the step was traced; "
                   f"{_EVAL}")
        elif not program.outputs:
            why = "it returns no tensors"
    if why is not None:
        raise TVMiniError(f"tm.jit: cannot export {name} as an inference function: {why}")


def _inputs(fn, name, signature, device):
    """The metadata of every tensor input in input order (the tensor arguments and the
    tensors inside list, tuple and dict arguments, named like ``batch['x']``)."""
    parts, keywords, _ = signature
    try:
        params = [p.name for p in inspect.signature(fn).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    positional = len(parts) - len(keywords)
    names = [params[i] if i < len(params) else f"arg{i}" for i in range(positional)] + list(keywords)
    inputs = []
    for part, arg_name in zip(parts, names):
        for input_name, (_, shape, dtype, on, _) in _tensor_parts(part, arg_name):
            if on != device:
                raise TVMiniError(f"tm.jit: cannot export {name}: argument {input_name} is on {on}, "
                                  f"its step on {device}")
            inputs.append({"name": input_name, "shape": list(shape), "dtype": str(dtype)})
    return inputs


def _tensor_parts(part, name):
    """(name, signature part) of every tensor in one argument's signature part, in the
    order the jit function made them inputs."""
    if part[0] == "tensor":
        yield name, part
    elif part[0] == "seq":
        for k, item in enumerate(part[2]):
            yield from _tensor_parts(item, f"{name}[{k}]")
    elif part[0] == "dict":
        for key, item in part[2]:
            yield from _tensor_parts(item, f"{name}[{key!r}]")


def _parameter_blob(program):
    """([(value, offset)], bytes) for every state and constant the step reads."""
    values = sorted({v.id: v for node in program.nodes for v in node.inputs if v.kind in (STATE, CONST)}.values(),
                    key=lambda v: v.id)
    placed, size = [], 0
    for v in values:
        placed.append((v, size))
        size += -(-v.nbytes // ALIGN) * ALIGN
    blob = bytearray(size)
    for v, offset in placed:
        blob[offset:offset + v.nbytes] = v.array.numpy().tobytes()      # from the device if on one
    return placed, bytes(blob)


def _entry(program, in_index, out_index, params):
    """The LLVM module of ``tvmini_jit_run`` and {kernel address: symbol} of the kernels it calls."""
    module = new_llvm_module("tvmini_jit")
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR] * 4), name=ENTRY)
    ins, outs, blob, workspace = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    param_offset = {v.id: offset for v, offset in params}
    pointers = {}

    def pointer(value):
        if value.id not in pointers:
            if value.kind in (INPUT, OUTPUT):
                array, k = (ins, in_index[value.id]) if value.kind == INPUT else (outs, out_index[value.id])
                pointers[value.id] = b.load(b.gep(array, [ir.Constant(I64, k)], source_etype=PTR), typ=PTR)
            else:
                base, offset = (workspace, value.offset) if value.kind == TEMP else (blob, param_offset[value.id])
                pointers[value.id] = b.gep(base, [ir.Constant(I64, offset)], source_etype=_I8)
        return pointers[value.id]

    symbols = {address: f"tvmini_jit_k{i}_{k.name}" for i, (address, k) in enumerate(kernels_of(program).items())}
    declared = {}

    def callee(kernel):
        address = address_of(kernel)
        if address not in declared:
            declared[address] = declare_kernel(module, kernel, symbols[address])
        return declared[address]

    emit_calls(b, program, pointer, callee)
    b.ret_void()
    return module, symbols


def _cuda_launches(program, in_index, out_index, params):
    """The metadata of a CUDA step: each distinct kernel's ``CudaProgram`` and PTX, and
    every call in order, its arrays as [base, index, byte offset] (base "input", "output",
    "params" or "workspace") and its scalars, or a copy's [destination, source] and bytes."""
    param_offset = {v.id: offset for v, offset in params}

    def location(value):
        if value.kind == VIEW:
            base, offset = value.view_of
            kind, index, at = location(base)
            return [kind, index, at + offset]
        if value.kind in (INPUT, OUTPUT):
            return ["input", in_index[value.id], 0] if value.kind == INPUT else ["output", out_index[value.id], 0]
        return ["workspace", 0, value.offset] if value.kind == TEMP else ["params", 0, param_offset[value.id]]

    kernels, index, calls = [], {}, []
    for node in program.calls():
        if node.op == "copy":
            calls.append({"copy": [location(node.outputs[0]), location(node.inputs[0])], "bytes": node.inputs[0].nbytes})
            continue
        launcher = node.module._cfunc
        if id(launcher) not in index:
            index[id(launcher)] = len(kernels)
            kernels.append({"name": launcher.name, "program": launcher.program.as_json(), "ptx": launcher.ptx()})
        calls.append({"kernel": index[id(launcher)], "args": [location(v) for v in node.inputs + node.outputs],
                      "scalars": list(node.scalars)})
    return {"kernels": kernels, "calls": calls}


def _object_code(program, in_index, out_index, params):
    """Object code of the entry and every kernel (internal, under unique names)."""
    module, symbols = _entry(program, in_index, out_index, params)
    try:
        linked = llvm_target.parse(str(module))
        for address, kernel in kernels_of(program).items():
            kernel_ref = llvm_target.parse(kernel.get_source("ll"))
            kernel_ref.get_function(entry_symbol(kernel.name)).name = symbols[address]
            linked.link_in(kernel_ref)
        for symbol in symbols.values():
            linked.get_function(symbol).linkage = "internal"
        linked.verify()
    except RuntimeError as err:
        raise BuildError(f"tm.jit export: linking the kernels into one module failed: {err}") from None
    return llvm_target.emit_object(linked)


def _structure(node, name):
    """The result's structure as JSON: output indices at the leaves, tuples/lists/dicts
    as {"tuple"|"list": [...]} / {"dict": [[key, ...], ...]}."""
    if node is None or isinstance(node, int):
        return node
    if isinstance(node, dict):
        if not all(isinstance(k, str) for k in node):
            raise TVMiniError(f"tm.jit: cannot export {name}: a dict it returns has keys that are not strings")
        return {"dict": [[k, _structure(v, name)] for k, v in node.items()]}
    return {"tuple" if isinstance(node, tuple) else "list": [_structure(v, name) for v in node]}

"""Shared libraries: ``Module.export_library(path)`` and ``load_module(path)``.

An exported library holds native code plus a ``tvmini_metadata`` symbol: a JSON object
whose ``kind`` says what the library holds ("kernel": one CPU kernel and its call
signature, loaded by :func:`load_module`; "cuda-kernel": a CUDA module's PTX and launch
plan (a ``CudaProgram``), also loaded by :func:`load_module`, which then needs a CUDA
driver but no CUDA compiler; "jit": a whole ``tm.jit`` step, loaded by
``runtime.predictor.load_jit``). It is linked by the system C compiler (``$CC`` or
``cc``), so a fresh process can load and call it without compiling anything. The JSON
carries a sha256 of itself (``digest``): metadata damaged or edited in the file (a
shape the native code was not built for) is refused when loaded, as a truncated file is.
"""
import ctypes
import ctypes.util
import hashlib
import itertools
import json
import os
import shutil
import struct
import subprocess
import tempfile

from ..errors import BuildError, DataError
from ..codegen.llvm_target import AFTER_FORK, watch_fork_flag
from .module import ArgSpec, Module, entry_symbol

_FORMAT = 4      # 3: kernel symbols are entry_symbol(name); 4: call limits
_CTYPES = {"int32": ctypes.c_int32, "int64": ctypes.c_int64, "float32": ctypes.c_float, "float64": ctypes.c_double}
#: The function that loads each kind of library, for the error of loading it with another.
_LOADERS = {"kernel": "tm.runtime.load_module", "cuda-kernel": "tm.runtime.load_module", "jit": "tm.runtime.load_jit"}
#: glibc's vector math library, which vectorized exp, log, tanh, ... call (``codegen.vecmath``).
_VECTOR_MATH = ["-lmvec"] if ctypes.util.find_library("mvec") else []
#: Counts the libraries this process loaded (see ``_dlopen_private``).
_loads = itertools.count()


def _compiler():
    for candidate in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    raise BuildError("export_library needs a C compiler to link the shared library; none found "
                     "(install gcc or clang, or set $CC)")


def link_library(object_code, metadata, path):
    """Link ``object_code`` (bytes of a relocatable object, or None) and ``metadata`` (a
    dict, stored as the JSON string ``tvmini_metadata``) into the shared library ``path``,
    atomically."""
    meta = json.dumps(dict(metadata, digest=_digest(metadata))).encode()
    path = os.path.abspath(path)
    if not os.path.isdir(os.path.dirname(path)):
        raise DataError(f"cannot write the library {path}: directory {os.path.dirname(path)} does not exist")
    cc = _compiler()
    with tempfile.TemporaryDirectory() as tmp:
        objects = []
        if object_code is not None:
            objects.append(os.path.join(tmp, "code.o"))
            with open(objects[0], "wb") as f:
                f.write(object_code)
        meta_c = os.path.join(tmp, "metadata.c")
        with open(meta_c, "w") as f:
            f.write("const char tvmini_metadata[] = {" + ", ".join(str(b) for b in meta) + ", 0};\n")
            f.write(f"int {AFTER_FORK} = 0;\n")      # the parallel loops' fork flag (codegen.parallel)
        out = os.path.join(tmp, "library.so")
        cmd = [cc, "-shared", "-fPIC", "-o", out, *objects, meta_c, "-lm", "-lgomp", *_VECTOR_MATH]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise BuildError(f"linking {path} failed: {' '.join(cmd)}\n{result.stderr.strip()}")
        shutil.move(out, path + ".tmp")
        os.replace(path + ".tmp", path)
    return path


def open_library(path, kinds):
    """(ctypes library, metadata dict) of the library ``path``, which must hold one of
    ``kinds``; DataError naming the file when it is missing, not a tvmini library, or
    another kind."""
    if not os.path.isfile(path):
        raise DataError(f"no exported tvmini library at {path}")
    data = _checked_elf(path)
    try:
        lib = _dlopen_private(data, path)
        raw = ctypes.string_at(ctypes.addressof(ctypes.c_char.in_dll(lib, "tvmini_metadata")))
        meta = json.loads(raw.decode())
        watch_fork_flag(ctypes.c_int32.in_dll(lib, AFTER_FORK))
    except (OSError, ValueError, AttributeError) as err:
        raise DataError(f"{path} is not a tvmini library: {err}") from None
    if not isinstance(meta, dict) or "digest" not in meta:
        raise DataError(f"{path} has no metadata digest: it was written by an older tvmini (export it again) or "
                        "is not a tvmini library")
    if meta.pop("digest") != _digest(meta):
        raise DataError(f"{path}: its metadata does not match its digest (the file is damaged or was edited); "
                        "export it again")
    found = meta.get("kind", "kernel")
    if found not in kinds:
        raise DataError(f"{path} holds a tvmini {found} library, not a {' or '.join(kinds)} library; "
                        f"load it with {_LOADERS.get(found, 'the tvmini that wrote it')}")
    return lib, meta


def _digest(metadata):
    """The sha256 (hex) of ``metadata``'s canonical JSON."""
    return hashlib.sha256(json.dumps(metadata, sort_keys=True).encode()).hexdigest()


def _checked_elf(path):
    """The bytes of ``path``; DataError naming it unless they are a whole ELF shared
    object: the dynamic loader maps a truncated library and the process dies (SIGBUS) on
    the first touch of a page past its end, so every table and segment must lie inside
    the file first."""
    with open(path, "rb") as f:
        data = f.read()
    problem = _elf_problem(data)
    if problem:
        raise DataError(f"{path} is not a tvmini library (or is damaged): {problem}")
    return data


def _dlopen_private(data, path):
    """``ctypes.CDLL`` of the library bytes ``data`` (read from ``path``), loaded from a
    private copy with a name of its own. dlopen hands back the library it already loaded
    under the same name (or from the same file), so a library exported again to ``path``
    would load as the code first loaded from there; the copy also makes what is loaded
    the very bytes checked. The copy's name holds a count of this process's loads, so no
    two are alike even once deleted: it is deleted once loaded (its mapping stays), and
    a module loaded before keeps its own code."""
    fd, copy = tempfile.mkstemp(prefix=f"tvmini-{os.getpid()}-{next(_loads)}-", suffix=".so")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return ctypes.CDLL(copy)
    except OSError as err:
        raise OSError(str(err).replace(copy, path)) from None
    finally:
        os.unlink(copy)


def _elf_problem(data):
    """Why ``data`` is not a complete ELF file (a short sentence), or None."""
    if len(data) < 16 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return "no ELF header"
    wide, order = data[4] == 2, "<" if data[5] == 1 else ">"
    header = order + ("16xHHIQQQIHHHHHH" if wide else "16xHHIIIIIHHHHHH")
    if len(data) < struct.calcsize(header):
        return f"the file ends inside its ELF header ({len(data)} bytes)"
    _, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _ = struct.unpack_from(header, data)
    tables = [("program header table", phoff, phentsize * phnum), ("section header table", shoff, shentsize * shnum)]
    segment = order + ("I4xQ8x8xQ" if wide else "II8xI")          # p_type, p_offset, p_filesz
    for i in range(phnum if phoff + phentsize * phnum <= len(data) else 0):
        fields = struct.unpack_from(segment, data, phoff + i * phentsize)
        tables.append((f"segment {i}", fields[1], fields[2]))
    for what, offset, size in tables:
        if offset + size > len(data):
            return f"its {what} (bytes {offset}..{offset + size}) lies past the end of the file ({len(data)} bytes)"
    return None


def _signature(module):
    return {"format": _FORMAT, "name": module.name, "target": module.target, "var_names": list(module.var_names),
            "args": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype, "written": s.written,
                      "scalar": s.scalar, "inplace_of": s.inplace_of} for s in module.arg_specs],
            "limits": [list(limit) for limit in module.limits]}


def object_exporter(object_code):
    """The ``Module`` exporter of a CPU kernel whose object code ``object_code()`` gives."""
    return lambda module, path: link_library(object_code(), dict(_signature(module), kind="kernel"), path)


def cuda_exporter(program):
    """The ``Module`` exporter of a CUDA module built from ``program`` (a ``CudaProgram``):
    the library carries the program and its PTX (compiled now if the build had no
    compiler), for the architecture it was built for (newer GPUs JIT-compile PTX too)."""
    return lambda module, path: link_library(
        None, dict(_signature(module), kind="cuda-kernel", program=program.as_json(), ptx=module.get_source("ptx")),
        path)


def load_module(path):
    """Load a library written by ``Module.export_library``; returns a callable ``Module``."""
    lib, meta = open_library(path, ("kernel", "cuda-kernel"))
    if meta.get("format") != _FORMAT:
        raise DataError(f"{path} has library format {meta.get('format')}, this tvmini reads {_FORMAT}")
    try:
        return _module_of(lib, meta)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise DataError(f"{path}: its metadata does not describe a kernel this tvmini can load "
                        f"({type(err).__name__}: {err})") from None


def _module_of(lib, meta):
    """The ``Module`` of library ``lib`` with ``meta`` (checked: digest and format)."""
    specs = [ArgSpec(a["name"], tuple(a["shape"]), a["dtype"], a["written"], a["scalar"], a.get("inplace_of"))
             for a in meta["args"]]
    sources = {"meta": json.dumps({k: v for k, v in meta.items() if k not in ("program", "ptx")}, indent=2)}
    limits = meta["limits"]
    if meta["kind"] == "cuda-kernel":
        from .cuda_program import CudaProgram
        program, ptx = CudaProgram.from_json(meta["program"]), meta["ptx"]
        return Module(meta["name"], meta["target"], specs, meta["var_names"], program.launcher(meta["name"], lambda: ptx),
                      dict(sources, cuda=program.source, tir=program.tir, ptx=ptx), keepalive=None,
                      exporter=cuda_exporter(program), limits=limits)
    cfunc = getattr(lib, entry_symbol(meta["name"]))
    cfunc.restype = None
    cfunc.argtypes = ([ctypes.c_void_p] * sum(not s.scalar for s in specs) + [ctypes.c_int32] * len(meta["var_names"])
                      + [_CTYPES[s.dtype] for s in specs if s.scalar])
    return Module(meta["name"], meta["target"], specs, meta["var_names"], cfunc, sources, keepalive=lib, limits=limits)

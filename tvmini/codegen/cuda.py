"""Loop IR -> CUDA C: one ``__global__`` kernel per thread-bound loop nest.

``split_kernels`` cuts a lowered function into kernels: every root loop nest of the
function must start with loops bound to ``blockIdx.*``/``threadIdx.*``; the bound loops
become the launch grid and block (a blockIdx extent may be symbolic and is evaluated at
call time; threadIdx extents must be constants). Buffers computed at the root between
two kernels are global temporaries the runtime allocates for the call.

Inside a kernel:

* a bound loop is the thread's index (``int i = threadIdx.x;``), other loops stay loops;
* ``local`` allocations are per-thread arrays, ``shared`` ones ``__shared__`` arrays
  (16-byte aligned, so nvcc can merge consecutive reads into vector loads); a
  stage computed inside the kernel with the default (global) scope is stored in
  registers when it sits under a threadIdx loop, in shared memory otherwise (as TVM does);
* ``__syncthreads()`` separates a statement that writes a shared buffer from a later one
  that reads it, and ends a loop body that both writes and then reads one (so the next
  iteration's writes wait for this iteration's reads);
* a cross-thread reduction (``AllReduce``, from a reduce axis bound to ``threadIdx.*``)
  becomes a halving tree over a block-sized ``__shared__`` array (``expand_allreduces``);
* guards from non-divisible splits are ordinary ``if``s; ``if_then_else`` is C's ``?:``,
  which evaluates only the taken side.

Root statements that only compute zero-dimensional buffers (scalar stages: they have no
axis to bind) run as one kernel of one thread.

Validation (``BuildError`` naming the stage and axis): a root nest with no bound loops or
with unbound loops outside them, one thread tag bound with different extents, a block of
more than 1024 threads, a symbolic threadIdx extent, shared memory over 48 KiB, a grid
over CUDA's limits (65535 blocks along y and z); a symbolic grid extent is checked at
launch (``DeviceError``).
"""
import math

from ..errors import BuildError
from ..runtime.cuda_driver import GRID_LIMITS
from ..tir import counter_hash
from ..tir import dtype as dt
from ..tir import expr as E
from ..tir.functor import Mutator, free_vars, walk
from ..tir.printer import _unique_names
from .c_names import CPP_KEYWORDS, fresh, ident
from ..tir.simplify import simplify
from ..tir.stmt import Allocate, BufferStore, For, ForKind, IfThenElse, LetStmt, SeqStmt, Stmt
from .cuda_sync import expand_allreduces, insert_syncs

MAX_THREADS_PER_BLOCK = 1024
MAX_GRID = dict(zip(("blockIdx.x", "blockIdx.y", "blockIdx.z"), GRID_LIMITS))
MAX_SHARED_BYTES = 48 * 1024
THREAD_TAGS = ("blockIdx.x", "blockIdx.y", "blockIdx.z", "threadIdx.x", "threadIdx.y", "threadIdx.z")

_CTYPE = {"float32": "float", "float64": "double", "float16": "__half", "int8": "signed char",
          "uint8": "unsigned char", "int32": "int", "int64": "long long", "bool": "bool"}
_MATH = {  # name -> (float32 function, float64 function)
    "exp": ("expf", "exp"), "log": ("logf", "log"), "sqrt": ("sqrtf", "sqrt"), "tanh": ("tanhf", "tanh"),
    "cos": ("cosf", "cos"), "sin": ("sinf", "sin"), "floor": ("floorf", "floor"), "ceil": ("ceilf", "ceil"),
    "round": ("rintf", "rint"), "abs": ("fabsf", "fabs"), "power": ("powf", "pow"),
    "fmod": ("fmodf", "fmod"),
    **{name: (f"{name}f", name) for name in ("trunc", "erf", "tan", "atan", "asin", "acos", "exp2", "expm1", "log2",
                                             "log10", "log1p")},
}
_PRELUDE = """\
__device__ __forceinline__ int tvmini_floordiv(int a, int b) { int q = a / b; return q - ((a % b != 0) && ((a < 0) != (b < 0))); }
__device__ __forceinline__ long long tvmini_floordiv(long long a, long long b) { long long q = a / b; return q - ((a % b != 0) && ((a < 0) != (b < 0))); }
__device__ __forceinline__ int tvmini_floormod(int a, int b) { int r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
__device__ __forceinline__ long long tvmini_floormod(long long a, long long b) { long long r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
__device__ __forceinline__ float tvmini_floormodf(float a, float b) { float m = fmodf(a, b); return m != 0.0f ? (((b < 0.0f) != (m < 0.0f)) ? m + b : m) : copysignf(0.0f, b); }
__device__ __forceinline__ double tvmini_floormod(double a, double b) { double m = fmod(a, b); return m != 0.0 ? (((b < 0.0) != (m < 0.0)) ? m + b : m) : copysign(0.0, b); }
__device__ __forceinline__ float tvmini_floordivf(float a, float b) { if (b == 0.0f) return a / b; float m = fmodf(a, b); float d = (a - m) / b; if (m != 0.0f && ((b < 0.0f) != (m < 0.0f))) d -= 1.0f; if (d == 0.0f) return copysignf(0.0f, a / b); float f = floorf(d); return d - f > 0.5f ? f + 1.0f : f; }
__device__ __forceinline__ double tvmini_floordiv(double a, double b) { if (b == 0.0) return a / b; double m = fmod(a, b); double d = (a - m) / b; if (m != 0.0 && ((b < 0.0) != (m < 0.0))) d -= 1.0; if (d == 0.0) return copysign(0.0, a / b); double f = floor(d); return d - f > 0.5 ? f + 1.0 : f; }
__device__ __forceinline__ float tvmini_fminf(float a, float b) { return (a != a || b != b) ? a + b : fminf(a, b); }
__device__ __forceinline__ float tvmini_fmaxf(float a, float b) { return (a != a || b != b) ? a + b : fmaxf(a, b); }
__device__ __forceinline__ double tvmini_fmin(double a, double b) { return (a != a || b != b) ? a + b : fmin(a, b); }
__device__ __forceinline__ double tvmini_fmax(double a, double b) { return (a != a || b != b) ? a + b : fmax(a, b); }
"""

# C++ computes on signed/unsigned char in int: these results are cast back, so they wrap
# at 8 bits as numpy's and the CPU's do
_NARROW_INTS = ("int8", "uint8")
_ARITHMETIC = (E.Add, E.Sub, E.Mul, E.Div, E.FloorDiv, E.FloorMod)

# topi.random's hash, where a kernel uses it
_COUNTER_HASH = counter_hash.c_function("tvmini_counter_hash", "__device__ __forceinline__ ")


class Kernel:
    """One ``__global__`` function: its body, launch extents and parameters."""

    def __init__(self, name, body, stage):
        self.name, self.body, self.stage = name, body, stage
        self.extents = {}           # thread tag -> extent expression
        self.buffers, self.scalars = [], []


def _stage_of(var, sch):
    for stage in sch.stages:
        for iv in stage.all_iter_vars:
            if iv.var is var:
                return stage, iv
    return None, None


def _describe(var, sch):
    stage, iv = _stage_of(var, sch)
    return f"axis {iv.name} of stage {stage.name}" if stage is not None else f"loop {var.name}"


def split_kernels(func, sch):
    """The kernels of ``func`` in launch order, and its global temporaries."""
    body, temporaries = func.body, []
    while isinstance(body, Allocate):
        temporaries.append(body.buffer)
        body = body.body
    roots = _scalar_kernels(body.seq if isinstance(body, SeqStmt) else [body])
    kernels = []
    for k, nest in enumerate(roots):
        if not (isinstance(nest, For) and nest.kind is ForKind.THREAD_BINDING):
            bound = []
            walk(nest, lambda n: bound.append(n) if isinstance(n, For) and n.kind is ForKind.THREAD_BINDING else None)
            first = nest
            while isinstance(first, (Allocate, LetStmt, IfThenElse)) and not isinstance(first, For):
                first = first.body if not isinstance(first, IfThenElse) else first.then_case
            what = _describe(first.var, sch) if isinstance(first, For) else "a statement"
            if bound:
                raise BuildError(f"{what} is outside the loops bound to GPU threads; bind it or move it "
                                 f"inside the blockIdx/threadIdx loops (target 'cuda')")
            raise BuildError(f"{what} is not bound to a GPU thread: on target 'cuda' every stage computed at "
                             "the root needs loops bound to blockIdx/threadIdx (s[T].bind)")
        _check_no_parallel_loops(nest, sch)
        stage, _ = _stage_of(nest.var, sch)
        kernel = Kernel(f"{ident(func.name)}_kernel{k}", nest, stage)
        _launch_extents(kernel, sch)
        kernel.body = insert_syncs(_scope_allocations(expand_allreduces(kernel.body, kernel.extents), False))
        _check_shared_memory(kernel)
        _check_redundant_updates(kernel.body, kernel)
        _parameters(kernel, func, temporaries)
        kernels.append(kernel)
    return kernels, temporaries


def _check_no_parallel_loops(nest, sch):
    """A ``parallel`` loop inside a kernel would run serially in each thread (CPU cores
    are not a GPU's): a BuildError rather than a silently serial loop."""
    loops = []
    walk(nest, lambda n: loops.append(n) if isinstance(n, For) and n.kind is ForKind.PARALLEL else None)
    if loops:
        raise BuildError(f"{_describe(loops[0].var, sch)} is marked parallel, which is for CPU cores; on target "
                         "'cuda' bind it to blockIdx/threadIdx instead")


def _scalar_kernels(roots):
    """``roots`` with each run of consecutive scalar statements (see ``_computes_a_scalar``)
    wrapped in one loop bound to ``blockIdx.x`` of extent 1: a one-thread kernel."""
    out, run = [], []
    for nest in list(roots) + [None]:
        if nest is not None and _computes_a_scalar(nest):
            run.append(nest)
            continue
        if run:
            out.append(For(E.Var("scalar", "int32"), E.Const(0, "int32"), E.Const(1, "int32"),
                           ForKind.THREAD_BINDING, SeqStmt(run) if len(run) > 1 else run[0], "blockIdx.x"))
            run = []
        if nest is not None:
            out.append(nest)
    return out


def _computes_a_scalar(nest):
    """Whether root statement ``nest`` writes zero-dimensional buffers only and binds no
    thread: a scalar stage, which has no axis to bind, so it runs as one thread."""
    stores, bound = [], []

    def visit(n):
        if isinstance(n, BufferStore):
            stores.append(n.buffer)
        elif isinstance(n, For) and n.kind is ForKind.THREAD_BINDING:
            bound.append(n)
    walk(nest, visit)
    return bool(stores) and not bound and all(len(b.shape) == 0 for b in stores)


def _launch_extents(kernel, sch):
    """The extent of each thread axis of ``kernel`` (``kernel.extents``), checked against
    CUDA's limits. Loops bound to one axis with different constant extents (a shared tile
    clamped to a small matrix's 5 rows under 8 threadIdx.y) run over the largest, the
    shorter ones guarded (``_pad_thread_loops``)."""
    loops = []
    walk(kernel.body, lambda n: loops.append(n) if isinstance(n, For) and n.kind is ForKind.THREAD_BINDING else None)
    extents = [simplify(loop.extent) for loop in loops]
    longest = {}
    for loop, extent in zip(loops, extents):
        if isinstance(extent, E.Const) and extent.value > longest.get(loop.thread_tag, 0):
            longest[loop.thread_tag] = extent.value
    kernel.body = _pad_thread_loops(kernel.body, longest)
    for loop, extent in zip(loops, extents):
        if isinstance(extent, E.Const) and loop.thread_tag in longest:
            extent = E.Const(longest[loop.thread_tag], extent.dtype)
        known = kernel.extents.get(loop.thread_tag)
        if known is not None and str(known) != str(extent):
            raise BuildError(f"{_describe(loop.var, sch)} is bound to {loop.thread_tag} with extent {extent}, but "
                             f"{loop.thread_tag} already has extent {known} in kernel {kernel.name}; a thread "
                             "axis needs one extent per kernel")
        if loop.thread_tag.startswith("threadIdx") and not isinstance(extent, E.Const):
            raise BuildError(f"{_describe(loop.var, sch)} is bound to {loop.thread_tag} with the symbolic extent "
                             f"{extent}; a block's size must be a constant (split by a constant factor)")
        if isinstance(extent, E.Const) and extent.value > MAX_GRID.get(loop.thread_tag, extent.value):
            raise BuildError(f"{_describe(loop.var, sch)} is bound to {loop.thread_tag} with extent {extent}; CUDA "
                             f"grids have at most {MAX_GRID[loop.thread_tag]} blocks along it (bind it to "
                             "blockIdx.x, or split it further)")
        kernel.extents[loop.thread_tag] = extent
    threads = math.prod(e.value for tag, e in kernel.extents.items() if tag.startswith("threadIdx"))
    if threads > MAX_THREADS_PER_BLOCK:
        dims = ", ".join(f"{t}={e}" for t, e in kernel.extents.items() if t.startswith("threadIdx"))
        raise BuildError(f"kernel {kernel.name} (stage {kernel.stage.name if kernel.stage else '?'}) has "
                         f"{threads} threads per block ({dims}); CUDA allows at most {MAX_THREADS_PER_BLOCK}")


class _PadThreadLoops(Mutator):
    def __init__(self, longest):
        self.longest = longest

    def visit_For(self, s):
        body = self.visit(s.body)
        extent = simplify(s.extent)
        longest = self.longest.get(s.thread_tag) if s.kind is ForKind.THREAD_BINDING else None
        if longest is None or not isinstance(extent, E.Const) or extent.value == longest:
            return s if body is s.body else s.rebuild(s.min, s.extent, body)
        guarded = IfThenElse(E.LT(s.var, simplify(s.min + extent)), body)
        return s.rebuild(s.min, E.Const(longest, extent.dtype), guarded)


def _pad_thread_loops(body, longest):
    """``body`` with each loop bound to a thread axis of constant extent shorter than the
    axis's ``longest`` run over ``longest``, its body guarded: the threads past its extent
    skip it (a barrier inside still meets all threads: ``insert_syncs`` keeps barriers out
    of conditions)."""
    return _PadThreadLoops(longest).visit(body)


def _scope_allocations(s, under_thread):
    """Allocations inside a kernel get "local" or "shared" scope (see module doc)."""
    if isinstance(s, Allocate):
        buf = s.buffer
        if buf.scope == "global":
            buf = type(buf)(buf.name, buf.shape, buf.dtype, "local" if under_thread else "shared")
            body = _rename_buffer(s.body, s.buffer, buf)
            return Allocate(buf, _scope_allocations(body, under_thread))
        return Allocate(buf, _scope_allocations(s.body, under_thread))
    if isinstance(s, For):
        inner = under_thread or (s.kind is ForKind.THREAD_BINDING and s.thread_tag.startswith("threadIdx"))
        return s.rebuild(s.min, s.extent, _scope_allocations(s.body, inner))
    if isinstance(s, SeqStmt):
        return SeqStmt([_scope_allocations(x, under_thread) for x in s.seq])
    if isinstance(s, IfThenElse):
        return IfThenElse(s.cond, _scope_allocations(s.then_case, under_thread),
                          None if s.else_case is None else _scope_allocations(s.else_case, under_thread))
    if isinstance(s, LetStmt):
        return LetStmt(s.var, s.value, _scope_allocations(s.body, under_thread))
    return s


def _rename_buffer(body, old, new):
    from ..tir.functor import Mutator

    class Rename(Mutator):
        def visit_BufferStore(self, st):
            st = self.generic(st)
            return BufferStore(new, st.value, st.indices) if st.buffer is old else st

        def visit_BufferLoad(self, ld):
            ld = self.generic(ld)
            return E.BufferLoad(new, ld.indices) if ld.buffer is old else ld
    return Rename().visit(body)


def _check_shared_memory(kernel):
    total, names = 0, []
    for alloc in _allocations(kernel.body):
        buf = alloc.buffer
        if buf.scope != "shared":
            continue
        size = _const_size(buf)
        if size is None:
            raise BuildError(f"shared buffer {buf.name} in kernel {kernel.name} has the symbolic shape "
                             f"{[str(x) for x in buf.shape]}; shared memory needs a constant size")
        total += size * max(1, dt.bits(buf.dtype) // 8)
        names.append(buf.name)
    if total > MAX_SHARED_BYTES:
        raise BuildError(f"kernel {kernel.name} uses {total} bytes of shared memory ({', '.join(names)}); "
                         f"the limit is {MAX_SHARED_BYTES} bytes per block")


def _check_redundant_updates(s, kernel, enclosing=frozenset()):
    """Refuse a read-modify-write of a global or shared buffer (a reduction's update)
    that runs in every thread along a ``threadIdx`` axis none of its loops is bound to:
    those threads would all update the same element at once (a data race; TVM users
    add a store predicate). Bind one of the stage's loops to that axis, reduce across
    it (bind the reduce axis), or keep the stage in registers (``cache_write "local"``)."""
    if isinstance(s, For) and s.kind is ForKind.THREAD_BINDING and s.thread_tag.startswith("threadIdx"):
        enclosing = enclosing | {s.thread_tag}
    if isinstance(s, BufferStore) and s.buffer.scope != "local":
        reads = []
        walk(s.value, lambda n: reads.append(n) if isinstance(n, E.BufferLoad) and n.buffer is s.buffer else None)
        missing = sorted(t for t, e in kernel.extents.items()
                         if t.startswith("threadIdx") and e.value > 1 and t not in enclosing)
        if reads and missing:
            raise BuildError(f"the update of {s.buffer.name} ({s.buffer.scope}) in kernel {kernel.name} runs in "
                             f"every thread along {', '.join(missing)} (no loop of its stage is bound to it), "
                             "so those threads race on the same elements; bind one of its loops to that axis, "
                             "bind its reduce axis (a cross-thread reduction), or cache_write it to 'local'")
        return
    for field in getattr(s, "_fields", ()):
        child = getattr(s, field)
        for c in (child if isinstance(child, tuple) else (child,)):
            if isinstance(c, Stmt):
                _check_redundant_updates(c, kernel, enclosing)


def _allocations(body):
    found = []
    walk(body, lambda n: found.append(n) if isinstance(n, Allocate) else None)
    return found


def _const_size(buf):
    if not all(isinstance(x, E.Const) for x in buf.shape):
        return None
    return math.prod(x.value for x in buf.shape)


def _parameters(kernel, func, temporaries):
    used = []
    walk(kernel.body, lambda n: used.append(n.buffer) if isinstance(n, (BufferStore, E.BufferLoad)) else None)
    local = {a.buffer for a in _allocations(kernel.body)}
    kernel.buffers = [b for b in list(func.params) + temporaries if any(b is u for u in used) and b not in local]
    defined = set()
    walk(kernel.body, lambda n: defined.add(n.var) if isinstance(n, (For, LetStmt)) else None)
    free = free_vars(kernel.body) - defined
    for buf in kernel.buffers:
        for extent in buf.shape:
            free |= free_vars(extent)
    kernel.scalars = [v for v in func.scalar_params if v in free]


# printing -------------------------------------------------------------------------------

# Functions the generated code calls: a variable or buffer of one of these names (a
# tensor named "exp" or "min") would hide the function inside the kernel; nor may one be
# named as a C++ keyword ("new", "float").
_RESERVED = frozenset(
    [f for pair in _MATH.values() for f in pair]
    + ["fmin", "fmax", "fminf", "fmaxf", "min", "max", "abs", "tvmini_floordiv", "tvmini_floormod",
       "tvmini_floordivf", "tvmini_floormodf",
       "tvmini_fmin", "tvmini_fmax", "tvmini_fminf", "tvmini_fmaxf",
       "__int_as_float", "__longlong_as_double", "__float2half", "__half2float", "__syncthreads",
       "threadIdx", "blockIdx", "blockDim", "gridDim", "warpSize", "half", "__half"]
    + CPP_KEYWORDS)


class CudaPrinter:
    """Prints one kernel as CUDA C."""

    def __init__(self, kernel, may_alias=frozenset()):
        self.kernel, self.may_alias = kernel, may_alias
        taken = set(_RESERVED)
        self.names = {}
        for v, n in _unique_names(kernel.body, kernel.scalars).items():
            self.names[v] = fresh(ident(n), taken)
        self.buffer_names = {}
        for a in kernel.buffers + [x.buffer for x in _allocations(kernel.body)]:
            self.buffer_names[a] = fresh(ident(a.name), taken)
        self.lines = []

    def source(self):
        k = self.kernel
        params = [f"{_CTYPE[b.dtype]}* {'' if b in self.may_alias else '__restrict__ '}{self.buffer_names[b]}"
                  for b in k.buffers]
        params += [f"{_CTYPE[v.dtype]} {self.names[v]}" for v in k.scalars]
        threads = math.prod(e.value for t, e in k.extents.items() if t.startswith("threadIdx"))
        self.lines.append(f'extern "C" __global__ void __launch_bounds__({threads}) {k.name}({", ".join(params)}) {{')
        self.stmt(k.body, 1)
        self.lines.append("}")
        return "\n".join(self.lines)

    def emit(self, depth, text):
        self.lines.append("  " * depth + text)

    # statements --------------------------------------------------------------
    def stmt(self, s, depth):
        if s is None:
            return
        getattr(self, "stmt_" + type(s).__name__)(s, depth)

    def stmt_SeqStmt(self, s, depth):
        for x in s.seq:
            self.stmt(x, depth)

    def stmt_SyncThreads(self, s, depth):
        self.emit(depth, "__syncthreads();")

    def stmt_Allocate(self, s, depth):
        buf = s.buffer
        size = _const_size(buf)
        if size is None:
            raise BuildError(f"buffer {buf.name} ({buf.scope}) inside kernel {self.kernel.name} needs a constant "
                             f"size, got shape {[str(x) for x in buf.shape]}")
        # 16-byte aligned shared arrays let nvcc merge a thread's unrolled reads of
        # consecutive elements into 128-bit loads (ld.shared.v4: a quarter of the
        # shared-memory instructions of a register-blocked GEMM's inner loop).
        prefix = "__shared__ __align__(16) " if buf.scope == "shared" else ""
        self.emit(depth, f"{prefix}{_CTYPE[buf.dtype]} {self.buffer_names[buf]}[{size}];")
        self.stmt(s.body, depth)

    def stmt_LetStmt(self, s, depth):
        self.emit(depth, f"{_CTYPE[s.var.dtype]} {self.names[s.var]} = {self.expr(s.value)};")
        self.stmt(s.body, depth)

    def stmt_BufferStore(self, s, depth):
        self.emit(depth, f"{self.buffer_names[s.buffer]}[{self.expr(s.indices[0])}] = {self.expr(s.value)};")

    def stmt_IfThenElse(self, s, depth):
        self.emit(depth, f"if ({self.expr(s.cond)}) {{")
        self.stmt(s.then_case, depth + 1)
        if s.else_case is not None:
            self.emit(depth, "} else {")
            self.stmt(s.else_case, depth + 1)
        self.emit(depth, "}")

    def stmt_For(self, s, depth):
        v = self.names[s.var]
        ty = _CTYPE[s.var.dtype]
        if s.kind is ForKind.THREAD_BINDING:
            start = "" if isinstance(s.min, E.Const) and s.min.value == 0 else f"{self.expr(s.min)} + "
            self.emit(depth, f"{{ {ty} {v} = {start}{s.thread_tag};")
            self.stmt(s.body, depth + 1)
            self.emit(depth, "}")
            return
        if s.kind is ForKind.UNROLLED:
            self.emit(depth, "#pragma unroll")
        lo = self.expr(s.min)
        self.emit(depth, f"for ({ty} {v} = {lo}; {v} < {self.expr(simplify(s.min + s.extent))}; ++{v}) {{")
        self.stmt(s.body, depth + 1)
        self.emit(depth, "}")

    # expressions -------------------------------------------------------------
    def expr(self, e):
        for cls in type(e).__mro__:
            method = getattr(self, "expr_" + cls.__name__, None)
            if method is not None:
                return method(e)
        raise BuildError(f"no CUDA C for expression {e}")

    def expr_Const(self, e):
        return const_str(e.value, e.dtype)

    def expr_Var(self, e):
        if e not in self.names:
            raise BuildError(f"variable {e.name} is used outside the loop or argument that defines it")
        return self.names[e]

    def expr_BufferLoad(self, e):
        name, index = self.buffer_names[e.buffer], self.expr(e.indices[0])
        if e.buffer.dtype == "bool":      # its byte: any nonzero one is True, as numpy reads a bool array
            return f"(((const unsigned char *){name})[{index}] != 0)"
        return f"{name}[{index}]"

    def expr_Cast(self, e):
        if e.dtype == "bool":     # __half != 0 is ambiguous (int or float comparison)
            value = self.expr(e.value)
            return f"(__half2float({value}) != 0.0f)" if e.value.dtype == "float16" else f"({value} != 0)"
        return f"(({_CTYPE[e.dtype]})({self.expr(e.value)}))"

    def expr_BinaryOp(self, e):
        text = self._binary(e)
        if e.dtype in _NARROW_INTS and type(e) in _ARITHMETIC:
            return f"(({_CTYPE[e.dtype]}){text})"
        return text

    def _binary(self, e):
        a, b = self.expr(e.a), self.expr(e.b)
        cls = type(e)
        f64 = e.a.dtype == "float64"
        if cls in (E.Min, E.Max):
            if e.dtype == "bool":     # CUDA's min/max have no bool overload (ambiguous call)
                return f"({a} {'&&' if cls is E.Min else '||'} {b})"
            if not dt.is_float(e.dtype):
                return f"{'min' if cls is E.Min else 'max'}({a}, {b})"
            # NaN in, NaN out, as on the CPU (fminf/fmaxf ignore NaN)
            return f"tvmini_{'fmin' if cls is E.Min else 'fmax'}{'' if f64 else 'f'}({a}, {b})"
        if cls in (E.FloorDiv, E.FloorMod):
            name = "tvmini_floordiv" if cls is E.FloorDiv else "tvmini_floormod"   # numpy's, as on the CPU
            if e.dtype == "float16":       # in float: __half * float is ambiguous in cuda_fp16.h
                return f"__float2half({name}f(__half2float({a}), __half2float({b})))"
            if dt.is_float(e.dtype):
                return f"{name}{'' if f64 else 'f'}({a}, {b})"
            if e.dtype.startswith("uint") or e.dtype == "bool":
                return f"({a} {'/' if cls is E.FloorDiv else '%'} {b})"
            return f"tvmini_{'floordiv' if cls is E.FloorDiv else 'floormod'}({a}, {b})"
        symbol = {E.Add: "+", E.Sub: "-", E.Mul: "*", E.Div: "/", E.And: "&&", E.Or: "||"}.get(cls) or cls.symbol
        return f"({a} {symbol} {b})"

    def expr_Not(self, e):
        return f"(!{self.expr(e.a)})"

    def expr_Select(self, e):
        return f"({self.expr(e.cond)} ? {self.expr(e.t)} : {self.expr(e.f)})"

    def expr_Call(self, e):
        args = [self.expr(a) for a in e.args]
        f64 = e.dtype == "float64"
        if e.name == "sigmoid":
            one, exp = ("1.0", "exp") if f64 else ("1.0f", "expf")
            return f"({one} / ({one} + {exp}(-{args[0]})))"
        if e.name == "abs" and not dt.is_float(e.dtype):
            return f"abs({args[0]})"
        if e.name in THREAD_TAGS:
            return e.name
        if e.name == counter_hash.NAME:
            return f"tvmini_counter_hash({', '.join(args)})"
        if e.name in E.BITWISE_INTRINSICS:
            text = _bitwise(e.name, e.dtype, args)
            return f"(({_CTYPE[e.dtype]}){text})" if e.dtype in _NARROW_INTS else text
        if e.name not in _MATH:
            raise BuildError(f"no CUDA C for intrinsic {e.name}")
        if e.dtype == "float16":
            return f"__float2half({_MATH[e.name][0]}({', '.join(f'__half2float({a})' for a in args)}))"
        return f"{_MATH[e.name][1 if f64 else 0]}({', '.join(args)})"


def _bitwise(name, dtype, args):
    """CUDA C of an integer ``& | ^ ~ << >>`` (a shift count outside ``[0, width)``
    gives 0, or -1 for ``>>`` of a negative value, as on the CPU)."""
    if name == "bitwise_not":
        return f"(~{args[0]})"
    if name in ("bitwise_and", "bitwise_or", "bitwise_xor"):
        return f"({args[0]} {dict(bitwise_and='&', bitwise_or='|', bitwise_xor='^')[name]} {args[1]})"
    value, count, width = args[0], args[1], dt.bits(dtype)
    inside = f"((unsigned long long)({count}) < {width}ULL)"
    if name == "left_shift":
        return f"({inside} ? ({value} << {count}) : ({_CTYPE[dtype]})0)"
    fill = f"({value} < 0 ? ({_CTYPE[dtype]})-1 : ({_CTYPE[dtype]})0)" if not dtype.startswith("uint") \
        else f"({_CTYPE[dtype]})0"
    return f"({inside} ? ({value} >> {count}) : {fill})"


def const_str(value, dtype):
    """A CUDA C literal of ``value`` as ``dtype`` (infinities and NaN spelled by their bits)."""
    if dtype == "bool":
        return "true" if value else "false"
    if dt.is_int(dtype):
        return _int_literal(int(value), dtype)
    value = float(value)
    if math.isnan(value) or math.isinf(value):
        if dtype == "float64":
            bits = {math.inf: "0x7ff0000000000000LL", -math.inf: "0xfff0000000000000LL"}.get(value, "0x7ff8000000000000LL")
            return f"__longlong_as_double({bits})"
        bits = {math.inf: "0x7f800000", -math.inf: "0xff800000"}.get(value, "0x7fffffff")
        return f"__float2half(__int_as_float({bits}))" if dtype == "float16" else f"__int_as_float({bits})"
    text = repr(value)
    if dtype == "float32":
        return f"{text}f"
    if dtype == "float16":
        return f"__float2half({text}f)"
    return text


def _int_literal(value, dtype):
    """An integer literal of C type ``dtype``'s: the most negative value is written as a
    difference (``9223372036854775808LL`` does not fit a long long, so C++ makes the
    literal unsigned and ``-`` keeps it so: comparisons with it became unsigned), and
    unsigned 32/64-bit values carry their suffix (``4294967295`` alone is a long)."""
    suffix = {"int64": "LL", "uint64": "ULL", "uint32": "U"}.get(dtype, "")
    if dtype in ("int32", "int64") and value == -2 ** (dt.bits(dtype) - 1):
        return f"({value + 1}{suffix} - 1{suffix})"
    return f"{value}{suffix}"


def module_source(kernels):
    """The whole CUDA C translation unit for ``kernels``."""
    head = "#include <cuda_fp16.h>\n" if any("__half" in k for k in kernels) else ""
    if any("tvmini_counter_hash(" in k for k in kernels):
        head += _COUNTER_HASH
    return head + _PRELUDE + "\n" + "\n\n".join(kernels) + "\n"

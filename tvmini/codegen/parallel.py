"""Parallel loops on the CPU: lift the body into a function, run it on libgomp's pool.

A loop marked ``parallel`` becomes

* ``<kernel>_parN_body(ptr noalias buffers..., captured scalars..., i32 lo, i32 hi)``:
  the loop body over ``[lo, hi)``, compiled like a kernel (its own allocations, so each
  thread has private scratch buffers; nested parallel loops run serially inside it);
* ``<kernel>_parN(ptr closure)``: a trampoline that unpacks the captured values, takes
  this thread's static chunk of the iteration space and calls the body;
* a call ``GOMP_parallel(trampoline, closure, num_threads, 0)`` in the kernel.

libgomp keeps its worker threads alive between launches, so the pool is created once.
The number of threads is ``TVMINI_NUM_THREADS`` (read at build time) or libgomp's
default (all cores, or ``OMP_NUM_THREADS``). Static chunks make results deterministic
for a given thread count.
"""
import contextlib
import os

import llvmlite.ir as ir

from ..tir.expr import BufferLoad, Var
from ..tir.functor import free_vars, walk
from ..tir.stmt import Allocate, BufferStore, For, ForKind

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()


_serial = False


@contextlib.contextmanager
def serial_builds():
    """Kernels built inside this block run on the calling thread alone: their parallel
    loops are plain loops and schedules see one thread (``thread_count() == 1``). For
    kernels that are themselves one thread's share of a parallel region (a jit step's
    batch lanes), where a nested launch would only add its cost."""
    global _serial
    before, _serial = _serial, True
    try:
        yield
    finally:
        _serial = before


def building_serially():
    """Whether kernels are being built for one thread (see :func:`serial_builds`)."""
    return _serial


def num_threads():
    """Threads per parallel loop: ``TVMINI_NUM_THREADS`` or 0 (libgomp's default); 1
    inside :func:`serial_builds`."""
    if _serial:
        return 1
    value = os.environ.get("TVMINI_NUM_THREADS", "").strip()
    return max(0, int(value)) if value.isdigit() else 0


def thread_count():
    """How many threads a parallel loop actually runs on: ``TVMINI_NUM_THREADS``, else
    libgomp's default (``OMP_NUM_THREADS``, else the CPUs this process may run on, read
    once: the graph layer asks on every Linear backward)."""
    global _cpus
    chosen = num_threads()
    if chosen:
        return chosen
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    if _cpus is None:
        _cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return _cpus


_cpus = None


def _captures(fb, loop):
    """The variables and buffers of ``fb`` that the body of parallel ``loop`` uses: in its
    expressions, and in the sizes of buffers it allocates (a heap buffer of a symbolic
    size is allocated inside the lifted body)."""
    used = free_vars(loop)
    walk(loop.body, lambda n: used.update(*map(free_vars, n.buffer.shape)) if isinstance(n, Allocate) else None)
    variables = sorted((v for v in used if v in fb.vars and v is not loop.var), key=lambda v: v.name)
    buffers = []
    walk(loop.body, lambda n: buffers.append(n.buffer)
         if isinstance(n, (BufferLoad, BufferStore)) and n.buffer in fb.buffers and n.buffer not in buffers else None)
    return variables, buffers


def emit_parallel_launch(fb, loop, name):
    """Emit the body function, the trampoline and the launch of ``loop`` from ``fb``."""
    from .llvm import FunctionBuilder
    variables, buffers = _captures(fb, loop)
    lo, hi = Var("lo", "int32"), Var("hi", "int32")
    body = For(loop.var, lo, hi - lo, ForKind.SERIAL, loop.body)
    body_fn = FunctionBuilder(fb.module, name + "_body", buffers, variables + [lo, hi], body, parallel=False,
                              may_alias=fb.may_alias, ranges=fb.ranges).build()
    body_fn.linkage = "internal"
    trampoline = _trampoline(fb.module, name, body_fn, len(buffers), variables)

    b = fb.builder
    slots = 2 + len(buffers) + len(variables)
    closure = ir.IRBuilder(fb.entry).alloca(I64, size=ir.Constant(I64, slots), name=name + ".closure")
    start = fb.expr(loop.min)
    values = [b.sext(start, I64), b.sext(fb.expr(loop.extent), I64)]
    values += [b.ptrtoint(fb.buffers[buf], I64) for buf in buffers]
    values += [_to_slot(b, fb.vars[v], v.dtype) for v in variables]
    for k, value in enumerate(values):
        b.store(value, b.gep(closure, [ir.Constant(I64, k)], source_etype=I64))
    launch_on_pool(b, trampoline, closure, num_threads())


def launch_on_pool(b, function, closure, threads):
    """Emit at builder ``b`` the call that runs ``function(closure)`` on ``threads``
    threads of libgomp's pool (0: its default) and returns when all have finished; on
    one thread in a process forked from one whose pool had started (``AFTER_FORK``)."""
    from .llvm_target import AFTER_FORK
    module = b.module
    launch = module.globals.get("GOMP_parallel") or ir.Function(
        module, ir.FunctionType(ir.VoidType(), [PTR, PTR, I32, I32]), name="GOMP_parallel")
    flag = module.globals.get(AFTER_FORK) or ir.GlobalVariable(module, I32, name=AFTER_FORK)
    forked = b.icmp_signed("!=", b.load(flag, typ=I32), ir.Constant(I32, 0))
    count = b.select(forked, ir.Constant(I32, 1), ir.Constant(I32, threads))
    b.call(launch, [function, closure, count, ir.Constant(I32, 0)])


def thread_and_team(b):
    """(this thread's number, the team's size) inside a function run by :func:`launch_on_pool`."""
    def query(name):
        fn = b.module.globals.get(name) or ir.Function(b.module, ir.FunctionType(I32, []), name=name)
        return b.call(fn, [])
    return query("omp_get_thread_num"), query("omp_get_num_threads")


def _to_slot(b, value, dtype):
    """``value`` as the i64 closure slot that carries it (floats travel as their bits)."""
    if dtype == "int64":
        return value
    if dtype == "int32":
        return b.sext(value, I64)
    if dtype == "float64":
        return b.bitcast(value, I64)
    return b.zext(b.bitcast(value, I32), I64)


def _from_slot(b, value, dtype):
    """The inverse of ``_to_slot``."""
    if dtype == "int64":
        return value
    if dtype == "int32":
        return b.trunc(value, I32)
    if dtype == "float64":
        return b.bitcast(value, ir.DoubleType())
    return b.bitcast(b.trunc(value, I32), ir.FloatType())


def _trampoline(module, name, body_fn, n_buffers, variables):
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [PTR]), name=name)
    fn.linkage = "internal"
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    closure = fn.args[0]

    def slot(k):
        return b.load(b.gep(closure, [ir.Constant(I64, k)], source_etype=I64), typ=I64)
    start, extent = slot(0), slot(1)
    args = [b.inttoptr(slot(2 + k), PTR) for k in range(n_buffers)]
    args += [_from_slot(b, slot(2 + n_buffers + k), v.dtype) for k, v in enumerate(variables)]
    tid, nthreads = (b.sext(value, I64) for value in thread_and_team(b))
    chunk = b.sdiv(b.add(extent, b.sub(nthreads, ir.Constant(I64, 1))), nthreads)
    first = b.mul(tid, chunk)
    last = b.add(first, chunk)
    last = b.select(b.icmp_signed("<", last, extent), last, extent)
    first = b.select(b.icmp_signed("<", first, extent), first, extent)
    args += [b.trunc(b.add(start, first), I32), b.trunc(b.add(start, last), I32)]
    b.call(body_fn, args)
    b.ret_void()
    return fn

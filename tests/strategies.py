"""Hypothesis strategies and helpers shared by the schedule property tests.

* extents: ``EXTENT`` (1..70, biased to size-1, primes and powers of two),
  ``MAYBE_EMPTY`` (``EXTENT``, 0 about one draw in ten: empty tensors), ``Dims``
  (named extents, each possibly a symbolic ``te.var``);
* random schedules: ``random_loops`` applies a random sequence of split (factor or
  nparts, factors often larger than the extent), fuse (of consecutive leaves), reorder
  (a permutation of all leaves) and unroll to a stage, through its ``leaf_iter_vars``;
  ``random_annotations`` then vectorizes the innermost data loop and parallelizes the
  outermost one; ``random_attach`` picks root / inline / compute_at at a random legal
  leaf of the consumer;
* running one topi output with its default schedule: ``run_default``;
* a hand-written native kernel for the runtime and guard-page tests: ``add_loop_ir``;
* checking: ``check`` builds the schedule, runs it on random inputs with outputs
  pre-filled with garbage, and compares with numpy AND ``tvmini.testing.reference``
  within the dtype's tolerance.
"""
import itertools

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

import tvmini as tm
import tvmini.testing
from tvmini import te, topi
from tvmini.testing import reference

_names = itertools.count()

EXTENT = st.one_of(
    st.integers(1, 70),
    st.sampled_from([1, 1, 2, 3, 7, 8, 13, 16, 31, 32, 33, 63, 64, 65, 67]),
)
#: ``EXTENT`` or, about one draw in ten, 0: an empty tensor or empty reduction axis
MAYBE_EMPTY = st.integers(0, 9).flatmap(lambda r: st.just(0) if r == 0 else EXTENT)
SMALL = st.integers(1, 12)
DTYPES = ("float32", "float64", "int32")


def examples(n):
    """``settings`` with ``n`` examples, scaled by the loaded profile (25 = 1x)."""
    scale = settings.default.max_examples / 25
    return settings(max_examples=max(1, round(n * scale)))


def unique(prefix):
    """A fresh kernel name (names only label the kernels)."""
    return f"{prefix}_{next(_names)}"


class Dims:
    """Named integer extents, each drawn to be a constant or a ``te.var``.

    ``d[name]`` is what goes into shapes (int or Var); ``d.value[name]`` the int;
    ``d.binds`` the ``{Var: int}`` part of the reference inputs.
    """

    def __init__(self, data, values, symbolic=True, label="dims"):
        self.value = dict(values)
        self.expr = {}
        self.binds = {}
        for name, v in values.items():
            if symbolic and data.draw(st.booleans(), label=f"{label}: {name}={v} symbolic"):
                var = te.var(name)
                self.expr[name] = var
                self.binds[var] = v
            else:
                self.expr[name] = v

    def __getitem__(self, name):
        return self.expr[name]

    @property
    def any_symbolic(self):
        return bool(self.binds)


# --------------------------------------------------------------------------- loops

class Loops:
    """What ``random_loops`` knows about a stage: its constant leaf extents (None when
    symbolic) and which leaves carry an annotation."""

    def __init__(self, stage):
        self.stage = stage
        self.ext = {}
        for iv in stage.leaf_iter_vars:
            extent = getattr(iv.dom, "extent", None)
            self.ext[iv] = extent.value if isinstance(extent, tm.tir.Const) else None
        self.annotated = {}

    @property
    def leaves(self):
        return list(self.stage.leaf_iter_vars)

    def attach_points(self):
        """Leaves a producer may be computed at (vectorized loops excluded)."""
        return [iv for iv in self.leaves if self.annotated.get(iv) != "vectorize"]


def split_amount(extent):
    """A split factor / nparts: small, around the extent, or larger than it."""
    options = [st.integers(1, 9), st.sampled_from([1, 2, 3, 4, 8, 16, 32])]
    if extent is not None:
        options.append(st.sampled_from(sorted({max(1, extent - 1), max(1, extent), extent + 1,
                                               2 * extent + 3, max(1, extent // 2)})))
        options.append(st.integers(1, max(1, extent)))
    return st.one_of(options)


def _ceil(a, b):
    return -(-a // b)


def random_loops(data, stage, max_steps=5, label=None, unroll_limit=16):
    """Apply a random sequence of split / fuse / reorder / unroll to ``stage``.

    Returns the ``Loops`` record (pass it on to ``random_annotations`` and to
    ``random_attach`` as the consumer).
    """
    loops = Loops(stage)
    label = label or stage.name
    steps = data.draw(st.lists(st.sampled_from(["split", "split", "nparts", "fuse", "reorder", "unroll"]),
                               max_size=max_steps), label=f"{label}: steps")
    for step in steps:
        leaves = loops.leaves
        if step in ("split", "nparts"):
            cands = [iv for iv in leaves if iv not in loops.annotated]
            if not cands:
                continue
            iv = data.draw(st.sampled_from(cands), label=f"{label}: {step} axis")
            amount = data.draw(split_amount(loops.ext[iv]), label=f"{label}: {step} {iv.name} by")
            ext = loops.ext[iv]
            if step == "split":
                outer, inner = stage.split(iv, factor=amount)
                loops.ext[outer] = None if ext is None else _ceil(ext, amount)
                loops.ext[inner] = amount
            else:
                outer, inner = stage.split(iv, nparts=amount)
                loops.ext[outer] = amount
                loops.ext[inner] = None if ext is None else _ceil(ext, amount)
        elif step == "fuse":
            starts = [i for i in range(len(leaves) - 1) if leaves[i].kind == leaves[i + 1].kind
                      and leaves[i] not in loops.annotated and leaves[i + 1] not in loops.annotated]
            if not starts:
                continue
            i = data.draw(st.sampled_from(starts), label=f"{label}: fuse at")
            j = i + 2
            if j < len(leaves) and leaves[j].kind == leaves[i].kind and leaves[j] not in loops.annotated \
                    and data.draw(st.booleans(), label=f"{label}: fuse three"):
                j += 1
            group = leaves[i:j]
            fused = stage.fuse(*group)
            exts = [loops.ext[g] for g in group]
            loops.ext[fused] = None if None in exts else int(np.prod(exts))
        elif step == "reorder":
            perm = data.draw(st.permutations(leaves), label=f"{label}: reorder")
            stage.reorder(*perm)
        else:
            cands = [iv for iv in leaves if loops.ext[iv] is not None and loops.ext[iv] <= unroll_limit
                     and iv not in loops.annotated]
            if not cands:
                continue
            iv = data.draw(st.sampled_from(cands), label=f"{label}: unroll")
            stage.unroll(iv)
            loops.annotated[iv] = "unroll"
    return loops


def random_annotations(data, loops, parallel=True, vectorize=True, label=None):
    """Maybe vectorize the innermost data leaf (constant extent) and parallelize the
    outermost data leaf (``parallel`` only for stages computed at the root)."""
    stage = loops.stage
    label = label or stage.name
    leaves = loops.leaves
    inner, outer = leaves[-1], leaves[0]
    if (vectorize and inner.kind == "data" and loops.ext.get(inner) is not None
            and inner not in loops.annotated and data.draw(st.booleans(), label=f"{label}: vectorize {inner.name}")):
        stage.vectorize(inner)
        loops.annotated[inner] = "vectorize"
    if (parallel and outer.kind == "data" and outer not in loops.annotated
            and data.draw(st.booleans(), label=f"{label}: parallel {outer.name}")):
        stage.parallel(outer)
        loops.annotated[outer] = "parallel"
    return loops


def random_schedule(data, stage, parallel=True, max_steps=5, label=None):
    """``random_loops`` then ``random_annotations``."""
    loops = random_loops(data, stage, max_steps=max_steps, label=label)
    return random_annotations(data, loops, parallel=parallel, label=label)


def random_attach(data, stage, consumer_loops, allow_inline=True, allow_at=True, label=None):
    """Put ``stage`` at the root, inline it, or compute it at a random leaf of the
    consumer (whose ``Loops`` record is ``consumer_loops``). Returns the choice as
    "root", "inline" or the consumer leaf."""
    label = label or stage.name
    choices = ["root"]
    if allow_inline:
        choices.append("inline")
    points = consumer_loops.attach_points() if (allow_at and consumer_loops is not None) else []
    if points:
        choices.append("at")
    where = data.draw(st.sampled_from(choices), label=f"{label}: where")
    if where == "inline":
        stage.compute_inline()
        return "inline"
    if where == "at":
        iv = data.draw(st.sampled_from(points), label=f"{label}: compute_at {consumer_loops.stage.name}")
        stage.compute_at(consumer_loops.stage, iv)
        return iv
    if data.draw(st.booleans(), label=f"{label}: explicit compute_root"):
        stage.compute_root()
    return "root"


# --------------------------------------------------------------------------- data

def rng_of(data):
    """A numpy generator seeded from a hypothesis draw (so a failing example replays)."""
    return np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))


def random_array(rng, shape, dtype, low=-1.0, high=1.0):
    """Random values of ``dtype``; ints are small (exact sums and products)."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-5, 6, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def garbage(shape, dtype):
    """An output buffer filled with values a correct kernel overwrites everywhere."""
    if np.dtype(dtype).kind == "f":
        return np.full(shape, np.nan, dtype)
    if dtype == "bool":
        return np.ones(shape, bool)
    return np.full(shape, -123456789 if np.dtype(dtype).itemsize >= 4 else 77, dtype)


def tolerance(dtype, scale=1.0):
    if dtype == "float64":
        return dict(rtol=1e-9, atol=1e-11 * scale)
    if dtype == "float16":
        return dict(rtol=1e-2, atol=1e-2 * scale)
    return dict(rtol=2e-5, atol=2e-6 * scale)


def assert_matches(got, want, dtype, scale=1.0, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if np.dtype(dtype).kind in "iub":
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:
        np.testing.assert_allclose(got, want, err_msg=what, **tolerance(dtype, scale))


# Set by tests/test_oob.py's child process: ``GUARD(shape, dtype, where)`` returns an
# array placed against a PROT_NONE page; ``check`` then runs every kernel on guarded
# arguments, once with the guard after the arrays and once before them, and prints
# the lowered IR first (so a crash shows the schedule that caused it).
GUARD = None


def check(s, args, inputs, expected, binds=None, scale=1.0, name="k"):
    """Build ``s`` with ``args``, run it and compare every output with numpy and with
    ``reference``.

    ``inputs``: {placeholder: ndarray}; ``expected``: {output tensor: numpy result};
    ``binds``: {te.var: int}. Outputs are the ``args`` not in ``inputs``; they start
    filled with garbage, so an element the kernel does not write is caught.
    """
    binds = binds or {}
    outputs = [t for t in args if t not in inputs]
    assert set(outputs) == set(expected), "every output needs a numpy expectation"
    refs = reference(outputs, {**inputs, **binds})
    for t, ref in zip(outputs, refs):
        assert_matches(ref, expected[t], t.dtype, scale, what=f"reference vs numpy for {t.name}")
    kname = unique(name)
    f = tm.build(s, args, target="llvm", name=kname)
    if GUARD is not None:
        print(f"--- {kname}\n{tm.lower(s, args, name=kname)}", flush=True)
    for where in (("end", "start") if GUARD is not None else (None,)):
        arrays = []
        for t in args:
            src = inputs[t] if t in inputs else garbage(np.shape(expected[t]), t.dtype)
            if GUARD is None:
                arrays.append(np.array(src, copy=True))
            else:
                arrays.append(GUARD(np.shape(src), t.dtype, where))
                arrays[-1][...] = src
        f(*arrays)
        for t, arr in zip(args, arrays):
            if t in inputs:
                np.testing.assert_array_equal(arr, inputs[t], err_msg=f"input {t.name} was modified")
        for t, ref in zip(outputs, refs):
            got = arrays[args.index(t)]
            assert_matches(got, expected[t], t.dtype, scale, what=f"kernel vs numpy for {t.name}")
            assert_matches(got, ref, t.dtype, scale, what=f"kernel vs reference for {t.name}")
    return f


def run_default(out, inputs, arrays, binds=None):
    """Build ``out`` with topi's default CPU schedule, call it on ``arrays`` (one per
    placeholder of ``inputs``) and return the result. ``binds`` ({te.var: int}) sizes the
    symbolic extents of ``out``; the result starts as garbage, so a missed element shows."""
    binds = binds or {}
    f = tm.build(topi.default_schedule(out, "llvm"), list(inputs) + [out], name=unique(out.op.name))
    shape = tuple(int(e.value) if isinstance(e, tm.tir.Const) else binds[e] for e in out.shape)
    result = garbage(shape, out.dtype)
    f(*arrays, result)
    return result


def add_loop_ir(extra=0):
    """LLVM IR of ``void add(float *a, float *b, float *c, i32 n)`` doing
    ``c[i] = a[i] + b[i]`` for ``0 <= i < n + extra``: a real native kernel that needs no
    compiler layer (runtime tests), and with ``extra=1`` an off-by-one that touches the
    element after each array (guard-page tests)."""
    return f"""
define void @add(ptr noalias %a, ptr noalias %b, ptr noalias %c, i32 %n) {{
entry:
  %end = add i32 %n, {extra}
  %nonempty = icmp sgt i32 %end, 0
  br i1 %nonempty, label %loop, label %exit
loop:
  %i = phi i32 [ 0, %entry ], [ %next, %loop ]
  %idx = sext i32 %i to i64
  %pa = getelementptr float, ptr %a, i64 %idx
  %pb = getelementptr float, ptr %b, i64 %idx
  %pc = getelementptr float, ptr %c, i64 %idx
  %va = load float, ptr %pa
  %vb = load float, ptr %pb
  %sum = fadd float %va, %vb
  store float %sum, ptr %pc
  %next = add i32 %i, 1
  %done = icmp sge i32 %next, %end
  br i1 %done, label %exit, label %loop
exit:
  ret void
}}
"""


def matmul_compute(M, N, K):
    """Placeholders A (M, K), B (K, N) and the plain te product C = A @ B (one
    reduction compute, no topi packing): the workload schedule-level tests transform."""
    A = te.placeholder((M, K), name="A")
    B = te.placeholder((K, N), name="B")
    k = te.reduce_axis((0, K), name="k")
    C = te.compute((M, N), lambda i, j: te.sum(A[i, k] * B[k, j], axis=k), name="C")
    return A, B, C


def outer_rowsum():
    """A kernel whose own buffer is ``(n, n)`` behind ``(n,)`` arguments: ``B[i]`` sums row
    ``i`` of ``T = A A^T`` (the call-time checks refuse an ``n`` past 46340)."""
    n = te.var("n")
    A = te.placeholder((n,), name="A")
    T = te.compute((n, n), lambda i, j: A[i] * A[j], name="T")
    k = te.reduce_axis((0, n), name="k")
    B = te.compute((n,), lambda i: te.sum(T[i, k], axis=k), name="B")
    return tm.build(te.create_schedule(B.op), [A, B], name="outer_rowsum")

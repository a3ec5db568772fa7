"""Random small te programs and random valid schedules for them: the compiler fuzzer of
``tests/test_fuzz_programs.py``.

A program is a chain of one to three compute stages over two extents ``M`` and ``N``
(each drawn small, often 1 or odd, sometimes a symbolic ``te.var``):

* placeholders ``A`` (M, N) and ``B`` ((M, N), (N,), (1, N) or (M, 1)) of random dtypes
  (float32, float64, int32), ``I`` (M,) int32 holding rows in ``[0, M)``, ``J`` (N,)
  int32 holding columns in ``[-2, N + 2)`` and ``K`` (M,) int32 holding rows in
  ``[-2, M + 2)`` (both read only clipped into the tensor or behind a bounds guard);
* each stage is elementwise over (M, N) or a reduction (sum / max / min, the sum maybe
  with a ``where=``) over one extent or both, reading the placeholders and the stage
  before it;
* bodies are random trees of + - * min max abs (and float / by constants), ``if_then_else`` on lane-dependent
  guards (the loop variables against constants, ``%`` patterns) and on data (loads,
  gathered loads), reads behind a bounds guard that would be out of range without it,
  casts between the dtypes, and integer ``//`` and ``%`` by constants of either sign;
* indices are the loop variables, gathers ``A[I[i], j]`` and ``A[I[I[i]], j]``, clipped gathers
  ``min(max(J[j], 0), N - 1)``, clipped shifts, ``v // c``, ``-(v // -c)``,
  ``(a v + b) // c`` (a <= c, b < c), ``(v + c) % E``, ``-(v % -c)``, ``i`` and ``j``
  out of the fused ``i N + j``, reversals and constants — always inside the tensor.

Values stay exact where exactness matters: a data-dependent guard or a float-to-int
cast only reads placeholders and integer stages (a float stage may round differently
under FMA contraction), and integer stages are clamped to +-4096 so nothing overflows.

The schedule applies cache_read, cache_write and rfactor at random, then, from the
output back, random split / fuse / reorder / unroll / vectorize / parallel
(``strategies.random_loops``/``random_annotations``, and now and then a vectorized
loop that is not the innermost) and places every producer at the
root, inline, or at a random leaf of the stage that reads it.
"""
from hypothesis import strategies as st

from tvmini import te
from strategies import Dims, random_annotations, random_array, random_attach, random_loops

SMALL = st.one_of(st.integers(1, 12), st.sampled_from([1, 1, 2, 3, 5, 7, 8, 9, 16, 17]))
VALUE_DTYPES = ("float32", "float64", "int32")
INT_LIMIT = 4096
DIVISORS = (-7, -4, -3, -2, -1, 1, 2, 3, 4, 8)


class Source:
    """A tensor a body may read: its dims ('M', 'N' or '1' each) and whether its values
    are exact (a placeholder or an integer stage) and so fit guards and casts to int."""

    def __init__(self, tensor, dims, exact):
        self.tensor, self.dims, self.exact = tensor, dims, exact


class Program:
    """The drawn program: ``args`` (placeholders, then the output), ``inputs`` ({placeholder:
    ndarray}), ``binds`` ({te.var: int}), ``stages`` (the compute tensors, producers first),
    ``kinds`` ({stage: "elementwise" or "reduce"}) and ``reads`` ({stage: placeholders its
    body reads})."""

    def __init__(self):
        self.stages, self.reads, self.kinds = [], {}, {}


class Drawer:
    """Draws one program with ``data`` (hypothesis' ``st.data()``)."""

    def __init__(self, data, max_stages=3, symbolic=True):
        self.data = data
        self.max_stages = max_stages
        self.symbolic = symbolic

    def draw(self, strategy, label):
        return self.data.draw(strategy, label=label)

    # ----------------------------------------------------------------- program

    def program(self, rng):
        """A random program, its inputs drawn with the numpy generator ``rng``."""
        p = Program()
        values = {"M": self.draw(SMALL, "M"), "N": self.draw(SMALL, "N")}
        self.dims = d = Dims(self.data, values, symbolic=self.symbolic)
        self.extent = {"M": d["M"], "N": d["N"]}
        a_dtype = self.draw(st.sampled_from(VALUE_DTYPES), "A dtype")
        b_dtype = self.draw(st.sampled_from(VALUE_DTYPES), "B dtype")
        b_dims = self.draw(st.sampled_from([("M", "N"), ("N",), ("1", "N"), ("M", "1")]), "B dims")
        A = te.placeholder((d["M"], d["N"]), name="A", dtype=a_dtype)
        B = te.placeholder(tuple(1 if x == "1" else d[x] for x in b_dims), name="B", dtype=b_dtype)
        self.I = te.placeholder((d["M"],), name="I", dtype="int32")
        self.J = te.placeholder((d["N"],), name="J", dtype="int32")
        self.K = te.placeholder((d["M"],), name="K", dtype="int32")
        shape = {x: values.get(x, 1) for x in ("M", "N", "1")}
        p.inputs = {
            A: random_array(rng, (values["M"], values["N"]), a_dtype, -4, 4),
            B: random_array(rng, tuple(shape[x] for x in b_dims), b_dtype, -4, 4),
            self.I: rng.integers(0, values["M"], values["M"]).astype("int32"),
            self.J: rng.integers(-2, values["N"] + 2, values["N"]).astype("int32"),
            self.K: rng.integers(-2, values["M"] + 2, values["M"]).astype("int32"),
        }
        self.sources = [Source(A, ("M", "N"), True), Source(B, b_dims, True)]
        self.previous = None
        count = self.draw(st.integers(1, self.max_stages), "stages")
        for n in range(count):
            self.stage(p, n, last=n == count - 1)
        p.binds = d.binds
        out = p.stages[-1]
        # every placeholder is an argument (one a body does not read still binds M and N)
        p.args = [A, B, self.I, self.J, self.K, out]
        return p

    def stage(self, p, n, last):
        """Append stage ``n``: elementwise over (M, N) or a reduction over M, N or both
        (to one element)."""
        name = f"S{n}"
        dtype = self.draw(st.sampled_from(VALUE_DTYPES), f"{name} dtype")
        kind = self.draw(st.sampled_from(["elementwise", "reduce"] if last or n == 0 else
                                         ["elementwise", "elementwise", "reduce"]), f"{name} kind")
        self.read = set()
        if kind == "elementwise":
            def body(i, j):
                return self.clamp(self.reading_previous(self.value(dtype, 3, {"M": i, "N": j}), {"M": i, "N": j}))
            T = te.compute((self.extent["M"], self.extent["N"]), body, name=name)
            dims = ("M", "N")
        else:
            keep = self.draw(st.sampled_from(["M", "N", "1"]), f"{name} keeps")
            over = {"M": ["N"], "N": ["M"], "1": ["M", "N"]}[keep]
            reducer = self.draw(st.sampled_from(["sum", "sum", "max", "min"]), f"{name} reducer")
            where = reducer == "sum" and self.draw(st.booleans(), f"{name} where")
            ks = [te.reduce_axis((0, self.extent[x]), name=f"k{x}") for x in over]

            def body(v):
                env = {x: k.var for x, k in zip(over, ks)}
                env.setdefault(keep, v)
                source = self.reading_previous(self.value(dtype, 2, env), env)
                # a sum's terms small enough that the whole sum stays within about INT_LIMIT
                limit = INT_LIMIT // (16 * (len(ks) * 8 - 7)) if reducer == "sum" else INT_LIMIT
                cond = self.condition(env, 1) if where else None
                return getattr(te, reducer)(self.clamp(source, limit), axis=ks, where=cond)
            T = te.compute((1 if keep == "1" else self.extent[keep],), body, name=name)
            dims = (keep,)
        p.stages.append(T)
        p.kinds[T] = kind
        p.reads[T] = {t for t in self.read if isinstance(t.op, te.PlaceholderOp)}
        self.previous = Source(T, dims, dtype == "int32")
        self.sources = [s for s in self.sources if isinstance(s.tensor.op, te.PlaceholderOp)] + [self.previous]

    def reading_previous(self, x, env):
        """``x``, plus a read of the previous stage when ``x`` has none (a chain)."""
        if self.previous is None or self.previous.tensor in self.read:
            return x
        idx = tuple(self.index(dim, env, f"prev {n}") for n, dim in enumerate(self.previous.dims))
        return x + self.previous.tensor[idx].astype(x.dtype)

    def clamp(self, x, limit=INT_LIMIT):
        """Integer values clamped to +-``limit``: a stage's values stay near INT_LIMIT (a
        sum's terms within INT_LIMIT / 16, and no extent passes 17), so the next stage
        cannot overflow."""
        if x.dtype != "int32":
            return x
        return te.max(te.min(x, limit), -limit)

    # ----------------------------------------------------------------- indices

    def index(self, dim, env, label):
        """An index into an extent ``dim`` that stays inside it."""
        if dim == "1":
            return 0
        E = self.extent[dim]
        v = env[dim]
        kind = self.draw(st.sampled_from(["var", "var", "var", "gather", "shift", "div", "mod", "negmod", "negdiv",
                                          "affine", "flat", "reverse", "last", "other"]), f"{label} index")
        if kind == "var":
            return v
        if kind == "gather":
            if dim == "M":
                self.read.add(self.I)
                row = self.I[env["M"]]
                return self.I[row] if self.draw(st.booleans(), f"{label} twice") else row
            self.read.add(self.J)
            return te.min(te.max(self.J[env["N"]], 0), E - 1)
        if kind == "shift":
            c = self.draw(st.integers(-3, 3), f"{label} shift")
            return te.min(te.max(v + c, 0), E - 1)
        if kind == "div":
            return v // self.draw(st.integers(1, 5), f"{label} divisor")
        if kind == "mod":
            return (v + self.draw(st.integers(0, 9), f"{label} offset")) % E
        if kind == "negmod":
            c = self.draw(st.integers(1, 5), f"{label} modulus")
            return te.min(-(v % -c), E - 1)
        if kind == "negdiv":            # ceil(v / c) <= v
            return -(v // -self.draw(st.integers(1, 4), f"{label} divisor"))
        if kind == "affine":            # (a v + b) // c with a <= c, b < c: at most v
            c = self.draw(st.integers(1, 8), f"{label} c")
            a = self.draw(st.integers(1, c), f"{label} a")
            return (v * a + self.draw(st.integers(0, c - 1), f"{label} b")) // c
        if kind == "flat":              # v out of the fused index of (i, j)
            flat = env["M"] * self.extent["N"] + env["N"]
            return flat // self.extent["N"] if dim == "M" else flat % self.extent["N"]
        if kind == "reverse":
            return E - 1 - v
        if kind == "last":
            return E - 1
        other = env["N" if dim == "M" else "M"]
        return te.min(other, E - 1)

    # ----------------------------------------------------------------- values

    def load(self, env, label, exact=False):
        """A read of a random source at in-range indices (its dtype)."""
        sources = [s for s in self.sources if s.exact or not exact]
        src = self.draw(st.sampled_from(sources), f"{label} source")
        self.read.add(src.tensor)
        idx = tuple(self.index(dim, env, f"{label} {src.tensor.name}[{n}]") for n, dim in enumerate(src.dims))
        return src.tensor[idx]

    def leaf(self, dtype, env, label):
        kind = self.draw(st.sampled_from(["load", "load", "load", "const", "axis"]), f"{label} leaf")
        if kind == "load":
            return self.load(env, label).astype(dtype)
        if kind == "const":
            if dtype == "int32":
                return te.const(self.draw(st.integers(-8, 8), f"{label} const"), dtype)
            return te.const(self.draw(st.sampled_from([-1.5, -1.0, 0.0, 0.5, 2.0, 3.25]), f"{label} const"), dtype)
        return env[self.draw(st.sampled_from(["M", "N"]), f"{label} axis")].astype(dtype)

    def value(self, dtype, depth, env, label="v"):
        """A random expression of ``dtype`` at most ``depth`` operators deep."""
        if depth == 0:
            return self.leaf(dtype, env, label)
        kinds = ["leaf", "binary", "binary", "select", "guarded", "cast", "abs"]
        if dtype == "int32":
            kinds += ["divmod", "divmod"]
        kind = self.draw(st.sampled_from(kinds), f"{label} kind")
        sub = f"{label}.{kind}"
        if kind == "leaf":
            return self.leaf(dtype, env, sub)
        if kind == "binary":
            op = self.draw(st.sampled_from(["+", "-", "*", "min", "max"] + (["/"] if dtype != "int32" else [])),
                           f"{sub} op")
            if op == "/":
                return self.value(dtype, depth - 1, env, sub) / te.const(
                    self.draw(st.sampled_from([2.0, -4.0, 3.0, 0.5]), f"{sub} divisor"), dtype)
            a = self.value(dtype, depth - 1, env, sub + "0")
            # a product has one leaf factor: magnitudes stay small (no integer overflow)
            b = self.leaf(dtype, env, sub + "1") if op == "*" else self.value(dtype, depth - 1, env, sub + "1")
            return {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                    "min": lambda: te.min(a, b), "max": lambda: te.max(a, b)}[op]()
        if kind == "select":
            cond = self.condition(env, 1, sub)
            return te.if_then_else(cond, self.value(dtype, depth - 1, env, sub + "T"),
                                   self.value(dtype, depth - 1, env, sub + "F"))
        if kind == "guarded":
            return self.guarded(dtype, depth, env, sub)
        if kind == "cast":
            return self.cast(dtype, env, sub)
        if kind == "abs":
            return abs(self.value(dtype, depth - 1, env, sub))
        x = self.value(dtype, depth - 1, env, sub)
        c = self.draw(st.sampled_from(DIVISORS), f"{sub} divisor")
        return x // c if self.draw(st.booleans(), f"{sub} // (else %)") else x % c

    def guarded(self, dtype, depth, env, label):
        """``if_then_else(0 <= x < E, S[.., x, ..], other)`` with ``x = v + c``, ``x = K[i]``
        along M or ``x = J[j]`` along N (unclipped): a read that leaves the tensor where
        its guard is false
        (the padding pattern, the guard depending on the lane when ``v`` is the vectorized
        loop; an embedding's padding index, the guard depending on data)."""
        cands = [s for s in self.sources if "M" in s.dims or "N" in s.dims]
        src = self.draw(st.sampled_from(cands), f"{label} source")
        dims = [x for x in src.dims if x != "1"]
        dim = self.draw(st.sampled_from(dims), f"{label} guarded dim")
        if self.draw(st.booleans(), f"{label} by data"):
            data = self.K if dim == "M" else self.J
            self.read.add(data)
            shifted = data[env[dim]]
        else:
            shifted = env[dim] + self.draw(st.sampled_from([-2, -1, 1, 2]), f"{label} offset")
        idx = []
        for n, x in enumerate(src.dims):
            idx.append(shifted if x == dim and n == src.dims.index(dim)
                       else self.index(x, env, f"{label} {src.tensor.name}[{n}]"))
        self.read.add(src.tensor)
        inside = te.all(shifted >= 0, shifted < self.extent[dim])
        other = self.value(dtype, depth - 1, env, label + "F")
        return te.if_then_else(inside, src.tensor[tuple(idx)].astype(dtype), other)

    def cast(self, dtype, env, label):
        """A value of another dtype cast to ``dtype``; to int only from exact reads
        (truncation of a computed float could differ in the last rounding)."""
        if dtype == "int32":
            return self.load(env, label, exact=True).astype(dtype)
        other = self.draw(st.sampled_from([x for x in VALUE_DTYPES if x != dtype]), f"{label} from")
        return self.value(other, 1, env, label).astype(dtype)

    def condition(self, env, depth, label="c"):
        """A bool: lane-dependent (loop variables), data-dependent (exact loads), or a
        combination."""
        kind = self.draw(st.sampled_from(["lane", "lane", "data", "data", "gather_eq", "and", "or", "not"]
                                         if depth else ["lane", "data", "gather_eq"]), f"{label} cond")
        if kind in ("and", "or"):
            a = self.condition(env, depth - 1, label + "a")
            b = self.condition(env, depth - 1, label + "b")
            return te.all(a, b) if kind == "and" else te.any(a, b)
        if kind == "not":
            return ~self.condition(env, depth - 1, label + "n")
        if kind == "lane":
            pattern = self.draw(st.sampled_from(["lt", "ge", "mod", "sum", "eq"]), f"{label} lane")
            v = env[self.draw(st.sampled_from(["M", "N"]), f"{label} var")]
            c = self.draw(st.integers(0, 9), f"{label} c")
            if pattern == "lt":
                return v < c
            if pattern == "ge":
                return v >= c
            if pattern == "mod":
                return v % self.draw(st.sampled_from([2, 3, -2]), f"{label} m") == 0
            if pattern == "sum":
                return env["M"] * 3 + env["N"] > c
            return v == c
        if kind == "gather_eq":
            self.read.add(self.I)
            return self.I[env["M"]] == te.min(env["N"], self.extent["M"] - 1)
        x = self.load(env, label, exact=True)
        zero = te.const(0, x.dtype)
        return x > zero if self.draw(st.booleans(), f"{label} > 0 (else <=)") else x <= zero

    # ----------------------------------------------------------------- schedule

    def schedule(self, p):
        """A random valid schedule of ``p`` for the CPU."""
        out = p.stages[-1]
        s = te.create_schedule(out.op)
        inline = {T: self.draw(st.booleans(), f"inline {T.name}") for T in p.stages[:-1]
                  if p.kinds[T] == "elementwise"}
        # the stage that computes each stage's body (cache_write / rfactor move it)
        body_of = {}
        extra = {}          # body stage -> stages attached to it: [(tensor, allow_parallel)]
        for T in p.stages:
            body_of[T] = T
            if p.kinds[T] != "reduce":
                continue
            variant = self.draw(st.sampled_from(["plain", "plain", "cache_write", "rfactor"]), f"{T.name} variant")
            if variant == "cache_write":
                body_of[T] = s.cache_write(T, "local")
            elif variant == "rfactor":
                k = axis = self.draw(st.sampled_from(T.op.reduce_axis), f"{T.name} rfactor axis")
                if self.draw(st.booleans(), f"{T.name} split k"):
                    ko, ki = s[T].split(k, factor=self.draw(st.integers(1, 6), f"{T.name} k factor"))
                    axis = self.draw(st.sampled_from([ko, ki]), f"{T.name} rfactor ko/ki")
                body_of[T] = s.rfactor(T, axis, factor_axis=self.draw(st.integers(0, 1), f"{T.name} factor_axis"))
        for T in p.stages:
            if inline.get(T):
                continue
            for X in sorted(p.reads[T], key=lambda t: t.name):
                if self.draw(st.booleans(), f"cache_read {X.name} for {T.name}"):
                    scope = self.draw(st.sampled_from(["local", "global"]), f"{X.name} scope")
                    cache = s.cache_read(X, scope, [body_of[T]])
                    extra.setdefault(body_of[T], []).append(cache)
        # from the output back: schedule a stage, then place what it reads
        reader = None
        for T in reversed(p.stages):
            if inline.get(T):
                s[T].compute_inline()
                continue
            stages = [T] if body_of[T] is T else [T, body_of[T]]
            for n, X in enumerate(stages):
                if X is out:
                    loops = self.loops(s[X], parallel=True)
                else:
                    where = random_attach(self.data, s[X], reader, allow_inline=False)
                    loops = self.loops(s[X], parallel=where == "root")
                reader = loops
            for cache in extra.get(body_of[T], []):
                where = random_attach(self.data, s[cache], reader)
                if where != "inline":
                    self.loops(s[cache], parallel=where == "root", max_steps=2)
        return s

    def loops(self, stage, parallel, max_steps=5):
        """Random loops for ``stage`` (``random_loops``), then maybe vectorize a data leaf
        of constant extent that is not the innermost (loops nested in a vector loop), and
        ``random_annotations`` (vectorize the innermost, parallelize the outermost)."""
        loops = random_loops(self.data, stage, max_steps=max_steps)
        outer = [iv for iv in loops.leaves[:-1] if iv.kind == "data" and iv not in loops.annotated
                 and loops.ext.get(iv) is not None and loops.ext[iv] <= 32]
        if outer and self.draw(st.integers(0, 4), f"{stage.name}: vectorize an outer leaf (0)") == 0:
            iv = self.draw(st.sampled_from(outer), f"{stage.name}: vectorize")
            stage.vectorize(iv)
            loops.annotated[iv] = "vectorize"
        return random_annotations(self.data, loops, parallel=parallel)

    def gpu_schedule(self, p):
        """A random schedule of ``p`` for the GPU: elementwise producers inlined or not;
        each stage at the root has its data axes fused, split by a random thread count
        and bound to blockIdx.x / threadIdx.x (a reduction runs serially in the thread
        of its output element); the others, where the extents are constants, may be
        computed in registers ("local") at the thread loop of the stage that reads them."""
        out = p.stages[-1]
        s = te.create_schedule(out.op)
        thread_loop = None
        for T in reversed(p.stages):
            if p.kinds[T] == "elementwise" and T is not out and self.draw(st.booleans(), f"inline {T.name}"):
                s[T].compute_inline()
                continue
            # registers need a constant size (a symbolic one is a BuildError naming the buffer)
            if T is out or self.dims.any_symbolic or self.draw(st.booleans(), f"{T.name} at the root"):
                axes = list(T.op.axis)
                fused = s[T].fuse(*axes) if len(axes) > 1 else axes[0]
                threads = self.draw(st.sampled_from([1, 2, 7, 32, 64]), f"{T.name} threads")
                bx, tx = s[T].split(fused, factor=threads)
                s[T].bind(bx, te.thread_axis("blockIdx.x"))
                s[T].bind(tx, te.thread_axis("threadIdx.x"))
                thread_loop = (T, tx)
            else:
                s[T].set_scope("local")
                s[T].compute_at(s[thread_loop[0]], thread_loop[1])
        return s

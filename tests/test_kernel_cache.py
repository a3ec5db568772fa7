"""The kernel caches: the in-process build memo (keyed by a fingerprint of the schedule
taken before lowering), compiled code shared by equal LLVM IR, the on-disk cache across
processes, corruption."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import examples

import tvmini as tm
from tvmini import codegen, te, topi
from tvmini.codegen import manifest
from tvmini.codegen.schedule_key import schedule_key
from tvmini.runtime import disk_cache
from tvmini.tir.passes import unroll_loops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))
import gemm_tutorial  # noqa: E402

BUILD_AND_CHECK = """
import numpy as np, tvmini as tm
from tvmini import te
A = te.placeholder((37, 19), name="A")
B = te.compute((37, 19), lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
s = te.create_schedule(B.op)
xo, xi = s[B].split(B.op.axis[1], factor=8)
s[B].parallel(B.op.axis[0])
f = tm.build(s, [A, B], name="cached_kernel")
a = np.random.rand(37, 19).astype("float32")
b = np.zeros_like(a)
f(a, b)
np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
print("ok")
"""


def _run(tmp_path):
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    out = subprocess.run([sys.executable, "-c", BUILD_AND_CHECK], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def _entries(tmp_path):
    return sorted(tmp_path.glob("*.o"))


def test_same_program_twice_in_a_process_compiles_once():
    A = te.placeholder((8,), name="A")
    B = te.compute((8,), lambda i: A[i] + 3.0, name="B")
    f1 = tm.build(te.create_schedule(B.op), [A, B], name="twice")
    f2 = tm.build(te.create_schedule(B.op), [A, B], name="twice")
    assert f1._keepalive[0] is f2._keepalive[0]          # the same JIT engine
    a, b = np.arange(8, dtype="float32"), np.zeros(8, "float32")
    f2(a, b)
    np.testing.assert_array_equal(b, a + 3)


def test_second_process_loads_from_disk(tmp_path):
    _run(tmp_path)
    (entry,) = _entries(tmp_path)
    stamp = entry.stat().st_mtime_ns
    _run(tmp_path)
    assert _entries(tmp_path) == [entry]
    assert entry.stat().st_mtime_ns == stamp             # read, not rewritten


def test_truncated_entry_is_rebuilt_not_loaded(tmp_path):
    _run(tmp_path)
    (entry,) = _entries(tmp_path)
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2])
    _run(tmp_path)
    assert entry.read_bytes() == good


def test_corrupted_payload_is_detected(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    disk_cache.store("k", b"object code")
    assert disk_cache.load("k") == b"object code"
    path = tmp_path / "k.o"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert disk_cache.load("k") is None
    assert not path.exists()
    assert disk_cache.info() == (0, 0)


def test_an_intact_entry_under_another_key_is_not_loaded(tmp_path, monkeypatch):
    """An entry copied or renamed onto another kernel's key (a merged cache folder)
    passed its checksum and loaded as that kernel: wrong results, or a call at address 0."""
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    disk_cache.store("one", b"object code of one")
    (tmp_path / "one.o").rename(tmp_path / "two.o")
    assert disk_cache.load("two") is None
    assert not (tmp_path / "two.o").exists()


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TVMINI_CACHE", "0")
    disk_cache.store("k", b"x")
    assert disk_cache.load("k") is None
    assert _entries(tmp_path) == []


SOURCES = """
import json, tvmini as tm
from tvmini import te
A = te.placeholder((1024,), name="A")
B = te.compute((1024,), lambda i: A[i] * 2.0 + 1.0, name="B")
f = tm.build(te.create_schedule(B.op), [A, B], name="sources_kernel")
(record,) = tm.kernel_cache_info().kernels
print(json.dumps(dict(origin=record.origin, ll=f.get_source("ll"), asm=f.get_source("asm"))))
"""


def test_disk_hit_shows_the_sources_of_the_code_it_runs(tmp_path):
    """A kernel loaded from disk reports the optimized LLVM IR and the assembly of the
    object code it runs (LLVM vectorizes this loop to ymm code), not of its input IR."""
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    reports = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", SOURCES], env=env, capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        reports.append(json.loads(out.stdout))
    compiled, loaded = reports
    assert (compiled["origin"], loaded["origin"]) == ("compiled", "disk")
    assert loaded["asm"] == compiled["asm"]
    assert loaded["ll"] == compiled["ll"]


# ------------------------------------------------------------------ the build memo
# tm.build memoizes by a fingerprint of the schedule taken before lowering
# (tvmini/codegen/schedule_key.py): equal schedules share a kernel, any difference that
# can change the code must not.

KINDS = {"inner": ["serial", "vectorize", "unroll"], "outer": ["serial", "parallel", "unroll"]}
CONFIG = st.fixed_dictionaries(dict(m=st.sampled_from([1, 2, 5, 8, 13]), n=st.sampled_from([1, 3, 7, 8, 16, 19]),
                                    factor=st.integers(1, 9), inner=st.sampled_from(KINDS["inner"]),
                                    outer=st.sampled_from(KINDS["outer"]), unroll=st.booleans()))
PLAIN = dict(inner="serial", outer="serial", unroll=False)


def _scheduled(cfg):
    """A fresh te definition (scale-shift and row sum) scheduled as ``cfg`` says: B's
    column axis split by ``factor``, the inner part ``inner`` (vectorize / unroll), the
    outer part unrolled if ``unroll``, the row axis ``outer`` (parallel / unroll)."""
    A = te.placeholder((cfg["m"], cfg["n"]), name="A")
    B = te.compute(A.shape, lambda i, j: A[i, j] * 2.0 + 1.0, name="B")
    k = te.reduce_axis((0, cfg["n"]), name="k")
    C = te.compute((cfg["m"],), lambda i: te.sum(B[i, k], axis=k), name="C")
    s = te.create_schedule(C.op)
    jo, ji = s[B].split(B.op.axis[1], factor=cfg["factor"])
    for axis, kind in ((ji, cfg["inner"]), (B.op.axis[0], cfg["outer"]), (jo, "unroll" if cfg["unroll"] else "serial")):
        if kind != "serial":
            getattr(s[B], kind)(axis)
    return s, [A, B, C]


def _check(f, cfg):
    a = np.random.default_rng(0).uniform(-1, 1, (cfg["m"], cfg["n"])).astype("float32")
    b, c = np.full_like(a, np.nan), np.full(cfg["m"], np.nan, "float32")
    f(a, b, c)
    np.testing.assert_allclose(b, a * 2 + 1, rtol=1e-6)
    np.testing.assert_allclose(c, (a * 2 + 1).sum(1), rtol=1e-5, atol=1e-5)


@examples(12)
@given(cfg=CONFIG, change=st.sampled_from(["factor", "inner", "outer", "unroll"]), data=st.data())
def test_schedules_differing_in_one_choice_never_share_a_kernel(cfg, change, data):
    other = dict(cfg)
    if change == "factor":
        other["factor"] = data.draw(st.integers(1, 9).filter(lambda f: f != cfg["factor"]), label="other factor")
    elif change == "unroll":
        other["unroll"] = not cfg["unroll"]
    else:
        other[change] = data.draw(st.sampled_from([k for k in KINDS[change] if k != cfg[change]]), label="other kind")
    built = {}
    for label, c in (("first", cfg), ("changed", other), ("again", cfg)):
        s, args = _scheduled(c)
        built[label] = (schedule_key(s, args), tm.build(s, args, name="memo_prop"))
        fresh_s, fresh_args = _scheduled(c)
        assert built[label][1].get_source("tir") == str(unroll_loops(tm.lower(fresh_s, fresh_args, name="memo_prop")))
        _check(built[label][1], c)
    assert built["first"][0] is not None and built["first"][0] == built["again"][0] != built["changed"][0]
    assert built["again"][1]._cfunc is built["first"][1]._cfunc          # served by the memo
    assert built["changed"][1]._cfunc is not built["first"][1]._cfunc


def _no_lowering(monkeypatch):
    """Make any lowering or LLVM IR generation fail: a build must come from the memo."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("an equal schedule was lowered again")
    monkeypatch.setattr(codegen, "lower", refuse)
    monkeypatch.setattr(codegen, "_lower_and_compile", refuse)


def test_equal_schedules_from_fresh_definitions_skip_lowering(monkeypatch):
    """The GEMM recipe and a topi default schedule, each rebuilt from new te objects."""
    def dense():
        x, w = te.placeholder((5, 7), name="x"), te.placeholder((3, 7), name="w")
        y = topi.dense(x, w)
        return topi.default_schedule([y], "llvm"), [x, w, y]

    makers = {"gemm_recipe": lambda: gemm_tutorial.register_blocked(64), "dense": dense}
    first = {name: tm.build(*make(), name=f"memo_{name}") for name, make in makers.items()}
    _no_lowering(monkeypatch)
    for name, make in makers.items():
        again = tm.build(*make(), name=f"memo_{name}")
        assert again._cfunc is first[name]._cfunc
        assert again.get_source("tir") == first[name].get_source("tir")
    x, w = np.random.rand(5, 7).astype("float32"), np.random.rand(3, 7).astype("float32")
    y = np.zeros((5, 3), "float32")
    tm.build(*dense(), name="memo_dense")(x, w, y)
    np.testing.assert_allclose(y, x @ w.T, rtol=1e-5)
    (record,) = [k for k in tm.kernel_cache_info().kernels if k.name == "memo_dense"]
    assert record.hits >= 2


def test_the_memo_keys_on_names_identity_and_build_options(monkeypatch):
    def scale(n_vars, name="A"):
        n1, n2 = te.var("n"), te.var("n")
        A = te.placeholder((n1, n2 if n_vars == 2 else n1), name=name)
        B = te.compute(A.shape, lambda i, j: A[i, j] * 2.0, name="B")
        return te.create_schedule(B.op), [A, B]

    assert schedule_key(*scale(2)) == schedule_key(*scale(2))
    assert schedule_key(*scale(2)) != schedule_key(*scale(1))        # two vars named n are not one
    assert schedule_key(*scale(2)) != schedule_key(*scale(2, name="X"))
    s, args = scale(1)
    f = tm.build(s, args, name="memo_opts")
    assert tm.build(*scale(1), name="memo_other_name")._cfunc is not f._cfunc
    monkeypatch.setenv("TVMINI_NUM_THREADS", "3")                     # read by parallel loops at build
    assert tm.build(*scale(1), name="memo_opts")._cfunc is not f._cfunc


def test_an_unknown_schedule_attribute_turns_the_memo_off_not_wrong():
    s, args = _scheduled(dict(m=3, n=5, factor=2, **PLAIN))
    s[args[1]].note = "something lowering might read one day"
    assert schedule_key(s, args) is None
    _check(tm.build(s, args, name="memo_unkeyable"), dict(m=3, n=5))


def test_forgetting_compiled_code_forgets_memo_hits(monkeypatch):
    s, args = _scheduled(dict(m=4, n=6, factor=4, **PLAIN))
    f = tm.build(s, args, name="memo_forget")
    monkeypatch.setattr(codegen, "_compiled", {})
    again = tm.build(*_scheduled(dict(m=4, n=6, factor=4, **PLAIN)),
                     name="memo_forget")
    assert again._cfunc is not f._cfunc
    _check(again, dict(m=4, n=6))


# ------------------------------------------------------------------ build manifests
# A build also leaves a manifest on disk under its memo key (and a digest of tvmini's
# sources), so that a later process serves an equal schedule without lowering it.

NO_LOWERING = """
import tvmini.codegen as codegen
def refuse(*args, **kwargs):
    raise AssertionError("lowered although the build's manifest is on disk")
codegen.lower = refuse
"""


def test_second_process_skips_lowering_through_the_manifest(tmp_path):
    """The second process builds the same (parallel) kernel with lowering disabled: the
    manifest and the object code serve it, and it computes the same."""
    env = dict(os.environ, TVMINI_CACHE_DIR=str(tmp_path), PYTHONPATH=str(ROOT))
    for prefix in ("", NO_LOWERING):
        out = subprocess.run([sys.executable, "-c", prefix + BUILD_AND_CHECK], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "ok"
    assert len(list(tmp_path.glob("*.manifest"))) == 1 and len(_entries(tmp_path)) == 1


def test_a_manifest_serves_only_the_sources_that_wrote_it(tmp_path, monkeypatch):
    """A manifest is read back with its sources, flops and argument specs; another digest
    of tvmini's sources (edited code) or a missing object entry serves nothing."""
    monkeypatch.setenv("TVMINI_CACHE_DIR", str(tmp_path))
    A = te.placeholder((40,), name="A")
    B = te.compute((40,), lambda i: te.exp(A[i]) + 1.0, name="B")
    s = te.create_schedule(B.op)
    xo, xi = s[B].split(B.op.axis[0], factor=16)
    s[B].vectorize(xi)
    f = tm.build(s, [A, B], name="manifest_kernel")
    memo_key = codegen._memo_key(s, [A, B], "manifest_kernel", {}, False)
    monkeypatch.setattr(codegen, "_compiled", {})             # as in a new process
    loaded = codegen._load_manifest(memo_key, "manifest_kernel")
    assert loaded is not None and loaded.cache == tm.debug.DISK_HIT
    assert loaded.sources["tir"] == f.get_source("tir") and loaded.flops == f.flops
    assert tuple(loaded.arg_specs) == tuple(f.arg_specs) and loaded.sources["ll"]() == f.get_source("ll")
    a, b = np.linspace(-2, 2, 40).astype("float32"), np.zeros(40, "float32")
    loaded.cfunc(a.ctypes.data, b.ctypes.data)
    np.testing.assert_allclose(b, np.exp(a) + 1, rtol=1e-6)
    digest = manifest.source_digest
    monkeypatch.setattr(manifest, "source_digest", lambda: "other sources")
    assert codegen._load_manifest(memo_key, "manifest_kernel") is None
    monkeypatch.setattr(manifest, "source_digest", digest)
    monkeypatch.setattr(codegen, "_compiled", {})
    for entry in _entries(tmp_path):
        entry.unlink()
    assert codegen._load_manifest(memo_key, "manifest_kernel") is None


def test_loaded_code_must_find_the_functions_it_calls():
    """Object code calling a function no loaded library defines is refused (linking it
    would crash the process, not fail)."""
    from tvmini.codegen import llvm_target
    with pytest.raises(RuntimeError, match="tvmini_no_such_function"):
        llvm_target.load_object(b"", "declare void @tvmini_no_such_function()\n")


def test_graph_kernel_names_are_stable_and_unique():
    """Names come from a digest of the kernel's key that reads functions by name, not
    address (so the disk caches serve a graph kernel in the next process too); keys
    that read alike (two closures of one function) still get distinct names."""
    from tvmini.graph import dispatch
    makers = [lambda x: x + k for k in range(2)]
    first = dispatch.kernel_name("demo", ("demo", makers[0], (8,)))
    assert dispatch.kernel_name("demo", ("demo", makers[0], (8,))) == first
    second = dispatch.kernel_name("demo", ("demo", makers[1], (8,)))
    assert second != first and second.startswith(first)
    assert "0x" not in dispatch._stable(("demo", makers[0], tm.cpu(0)))

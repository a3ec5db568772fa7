"""tm.profiler(): per-kernel records, the grouped table, the Chrome trace, and the call hook.

No test asserts on time values beyond non-negativity and consistency."""
import json
import math
import os

import numpy as np
import pytest

import tvmini as tm
from tvmini import nn, te
from tvmini.data import write_idx
from tvmini.profiler import ProfileEvent, ProfilerError, op_name
from tvmini.runtime.module import Module

from test_jit import _assert_same_models, _data, _trainer


@pytest.fixture(autouse=True)
def restore_debug_level():
    old = tm.get_debug()
    yield
    tm.set_debug(old)


def _training_setup():
    tm.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 4))
    opt = tm.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = tm.randn(12, 3)
    y = tm.tensor(np.arange(12) % 4)

    def step():
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


@pytest.fixture(scope="module")
def profiled_steps():
    step = _training_setup()
    step()     # build the kernels outside the profile
    with tm.profiler() as prof:
        for _ in range(3):
            step()
    return prof


def _scale_kernel():
    A = te.placeholder((6,), name="A")
    B = te.compute((6,), lambda i: A[i] * 3.0, name="B")
    return tm.build(te.create_schedule(B.op), [A, B], name="prof_scale")


def test_a_training_step_shows_its_kernels(profiled_steps):
    ops = {e.op for e in profiled_steps.events}
    assert {"dense", "relu", "cross_entropy", "cross_entropy_grad", "relu_grad", "matmul", "sgd_update"} <= ops
    updates = [e for e in profiled_steps.events if e.op == "sgd_update"]
    assert len(updates) == 3 * 4                      # 4 parameters, 3 steps
    for e in profiled_steps.events:
        assert isinstance(e, ProfileEvent) and e.duration_ns >= 0 and e.device == "cpu(0)"
        assert e.kernel.startswith(e.op + "_")


def test_events_record_shapes_bytes_and_flops(profiled_steps):
    first_dense = next(e for e in profiled_steps.events if e.op == "dense")
    assert first_dense.shapes == ((12, 3), (16, 3), (16,), (12, 16))
    assert first_dense.outputs == (3,)
    assert first_dense.bytes == 4 * (12 * 3 + 16 * 3 + 16 + 12 * 16)
    assert first_dense.flops == 2 * 12 * 3 * 16 + 12 * 16


@pytest.mark.parametrize("group_by", ["shapes", "op"])
def test_table_totals_are_the_sums_of_its_rows(profiled_steps, group_by):
    table = profiled_steps.table(group_by=group_by)
    rows, total = table.rows, table.total
    assert total.calls == sum(r.calls for r in rows) == len(profiled_steps.events)
    assert total.total_ns == sum(r.total_ns for r in rows)
    assert total.total_ns == sum(e.duration_ns for e in profiled_steps.events)
    assert total.bytes == sum(r.bytes for r in rows)
    assert total.flops == sum(r.flops for r in rows)
    assert math.isclose(sum(r.share for r in rows), 1.0)
    assert math.isclose(profiled_steps.total_kernel_time, total.total_ns / 1e9)
    assert [r.total_ns for r in rows] == sorted((r.total_ns for r in rows), reverse=True)
    assert len({(r.op, r.shapes) for r in rows}) == len(rows)
    if group_by == "op":
        assert sorted(r.op for r in rows) == sorted({e.op for e in profiled_steps.events})


def test_outside_share_and_wall_time_are_consistent(profiled_steps):
    table = profiled_steps.table()
    assert 0.0 <= table.outside_share <= 1.0
    assert profiled_steps.wall_time >= profiled_steps.total_kernel_time >= 0
    assert table.wall_ns == round(profiled_steps.wall_time * 1e9)


def test_printed_table_has_header_rows_total_and_summary(profiled_steps):
    text = str(profiled_steps.table())
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["op", "shapes"] and "GFLOP/s" in lines[0]
    assert any(line.startswith("sgd_update") for line in lines)
    assert lines[-2].startswith("total")
    assert lines[-1].startswith("wall ") and "outside kernels" in lines[-1]
    short = str(profiled_steps.table(group_by="op", limit=2)).splitlines()
    assert "more)" in short[3] and short[-2].startswith("total")


def test_chrome_trace_is_valid_trace_event_json(profiled_steps, tmp_path):
    path = tmp_path / "trace.json"
    profiled_steps.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    kernels = [e for e in events if e.get("cat") == "kernel"]
    assert len(kernels) == len(profiled_steps.events)
    complete = [e for e in events if e["ph"] == "X"]
    for e in complete:
        assert {"name", "ph", "ts", "dur", "pid", "tid"} <= set(e)
        assert e["ts"] >= 0 and e["dur"] >= 0
    stamps = [e["ts"] for e in complete]
    assert stamps == sorted(stamps)
    for e, recorded in zip(kernels, profiled_steps.events):
        assert e["name"] == recorded.op
        assert e["args"]["shapes"] == [list(s) for s in recorded.shapes]
        assert e["args"]["bytes"] == recorded.bytes and e["args"]["flops"] == recorded.flops
    assert all(e["ph"] in ("X", "M") for e in events)


def test_hook_is_removed_after_the_block():
    f = _scale_kernel()
    a, b = np.ones(6, "float32"), np.zeros(6, "float32")
    tm.set_debug(0)
    with tm.profiler() as prof:
        f(a, b)
        assert Module._trace is not None
    assert Module._trace is None
    f(a, b)
    assert [e.op for e in prof.events] == ["prof_scale"]


def test_hook_is_removed_when_the_block_raises():
    tm.set_debug(0)
    with pytest.raises(RuntimeError):
        with tm.profiler():
            raise RuntimeError("boom")
    assert Module._trace is None


def test_debug_tracing_and_the_profiler_work_together(caplog):
    f = _scale_kernel()
    a, b = np.arange(6, dtype="float32"), np.zeros(6, "float32")
    tm.set_debug(2)
    with tm.profiler() as prof:
        f(a, b)
        f(a, b)
    f(a, b)
    calls = [r for r in caplog.records if r.getMessage().startswith("call prof_scale(")]
    assert len(calls) == 3                       # traced inside and after the block
    assert len(prof.events) == 2
    assert Module._trace is not None             # debug tracing still on
    tm.set_debug(0)
    assert Module._trace is None
    np.testing.assert_array_equal(b, a * 3)


def test_nested_profilers_each_record_their_own_block():
    f = _scale_kernel()
    a, b = np.ones(6, "float32"), np.zeros(6, "float32")
    with tm.profiler() as outer:
        f(a, b)
        with tm.profiler() as inner:
            f(a, b)
        f(a, b)
    assert len(outer.events) == 3 and len(inner.events) == 1
    assert inner.events[0] == outer.events[1]


def test_a_profiler_records_one_block():
    prof = tm.profiler()
    with prof:
        pass
    with pytest.raises(ProfilerError, match="new tm.profiler"):
        with prof:
            pass
    with pytest.raises(ProfilerError, match="group_by"):
        prof.table(group_by="device")
    assert prof.table().total.calls == 0


def test_failed_calls_are_not_recorded():
    f = _scale_kernel()
    with tm.profiler() as prof:
        with pytest.raises(tm.ShapeError):
            f(np.zeros(5, "float32"), np.zeros(6, "float32"))
    assert prof.events == []


@pytest.mark.parametrize("name, op", [("dense_30c694e409", "dense"), ("sgd_update_b8bc382111", "sgd_update"),
                                      ("rowsum", "rowsum"), ("conv2d_nchw_grad_x", "conv2d_nchw_grad_x")])
def test_op_name_strips_the_graph_layers_digest(name, op):
    assert op_name(name) == op


@pytest.fixture
def examples_path(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples"))
    monkeypatch.setenv("TVMINI_NUM_THREADS", "1")    # small kernels on shared cores


def test_overfit_example_profiles_steps(examples_path, tmp_path, capsys):
    import overfit
    [prof] = overfit.main(["--profile", "2", "--height", "8", "--width", "24", "--batch-size", "32",
                           "--out", str(tmp_path)])
    printed = capsys.readouterr().out
    assert "adam_update" in printed and "outside kernels" in printed
    assert {"dense", "matmul", "relu", "adam_update"} <= {e.op for e in prof.events}
    assert json.loads((tmp_path / "relu-unit_trace.json").read_text())["traceEvents"]


def test_mnist_example_profiles_steps(examples_path, tmp_path, capsys):
    import mnist
    rng = np.random.default_rng(0)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", rng.integers(0, 255, (200, 28, 28)).astype(np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", rng.integers(0, 10, 200).astype(np.uint8))
    prof = mnist.main(["--model", "softmax", "--data", str(tmp_path), "--profile", "3", "--batch-size", "16",
                       "--out", str(tmp_path / "out")])
    assert "dense" in capsys.readouterr().out
    assert prof.table().total.calls == len(prof.events) > 0
    assert (tmp_path / "out" / "softmax" / "trace.json").is_file()


def test_a_jit_step_shows_its_kernels_and_computes_the_same():
    """Under the profiler a jitted step runs its kernels one by one: every call of its
    program (fused ones by their fused names) is seen, and the results are those of the
    native replay."""
    models = []
    for observed in (False, True):
        model, _, step = _trainer(lambda ps: tm.optim.SGD(ps, lr=0.1, momentum=0.9))
        jitted = tm.jit(step)
        for k, batch in enumerate(_data(3)):
            if observed and k == 2:
                with tm.profiler() as prof:
                    jitted(*batch)
            else:
                jitted(*batch)
        models.append(model)
    _assert_same_models(*models)
    ops = [event.op for event in prof.events]
    assert len(ops) == len(jitted.graph.nodes)
    assert "fused_dense_relu" in ops and "fused_matmul_relu_grad" in ops

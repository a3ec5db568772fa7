"""The program fuzzer's programs (tests/fuzz_programs.py) under the GPU schedules of
tests/fuzz_gpu_schedules.py: shared-memory caches copied by the block's threads,
cross-thread reductions, register accumulators at the thread loop, virtual threads
and per-thread tiles. Run through the CUDA emulator against
``tvmini.testing.reference`` and compiled to PTX with nvcc where it is installed;
``TVMINI_FUZZ_EXAMPLES`` runs more (see tests/test_fuzz_programs.py).
"""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmini as tm
from fuzz_gpu_schedules import GpuScheduler
from fuzz_programs import Drawer
from strategies import assert_matches, garbage, rng_of, unique
from test_cuda import needs_nvcc
from test_fuzz_programs import fuzz_examples, tolerance_scale
from tvmini import te
from tvmini.errors import BuildError
from tvmini.testing import reference


def gpu_program(data):
    drawer = Drawer(data)
    p = drawer.program(rng_of(data))
    return p, GpuScheduler(drawer, p).schedule()


@fuzz_examples(8, suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_gpu_schedules_on_the_emulated_gpu(emulated_gpu, data):
    p, s = gpu_program(data)
    out = p.stages[-1]
    f = tm.build(s, p.args, target="cuda", name=unique("fuzz_gpu_sched"))
    want = reference(out, {**p.inputs, **p.binds})
    dev = tm.cuda(0)
    result = tm.nd.array(garbage(want.shape, out.dtype), device=dev)
    f(*[tm.nd.array(p.inputs[t], device=dev) for t in p.args[:-1]], result)
    assert_matches(result.numpy(), want, out.dtype, tolerance_scale(p), what=f"{out.name} on the emulated GPU")


@needs_nvcc
@fuzz_examples(4)
@given(st.data())
def test_random_gpu_schedules_compile_to_ptx(data):
    p, s = gpu_program(data)
    name = unique("fuzz_gpu_sched_ptx")
    ptx = tm.build(s, p.args, target="cuda", name=name).get_source("ptx")
    assert f"{name}_kernel0" in ptx

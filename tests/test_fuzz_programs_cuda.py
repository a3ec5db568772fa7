"""The program fuzzer's programs (tests/fuzz_programs.py) bound to GPU threads: run
through the CUDA emulator (the generated CUDA C compiled for the host, launched through
the runtime as on a GPU; ``emulated_gpu`` fixture) and compared with
``tvmini.testing.reference``, and compiled to PTX with nvcc where it is installed. Few
examples: g++ and nvcc take about a second per kernel. ``TVMINI_FUZZ_EXAMPLES`` runs more.
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tvmini as tm
from fuzz_programs import Drawer
from strategies import assert_matches, garbage, rng_of, unique
from test_cuda import needs_nvcc
from test_fuzz_programs import fuzz_examples, tolerance_scale
from tvmini.testing import reference


def gpu_program(data):
    drawer = Drawer(data)
    p = drawer.program(rng_of(data))
    return p, drawer.gpu_schedule(p)


@fuzz_examples(8, suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_random_programs_on_the_emulated_gpu(emulated_gpu, data):
    runs_as_the_reference(*gpu_program(data), "fuzz_gpu")


def runs_as_the_reference(p, s, name):
    """Build program ``p`` under GPU schedule ``s``, run it on device 0 (the emulated GPU)
    into an output full of garbage and compare with ``tvmini.testing.reference``."""
    out = p.stages[-1]
    f = tm.build(s, p.args, target="cuda", name=unique(name))
    want = reference(out, {**p.inputs, **p.binds})
    dev = tm.cuda(0)
    result = tm.nd.array(garbage(want.shape, out.dtype), device=dev)
    f(*[tm.nd.array(p.inputs[t], device=dev) for t in p.args[:-1]], result)
    assert_matches(result.numpy(), want, out.dtype, tolerance_scale(p), what=f"{out.name} on the emulated GPU")


@needs_nvcc
@fuzz_examples(8)
@given(st.data())
def test_random_programs_compile_to_ptx(data):
    compiles_to_ptx(*gpu_program(data), "fuzz_ptx")


def compiles_to_ptx(p, s, name):
    """Build program ``p`` under GPU schedule ``s`` and compile its CUDA C with nvcc."""
    name = unique(name)
    ptx = tm.build(s, p.args, target="cuda", name=name).get_source("ptx")
    assert f"{name}_kernel0" in ptx

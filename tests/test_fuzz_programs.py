"""Compiler fuzzing: random small te programs under random valid schedules, built for the
CPU and compared with ``tvmini.testing.reference`` (numpy, no schedule).

``tests/fuzz_programs.py`` draws the programs (gathers at data-dependent indices,
lane- and data-dependent ``if_then_else`` guards, bounds-guarded reads, clipped
gathers, integer ``//`` and ``%`` by constants of either sign, casts, min / max / abs,
reductions with and without ``where=``) and their schedules (split, fuse, reorder,
unroll, vectorize, parallel, compute_at, compute_inline, cache_read, cache_write,
rfactor). Outputs start as garbage, so an element a kernel skips is caught.

``TVMINI_FUZZ_EXAMPLES=<n>`` runs ``n`` examples per test instead of the small default
(with ``TVMINI_HYPOTHESIS_PROFILE=explore`` fresh ones on every run: that is how to
hunt; ``dev`` shrinks a failure).
"""
import os
import textwrap

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_programs import Drawer
from strategies import check, examples, rng_of
from tvmini.testing import reference
from tvmini.testing.guard import assert_no_fault


def fuzz_examples(n, **options):
    """``settings`` (with ``options``) of ``n`` examples scaled by the profile, or
    ``TVMINI_FUZZ_EXAMPLES`` when set."""
    count = os.environ.get("TVMINI_FUZZ_EXAMPLES")
    return settings(max_examples=int(count) if count else examples(n).max_examples, **options)


def tolerance_scale(p):
    """The absolute tolerance's scale: the largest magnitude among the inputs and every
    stage's values (FMA contraction rounds a product once, relative to its terms, not to
    the result) times the reductions' lengths; for a float64 output of a float32 stage,
    float32's tolerance (that stage may round differently in its last place)."""
    values = list(p.inputs.values()) + reference(p.stages, {**p.inputs, **p.binds})
    biggest = max([1.0] + [float(np.max(np.abs(v.astype(np.float64)))) for v in values if v.size])
    length = max(values[0].shape) ** sum(len(t.op.reduce_axis) for t in p.stages)
    narrower = p.stages[-1].dtype == "float64" and any(t.dtype == "float32" for t in p.stages)
    return 16 * biggest * length * (2e5 if narrower else 1)


def run_program(data, **drawer_options):
    drawer = Drawer(data, **drawer_options)
    p = drawer.program(rng_of(data))
    s = drawer.schedule(p)
    out = p.stages[-1]
    want = reference(out, {**p.inputs, **p.binds})
    check(s, p.args, {t: p.inputs[t] for t in p.args[:-1]}, {out: want}, p.binds,
          scale=tolerance_scale(p), name="fuzz")


@fuzz_examples(80)
@given(st.data())
def test_random_programs(data):
    run_program(data)


@fuzz_examples(40)
@given(st.data())
def test_random_single_stage_programs_with_constant_extents(data):
    """One stage, constant extents: the vectorizer sees every guard and gather with known
    bounds (what it may prove inside a buffer, it does not mask)."""
    run_program(data, max_stages=1, symbolic=False)


GUARDED = textwrap.dedent('''
    import os, sys
    sys.path.insert(0, {tests_dir!r})
    os.environ["TVMINI_FUZZ_EXAMPLES"] = "{examples}"
    from hypothesis import HealthCheck, Phase, settings
    settings.register_profile("guard", deadline=None, database=None, derandomize=True,
                              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    settings.load_profile("guard")
    import strategies
    from tvmini.testing.guard import guarded_array
    strategies.GUARD = lambda shape, dtype, where: guarded_array(shape, dtype, where=where)
    import test_fuzz_programs
    test_fuzz_programs.test_random_programs()
    print("DONE")
''')


def test_random_programs_stay_inside_buffers():
    """A few drawn programs on arrays placed against guard pages (both edges), in a child
    process: a read or write outside any buffer is a crash, so a failure."""
    count = int(os.environ.get("TVMINI_FUZZ_EXAMPLES", "16"))
    code = GUARDED.format(tests_dir=os.path.dirname(os.path.abspath(__file__)), examples=count)
    result = assert_no_fault(code, timeout=600)
    assert "DONE" in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]

"""Shared pytest configuration: hypothesis profiles, the tests' import path, and the
``emulated_gpu`` fixture (CUDA device 0 run on the CPU by ``tvmini.runtime.cuda_emulator``).

Profiles (select with ``TVMINI_HYPOTHESIS_PROFILE=<name>``):

* ``default``: modest example counts (every example builds a kernel, ~0.1-0.2 s),
  no shrinking, so the whole suite stays within a few minutes even when a
  property fails; the falsifying example is still printed in full. Derandomized:
  every run draws the same examples, so CI is reproducible (one CI run aborted
  inside LLVM's pass pipeline on an example no rerun could reproduce; see
  ``explore``).
* ``explore``: the default counts with fresh random examples on every run (use it
  to hunt for new failures).
* ``dev``: the same counts with shrinking on, for a minimal failing example.
* ``thorough``: many more examples, with shrinking (minutes per test).

``TVMINI_GPU_FIXTURE=device`` runs the ``emulated_gpu`` tests (and only those) on a real
GPU instead of the emulator (``benchmarks/cuda_session.sh`` does, on a GPU machine).

A test sets its own ``max_examples`` relative to the profile with
``examples(n)`` from ``tests/strategies.py``.
"""
import os
import sys

import pytest
from hypothesis import HealthCheck, Phase, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

settings.register_profile(
    "default", max_examples=25,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target], derandomize=True, **_COMMON)
settings.register_profile(
    "explore", max_examples=25,
    phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.target], **_COMMON)
settings.register_profile("dev", max_examples=25, **_COMMON)
settings.register_profile("thorough", max_examples=250, **_COMMON)
settings.load_profile(os.environ.get("TVMINI_HYPOTHESIS_PROFILE", "default"))


#: ``TVMINI_GPU_FIXTURE=device`` (on a machine with a GPU): the tests of ``emulated_gpu``
#: run on the real device through cuda-bindings instead, and only they are collected
ON_DEVICE = os.environ.get("TVMINI_GPU_FIXTURE") == "device"


def pytest_collection_modifyitems(config, items):
    if ON_DEVICE:
        chosen = [item for item in items if "emulated_gpu" in getattr(item, "fixturenames", ())]
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen


@pytest.fixture
def emulated_gpu(monkeypatch):
    """CUDA device 0 emulated on the CPU (``tvmini.runtime.cuda_emulator``, as with
    ``TVMINI_CUDA_BINDING=emulator``), or the real device with ``TVMINI_GPU_FIXTURE=device``;
    yields the binding, which also records each launch as (kernel, grid, block) in
    ``launches``."""
    import shutil

    from tvmini.runtime import cuda_driver
    from tvmini.runtime.cuda_bindings import CudaPython
    from tvmini.runtime.cuda_emulator import Emulator
    if not ON_DEVICE and shutil.which("g++") is None:
        pytest.skip("the CUDA emulator needs g++")

    prefix = "tvmini_device_" if ON_DEVICE else "tvmini_emulate_"   # the emulator's symbol names

    class Recording(CudaPython if ON_DEVICE else Emulator):
        def __init__(self):
            super().__init__()
            self.launches, self._names = [], {}

        def function(self, module, name):
            function = super().function(module, name)
            self._names[id(function)] = f"{prefix}{name}"     # the launcher keeps the function alive
            return function

        def launch(self, function, grid, block, values, types):
            self.launches.append((self._names.get(id(function)) or function.__name__, grid, block))
            super().launch(function, grid, block, values, types)

    binding = Recording()
    name = CudaPython.name if ON_DEVICE else "emulator"
    monkeypatch.setitem(cuda_driver.BINDINGS, name, lambda: binding)
    monkeypatch.setenv(cuda_driver.BINDING_VARIABLE, name)
    cuda_driver.driver.cache_clear()
    yield binding
    cuda_driver.driver.cache_clear()

"""Tests that guard-page arrays really fault on out-of-bounds access.

Each access that may fault runs in a child interpreter (``run_isolated``), so
a SIGSEGV there is an observable exit status rather than a dead test run.
"""

import mmap
import signal

import numpy as np
import pytest

from tvmini.testing.guard import assert_no_fault, guarded_array, run_isolated
from strategies import add_loop_ir

PAGE = mmap.PAGESIZE

SETUP = """
import ctypes
import numpy as np
from tvmini.testing.guard import guarded_array
"""

# A kernel adding n float32s, compiled from IR whose loop bound is ``n + extra``
# (run as ``KERNEL.format(ir=repr(add_loop_ir(extra)))``).
KERNEL = SETUP + """
import llvmlite.binding as llvm
from tvmini.runtime import ArgSpec, Module
llvm.initialize_native_target(); llvm.initialize_native_asmprinter()
IR = {ir}
machine = llvm.Target.from_default_triple().create_target_machine()
engine = llvm.create_mcjit_compiler(llvm.parse_assembly(IR), machine)
engine.finalize_object()
proto = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32)
specs = [ArgSpec(name, ("n",), "float32") for name in "ABC"]
f = Module("add", "llvm", specs, ["n"], proto(engine.get_function_address("add")), {{}}, engine)
a, b, c = (guarded_array((1023,), "float32", fill=v) for v in (1.0, 2.0, 0.0))
f(a, b, c)
assert (c == 3.0).all()
"""


def test_layout_end():
    arr = guarded_array((3, 7), "float32", fill=1.5)
    end = arr.ctypes.data + arr.nbytes
    assert end % PAGE == 0 and arr.shape == (3, 7) and arr.dtype == np.float32
    assert arr.flags.c_contiguous and arr.flags.writeable and (arr == 1.5).all()


def test_layout_start():
    arr = guarded_array(5, "int64", where="start")
    assert arr.ctypes.data % PAGE == 0 and arr.shape == (5,) and (arr == 0).all()
    with pytest.raises(ValueError, match="where"):
        guarded_array(5, "int64", where="middle")


def test_reading_and_writing_inside_is_fine():
    assert_no_fault(SETUP + """
for where in ("end", "start"):
    a = guarded_array((1001,), "float32", fill=2.0, where=where)
    a[0] = a[-1] = 4.0
    assert a.sum() == 2.0 * 999 + 8.0
""")


def test_write_one_past_the_end_segfaults():
    result = run_isolated(SETUP + """
a = guarded_array((1001,), "float32")
print("inside ok", a[-1], flush=True)
ctypes.c_float.from_address(a.ctypes.data + a.nbytes).value = 1.0
print("not reached", flush=True)
""")
    assert result.returncode == -signal.SIGSEGV, result.stderr
    assert "inside ok" in result.stdout and "not reached" not in result.stdout
    assert "Segmentation fault" in result.stderr          # faulthandler's report


def test_read_one_before_the_start_segfaults():
    result = run_isolated(SETUP + """
a = guarded_array((7,), "float64", where="start")
ctypes.c_double.from_address(a.ctypes.data - 8).value
""")
    assert result.returncode == -signal.SIGSEGV, result.stderr


def test_kernel_on_guarded_arrays():
    assert_no_fault(KERNEL.format(ir=repr(add_loop_ir(0))))
    result = run_isolated(KERNEL.format(ir=repr(add_loop_ir(1))))   # off by one: touches the guard page
    assert result.returncode == -signal.SIGSEGV, result.stderr


def test_assert_no_fault_reports_the_signal():
    with pytest.raises(AssertionError, match="SIGSEGV"):
        assert_no_fault("import ctypes; ctypes.string_at(0)")
    with pytest.raises(AssertionError, match="status 3"):
        assert_no_fault("raise SystemExit(3)")

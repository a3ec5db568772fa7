"""autotune: search schedule configs of an op by measuring, and build with the best.

::

    import tvmini as tm
    result = tm.autotune.tune("matmul", (512, 512), (512, 512), trials=32, log="tuned.json")
    print(result)                      # default vs tuned time, the chosen config
    tm.autotune.use_log("tuned.json")  # or: export TVMINI_AUTOTUNE_LOG=tuned.json
    # from now on topi.default_schedule (and every graph kernel built after this)
    # uses the tuned config of each workload the log has, the heuristic otherwise.

What is tuned are the knobs of topi's schedule rules (``topi.tunable`` lists them for
a definition): the GEMM rule's row block, column block, loop order and parallelism;
the conv2d rule's channel block, width block, reduction order and parallelism; the
elementwise/broadcast rules' vector width and parallelism. Every config of a rule
computes the same result (``tune`` checks each one against the default's output).

Modules: ``space`` (which configs to measure), ``tuner`` (``tune``), ``log`` (the JSON
log, ``use_log`` and the lookup ``topi.default_schedule`` calls).
"""
from .. import topi
from ..errors import TuningError
from .log import ENV, LogEntry, TuningLog, active_log, load_log, lookup, use_log
from .space import ConfigSpace
from .tuner import TaskResult, TuneResult, tune

topi.schedule.set_config_source(lookup)

__all__ = ["tune", "use_log", "active_log", "load_log", "TuningLog", "LogEntry", "ConfigSpace", "TuneResult",
           "TaskResult", "TuningError", "ENV"]

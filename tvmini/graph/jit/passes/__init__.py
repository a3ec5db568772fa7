"""Graph passes over a traced :class:`~..ir.Program`, run in this order by ``tm.jit``.

Each pass rewrites the program in place and returns a one-line note of what it did
(shown by ``JitFunction.graph``). Nodes keep their recorded order throughout, so every
read of an array overwritten in place stays on the right side of the write.
"""
from .cse import eliminate_common_subexpressions
from .dce import eliminate_dead_code
from .fold import fold_constants
from .fuse import fuse_elementwise
from .lanes import split_batch
from .memory import plan_memory
from .update import fuse_updates

#: (name, pass) in the order they run; memory planning comes last.
PIPELINE = (
    ("fold", fold_constants),
    ("cse", eliminate_common_subexpressions),
    ("dce", eliminate_dead_code),
    ("fuse", fuse_elementwise),
    ("lanes", split_batch),
    ("update", fuse_updates),
    ("memory", plan_memory),
)


def run_pipeline(program, skip=()):
    """Run every pass not named in ``skip``; their notes are appended to ``program.notes``."""
    for name, fn in PIPELINE:
        if name not in skip:
            program.notes.append(f"{name}: {fn(program)}")
    return program

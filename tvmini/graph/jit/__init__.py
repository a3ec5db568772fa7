"""tm.jit: trace a step into a static program, optimise it and run it as one native call.

``trace`` records a call, ``ir`` is the program, ``passes`` rewrite it (folding, CSE,
dead code, fusion, memory planning), ``native`` compiles it, ``function`` is the
user-facing :func:`jit` with its signature cache and guards.
"""
from .function import JitFunction, jit

__all__ = ["jit", "JitFunction"]

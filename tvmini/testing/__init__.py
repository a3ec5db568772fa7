"""Testing helpers: the numpy oracle and guard-paged arrays for out-of-bounds checks."""
from .reference import reference

__all__ = ["reference"]

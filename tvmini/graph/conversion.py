"""Python and numpy data into NDArrays for ``tm.tensor`` and ``Tensor(...)``: dtype
inference as PyTorch's, and its refusal of an int the tensor cannot hold (where numpy's
conversion would wrap it or fail obscurely)."""
import numpy as np

from ..errors import DTypeError
from ..runtime import NDArray
from ..runtime import ndarray as nd
from .operands import stored_value


def _python_data(data, dtype):
    """Python (nested) ``data`` for a tensor of numpy ``dtype`` (None: inferred), refusing
    as PyTorch does an int the tensor cannot hold, where numpy's conversion would wrap it
    (2**63 into int64, 2**40 into int32, 300 into uint8) or fail obscurely (2**70): a
    ValueOverflowError (see ``stored_value``; -1 into uint8 is 255, as PyTorch's)."""
    try:
        raw = np.asarray(data)
    except ValueError:          # ragged: nd.array names it
        return data
    if raw.dtype.kind == "f" and _ints_past_int64(data, raw):
        raw = np.array(data, dtype=object)          # judged value by value below, as PyTorch
    if raw.dtype.kind not in "iuO" or not raw.size:
        return data
    if raw.dtype.kind == "O":   # ints past 64 bits, perhaps beside floats; or not numbers (None)
        values = raw.ravel().tolist()
        odd = [v for v in values if not isinstance(v, (int, float, np.number, np.bool_))]
        if odd:
            raise DTypeError(f"tensor(): cannot infer a dtype for a {type(odd[0]).__name__} (a tensor holds "
                             f"numbers and bools)")
        if dtype is None:
            dtype = np.dtype("int64" if all(isinstance(v, int) for v in values) else "float32")
        stored = [stored_value(v, dtype.name, "tensor()") for v in values]
        return np.array(stored, dtype).reshape(raw.shape)
    target = (dtype or np.dtype("int64")).name
    if target != "bool":
        for v in (raw.min(), raw.max()):
            stored_value(v.item(), target, "tensor()")
    return data


def _ints_past_int64(data, raw):
    """Whether numpy made the floats ``raw`` of Python ``data`` holding ints only, some
    past int64 (``[-1, 2**64 - 1]`` fits neither int64 nor uint64): PyTorch reads such
    data as int64 and refuses it. Only float data reaching 2**63 is looked at closer."""
    if not raw.size or not np.abs(raw).max() >= 2.0 ** 63:
        return False
    return all(isinstance(v, (int, np.integer)) for v in np.array(data, dtype=object).ravel().tolist())


def as_ndarray(data, dtype, device):
    """An NDArray on ``device`` (None: the CPU) holding a copy of ``data`` (an NDArray,
    numpy array or scalar, or Python numbers, nested lists of them), of ``dtype`` (None:
    the data's own; Python floats float32, ints int64, bools bool)."""
    if dtype is not None:
        dtype = nd.normalize_dtype(dtype)
    if not isinstance(data, (NDArray, np.ndarray, np.generic)):
        data = _python_data(data, dtype)
    if isinstance(data, NDArray) and dtype is not None and data.dtype != dtype.name:
        data = data.numpy()
    return nd.array(data, dtype=dtype, device=device)

"""``nn.utils.rnn``: batching sequences of different lengths for the recurrent layers.

``pad_sequence`` joins variable-length sequences into one padded batch, as PyTorch's
(each sequence padded with ``F.pad`` along its time axis, then stacked, so the gradient
reaches every sequence's own elements). Packed sequences (``pack_padded_sequence`` and
``PackedSequence``) are not provided: tvmini's recurrent layers take padded batches.
"""
from ..errors import DTypeError, ShapeError
from ..graph import join_ops
from ..graph.tensor import Tensor


def pad_sequence(sequences, batch_first=False, padding_value=0.0, padding_side="right"):
    """Stack the tensors ``sequences`` (each (L_i, *), one trailing shape, dtype and
    device) into (max L, N, *) — (N, max L, *) with ``batch_first`` — filling the steps
    a sequence lacks with ``padding_value``, after its elements (``padding_side``
    "right") or before them ("left")."""
    op = "pad_sequence"
    sequences = list(sequences)         # a tensor: its slices along axis 0, as PyTorch
    if not sequences or not all(isinstance(s, Tensor) for s in sequences):
        raise ShapeError(f"{op}: needs a non-empty sequence of tensors, got "
                         f"{[type(s).__name__ for s in sequences]}")
    if padding_side not in ("left", "right"):
        raise ShapeError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    first = sequences[0]
    for s in sequences:
        if s.ndim == 0 or s.shape[1:] != first.shape[1:]:
            raise ShapeError(f"{op}: every sequence must be (L, *) with one trailing shape; got shapes "
                             f"{[tuple(t.shape) for t in sequences]}")
        if s.dtype != first.dtype or s.device != first.device:
            raise DTypeError(f"{op}: every sequence must have one dtype and device; got "
                             f"{[(t.dtype, str(t.device)) for t in sequences]}")
    longest = max(s.shape[0] for s in sequences)
    padded = []
    for s in sequences:
        missing = longest - s.shape[0]
        widths = (0, 0) * (s.ndim - 1) + ((0, missing) if padding_side == "right" else (missing, 0))
        padded.append(join_ops.pad(s, widths, value=padding_value) if missing else s)
    return join_ops.stack(padded, 0 if batch_first else 1)

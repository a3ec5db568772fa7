"""Defects a PyTorch user met writing small training programs against tvmini (character
LSTM, transformer classifier, GRU on padded batches, conv autoencoder, data pipelines,
LBFGS, error paths); one test per defect, each against PyTorch where it is installed and
against the behaviour's own rule always."""
import numpy as np
import pytest

import tvmini as tm


def _torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("name", ["Dropout", "Dropout1d", "Dropout2d", "AlphaDropout"])
@pytest.mark.parametrize("p", [1.5, -0.1])
def test_dropout_layers_refuse_a_probability_outside_0_1_when_built(name, p):
    with pytest.raises(tm.ShapeError, match=f"{name}.*{p}"):
        getattr(tm.nn, name)(p)
    torch = _torch()
    with pytest.raises(ValueError):
        getattr(torch.nn, name)(p)


@pytest.mark.parametrize("p", [0.0, 1.0])
def test_dropout_layers_accept_the_end_probabilities(p):
    x = tm.tensor(np.ones((2, 3), np.float32))
    out = tm.nn.Dropout(p)(x).numpy()
    np.testing.assert_array_equal(out, np.zeros((2, 3)) if p == 1.0 else np.ones((2, 3)))


def test_data_is_reachable_from_the_top_level_as_torch_utils_data_is():
    import subprocess
    import sys
    code = ("import tvmini as tm\n"
            "loader = tm.data.DataLoader(tm.data.TensorDataset(tm.arange(6)), batch_size=4)\n"
            "print([b[0].numpy().tolist() for b in loader])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[[0, 1, 2, 3], [4, 5]]"

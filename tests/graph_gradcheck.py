"""Gradient checking for the graph-layer tests: autodiff against central differences.

``check_grad(fn, *arrays)`` builds float64 leaf tensors from the numpy ``arrays``, runs
``fn`` (which returns a Tensor), backpropagates a fixed random head gradient, and compares
every input's ``.grad`` with the central finite difference of ``sum(head * fn(...))``.
Perturbations write the leaves' host memory in place, so the kernels built for the
forward are reused for every difference.
"""
import numpy as np

import tvmini as tm


def _value(fn, leaves, head):
    with tm.no_grad():
        out = fn(*leaves)
    return float(np.sum(out.numpy() * head))


def check_grad(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Assert autodiff gradients of ``fn`` match finite differences at ``arrays``."""
    leaves = [tm.tensor(np.asarray(a, dtype="float64"), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    head = np.random.default_rng(seed).uniform(0.5, 1.5, size=out.shape).astype("float64")
    out.backward(tm.tensor(head))
    for k, leaf in enumerate(leaves):
        assert leaf.grad is not None, f"input {k} got no gradient"
        assert leaf.grad.shape == leaf.shape
        view = leaf._data._storage.host_view()
        numeric = np.zeros(leaf.shape)
        for idx in np.ndindex(*leaf.shape):
            original = view[idx]
            view[idx] = original + eps
            plus = _value(fn, leaves, head)
            view[idx] = original - eps
            minus = _value(fn, leaves, head)
            view[idx] = original
            numeric[idx] = (plus - minus) / (2 * eps)
        np.testing.assert_allclose(leaf.grad.numpy(), numeric, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k}")
    return out


def grads_match_torch(fn, torch_fn, *arrays, rtol=1e-10, atol=1e-12):
    """``fn``'s gradients w.r.t. ``arrays`` (the output times a fixed random head)
    equal those of ``torch_fn`` on the same arrays (torch is imported by the caller's
    test module, which skips without it)."""
    import torch
    leaves = [tm.tensor(a, requires_grad=True) for a in arrays]
    refs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, ref = fn(*leaves), torch_fn(*refs)
    head = np.random.default_rng(1).uniform(0.5, 1.5, out.shape)
    out.backward(tm.tensor(head))
    ref.backward(torch.tensor(head))
    for leaf, r in zip(leaves, refs):
        np.testing.assert_allclose(leaf.grad.numpy(), r.grad.numpy(), rtol=rtol, atol=atol)

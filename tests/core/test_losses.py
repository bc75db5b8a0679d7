"""squared_error: masks, weights and valid-count denominators against hand computations."""

import numpy as np
import pytest

import ambientloss as al


def _data(backend, shape=(3, 4, 2), seed=0):
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=shape), rng.normal(size=shape)
    return pred, target, backend.asarray(pred), backend.asarray(target)


def test_mean_without_mask(backend):
    pred, target, p, t = _data(backend)
    out = al.squared_error(p, t)
    np.testing.assert_allclose(backend.to_numpy(out), np.mean((pred - target) ** 2), rtol=50 * backend.eps)


def test_per_sample_padding_mask_uses_valid_count(backend):
    """LeRobot's action_is_pad: (B, T) mask on (B, T, D) actions; the denominator counts valid entries."""
    pred, target, p, t = _data(backend)
    is_pad = np.array([[False, False, True, True], [False, False, False, False], [True, True, True, True]])
    valid = _native_bool(backend, ~is_pad)
    out = backend.to_numpy(al.squared_error(p, t, where=valid, reduction="per_sample"))
    sq = (pred - target) ** 2
    expected = [sq[0, :2].mean(), sq[1].mean(), 0.0]
    np.testing.assert_allclose(out, expected, rtol=50 * backend.eps, atol=0)
    total = backend.to_numpy(al.squared_error(p, t, where=valid, reduction="mean"))
    np.testing.assert_allclose(total, sq[~is_pad].mean(), rtol=50 * backend.eps)
    summed = backend.to_numpy(al.squared_error(p, t, where=valid, reduction="sum"))
    np.testing.assert_allclose(summed, sq[~is_pad].sum(), rtol=50 * backend.eps)


def _native_bool(backend, mask):
    name = backend.name
    if name.startswith("torch"):
        import torch

        return torch.as_tensor(mask)
    if name.startswith("jax"):
        import jax.numpy as jnp

        return jnp.asarray(mask)
    if name.startswith("strict"):
        return backend.xp.asarray(mask)
    return np.asarray(mask)


def test_masked_entries_ignore_nan_targets_and_weights(backend):
    pred, target, _, _ = _data(backend)
    target[0, 0, 0] = np.nan
    weight = np.array([np.nan, 1.0, 2.0])
    mask = np.ones(pred.shape, dtype=bool)
    mask[0] = False
    out = al.squared_error(
        backend.asarray(pred),
        backend.asarray(target),
        weight=backend.asarray(weight),
        where=_native_bool(backend, mask),
        reduction="none",
    )
    out = backend.to_numpy(out)
    assert np.all(np.isfinite(out))
    assert np.all(out[0] == 0)
    np.testing.assert_allclose(out[2], 2 * (pred[2] - target[2]) ** 2, rtol=50 * backend.eps)


def test_weight_is_right_padded_per_sample(backend):
    pred, target, p, t = _data(backend, shape=(3, 3, 2))
    w = np.array([0.5, 1.0, 2.0])
    out = backend.to_numpy(al.squared_error(p, t, weight=backend.asarray(w), reduction="per_sample"))
    np.testing.assert_allclose(out, w * ((pred - target) ** 2).mean(axis=(1, 2)), rtol=50 * backend.eps)


def test_half_precision_prediction_gives_float32_loss():
    torch = pytest.importorskip("torch")
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(4, 8, generator=g).to(torch.bfloat16)
    target = torch.randn(4, 8, generator=g)
    out = al.squared_error(pred, target.to(torch.bfloat16))
    assert out.dtype == torch.float32
    d = pred.float() - target.to(torch.bfloat16).float()
    expected = (d * d).mean()
    # the library's float32 differences and squares, bit for bit, but summed by another reduction
    # whose order may differ (vector width, tiling): a sum of 32 non-negative terms in any order is
    # within 31 u (u = eps32 / 2) of the exact one, so the two differ by 31 eps32 relative to first
    # order (/ 32 is exact); 32 eps32 bounds it. bf16 arithmetic would be off by ~eps_bf16 = 7.8e-3.
    torch.testing.assert_close(out, expected, rtol=32 * torch.finfo(torch.float32).eps, atol=0)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"reduction": "avg"}, ValueError, "unknown reduction 'avg'"),
        ({"weight": np.ones(5)}, ValueError, "weight with shape \\(5,\\)"),
        ({"where": np.ones((3, 4, 2))}, TypeError, "where must be a boolean array"),
        ({"where": np.ones((2, 4), dtype=bool)}, ValueError, "where with shape \\(2, 4\\)"),
        ({"reduction": "per_sample", "batch_ndim": 4}, ValueError, "batch_ndim must be between 0 and pred.ndim=3"),
    ],
)
def test_bad_loss_arguments(kwargs, error, match):
    pred, target = np.zeros((3, 4, 2)), np.ones((3, 4, 2))
    with pytest.raises(error, match=match):
        al.squared_error(pred, target, **kwargs)


def test_shape_mismatch_is_not_broadcast():
    with pytest.raises(ValueError, match=r"pred and target must have the same shape, got \(3, 4\) and \(4,\)"):
        al.squared_error(np.zeros((3, 4)), np.zeros(4))

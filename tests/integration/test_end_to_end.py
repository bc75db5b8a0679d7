"""End to end: annotated clean + corrupt data, levels from a sampler, the ambient loss and one optimiser step.

PyTorch: a DataLoader with two (spawn) workers over :class:`AmbientDataset` and :class:`SigmaFirstSampler`
feeds :class:`~ambientloss.adapters.torch.AmbientLoss`; the loss is cross-checked against the core
``ambient_pair`` / ``loss_weight`` / ``squared_error`` with the same noise. JAX: level draws
(sigma-first or data-first), frozen ``x_tmin``, targets, loss and an SGD update in one ``jax.jit`` step.
"""

from __future__ import annotations

import numpy as np
import pytest

import ambientloss as al
from ambientloss import Buffer

N, T, D = 32, 8, 2
BUFFER = Buffer(min_gap=0.05)


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Half clean, half corrupt (VP levels), four corrupt samples also usable below 0.1; two sources."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((N, T, D)).astype(np.float32)
    m = np.concatenate([np.zeros(N // 2), rng.uniform(0.2, 0.7, N // 2)])
    top = np.zeros(N)
    top[-4:] = 0.1
    return x, m, top, (m > 0).astype(np.int64)


def test_torch_two_workers_into_the_ambient_loss_and_one_step():
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader, TensorDataset

    from ambientloss.adapters.torch import AmbientLoss
    from ambientloss.adapters.torch_data import AmbientDataset, SigmaFirstSampler
    from ambientloss.sampling import UniformVP

    x, m, top, src = _data()
    dataset = AmbientDataset(TensorDataset(torch.from_numpy(x)), m, top, seed=1, schedule="vp", key=0, buffer=BUFFER)
    sampler = SigmaFirstSampler(
        m, top, src, base=UniformVP(), buffer=BUFFER, weights=[1, 1], seed=0, num_samples=64, empty="renormalize"
    )
    loader = DataLoader(dataset, batch_size=16, sampler=sampler, num_workers=2, multiprocessing_context="spawn")
    batch = next(iter(loader))
    x_tmin, level, sigma = batch["x_tmin"], batch["trusted_level"], batch["sigma"]
    assert bool((level == 0).any())
    assert bool((level > 0).any())  # a mixed batch

    with torch.random.fork_rng(devices=[]):  # fixed weights, the global generator left as it was
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(T * D + 1, 32), torch.nn.SiLU(), torch.nn.Linear(32, T * D))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = AmbientLoss(prediction="epsilon", schedule="vp")
    noise = torch.randn(x_tmin.shape, generator=torch.Generator().manual_seed(2))
    x_t, target = loss_fn.prepare(x_tmin, sigma, level, noise)
    pred = model(torch.cat([x_t.flatten(1), sigma[:, None].float()], dim=1)).view_as(x_t)
    loss = loss_fn(pred, target, sigma, level)

    core_x_t, core_target = al.ambient_pair(x_tmin, sigma, level, noise, prediction="epsilon", schedule="vp")
    weight = al.loss_weight(sigma, level, prediction="epsilon", schedule="vp")
    core = al.squared_error(pred, core_target, weight=weight)
    assert torch.equal(x_t, core_x_t)
    torch.testing.assert_close(loss, core)
    assert bool(torch.isfinite(loss))

    before = [p.detach().clone() for p in model.parameters()]
    opt.zero_grad()
    loss.backward()
    opt.step()
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


@pytest.mark.parametrize("regime", ["sigma_first", "data_first"])
def test_jax_jit_step(regime):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from ambientloss import trusted_level, usable
    from ambientloss.adapters import jax as alj
    from ambientloss.adapters.jax_data import frozen_x_tmin, sigma_first
    from ambientloss.sampling import UniformVP, sample_truncated
    from ambientloss.sampling.sigma_first import SigmaFirst

    x_np, m_np, top_np, src_np = _data()
    x0, m, top = jnp.asarray(x_np), jnp.asarray(m_np), jnp.asarray(top_np)
    base = UniformVP()
    plan = SigmaFirst(m, top, jnp.asarray(src_np), base=base, buffer=BUFFER, weights=[1, 1], empty="renormalize")
    x_tmin_all = frozen_x_tmin(x0, jnp.arange(N), m, seed=jax.random.key(7))

    def apply_fn(params, x_t, sigma):
        return x_t @ params["w"] + params["b"] + sigma[:, None, None].astype(x_t.dtype) * params["c"]

    @jax.jit
    def step(params, key):
        k_draw, k_level, k_noise = jax.random.split(key, 3)
        if regime == "sigma_first":
            draws = sigma_first(k_draw, plan, 16)
            idx, sigma = draws.index, draws.sigma
        else:
            idx = jax.random.randint(k_draw, (16,), 0, N)
            u = jax.random.uniform(k_level, (16,), jnp.float64)
            sigma = sample_truncated(u, m[idx], top[idx], base=base, buffer=BUFFER, xp=jnp)
        ok = (idx >= 0) & usable(sigma, m[idx], top[idx], buffer=BUFFER, schedule="vp", xp=jnp)
        level = trusted_level(sigma, m[idx], top[idx], buffer=BUFFER, schedule="vp", xp=jnp)
        x_tmin = jnp.where((level == 0)[:, None, None], x0[idx], x_tmin_all[idx])  # the low branch is clean
        level = jnp.where(ok, level, 0.0)
        loss, grads = jax.value_and_grad(alj.training_loss)(
            params, k_noise, x_tmin, sigma, level, apply_fn=apply_fn, prediction="epsilon", where=ok
        )
        return jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads), loss, ok, level

    params = {"w": jnp.eye(D, dtype=jnp.float32), "b": jnp.zeros(D, jnp.float32), "c": jnp.zeros(D, jnp.float32)}
    new, loss, ok, level = step(params, jax.random.key(0))
    assert bool(ok.all())
    assert bool(jnp.isfinite(loss))
    assert bool((level == 0).any())
    assert bool((level > 0).any())
    assert any(not bool(jnp.array_equal(new[k], params[k])) for k in params)
    assert all(bool(jnp.isfinite(v).all()) for v in new.values())

r"""A classifier of real against sim chunks that also sees the observation the chunk was planned at.

The dynamics gap shows less in a chunk's shape than in how it relates to the state (a softer, delayed servo
leaves the pusher further behind its commands). The library's
:class:`~ambientloss.adapters.torch_classifier.NoiseConditionalClassifier` with temporal convolutions
(``pooling="conv"``) therefore reads a ``(T, D + O)`` input: the noised chunk ``a x_0 + b z`` in the first
``D`` channels and the observation, **not noised**, repeated along time in the last ``O``. Only the chunk is
noised because only the chunk is generated; the observation is given at every level.

For :func:`ambientloss.annotation.adaptive_sigma_min`, which noises whole rows, the rows are
``[x_0, obs]`` and the noise draws are zero in the observation channels, so the engine hands over
``[a x_0 + b z, a obs]``; the probability function divides those channels by ``a`` before the classifier
sees them.

The observations of the two sources differ too (the sim block slides further, the sim pusher keeps up with its
commands), so the classifier's odds carry a part that depends on the observation alone. That part says nothing
about whether a sim chunk is a good action for its state, so :func:`probability` removes it: it subtracts from
the logit the classifier's logit for the same observation with a chunk at the table's top level (nearly pure
noise, ``N_PRIOR`` fixed draws averaged, once per distinct observation of a call), the log prior odds of the
observation. What remains compares ``p(x_t | obs)`` under the two sources, as the conditional policy needs.
"""

from __future__ import annotations

import array_api_compat.torch as txp
import numpy as np
import torch

from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier
from ambientloss.annotation import adaptive_sigma_min, ddpm_timestep_grid
from benchmarks.policy.methods import Pools

__all__ = ["N_PRIOR", "accuracy", "fit", "probability", "sigma_min_of"]

N_PRIOR = 4


def _joint(x: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
    return torch.cat([x, obs[:, None, :].expand(len(x), x.shape[1], obs.shape[-1])], dim=-1)


def probability(model: NoiseConditionalClassifier, x_t: torch.Tensor, obs: torch.Tensor, sigma: torch.Tensor,
                top: float) -> torch.Tensor:
    """``P(sim)`` ``(B,)`` of noised chunks ``x_t`` at levels ``sigma`` given ``obs``, with the observation's
    prior odds (the logit at level ``top``) removed."""
    g = torch.Generator().manual_seed(12345)
    z = torch.randn((N_PRIOR, *x_t.shape[1:]), generator=g, dtype=x_t.dtype)
    uniq, inverse = torch.unique(obs, dim=0, return_inverse=True)
    n = len(uniq)
    with torch.no_grad():
        logit = model(_joint(x_t, obs), sigma)
        prior = torch.stack([model(_joint(z[k].expand(n, *z.shape[1:]), uniq), torch.full((n,), top))
                             for k in range(N_PRIOR)]).mean(dim=0)
    return torch.sigmoid(logit - prior[inverse])


def fit(pools: Pools, *, seed: int, steps: int, hidden: int = 64, batch_size: int = 256,
        lr: float = 3e-3) -> NoiseConditionalClassifier:
    """Train on balanced batches: ``batch_size`` real and sim rows, timesteps uniform over the table."""
    g = torch.Generator().manual_seed(seed)
    t_dim, d = pools.xc.shape[1:]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = NoiseConditionalClassifier(
            (t_dim, d + pools.oc.shape[1]), positive="corrupt", schedule=pools.table, hidden=hidden, depth=3,
            pooling="conv", sigma_data=float(pools.xc.std()),
        )
    sigmas = torch.as_tensor(np.asarray(pools.table.sigmas), dtype=torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    label = torch.cat([torch.zeros(batch_size), torch.ones(batch_size)])
    model.train()
    for _ in range(steps):
        i = torch.randint(len(pools.xc), (batch_size,), generator=g)
        j = torch.randint(len(pools.xl), (batch_size,), generator=g)
        s = sigmas[torch.randint(len(sigmas), (batch_size,), generator=g)].repeat(2)
        x0 = torch.cat([pools.xc[i], pools.xl[j]])
        obs = torch.cat([pools.oc[i], pools.ol[j]])
        x_t = (1 - s * s).sqrt()[:, None, None] * x0 + s[:, None, None] * torch.randn(x0.shape, generator=g)
        loss = model.loss(_joint(x_t, obs), s, label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model.eval()


def accuracy(model: NoiseConditionalClassifier, clean: tuple[torch.Tensor, torch.Tensor],
             low: tuple[torch.Tensor, torch.Tensor], sigma: float, *, seed: int, joint: bool,
             top: float = 1.0) -> float:
    """Balanced accuracy at level ``sigma`` on ``(chunks, observations)`` of each source (all rows); ``joint``
    classifiers through :func:`probability` with the prior level ``top``."""
    g = torch.Generator().manual_seed(seed)
    accs = []
    for (x, obs), corrupt in ((clean, False), (low, True)):
        x_t = (1 - sigma * sigma) ** 0.5 * x + sigma * torch.randn(x.shape, generator=g)
        level = torch.full((len(x),), sigma)
        p = probability(model, x_t, obs, level, top) if joint else model.probability(x_t, level, probability="corrupt")
        accs.append(float(((p > 0.5) == corrupt).float().mean()))
    return float(np.mean(accs))


def sigma_min_of(model: NoiseConditionalClassifier, pools: Pools, *, eps: float, seed: int, n_draws: int = 4
                 ) -> torch.Tensor:
    """``sigma_min`` ``(Nl,)`` of every sim row by bisection over the table (see the module docstring)."""
    d = pools.xl.shape[-1]
    rows = _joint(pools.xl, pools.ol)
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn((len(rows), n_draws, *pools.xl.shape[1:]), generator=g)
    noise = torch.cat([noise, torch.zeros((*noise.shape[:-1], pools.ol.shape[1]))], dim=-1)

    def p_corrupt(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        a = (1 - sigma.to(torch.float64) ** 2).clamp_min(1e-24).sqrt().to(x.dtype)
        return probability(model, x[..., :d], x[:, 0, d:] / a[:, None], sigma, top)

    top = float(pools.table.sigmas[-1])

    grid = ddpm_timestep_grid(pools.table, xp=txp, dtype=torch.float32)
    res = adaptive_sigma_min(p_corrupt, rows, grid, probability="corrupt", eps=eps, n_draws=n_draws,
                             schedule=pools.table, batch_size=8192, noise=noise, seed=seed)
    return res.sigma_min.to(torch.float32)

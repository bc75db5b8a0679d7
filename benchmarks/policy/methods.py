r"""Training methods: one network, one budget, five ways to use the low-quality chunks.

==================== ===================================================================================
method               which low-quality rows enter at which levels, with which target
==================== ===================================================================================
``clean``            none: clean rows at every level
``cotrain``          every row at every level (source reweighting: ``clean_fraction`` of each batch clean)
``ambient``          row ``i`` only at levels above its own ``sigma_min_i`` (noise-conditional classifier)
``ambient_level``    the same with one dataset-level ``sigma_min`` (chosen on validation)
``omni``             Ambient-Omni: row ``i`` above ``sigma_min_i`` and below ``sigma_max``, used as clean
                     below (``sigma_min_i`` may be the top level: only the low-noise branch)
==================== ===================================================================================

Above ``sigma_min`` a low-quality row enters with one of two losses (``loss=``):

- ``"ambient"``: the ambient epsilon target from the row's **frozen** trusted sample
  ``x_tmin = a_m x0 + b_m eps(seed, i)`` (:func:`ambientloss.frozen_x_tmin`),
  weighted by the inverse-variance weight (unbiased for the clean distribution, higher variance);
- ``"denoise"``: the standard target from the raw row itself, only at admissible levels (``sigma_min``
  passed as 0 to :meth:`~ambientloss.adapters.torch.AmbientLoss.prepare`; lower variance, biased by
  what the noise has not yet washed out at ``sigma``).

Batches are drawn level first (:class:`ambientloss.sampling.sigma_first.SigmaFirst`): a timestep
uniform over the table, then the source with probabilities ``(clean_fraction, 1 - clean_fraction)``
renormalised to the clean source where no low-quality row is usable, then a usable row of that source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import array_api_compat.torch as txp
import torch

from ambientloss import Discrete, frozen_x_tmin, trusted_level
from ambientloss.sampling import DiscreteTimesteps, admissible_mass
from ambientloss.sampling.sigma_first import SigmaFirst

from .diffusion import Batch

__all__ = ["METHODS", "Pools", "make_draw"]

METHODS = ("clean", "cotrain", "ambient", "ambient_level", "omni")


@dataclass
class Pools:
    """Training rows in model coordinates: clean chunks ``xc`` ``(Nc, T, D)`` with observations ``oc``
    ``(Nc, O)``, low-quality chunks ``xl`` / ``ol``, and the noise table."""

    xc: torch.Tensor
    oc: torch.Tensor
    xl: torch.Tensor
    ol: torch.Tensor
    table: Discrete

    @property
    def base(self) -> DiscreteTimesteps:
        return DiscreteTimesteps(self.table)


def make_draw(
    pools: Pools,
    *,
    batch_size: int,
    use_low: bool,
    sigma_min: torch.Tensor | None = None,
    sigma_max: torch.Tensor | None = None,
    loss: Literal["ambient", "denoise"] = "ambient",
    clean_fraction: float = 0.5,
    weight: torch.Tensor | None = None,
    seed: int = 0,
) -> Callable[[torch.Generator], Batch]:
    """The batch function of a method for :func:`benchmarks.policy.diffusion.train`.

    ``use_low=False`` is clean only. With ``use_low=True``: ``sigma_min`` ``(Nl,)`` (``None``: 0, co-training)
    and ``sigma_max`` ``(Nl,)`` (``None``: no low-noise branch) set where each low-quality row is usable;
    ``weight`` ``(Nl,)`` multiplies each low-quality row's loss (soft ambient diffusion; clean rows 1).
    """
    if loss not in ("ambient", "denoise"):
        msg = f"loss must be 'ambient' or 'denoise', got {loss!r}"
        raise ValueError(msg)
    if not 0 < clean_fraction <= 1:
        msg = f"clean_fraction must lie in (0, 1], got {clean_fraction}"
        raise ValueError(msg)
    n_c = len(pools.xc)
    xl, ol = (pools.xl, pools.ol) if use_low else (pools.xl[:0], pools.ol[:0])
    m_l = torch.zeros(len(xl)) if sigma_min is None or not use_low else sigma_min.to(torch.float32)
    top_l = None if sigma_max is None or not use_low else sigma_max.to(torch.float32)
    ids = torch.arange(len(xl))
    if weight is not None and use_low and weight.shape != (len(xl),):
        msg = f"weight must have shape ({len(xl)},), one per low-quality row, got {tuple(weight.shape)}"
        raise ValueError(msg)
    w_l = None if weight is None or not use_low else weight.to(torch.float32)
    if use_low and (sigma_min is not None or sigma_max is not None):
        keep = torch.as_tensor(admissible_mass(m_l, top_l, base=pools.base)) > 0
        xl, ol, m_l, ids = xl[keep], ol[keep], m_l[keep], ids[keep]
        w_l = None if w_l is None else w_l[keep]
        top_l = None if top_l is None else top_l[keep]
    raw = torch.cat([pools.xc, xl])
    frozen = raw
    if loss == "ambient" and len(xl):
        frozen = torch.cat([pools.xc, frozen_x_tmin(xl, ids, m_l, seed=seed, schedule=pools.table)])
    obs = torch.cat([pools.oc, ol])
    m_all = torch.cat([torch.zeros(n_c), m_l])
    top = None if top_l is None else torch.cat([torch.zeros(n_c), top_l])
    source = torch.cat([torch.zeros(n_c, dtype=torch.int64), torch.ones(len(xl), dtype=torch.int64)])
    weights = [1.0, 0.0] if not use_low or not len(xl) else [clean_fraction, 1 - clean_fraction]
    plan = SigmaFirst(m_all, top, source, base=pools.base, weights=weights, empty="renormalize", xp=txp)
    w_all = None if w_l is None else torch.cat([torch.ones(n_c), w_l])
    table = pools.table

    def draw(g: torch.Generator) -> Batch:
        d = plan(torch.rand((batch_size, 3), generator=g))
        m = trusted_level(d.sigma, m_all[d.index], None if top is None else top[d.index], schedule=table)
        if loss == "denoise":
            x, m = raw[d.index], torch.zeros_like(m)
        else:
            x = torch.where((m == 0)[:, None, None], raw[d.index], frozen[d.index])
        w = None if w_all is None else w_all[d.index]
        return Batch(x, m, pools.base.timestep(d.sigma), obs[d.index], w)

    return draw

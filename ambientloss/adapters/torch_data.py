r"""PyTorch data pipeline for ambient training: samplers that carry the noise level, frozen ``x_tmin``.

* :class:`DataFirstSampler` walks a per-epoch permutation and gives every index its own level from
  the base law restricted to the sample's usable set (:func:`ambientloss.sampling.sample_truncated`):
  the data mixture is kept, the level marginal is not.
* :class:`SigmaFirstSampler` draws the level first and then a usable sample
  (:class:`ambientloss.sampling.sigma_first.SigmaFirst`): the level marginal is kept, the data
  mixture becomes level dependent.
* :class:`AmbientDataset` wraps a user dataset and adds ``x_tmin`` (with frozen per-sample noise),
  ``sigma_min``, ``sigma_max``, ``sigma`` and ``trusted_level`` to each item.

Both samplers yield ``(index, sigma)`` tuples, which :class:`AmbientDataset` accepts as keys, so a
level travels with its sample through worker processes and prefetching; there is no side channel.
Every pair is a function of ``(seed, epoch, position)`` only (NumPy's Philox generator keyed by
``(seed, epoch)``), so the union over ranks is the single-process sequence and a restart reproduces
it. Like :class:`torch.utils.data.DistributedSampler`, rank ``r`` of ``R`` takes positions
``r, r + R, r + 2R, ...``; with ``drop_last=False`` the sequence is padded to a multiple of ``R`` by
repeating its first pairs, with ``drop_last=True`` its tail is dropped instead.

Examples
--------
>>> import torch
>>> from torch.utils.data import DataLoader, TensorDataset
>>> from ambientloss.adapters.torch_data import AmbientDataset, SigmaFirstSampler
>>> from ambientloss.sampling import UniformVP
>>> x = torch.randn(6, 4, 2, generator=torch.Generator().manual_seed(0))   # 6 action chunks
>>> sigma_min = torch.tensor([0.0, 0.0, 0.0, 0.5, 0.5, 0.7], dtype=torch.float64)   # 3 clean, 3 corrupt
>>> dataset = AmbientDataset(TensorDataset(x), sigma_min, seed=0, schedule="vp", key=0)
>>> sampler = SigmaFirstSampler(sigma_min, base=UniformVP(), seed=0, empty="renormalize")
>>> batch = next(iter(DataLoader(dataset, batch_size=4, sampler=sampler)))
>>> batch["x_tmin"].shape, batch["sigma"].dtype, bool((batch["sigma"] > batch["trusted_level"]).all())
(torch.Size([4, 4, 2]), torch.float64, True)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import array_api_compat.numpy as npx
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from ..core.admissibility import trusted_level
from ..core.buffer import Buffer
from ..core.frozen import frozen_noise as _frozen_noise
from ..core.frozen import frozen_x_tmin
from ..core.levels import prepare_levels
from ..core.schedules import get_schedule
from ..sampling._truncated import sample_truncated
from ..sampling.sigma_first import SigmaFirst

__all__ = ["AmbientDataset", "DataFirstSampler", "SigmaFirstSampler", "frozen_noise"]


def frozen_noise(
    seed: int,
    sample_id: int | Sequence[int] | torch.Tensor,
    shape: int | tuple[int, ...],
    *,
    dtype: torch.dtype = torch.float32,
    device: Any = None,
) -> torch.Tensor:
    """:func:`ambientloss.frozen_noise` as a tensor: the same bits as NumPy's, rounded to ``dtype``.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from ambientloss import frozen_noise as np_noise
    >>> bool((frozen_noise(3, 11, (2, 5), dtype=torch.float64).numpy() == np_noise(3, 11, (2, 5))).all())
    True
    """
    return torch.from_numpy(_frozen_noise(seed, sample_id, shape, np.float64)).to(dtype=dtype, device=device)


def _levels(values: Any, name: str, n: int | None) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},)" if n is not None else "(N,)"
        msg = f"{name} must have shape {want}, one entry per sample, got {arr.shape}"
        raise ValueError(msg)
    return arr


def _annotations(sigma_min: Any, sigma_max: Any, schedule: Any, n: int | None) -> tuple[np.ndarray, np.ndarray | None]:
    m = _levels(sigma_min, "sigma_min", n)
    top = None if sigma_max is None else _levels(sigma_max, "sigma_max", m.shape[0])
    prepare_levels({"sigma_min": m, "sigma_max": top}, get_schedule(schedule), npx)  # NaN, domain
    return m, top


class _LevelSampler(Sampler[tuple[int, float]]):
    """Epoch bookkeeping and the rank partition shared by both samplers."""

    def __init__(self, length: int, seed: int, num_replicas: int | None, rank: int | None, drop_last: bool) -> None:
        if num_replicas is None or rank is None:
            dist = torch.distributed
            running = dist.is_available() and dist.is_initialized()
            num_replicas = (dist.get_world_size() if running else 1) if num_replicas is None else num_replicas
            rank = (dist.get_rank() if running else 0) if rank is None else rank
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            msg = f"need num_replicas >= 1 and 0 <= rank < num_replicas, got rank={rank}, num_replicas={num_replicas}"
            raise ValueError(msg)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            msg = f"seed must be an integer in [0, 2**64), got {seed!r}"
            raise ValueError(msg)
        self.length, self.seed, self.num_replicas, self.rank = length, seed, num_replicas, rank
        self.drop_last, self.epoch = drop_last, 0
        per_rank = length // num_replicas if drop_last else math.ceil(length / num_replicas)
        self.num_samples, self.total_size = per_rank, per_rank * num_replicas

    def set_epoch(self, epoch: int) -> None:
        """Use the sequence of ``epoch`` on the next iteration (call it on every rank, every epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            msg = f"epoch must be a non-negative integer, got {epoch!r}"
            raise ValueError(msg)
        self.epoch = epoch

    def generator(self) -> np.random.Generator:
        """The epoch's generator: Philox keyed by ``(seed, epoch)``, independent of the rank."""
        return np.random.Generator(np.random.Philox(key=np.array([self.seed, self.epoch], dtype=np.uint64)))

    def positions(self) -> np.ndarray:
        """Positions of this rank in the epoch's sequence (padding repeats the first positions)."""
        return np.arange(self.rank, self.total_size, self.num_replicas) % max(self.length, 1)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """``(index, sigma)`` arrays of this rank for the current epoch."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[int, float]]:
        index, sigma = self.pairs()
        return iter(zip(index.tolist(), sigma.tolist(), strict=True))

    def __len__(self) -> int:
        return self.num_samples


class DataFirstSampler(_LevelSampler):
    r"""Each index once per epoch (a seeded permutation), each with a level from its truncated base law.

    Position ``p`` of epoch ``e`` carries ``index = perm[p]`` and
    ``sigma = sample_truncated(u[p], sigma_min[index], sigma_max[index])`` with ``perm`` and ``u``
    drawn from Philox keyed by ``(seed, e)``.

    Parameters
    ----------
    sigma_min, sigma_max : array of shape ``(N,)``
        Per-sample annotations in the units of ``base.schedule``; ``sigma_max`` optional.
    base : Base
        Law of the levels; ``buffer`` the margin above ``sigma_min``.
    seed : int
        Same on every rank.
    shuffle : bool
        ``False`` walks the indices in order (the levels stay random).
    num_replicas, rank : int, optional
        Taken from :mod:`torch.distributed` when it is initialised, else 1 and 0.
    drop_last : bool
        Drop the tail that does not divide evenly among ranks instead of padding it.
    """

    def __init__(
        self,
        sigma_min: Any,
        sigma_max: Any = None,
        /,
        *,
        base: Any,
        buffer: Buffer | None = None,
        seed: int = 0,
        shuffle: bool = True,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        self.sigma_min, self.sigma_max = _annotations(sigma_min, sigma_max, base.schedule, None)
        self.base, self.buffer, self.shuffle = base, buffer, shuffle
        sample_truncated(np.zeros_like(self.sigma_min), self.sigma_min, self.sigma_max, base=base, buffer=buffer)
        super().__init__(self.sigma_min.shape[0], seed, num_replicas, rank, drop_last)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        rng = self.generator()
        n = self.length
        order = rng.permutation(n) if self.shuffle else np.arange(n)
        u = rng.random(n)
        pos = self.positions()
        index = order[pos]
        top = None if self.sigma_max is None else self.sigma_max[index]
        sigma = sample_truncated(u[pos], self.sigma_min[index], top, base=self.base, buffer=self.buffer)
        return index, np.asarray(sigma, dtype=np.float64)


class SigmaFirstSampler(_LevelSampler):
    r"""``num_samples`` sigma-first draws per epoch: the level from the base law, then a usable sample.

    Position ``p`` of epoch ``e`` is the draw of :class:`~ambientloss.sampling.sigma_first.SigmaFirst`
    from the uniforms ``U[p]`` of ``U = Philox(seed, e).random((num_samples, 3))``. Draws are with
    replacement: an index may appear several times in an epoch, each time with its own level.

    Parameters
    ----------
    sigma_min, sigma_max, source
        Annotations and source ids, as in :class:`~ambientloss.sampling.sigma_first.SigmaFirst`.
    base, buffer, weights, empty
        As in :class:`~ambientloss.sampling.sigma_first.SigmaFirst`.
    num_samples : int, optional
        Draws per epoch over all ranks; ``N`` by default.
    seed, num_replicas, rank, drop_last
        As in :class:`DataFirstSampler`.
    """

    def __init__(
        self,
        sigma_min: Any,
        sigma_max: Any = None,
        source: Any = None,
        /,
        *,
        base: Any,
        buffer: Buffer | None = None,
        weights: Any = None,
        empty: str = "raise",
        num_samples: int | None = None,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        drop_last: bool = False,
    ) -> None:
        m, top = _annotations(sigma_min, sigma_max, base.schedule, None)
        self.plan = SigmaFirst(m, top, source, base=base, buffer=buffer, weights=weights, empty=empty, xp=npx)
        length = m.shape[0] if num_samples is None else num_samples
        if isinstance(length, bool) or not isinstance(length, int) or length < 0:
            msg = f"num_samples must be a non-negative integer, got {num_samples!r}"
            raise ValueError(msg)
        super().__init__(length, seed, num_replicas, rank, drop_last)

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        u = self.generator().random((self.length, 3))
        draws = self.plan(u[self.positions()])
        return np.asarray(draws.index), np.asarray(draws.sigma, dtype=np.float64)


class AmbientDataset(Dataset[dict[str, Any]]):
    r"""A user dataset plus annotations: each item gains ``x_tmin`` and its noise levels.

    ``dataset[i]`` (or ``dataset[(i, sigma)]`` from one of the samplers) returns a dict: the user's
    item if it is a mapping (otherwise ``{"item": item}``) plus

    ============== ==================================================================================
    ``x_tmin``     ``a_l x + b_l eps(seed, sample_id)`` at ``l = trusted_level``: frozen noise, the
                   same in every worker and run; ``x`` itself where ``l = 0``
    ``sigma_min``  the annotation; ``sigma_max`` likewise (0 when not given); float ``level_dtype``
    ``sigma``      the sampler's level (only with an ``(index, sigma)`` key)
    ``trusted_level`` the level of ``x_tmin``: :func:`~ambientloss.trusted_level`
                   (0 on the low-noise branch) with a level, ``sigma_min`` without
    ``index``      ``i`` (int64)
    ============== ==================================================================================

    Pass ``x_tmin``, ``trusted_level`` and ``sigma`` to :meth:`ambientloss.adapters.torch.AmbientLoss.prepare`.

    Parameters
    ----------
    dataset : Dataset
        Map-style dataset whose ``dataset[i]`` holds a floating tensor ``x`` at ``key``.
    sigma_min, sigma_max : array of shape ``(len(dataset),)``
        Annotations in the units of ``schedule``.
    seed : int
        Seed of the frozen noise.
    schedule : str or Schedule
        Units of the levels and the forward process of ``x_tmin`` (required).
    key : str or int, optional
        Where ``x`` sits in the item (``item[key]``); the item itself when ``None``.
    buffer : Buffer, optional
        The samplers' margin above ``sigma_min``, for :func:`~ambientloss.trusted_level`.
    sample_ids : sequence of int, optional
        Identity of each index for the frozen noise (e.g. a stable id when the dataset order may
        change); the index itself by default.
    level_dtype : torch.dtype
        Dtype of the level tensors; float64 by default, so levels just above a threshold stay above it.
    """

    def __init__(
        self,
        dataset: Any,
        sigma_min: Any,
        sigma_max: Any = None,
        *,
        seed: int,
        schedule: Any,
        key: str | int | None = None,
        buffer: Buffer | None = None,
        sample_ids: Sequence[int] | None = None,
        level_dtype: torch.dtype = torch.float64,
    ) -> None:
        self.dataset, self.seed, self.schedule = dataset, seed, get_schedule(schedule)
        self.sigma_min, self.sigma_max = _annotations(sigma_min, sigma_max, self.schedule, len(dataset))
        self.key, self.buffer, self.level_dtype = key, buffer, level_dtype
        self.sample_ids = None if sample_ids is None else [int(i) for i in sample_ids]
        if self.sample_ids is not None and len(self.sample_ids) != len(dataset):
            msg = f"sample_ids must have one entry per sample ({len(dataset)}), got {len(self.sample_ids)}"
            raise ValueError(msg)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int | tuple[int, float]) -> dict[str, Any]:
        index, sigma = (item[0], item[1]) if isinstance(item, tuple) else (item, None)
        index = int(index)
        data = self.dataset[index]
        x = data if self.key is None else data[self.key]
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            msg = f"item[{self.key!r}] of sample {index} must be a floating torch.Tensor, got {type(x).__name__}"
            raise TypeError(msg)
        m = float(self.sigma_min[index])
        top = None if self.sigma_max is None else float(self.sigma_max[index])
        level = m
        if sigma is not None:
            level = trusted_level(float(sigma), m, top, buffer=self.buffer, schedule=self.schedule)
        sid = index if self.sample_ids is None else self.sample_ids[index]
        if level == 0:
            x_tmin = x
        else:  # the level as a float64 scalar: a(level), b(level) are rounded once, to x's dtype
            at = torch.tensor(level, dtype=torch.float64, device=x.device)
            x_tmin = frozen_x_tmin(x, sid, at, seed=self.seed, schedule=self.schedule)
        out = dict(data) if isinstance(data, Mapping) else {"item": data}

        def put(v: float) -> torch.Tensor:
            return torch.tensor(v, dtype=self.level_dtype)

        out.update(x_tmin=x_tmin, sigma_min=put(m), sigma_max=put(0.0 if top is None else top))
        out.update(trusted_level=put(level), index=torch.tensor(index, dtype=torch.int64))
        if sigma is not None:
            out["sigma"] = put(float(sigma))
        return out

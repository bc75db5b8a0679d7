"""PyTorch samplers and dataset wrapper: rank partition, epochs, levels travelling with their samples.

Statistical check: the sigma-first sampler's epoch of 30 000 levels against the log-normal base law,
Pearson chi-squared over 20 equiprobable bins, seed 2026, significance 1e-3.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

torch = pytest.importorskip("torch")

from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

from ambientloss.adapters.torch_data import AmbientDataset, DataFirstSampler, SigmaFirstSampler  # noqa: E402
from ambientloss.core.admissibility import trusted_level, usable  # noqa: E402
from ambientloss.core.buffer import Buffer  # noqa: E402
from ambientloss.core.frozen import frozen_x_tmin  # noqa: E402
from ambientloss.sampling import LogNormal, UniformVP  # noqa: E402

SEED = 2026
BUFFER = Buffer.from_s_max(4)


def _annotations(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    m = np.where(np.arange(n) % 3 == 0, 0.0, rng.uniform(0.1, 2.0, n))
    top = np.where(np.arange(n) % 5 == 1, rng.uniform(0.01, 0.3, n), 0.0)
    return m, top, (np.arange(n) % 2).astype(np.int64)


def _samplers(n: int, replicas: int, **kwargs):
    m, top, src = _annotations(n)
    df = [
        DataFirstSampler(m, top, base=LogNormal(), buffer=BUFFER, seed=SEED, num_replicas=replicas, rank=r, **kwargs)
        for r in range(replicas)
    ]
    sf = [
        SigmaFirstSampler(
            m, top, src, base=LogNormal(), buffer=BUFFER, seed=SEED, num_replicas=replicas, rank=r, **kwargs
        )
        for r in range(replicas)
    ]
    return df, sf


def _interleave(per_rank: list[list[tuple[int, float]]]) -> list[tuple[int, float]]:
    """Rank r holds positions r, r + R, ...: put them back in sequence order."""
    return [pair for group in zip(*per_rank, strict=True) for pair in group]


@pytest.mark.parametrize("epoch", [0, 3])
def test_four_ranks_partition_each_epoch(epoch):
    """N = 40, R = 4: every index once over the ranks (data-first), and the single-process sequence back."""
    df, sf = _samplers(40, 4)
    (single_df,), (single_sf,) = _samplers(40, 1)
    for s in [*df, *sf, single_df, single_sf]:
        s.set_epoch(epoch)
    per_rank = [list(s) for s in df]
    assert [len(p) for p in per_rank] == [10] * 4
    assert sorted(i for p in per_rank for i, _ in p) == list(range(40))
    assert _interleave(per_rank) == list(single_df)
    per_rank = [list(s) for s in sf]
    assert [len(p) for p in per_rank] == [10] * 4
    assert _interleave(per_rank) == list(single_sf)  # each position of the epoch on exactly one rank


def test_padding_and_drop_last_like_distributed_sampler():
    df, _ = _samplers(10, 4)
    (single,), _ = _samplers(10, 1)
    sequence = list(single)
    padded = _interleave([list(s) for s in df])
    assert [len(s) for s in df] == [3] * 4
    assert padded == sequence + sequence[:2]  # padded by repeating the first pairs
    dropped, _ = _samplers(10, 4, drop_last=True)
    assert [len(s) for s in dropped] == [2] * 4
    assert _interleave([list(s) for s in dropped]) == sequence[:8]


def test_epochs_and_seeds():
    (a,), (b,) = _samplers(30, 1)
    first, first_sf = list(a), list(b)
    assert list(a) == first  # deterministic
    a.set_epoch(1)
    b.set_epoch(1)
    assert list(a) != first
    assert list(b) != first_sf
    a.set_epoch(0)
    assert list(a) == first
    m, top, _ = _annotations(30)
    other = DataFirstSampler(m, top, base=LogNormal(), buffer=BUFFER, seed=SEED + 1)
    assert list(other) != first
    ordered = list(DataFirstSampler(m, top, base=LogNormal(), buffer=BUFFER, shuffle=False))
    assert [i for i, _ in ordered] == list(range(30))


def test_every_pair_is_usable():
    m, top, _ = _annotations(60)
    df, sf = _samplers(60, 1)
    for sampler in (df[0], sf[0]):
        index, sigma = (np.array(v) for v in zip(*sampler, strict=True))
        assert usable(sigma, m[index], top[index], buffer=BUFFER, schedule="ve").all()


def test_sigma_first_sampler_keeps_the_base_marginal():
    m, top, src = _annotations(50)
    sampler = SigmaFirstSampler(m, top, src, base=LogNormal(), buffer=BUFFER, seed=SEED, num_samples=30_000)
    sigma = np.array([s for _, s in sampler])
    edges = LogNormal().icdf(np.linspace(0, 1, 21)[1:-1])
    assert stats.chisquare(np.bincount(np.searchsorted(edges, sigma), minlength=20)).pvalue > 1e-3


def test_levels_arrive_with_their_samples_through_two_workers():
    """5 samples, 64 draws per epoch (so indices repeat inside the prefetch window), 2 spawn workers."""
    m = np.array([0.0, 0.2, 0.4, 0.0, 0.8])
    sampler = SigmaFirstSampler(m, base=UniformVP(), seed=SEED, num_samples=64, empty="renormalize")
    sampler.set_epoch(2)
    x = torch.arange(5, dtype=torch.float32)[:, None].repeat(1, 3)
    dataset = AmbientDataset(TensorDataset(x), m, seed=0, schedule="vp", key=0)
    loader = DataLoader(
        dataset, batch_size=4, sampler=sampler, num_workers=2, prefetch_factor=4, multiprocessing_context="spawn"
    )
    expected = list(sampler)
    got = []
    for batch in loader:
        got += list(zip(batch["index"].tolist(), batch["sigma"].tolist(), strict=True))
        assert torch.equal(batch["item"][0][:, 0], batch["index"].float())  # the data is the sample's own
    assert got == expected
    repeats = Counter(i for i, _ in expected)
    assert max(repeats.values()) > 1
    assert len({s for i, s in expected if i == repeats.most_common(1)[0][0]}) > 1  # one index, several levels


def test_dataset_adds_frozen_x_tmin_and_levels():
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(0))
    m = np.array([0.0, 0.5, 0.5, 1.0, 0.0, 2.0])
    top = np.array([0.0, 0.0, 0.3, 0.0, 0.0, 0.1])
    labels = torch.arange(6)
    ds = AmbientDataset(TensorDataset(x, labels), m, top, seed=5, schedule="ve", key=0, buffer=BUFFER)
    item = ds[(2, 0.2)]  # low-noise branch of sample 2: treated as clean
    assert item["trusted_level"].item() == 0.0
    assert torch.equal(item["x_tmin"], x[2])
    assert item["sigma"].dtype == torch.float64
    assert item["item"][1].item() == 2
    item = ds[(2, 0.9)]  # high-noise branch: x_tmin at sigma_min with the frozen noise
    assert item["trusted_level"].item() == 0.5
    assert torch.equal(
        item["x_tmin"], frozen_x_tmin(x[2], 2, torch.tensor(0.5, dtype=torch.float64), seed=5, schedule="ve")
    )
    assert torch.equal(ds[(2, 0.9)]["x_tmin"], ds[(2, 5.0)]["x_tmin"])  # the same noise at every level
    assert torch.equal(ds[2]["x_tmin"], item["x_tmin"])  # without a level: at sigma_min
    assert float(ds[(2, 0.9)]["trusted_level"]) == trusted_level(0.9, 0.5, 0.3, buffer=BUFFER, schedule="ve")
    with pytest.raises(ValueError, match=r"sigma=0\.55 is not usable"):
        ds[(1, 0.55)]  # 0.55 < 1.1547 * 0.5
    dict_ds = AmbientDataset([{"action": x[i], "obs": i} for i in range(6)], m, seed=5, schedule="ve", key="action")
    item = dict_ds[(3, 2.0)]
    assert set(item) >= {"action", "obs", "x_tmin", "sigma", "sigma_min", "sigma_max", "trusted_level", "index"}
    renamed = AmbientDataset(TensorDataset(x), m, seed=5, schedule="ve", key=0, sample_ids=range(100, 106))
    assert torch.equal(
        renamed[3]["x_tmin"], frozen_x_tmin(x[3], 103, torch.tensor(1.0, dtype=torch.float64), seed=5, schedule="ve")
    )


def test_bad_input_is_named():
    x = TensorDataset(torch.zeros(3, 2))
    with pytest.raises(ValueError, match=r"sigma_min must have shape \(3,\)"):
        AmbientDataset(x, np.zeros(4), seed=0, schedule="vp", key=0)
    with pytest.raises(ValueError, match="sigma_min must not be NaN"):
        AmbientDataset(x, np.array([0.0, np.nan, 0.1]), seed=0, schedule="vp", key=0)
    with pytest.raises(ValueError, match=r"sigma_max=1\.5 is outside the domain"):
        AmbientDataset(x, np.zeros(3), np.array([0.0, 1.5, 0.0]), seed=0, schedule="vp", key=0)
    with pytest.raises(TypeError, match=r"must be a floating torch\.Tensor"):
        AmbientDataset([{"x": 1}] * 3, np.zeros(3), seed=0, schedule="vp", key="x")[0]
    with pytest.raises(ValueError, match="sample_ids must have one entry per sample"):
        AmbientDataset(x, np.zeros(3), seed=0, schedule="vp", key=0, sample_ids=[1])
    with pytest.raises(ValueError, match="rank=4, num_replicas=4"):
        DataFirstSampler(np.zeros(3), base=UniformVP(), num_replicas=4, rank=4)
    with pytest.raises(ValueError, match="seed must be an integer"):
        DataFirstSampler(np.zeros(3), base=UniformVP(), seed=-1)
    with pytest.raises(ValueError, match="epoch must be a non-negative integer"):
        DataFirstSampler(np.zeros(3), base=UniformVP()).set_epoch(-1)
    with pytest.raises(ValueError, match="num_samples must be a non-negative integer"):
        SigmaFirstSampler(np.zeros(3), base=UniformVP(), num_samples=2.5)
    with pytest.raises(ValueError, match=r"admissible set of sigma_min=1\.0 .* probability 0"):
        DataFirstSampler(np.array([0.0, 1.0]), base=UniformVP())

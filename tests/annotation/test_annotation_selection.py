"""select_sigma_min, the EMA and the presets, against literal reference loops written here."""

from __future__ import annotations

import importlib.util
import math
import warnings

import numpy as np
import pytest

from ambientloss.annotation import (
    SELECTION_PRESETS,
    AllFallbackWarning,
    edm_lognormal_grid,
    ema,
    select_sigma_min,
    select_with_preset,
)

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_JAX = importlib.util.find_spec("jax") is not None

# ------------------------------------------------------------------------------------------------
# independent references: plain Python loops over lists, no array operations


def ref_ema(values: list[float], span: float) -> list[float]:
    alpha = 2.0 / (span + 1.0)
    out = [values[0]]
    for v in values[1:]:
        out.append((1.0 - alpha) * out[-1] + alpha * v)
    return out


def ref_select(probs: np.ndarray, grid: list[float], *, probability, eps, rule, ema_span=None, ema_fraction=None,
               fallback="largest"):  # fmt: skip
    """The documented rule, one sample at a time (``ema_fraction``: a span of ``max(1, fraction * G)`` steps)."""
    if ema_fraction is not None:
        ema_span = max(1.0, ema_fraction * len(grid))
    out = []
    for sample in probs.tolist():
        traj = [sum(draws) / len(draws) for draws in sample] if isinstance(sample[0], list) else list(sample)
        if ema_span is not None:
            traj = ref_ema(traj, ema_span)
        sign = -1.0 if probability == "corrupt" else 1.0
        holds = [sign * (p - 0.5) + eps > 0 for p in traj]
        index = None
        if rule == "first":
            for g, h in enumerate(holds):
                if h:
                    index = g
                    break
        else:
            for g in range(len(holds) - 1, -1, -1):  # walk down from the top while the criterion holds
                if not holds[g]:
                    break
                index = g
        if index is not None:
            out.append(grid[index])
        elif fallback == "largest":
            out.append(grid[-1])
        elif fallback == "inf":
            out.append(math.inf)
        else:
            out.append(float(fallback))
    return np.array(out)


def noisy_trajectories(rng: np.random.Generator, n: int, g: int, draws: int, *, dip: bool) -> np.ndarray:
    """P(corrupt) falling from about 0.95 to 0.5 at a random level, with draw noise, optionally a dip."""
    t = np.linspace(0.0, 1.0, g)
    centre = rng.uniform(0.3, 0.8, size=(n, 1))
    mean = 0.5 + 0.45 / (1.0 + np.exp((t - centre) / 0.05))
    if dip:  # a run of 60 levels well before the crossing where the classifier is fooled
        start = (rng.uniform(0.05, 0.15, size=n) * g).astype(int)
        for i in range(n):
            mean[i, start[i] : start[i] + 60] = 0.35
    p = mean[..., None] + rng.normal(0.0, 0.08, size=(n, g, draws))
    return np.clip(p, 0.0, 1.0)


# ------------------------------------------------------------------------------------------------
# rules and presets


def test_first_triggers_on_a_dip_and_monotone_does_not():
    rng = np.random.default_rng(1)
    grid = np.linspace(0.01, 1.0, 512)
    probs = noisy_trajectories(rng, 40, 512, 4, dip=True)
    first = select_with_preset("ambient_o", probs, grid)  # mean of draws, EMA 32, first crossing
    mono = select_sigma_min(probs, grid, probability="corrupt", eps=0.05, rule="monotone", ema_span=32)
    # the dip sits in the first ~30 % of the grid, the true crossing after ~40 %
    assert np.all(first < 0.32), first
    assert np.all(mono > 0.35), mono
    expected = ref_select(probs, grid.tolist(), probability="corrupt", eps=0.05, rule="monotone", ema_span=32)
    np.testing.assert_array_equal(mono, expected)


def test_without_a_dip_both_rules_agree_closely():
    rng = np.random.default_rng(2)
    grid = np.linspace(0.01, 1.0, 512)
    probs = noisy_trajectories(rng, 40, 512, 4, dip=False)
    first = select_with_preset("ambient_o", probs, grid, ema_span=32)  # the same smoothing as below
    mono = select_sigma_min(probs, grid, probability="corrupt", eps=0.05, rule="monotone", ema_span=32)
    assert np.all(mono >= first)
    assert np.max(mono - first) < 0.05  # within ~25 grid steps once smoothing removes the draw noise


@pytest.mark.parametrize("dip", [False, True])
def test_ambient_o_preset_equals_the_literal_procedure(dip):
    """Mean of 4 draws, EMA(span 32, adjust=False), first level with 0.5 - p + 0.05 > 0, else the last level."""
    rng = np.random.default_rng(3)
    grid = edm_lognormal_grid(2048, method="draws", seed=42)
    probs = noisy_trajectories(rng, 24, 2048, 4, dip=dip)
    probs[0] = 0.9  # never crosses: fallback to the largest level
    got = select_with_preset("ambient_o", probs, grid)
    want = ref_select(probs, grid.tolist(), probability="corrupt", eps=0.05, rule="first", ema_span=32)
    np.testing.assert_array_equal(got, want)
    assert got[0] == grid[-1]
    assert SELECTION_PRESETS["ambient_o"] == {
        "probability": "corrupt",
        "eps": 0.05,
        "rule": "first",
        "ema_fraction": 1 / 64,  # a span of 32 on these 2048 levels
        "fallback": "largest",
    }


def test_ambient_utils_preset_equals_the_literal_procedure():
    """First index with 0.5 - p + 0.01 > 0 on the raw trajectory, else the last time."""
    rng = np.random.default_rng(4)
    grid = np.sort(rng.uniform(0.0, 80.0, 300))
    probs = np.clip(noisy_trajectories(rng, 30, 300, 1, dip=True)[..., 0], 0, 1)
    probs[3] = 0.8
    got = select_with_preset("ambient_utils", probs, grid)
    want = ref_select(probs, grid.tolist(), probability="corrupt", eps=0.01, rule="first")
    np.testing.assert_array_equal(got, want)
    assert got[3] == grid[-1]
    # hand-built: 0.515 is not below 0.51, 0.505 is
    hand = np.array([[0.9, 0.515, 0.505, 0.7]])
    np.testing.assert_array_equal(select_with_preset("ambient_utils", hand, [1.0, 2.0, 3.0, 4.0]), [3.0])


def test_hand_built_trajectories_with_known_answers():
    grid = [0.5, 1.0, 1.5, 2.0, 2.5]
    p_clean = np.array(
        [
            [0.1, 0.5, 0.2, 0.48, 0.6],  # dip at 1.0; holds from 2.0 on (0.48 > 0.45)
            [0.1, 0.2, 0.3, 0.4, 0.44],  # never: 0.44 < 0.45
            [0.46, 0.47, 0.48, 0.49, 0.5],  # always
            [0.1, 0.2, 0.3, 0.4, 0.46],  # only at the top
        ]
    )
    kw = {"probability": "clean", "eps": 0.05}
    np.testing.assert_array_equal(select_sigma_min(p_clean, grid, rule="first", **kw), [1.0, 2.5, 0.5, 2.5])
    np.testing.assert_array_equal(select_sigma_min(p_clean, grid, rule="monotone", **kw), [2.0, 2.5, 0.5, 2.5])
    got = select_sigma_min(p_clean, grid, rule="monotone", fallback="inf", **kw)
    np.testing.assert_array_equal(got, [2.0, math.inf, 0.5, 2.5])
    np.testing.assert_array_equal(select_sigma_min(p_clean, grid, fallback=7.0, **kw), [2.0, 7.0, 0.5, 2.5])
    # the same trajectories as P(corrupt) = 1 - P(clean) give the same answers (values on a 1/100 lattice)
    np.testing.assert_array_equal(
        select_sigma_min(1 - p_clean, grid, probability="corrupt", eps=0.05), [2.0, 2.5, 0.5, 2.5]
    )


@pytest.mark.parametrize("rule", ["first", "monotone"])
@pytest.mark.parametrize("span", [None, 1, 5.5])
def test_random_trajectories_match_the_reference(rule, span):
    rng = np.random.default_rng(5)
    grid = np.cumsum(rng.uniform(0.1, 1.0, 64))
    probs = rng.uniform(0.0, 1.0, (200, 64, 3))
    for probability in ("clean", "corrupt"):
        got = select_sigma_min(probs, grid, probability=probability, eps=0.1, rule=rule, ema_span=span)
        want = ref_select(probs, grid.tolist(), probability=probability, eps=0.1, rule=rule, ema_span=span)
        np.testing.assert_array_equal(got, want)


def test_layouts_single_sample_and_draws():
    rng = np.random.default_rng(6)
    grid = np.linspace(0.1, 1.0, 10)
    probs = rng.uniform(size=(5, 10, 4))
    kw = {"probability": "corrupt", "eps": 0.05, "rule": "monotone"}
    batch = select_sigma_min(probs, grid, **kw)
    mean = select_sigma_min(probs.mean(axis=-1), grid, **kw)
    np.testing.assert_array_equal(batch, mean)
    for i in range(5):
        with warnings.catch_warnings():  # a sample alone that takes the fallback is "every sample"
            warnings.simplefilter("ignore", AllFallbackWarning)
            one = select_sigma_min(probs[i].mean(axis=-1), grid, **kw)
        assert one.shape == ()
        assert one == batch[i]
    assert select_sigma_min(probs[:, :, :1], grid, **kw).shape == (5,)
    as_list = select_sigma_min(probs, grid.tolist(), **kw)
    np.testing.assert_array_equal(as_list, batch)


def test_ema_matches_the_recursion_and_the_traced_scan():
    rng = np.random.default_rng(7)
    x = rng.uniform(size=(3, 100))
    got = ema(x, span=32)
    for row, out in zip(x, got, strict=True):
        np.testing.assert_array_equal(out, ref_ema(row.tolist(), 32))
    assert ema(x[:, :0], span=3).shape == (3, 0)
    if HAS_JAX:
        import jax
        import jax.numpy as jnp

        traced = jax.jit(lambda a: ema(a, span=32))(jnp.asarray(x))
        np.testing.assert_allclose(np.asarray(traced), got, rtol=0, atol=1e-13)


@pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
def test_selection_under_jit_equals_eager():
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(8)
    grid = np.linspace(0.1, 1.0, 128)
    probs = np.round(rng.uniform(size=(16, 128, 4)) * 64) / 64
    for preset in SELECTION_PRESETS:
        kw = dict(SELECTION_PRESETS[preset])
        kw["ema_span"] = None  # lattice values: no ties; the smoothed path is covered above
        for rule in ("first", "monotone"):
            kw["rule"] = rule
            eager = select_sigma_min(probs, grid, **kw)
            jitted = jax.jit(lambda p, g, kw=kw: select_sigma_min(p, g, **kw))(jnp.asarray(probs), jnp.asarray(grid))
            np.testing.assert_array_equal(np.asarray(jitted), eager)


def test_backends_agree(backend):
    rng = np.random.default_rng(9)
    grid = np.linspace(0.05, 2.0, 40)
    probs = np.round(rng.uniform(size=(12, 40, 4)) * 64) / 64  # float32-exact lattice, means of 4 exact too
    for rule in ("first", "monotone"):
        kw = {"probability": "corrupt", "eps": 0.05, "rule": rule, "fallback": "inf"}
        want = select_sigma_min(probs, grid, **kw)
        got = select_sigma_min(backend.asarray(probs), backend.asarray(grid), **kw)
        assert tuple(got.shape) == (12,)
        np.testing.assert_allclose(backend.to_numpy(got), want.astype(np.float32 if backend.eps > 1e-10 else float))
    smooth = select_sigma_min(backend.asarray(probs), backend.asarray(grid), **SELECTION_PRESETS["ambient_o"])
    ref = ref_select(probs, grid.tolist(), **SELECTION_PRESETS["ambient_o"])
    # float32 EMA rounding can move a crossing by one level only where the smoothed margin is tiny
    idx_got = np.searchsorted(grid, backend.to_numpy(smooth).astype(float) - 1e-6)
    idx_ref = np.searchsorted(grid, ref - 1e-6)
    assert np.all(np.abs(idx_got - idx_ref) <= (0 if backend.eps < 1e-10 else 1))


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_torch_output_follows_the_grid():
    import torch

    probs = torch.rand(3, 8, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    grid = torch.linspace(0.1, 0.8, 8, dtype=torch.float64)
    out = select_sigma_min(probs, grid, probability="clean", eps=0.1)
    assert out.dtype == torch.float64
    assert bool(torch.isin(out, grid).all())


# ------------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    ("probs", "grid", "kw", "match"),
    [
        (np.array([[0.2, 1.2]]), [1.0, 2.0], {}, r"probs must be probabilities in \[0, 1\].*1\.2.*\(0, 1\)"),
        (np.array([[0.2, np.nan]]), [1.0, 2.0], {}, "no NaN"),
        (np.array([[-0.1, 0.2]]), [1.0, 2.0], {}, "probabilities"),
        (np.array([[0.2, 0.3]]), [2.0, 1.0], {}, "strictly increasing; got 2.0 followed by 1.0"),
        (np.array([[0.2, 0.3]]), [1.0, 1.0], {}, "strictly increasing"),
        (np.array([[0.2, 0.3]]), [1.0, np.nan], {}, "finite"),
        (np.array([[0.2, 0.3]]), [1.0, 2.0, 3.0], {}, "2 levels on axis 1.*grid has 3"),
        (np.zeros((0, 2)), [1.0, 2.0], {}, "empty"),
        (np.zeros((2, 2, 0)), [1.0, 2.0], {}, "no noise draws"),
        (np.zeros((1, 2, 2, 2)), [1.0, 2.0], {}, r"shape \(G,\), \(N, G\) or \(N, G, draws\)"),
        (np.zeros((2, 2)), np.zeros((2, 2)), {}, "1-D array"),
        (np.zeros((2, 2)), [1.0, 2.0], {"probability": "fake"}, "'clean' or 'corrupt'"),
        (np.zeros((2, 2)), [1.0, 2.0], {"eps": 0.5}, r"eps must lie in \[0, 0.5\)"),
        (np.zeros((2, 2)), [1.0, 2.0], {"eps": -0.1}, "eps must lie"),
        (np.zeros((2, 2)), [1.0, 2.0], {"rule": "last"}, "rule must be"),
        (np.zeros((2, 2)), [1.0, 2.0], {"ema_span": 0.5}, "ema_span must be a number >= 1"),
        (np.zeros((2, 2)), [1.0, 2.0], {"fallback": "smallest"}, "fallback must be"),
        (np.zeros((2, 2)), [1.0, 2.0], {"fallback": math.nan}, "fallback must be"),
    ],
)
def test_bad_input_is_named(probs, grid, kw, match):
    args = {"probability": "corrupt", "eps": 0.05, **kw}
    with pytest.raises(ValueError, match=match):
        select_sigma_min(probs, grid, **args)


def test_probability_class_is_required_and_types_are_checked():
    with pytest.raises(TypeError, match="probability"):
        select_sigma_min(np.zeros((1, 2)), [1.0, 2.0], eps=0.05)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"integer|floating"):
        select_sigma_min(np.zeros((1, 2), dtype=np.int64), [1.0, 2.0], probability="clean", eps=0.05)
    with pytest.raises(TypeError, match="eps must be a number"):
        select_sigma_min(np.zeros((1, 2)), [1.0, 2.0], probability="clean", eps="0.05")
    with pytest.raises(ValueError, match=r"unknown selection preset 'ambient'.*'ambient_o'"):
        select_with_preset("ambient", np.zeros((1, 2)), [1.0, 2.0])
    with pytest.raises(TypeError, match="unknown keyword"):
        select_with_preset("ambient_o", np.zeros((1, 2)), [1.0, 2.0], span=3)


@pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")
def test_mixed_libraries_are_rejected():
    import torch

    with pytest.raises(TypeError, match="one library"):
        select_sigma_min(torch.zeros(1, 2), np.array([1.0, 2.0]), probability="clean", eps=0.05)

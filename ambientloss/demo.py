r"""A self-contained Gaussian experiment: clean-only vs naive mixing vs ambient training.

Clean data ``x0 ~ N(mu, Sigma)`` in ``d`` dimensions are scarce; corrupt data are plentiful:
``y = x0 + tau * n`` with ``n ~ N(0, I)``. Scaled by ``a_m = 1 / sqrt(1 + tau^2)``, a corrupt sample
is exactly a VP-noised clean sample at ``sigma_min = tau / sqrt(1 + tau^2)``, so it can be trusted
above that level. For each noise level ``s`` a linear x0-denoiser ``h(x) = W x + c`` is trained
three ways, by weighted least squares (the exact minimiser of the empirical training loss, with
several fresh noise draws per sample):

* **clean only**: the clean samples with the standard target;
* **naive mixing**: every sample, corrupt ones treated as clean (target ``y``);
* **ambient**: clean samples, plus the corrupt ones at ``s > sigma_min`` through
  :func:`~ambientloss.ambient_pair` with the inverse-variance weight :func:`~ambientloss.loss_weight`.

The error of each is ``E ||h(x_t) - E[x0 | x_t]||^2 / d`` under the clean law, in closed form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import array_api_compat.numpy as xp
import numpy as np

from .core.noising import add_noise
from .core.targets import ambient_pair
from .core.weights import Weighting, loss_weight

__all__ = ["METHODS", "DemoConfig", "format_table", "reading", "run_demo", "summary"]


@dataclass(frozen=True)
class DemoConfig:
    """Sizes and seed of the Gaussian experiment."""

    dim: int = 8
    n_clean: int = 32
    n_corrupt: int = 4096
    tau: float = 0.6
    draws: int = 8
    seed: int = 0
    levels: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _problem(cfg: DemoConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    mu = rng.normal(size=cfg.dim)
    q, _ = np.linalg.qr(rng.normal(size=(cfg.dim, cfg.dim)))
    sigma = (q * rng.uniform(0.2, 2.0, size=cfg.dim)) @ q.T
    return mu, sigma


def _fit(x: np.ndarray, target: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares ``min sum_i w_i ||W x_i + c - T_i||^2``."""
    design = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    root = np.sqrt(weight)[:, None]
    coef, *_ = np.linalg.lstsq(design * root, target * root, rcond=None)
    return coef[:-1].T, coef[-1]


def _excess(w: np.ndarray, c: np.ndarray, s: float, mu: np.ndarray, sigma: np.ndarray) -> float:
    """``E ||W x + c - E[x0|x]||^2 / d`` for ``x ~ p_s``, the clean law at VP level ``s``."""
    a, d = math.sqrt((1 - s) * (1 + s)), mu.size
    cov = a * a * sigma + s * s * np.eye(d)
    w_opt = a * sigma @ np.linalg.inv(cov)
    dw, dc = w - w_opt, c - (mu - a * w_opt @ mu)
    return float((np.trace(dw @ cov @ dw.T) + np.sum((a * dw @ mu + dc) ** 2)) / d)


def _repeat(x: np.ndarray, draws: int) -> np.ndarray:
    return np.repeat(x, draws, axis=0)


def run_demo(cfg: DemoConfig = DemoConfig()) -> list[dict[str, float]]:
    """Run the experiment; one row per noise level with the three methods' errors.

    Examples
    --------
    >>> rows = run_demo(DemoConfig(n_corrupt=256, draws=2, levels=(0.3, 0.8)))
    >>> [sorted(r) for r in rows][0]
    ['ambient', 'bayes', 'clean_only', 'naive', 'sigma']
    """
    rng = np.random.default_rng(cfg.seed)
    mu, sigma = _problem(cfg, rng)
    chol = np.linalg.cholesky(sigma)
    clean = mu + rng.normal(size=(cfg.n_clean, cfg.dim)) @ chol.T
    corrupt = (
        mu + rng.normal(size=(cfg.n_corrupt, cfg.dim)) @ chol.T + cfg.tau * rng.normal(size=(cfg.n_corrupt, cfg.dim))
    )
    sigma_min = cfg.tau / math.sqrt(1 + cfg.tau**2)
    x_tmin = corrupt / math.sqrt(1 + cfg.tau**2)  # frozen: the corrupt data are noisy samples themselves
    rows = []
    for s in cfg.levels:
        xc = _repeat(clean, cfg.draws)
        xc_t = add_noise(xc, s, rng.normal(size=xc.shape), xp=xp)
        ones_c = np.ones(len(xc))
        clean_fit = _fit(xc_t, xc, ones_c)
        xy = _repeat(corrupt, cfg.draws)
        xy_t = add_noise(xy, s, rng.normal(size=xy.shape), xp=xp)
        naive_fit = _fit(np.concatenate([xc_t, xy_t]), np.concatenate([xc, xy]), np.ones(len(xc) + len(xy)))
        if s > sigma_min:
            xm = _repeat(x_tmin, cfg.draws)
            level_min = np.full(len(xm), sigma_min)
            xm_t, target = ambient_pair(xm, np.full(len(xm), s), level_min, rng.normal(size=xm.shape), xp=xp)
            sigma_data = float(np.sqrt(np.trace(sigma) / cfg.dim))
            weight = loss_weight(np.full(len(xm), s), level_min, weighting=Weighting(sigma_data=sigma_data))
            ambient_fit = _fit(
                np.concatenate([xc_t, xm_t]), np.concatenate([xc, target]), np.concatenate([ones_c, weight])
            )
        else:
            ambient_fit = clean_fit
        a = math.sqrt((1 - s) * (1 + s))
        cov = a * a * sigma + s * s * np.eye(cfg.dim)
        bayes = float(s * s * np.trace(sigma @ np.linalg.inv(cov)) / cfg.dim)
        rows.append(
            {
                "sigma": s,
                "bayes": bayes,
                "clean_only": _excess(*clean_fit, s, mu, sigma),
                "naive": _excess(*naive_fit, s, mu, sigma),
                "ambient": _excess(*ambient_fit, s, mu, sigma),
            }
        )
    return rows


def summary(rows: list[dict[str, float]], cfg: DemoConfig) -> dict[str, dict[str, float]]:
    """Each method's error summed over the levels above ``sigma_min`` (``"usable"``), below it, and in all."""
    sigma_min = cfg.tau / math.sqrt(1 + cfg.tau**2)
    parts = {
        "usable": [r for r in rows if r["sigma"] > sigma_min],
        "below": [r for r in rows if r["sigma"] <= sigma_min],
    }
    parts["all"] = rows
    return {name: {k: sum(r[k] for r in part) for k in METHODS} for name, part in parts.items()}


#: the three training methods of the demo, in table order
METHODS = ("clean_only", "naive", "ambient")


def times(value: float, other: float) -> str:
    """``value`` against ``other`` as a ratio to 2 significant digits: ``"1.3x lower than"``.

    >>> times(3.69e-3, 4.82e-3), times(4.15e-3, 3.44e-1), times(2.0, 1.0), times(834.0, 1.0)
    ('1.3x lower than', '83x lower than', '2.0x higher than', '830x higher than')
    """
    if value == other:
        return "equal to"
    word = "lower" if value < other else "higher"
    small, large = sorted((abs(value), abs(other)))
    if small == 0 or (value < 0) != (other < 0):
        return f"{word} than"
    ratio = float(f"{large / small:.2g}")  # 2 significant digits
    digits = max(1 - math.floor(math.log10(ratio)), 0)  # written out, never with an exponent
    return f"{ratio:.{digits}f}x {word} than"


def reading(rows: list[dict[str, float]], cfg: DemoConfig) -> list[str]:
    """Two lines that read the table, computed from its numbers."""
    sums = summary(rows, cfg)
    up, low = sums["usable"], sums["below"]
    lines = []
    if up["ambient"] > 0:
        lines.append(
            f"Above sigma_min, ambient's summed error {up['ambient']:.2e} is {times(up['ambient'], up['clean_only'])} "
            f"clean only's ({up['clean_only']:.2e}) and {times(up['ambient'], up['naive'])} naive mixing's "
            f"({up['naive']:.2e}): the corrupt samples add data without adding their bias."
        )
    if low["clean_only"] > 0 and low["naive"] < low["clean_only"]:
        lines.append(
            f"Below sigma_min, ambient trains on the clean samples only (= clean only, {low['clean_only']:.2e}); "
            f"naive mixing is lower there ({low['naive']:.2e}): at low noise every denoiser is close to the "
            f"identity, so the corrupt data's bias is small while their number cuts the variance of a fit on "
            f"{cfg.n_clean} clean samples. Using corrupt data as clean below a sigma_max is Ambient-Omni's way to "
            "gain this where it holds."
        )
    elif low["clean_only"] > 0:
        lines.append(
            f"Below sigma_min, ambient trains on the clean samples only (= clean only, {low['clean_only']:.2e}); "
            f"naive mixing is worse there too ({low['naive']:.2e}): the corruption's bias outweighs the extra data."
        )
    return lines


def format_table(rows: list[dict[str, float]], cfg: DemoConfig) -> str:
    """Markdown table of the demo's rows, the summed errors, and a short reading."""
    sigma_min = cfg.tau / math.sqrt(1 + cfg.tau**2)
    lines = [
        f"Gaussian demo: d={cfg.dim}, {cfg.n_clean} clean and {cfg.n_corrupt} corrupt samples "
        f"(trusted from sigma_min={sigma_min:.3f}, VP), seed {cfg.seed}.",
        "Excess error E||h(x_t) - E[x0|x_t]||^2 / d of a linear denoiser (lower is better; 0 is optimal).",
        "",
        "| sigma | Bayes error | clean only | naive mixing | ambient |",
        "|------:|------------:|-----------:|-------------:|--------:|",
    ]
    for r in rows:
        marker = " *" if r["sigma"] > sigma_min else ""
        errors = " | ".join(f"{r[k]:.2e}" for k in METHODS)
        lines.append(f"| {r['sigma']:.2f}{marker} | {r['bayes']:.4f} | {errors} |")
    labels = {"usable": "sum, levels *", "below": "sum, other levels", "all": "sum, all levels"}
    for name, sums in summary(rows, cfg).items():
        lines.append(f"| {labels[name]} | | " + " | ".join(f"{sums[k]:.2e}" for k in METHODS) + " |")
    lines.append("")
    lines.append("* corrupt samples are usable at this level (sigma > sigma_min); below it ambient = clean only.")
    lines.append("")
    lines.extend(reading(rows, cfg))
    return "\n".join(lines)

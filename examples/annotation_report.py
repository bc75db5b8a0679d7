"""The annotation report on a small toy: train a classifier, annotate two corrupt sources, report.

Clean data are 2-D standard Gaussians. Source ``sim`` is shifted by 1 (mildly corrupt); source ``web``
is half shifted by 3 (badly corrupt) and half drawn from the clean law itself (clean-looking web rows).
A ``NoiseConditionalClassifier`` is trained with ``fit_classifier(seed=0)``, which holds out 20 % of each
class and measures its quality; every corrupt row gets a per-sample ``sigma_min`` from its classifier
trajectory (the monotone rule); the clean rows enter the report as a source of their own with
``sigma_min = 0``. Prints the table and writes ``STEM.png`` and ``STEM.json``::

    python examples/annotation_report.py docs/assets --stem annotation-report

The figure and the table on the pages "Annotating a dataset at scale" and "Choosing sigma_min and
sigma_max in practice" come from this command (CPU, a few seconds).
"""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

import numpy as np
import torch

from ambientloss.adapters.torch_classifier import NoiseConditionalClassifier, fit_classifier
from ambientloss.annotation import annotation_report, classifier_trajectory, select_sigma_min
from ambientloss.sampling import UniformVP

GRID = np.round(np.linspace(0.02, 0.98, 25), 12)  # VP levels, short of pure noise (s = 1)
RULE = {"probability": "clean", "eps": 0.05, "rule": "monotone"}


def toy(seed: int = 0, n: int = 1000) -> tuple[torch.Tensor, torch.Tensor, np.ndarray]:
    """Clean rows, corrupt rows and the corrupt rows' source labels."""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randn(n, 2, generator=g)
    sim = torch.randn(n, 2, generator=g) + torch.tensor([1.0, 0.0])
    web = torch.randn(n, 2, generator=g) + torch.tensor([3.0, 0.0]) * (torch.arange(n) % 2 == 0)[:, None]
    return clean, torch.cat([sim, web]), np.array(["sim"] * n + ["web"] * n)


def main(out: Path, *, stem: str = "report", steps: int = 600, seed: int = 0) -> dict[str, Path]:
    clean, corrupt, sources = toy(seed)
    model = NoiseConditionalClassifier(2, positive="corrupt", hidden=64)
    fit = fit_classifier(model, clean, corrupt, steps=steps, base=UniformVP(), seed=seed)
    classifier = functools.partial(model.probability, probability="clean")
    probs = classifier_trajectory(classifier, corrupt, torch.from_numpy(GRID).float(), n_draws=4, seed=seed).numpy()
    sigma_min = select_sigma_min(probs, GRID, **RULE)  # fallback: the largest grid level
    took_fallback = np.isinf(select_sigma_min(probs, GRID, **RULE, fallback="inf"))
    report = annotation_report(
        np.r_[np.zeros(clean.shape[0]), sigma_min],
        sources=np.r_[["clean"] * clean.shape[0], sources],
        took_fallback=np.r_[np.zeros(clean.shape[0], bool), took_fallback],
        base=UniformVP(),
        quality=fit.quality,
    )
    out.mkdir(parents=True, exist_ok=True)
    paths = {"figure": report.figure(out / f"{stem}.png"), "json": out / f"{stem}.json"}
    paths["json"].write_text(report.to_json() + "\n")
    print(report.table())
    return paths


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder of the figure and the JSON")
    parser.add_argument("--stem", default="report", help="file name stem (default: report)")
    parser.add_argument("--steps", type=int, default=600, help="classifier training steps (default 600)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    main(args.out, stem=args.stem, steps=args.steps, seed=args.seed)

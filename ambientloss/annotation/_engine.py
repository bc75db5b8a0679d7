"""Batched classifier evaluation on rows ``(sample, level, draw)``, shared by the full grid and bisection.

Row ``(i, g, d)`` is the classifier's probability at ``x_sigma = a(grid[g]) x[i] + b(grid[g]) z[i, d]``
where ``z[i, d]`` is the ``d``-th paired noise draw of sample ``i`` (see :mod:`._seeds`). Rows are sent
to the classifier in batches of at most ``batch_size``, under ``torch.no_grad`` for torch tensors.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from ..core.arrays import Array, Namespace, cast, check_floating, device_of, raise_where, values_readable
from ..core.noising import add_noise
from ..core.schedules import get_schedule
from ._seeds import check_ids, paired_noise

Classifier = Callable[[Array, Array], Array]


@dataclass
class CallCount:
    """Classifier invocations (``calls``), real rows evaluated (``evaluations``) and padding rows."""

    calls: int = 0
    evaluations: int = 0
    padded: int = 0


def _check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        msg = f"{name} must be a positive integer, got {value!r}"
        raise ValueError(msg)
    return int(value)


def _inference(x: Array) -> contextlib.AbstractContextManager[object]:
    """``torch.no_grad()`` for torch tensors (torch is then imported already): no autograd graph is built."""
    if array_api_compat.is_torch_array(x):
        return sys.modules["torch"].no_grad()
    return contextlib.nullcontext()


def _refuse_pure_noise(grid: Array, schedule: Any, xp: Namespace) -> None:
    """A grid level at pure noise (``a = 0``): the clean and corrupt laws are one there; nothing can be read."""
    sched = get_schedule(schedule)
    g = cast(grid, xp.float64, xp)
    g = xp.where((g >= sched.lower) & (g <= sched.upper), g, xp.full_like(g, sched.lower))  # the noising names the rest
    a, _ = sched.coefficients(g, xp)
    raise_where(
        a <= 0,
        xp,
        f"grid level {{v!r}} is pure noise under the {sched.name!r} schedule (a = 0): the noised clean and corrupt "
        "data are one law there, so no classifier can be calibrated and the selection rule would read only its "
        "error; end the grid below it (the grid builders do)",
        v=grid,
    )


class Engine:
    """Evaluate a classifier on rows of one dataset ``x`` over one ``grid``."""

    def __init__(
        self,
        classifier: Classifier,
        x: Array,
        grid: Array,
        *,
        schedule: Any,
        n_draws: int,
        batch_size: int,
        seed: int,
        sample_ids: Any,
        noise: Array | None,
        pad: bool,
        xp: Namespace,
    ) -> None:
        if not callable(classifier):
            msg = f"classifier must be a callable classifier(x_sigma, sigma) -> probabilities, got {classifier!r}"
            raise TypeError(msg)
        check_floating(x, "x", xp)
        if x.ndim < 1 or x.shape[0] == 0:
            msg = f"x must be a non-empty batch of samples (N, ...), got shape {tuple(x.shape)}; the dataset is empty"
            raise ValueError(msg)
        self.classifier, self.x, self.xp = classifier, x, xp
        self.schedule, self.pad = schedule, bool(pad)
        self.n_draws = _check_positive_int(n_draws, "n_draws")
        self.batch_size = _check_positive_int(batch_size, "batch_size")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            msg = f"seed must be an integer, got {seed!r}"
            raise TypeError(msg)
        self.seed = int(seed)
        self.ids = check_ids(sample_ids, int(x.shape[0]))
        self.levels = cast(grid, x.dtype, xp)  # what the classifier and the noising see
        _refuse_pure_noise(grid, schedule, xp)
        self.noise = self._check_noise(noise)
        self.count = CallCount()
        self._cache: dict[int, Array] = {}

    def _check_noise(self, noise: Array | None) -> Array | None:
        if noise is None:
            return None
        feat = tuple(self.x.shape[1:])
        shapes = ((self.n_draws, *feat), (int(self.x.shape[0]), self.n_draws, *feat))
        if tuple(noise.shape) not in shapes:
            msg = f"noise must have shape {shapes[0]} (shared by all samples) or {shapes[1]}, got {tuple(noise.shape)}"
            raise ValueError(msg)
        check_floating(noise, "noise", self.xp)
        return cast(noise, self.x.dtype, self.xp)

    def _noise_block(self, samples: np.ndarray) -> Array:
        """Noise ``(len(samples), n_draws, *F)`` for positions ``samples``; generated draws are cached."""
        xp = self.xp
        if self.noise is not None:
            if self.noise.ndim == self.x.ndim:  # shared by every sample
                return xp.broadcast_to(self.noise[None, ...], (len(samples), *self.noise.shape))
            return xp.take(self.noise, xp.asarray(samples, device=device_of(self.x)), axis=0)
        missing = [int(s) for s in samples if int(s) not in self._cache]
        if missing:
            block = paired_noise(self.x[:1, ...], [int(self.ids[s]) for s in missing], self.n_draws, self.seed, xp)
            for k, s in enumerate(missing):
                self._cache[s] = block[k, ...]
        return xp.stack([self._cache[int(s)] for s in samples])

    def forget(self, keep: set[int]) -> None:
        """Drop cached noise of every sample not in ``keep``."""
        for s in [s for s in self._cache if s not in keep]:
            del self._cache[s]

    def evaluate(self, sample: np.ndarray, level: np.ndarray, draw: np.ndarray) -> Array:
        """Probabilities ``(R,)`` at rows ``(sample[r], level[r], draw[r])`` (positions, grid and draw indices)."""
        step = self.batch_size
        outs = [
            self._batch(sample[s : s + step], level[s : s + step], draw[s : s + step])
            for s in range(0, len(sample), step)
        ]
        return self.xp.concat(outs) if outs else self.xp.zeros((0,), dtype=self.x.dtype)

    def _batch(self, sample: np.ndarray, level: np.ndarray, draw: np.ndarray) -> Array:
        xp, real = self.xp, len(sample)
        if self.pad and real < self.batch_size:  # repeat the last row: a jitted classifier sees one shape
            extra = self.batch_size - real
            sample, level, draw = (np.concatenate([a, np.repeat(a[-1:], extra)]) for a in (sample, level, draw))
        uniq, local = np.unique(sample, return_inverse=True)
        z = self._noise_block(uniq)
        flat = xp.reshape(z, (len(uniq) * self.n_draws, *z.shape[2:]))
        dev = device_of(self.x)
        zs = xp.take(flat, xp.asarray(local * self.n_draws + draw, device=dev), axis=0)
        xs = xp.take(self.x, xp.asarray(sample, device=dev), axis=0)
        sig = xp.take(self.levels, xp.asarray(level, device=dev), axis=0)
        x_sigma = add_noise(xs, sig, zs, schedule=self.schedule, xp=xp)
        with _inference(self.x):
            out = self.classifier(x_sigma, sig)
        self.count.calls += 1
        self.count.evaluations += real
        self.count.padded += len(sample) - real
        return self._check_output(out, len(sample))[:real]

    def _check_output(self, out: Any, rows: int) -> Array:
        xp = self.xp
        shape = tuple(getattr(out, "shape", ()))
        if shape not in ((rows,), (rows, 1)):
            msg = (
                f"classifier must return one probability per input, shape ({rows},) or ({rows}, 1), "
                f"for a batch of {rows}; got {shape if hasattr(out, 'shape') else type(out).__name__}"
            )
            raise ValueError(msg)
        out = xp.reshape(xp.asarray(out), (rows,))
        check_floating(out, "classifier output", xp)
        if values_readable(out):
            raise_where(
                ~((out >= 0) & (out <= 1)),
                xp,
                "classifier must return probabilities in [0, 1] (apply a sigmoid to logits); got {v!r}",
                v=out,
            )
        return out

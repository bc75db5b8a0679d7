"""The settings every closed-loop benchmark shares, under one name each, and the policy's fixed constants.

Each benchmark subclasses :class:`BaseConfig` with its own defaults and extra fields. Protocols and results
written before the names were shared keep loading: :meth:`BaseConfig.load` reads the former names
(``n_low`` / ``n_sim`` / ``n_real``, ``low_stride`` / ``sim_stride``, ``level``) as the current ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

__all__ = ["HORIZON", "N_EXEC", "REPORTED_TIMESTEPS", "SAMPLE_STEPS", "TIMESTEPS", "BaseConfig"]

HORIZON = 16  #: actions per chunk
N_EXEC = 8  #: actions executed of each predicted chunk before observing again
TIMESTEPS = 100  #: training timesteps of the noise table
SAMPLE_STEPS = 10  #: DDIM steps at test time
REPORTED_TIMESTEPS = (0, 5, 10, 20, 40)  #: timesteps at which a classifier's accuracy is reported

C = TypeVar("C", bound="BaseConfig")


@dataclass(frozen=True)
class BaseConfig:
    """Every setting a benchmark run shares with the others (a benchmark's subclass sets the defaults).

    Examples
    --------
    >>> cfg = BaseConfig.load({"n_real": 3, "n_sim": 7, "sim_stride": 2, "level": 30, "widths": [8, 16]})
    >>> cfg.n_clean, cfg.n_corrupt, cfg.corrupt_stride, cfg.level_t, cfg.widths
    (3, 7, 2, 30, (8, 16))
    >>> cfg.replace(steps=5).steps
    5
    """

    n_clean: int = 50  #: clean (high-quality) demonstrations
    n_corrupt: int = 200  #: low-quality demonstrations
    corrupt_stride: int = 1  #: a training row at every ``corrupt_stride``-th step of each low-quality one
    widths: tuple[int, ...] = (32, 64)  #: U-Net channel widths
    batch_size: int = 128
    steps: int = 2000  #: training steps of every row
    lr: float = 1e-3
    clean_fraction: float = 0.5  #: the clean share of each batch
    classifier_steps: int = 1000
    eps: float = 0.1  #: the classifier's margin for the per-sample sigma_min
    level_t: int = 20  #: the dataset-level sigma_min, as a training timestep
    sample_steps: int = SAMPLE_STEPS
    n_exec: int = N_EXEC
    max_steps: int = 150  #: control steps per episode
    n_val: int = 100  #: validation episodes
    n_test: int = 200  #: test episodes
    n_traces: int = 20  #: executed trajectories kept per evaluation for the figures

    #: former field names, read as the current ones
    ALIASES: ClassVar[Mapping[str, str]] = {
        "n_low": "n_corrupt",
        "n_sim": "n_corrupt",
        "n_real": "n_clean",
        "low_stride": "corrupt_stride",
        "sim_stride": "corrupt_stride",
        "level": "level_t",
    }
    #: keys of former configurations that are no settings (the rows to run are the driver's)
    IGNORED: ClassVar[frozenset[str]] = frozenset({"variants", "methods"})

    @classmethod
    def tiny(cls: type[C]) -> C:
        """Seconds-sized settings for the test suite (a benchmark's subclass may shrink its own fields)."""
        return cls(n_clean=3, n_corrupt=6, widths=(8, 16), batch_size=16, steps=3, classifier_steps=3, n_val=3,
                   n_test=4, max_steps=20, sample_steps=2, n_traces=2)

    @classmethod
    def load(cls: type[C], fields: Mapping[str, Any], base: C | None = None) -> C:
        """``base`` (default: the defaults) with ``fields`` of a protocol or result, former names included."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        changes: dict[str, Any] = {}
        for key, value in fields.items():
            if key in cls.IGNORED:
                continue
            name = cls.ALIASES.get(key, key)
            if name not in names:
                raise ValueError(f"unknown {cls.__name__} field {key!r} (value {value!r}); known: {sorted(names)}")
            changes[name] = tuple(value) if isinstance(value, list) else value
        return dataclasses.replace(cls() if base is None else base, **changes)

    def replace(self: C, **changes: Any) -> C:
        """A copy with ``changes``."""
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Every field by its current name."""
        return dataclasses.asdict(self)

    def parse(self: C, assignments: list[str]) -> C:
        """A copy with ``FIELD=VALUE`` assignments from the command line, each converted to the field's type.

        Examples
        --------
        >>> BaseConfig().parse(["steps=40", "widths=8,16", "lr=0.01"]).widths
        (8, 16)
        """
        changes: dict[str, Any] = {}
        for item in assignments:
            key, sep, text = item.partition("=")
            name = self.ALIASES.get(key, key)
            if not sep or not hasattr(self, name):
                raise ValueError(f"--set takes FIELD=VALUE with a field of {type(self).__name__}, got {item!r}")
            current = getattr(self, name)
            if isinstance(current, tuple):
                changes[name] = tuple(int(v) for v in text.split(","))
            else:
                changes[name] = type(current)(text)
        return self.replace(**changes)

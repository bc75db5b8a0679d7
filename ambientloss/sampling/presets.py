r"""Named settings of published ambient-diffusion recipes: base level law, buffer, units and loss weighting.

============================ ========== ================================ ==========================
preset                       units      base law of the level            buffer (corrupt samples)
============================ ========== ================================ ==========================
``"talk"``                   VP ``s``   ``U[0, 1]``                      none: ``s > s_min``
``"ambient_o_pixel"``        VE         log-normal ``(-1.2, 1.2)``       ``sigma > 1.1547 sigma_min``
``"ambient_o_imagenet"``     VE         log-normal ``(-0.4, 1.0)``       none
``"ambient_o_t2i"``          VE         log-normal ``(-0.6, 1.2)``       ``sigma > sigma_min + 0.05``
``"ambient_tweedie"``        VP table   uniform over 1000 DDPM steps     none: ``t > t_n`` strictly
============================ ========== ================================ ==========================

Clean samples (``sigma_min == 0``) are usable at every positive level in all presets. Each preset
also carries the published loss weighting as a :class:`~ambientloss.Weighting` for
:func:`~ambientloss.loss_weight` (``None`` for ambient-tweedie, whose ``1 - r`` on the epsilon loss
is not one of the policies).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from ..core.admissibility import threshold, trusted_level, usable
from ..core.arrays import Array, Namespace
from ..core.buffer import Buffer
from ..core.discrete import Discrete
from ..core.schedules import Schedule
from ..core.weights import Weighting
from ._bases import Base, DiscreteTimesteps, LogNormal, UniformVP
from ._truncated import admissible_mass, sample_truncated

__all__ = ["PRESETS", "Preset", "get_preset"]


@dataclass(frozen=True, eq=False)
class Preset:
    """A named bundle: base level law, buffer, units (``base.schedule``), loss weighting and what it reproduces.

    The methods call the functions of :mod:`ambientloss.core.admissibility` and
    :mod:`ambientloss.sampling` with this preset's base, buffer and schedule.

    Examples
    --------
    >>> from ambientloss.sampling.presets import get_preset
    >>> pixel = get_preset("ambient_o_pixel")
    >>> pixel.usable(1.155 * (1 + 1e-6), 1.0), pixel.usable(1.15, 1.0)
    (True, False)
    >>> pixel.weighting
    Weighting(policy='ambient_o', base_weight='edm', sigma_data=0.5)
    """

    name: str
    base: Base
    buffer: Buffer
    reproduces: str
    notes: str = ""
    #: the published loss weighting, for ``loss_weight(..., weighting=preset.weighting)``; ``None``
    #: where it is not a :class:`~ambientloss.Weighting` (see ``notes``)
    weighting: Weighting | None = None

    @property
    def schedule(self) -> Schedule:
        """Units of every level of this preset."""
        return self.base.schedule

    def threshold(self, sigma_min: Array | float, /, *, xp: Namespace | None = None) -> Any:
        """:func:`ambientloss.threshold` with this preset's buffer and units."""
        return threshold(sigma_min, buffer=self.buffer, schedule=self.schedule, xp=xp)

    def usable(
        self, sigma: Array | float, sigma_min: Array | float, sigma_max: Any = None, /, *, xp: Namespace | None = None
    ) -> Any:
        """:func:`ambientloss.usable` with this preset's buffer and units."""
        return usable(sigma, sigma_min, sigma_max, buffer=self.buffer, schedule=self.schedule, xp=xp)

    def trusted_level(
        self, sigma: Array | float, sigma_min: Array | float, sigma_max: Any = None, /, *, xp: Namespace | None = None
    ) -> Any:
        """:func:`ambientloss.trusted_level` with this preset's buffer and units."""
        return trusted_level(sigma, sigma_min, sigma_max, buffer=self.buffer, schedule=self.schedule, xp=xp)

    def sample_truncated(
        self, u: Array | float, sigma_min: Array | float, sigma_max: Any = None, /, *, xp: Namespace | None = None
    ) -> Any:
        """:func:`ambientloss.sampling.sample_truncated` with this preset's base and buffer."""
        return sample_truncated(u, sigma_min, sigma_max, base=self.base, buffer=self.buffer, xp=xp)

    def admissible_mass(
        self, sigma_min: Array | float, sigma_max: Any = None, /, *, xp: Namespace | None = None
    ) -> Any:
        """:func:`ambientloss.sampling.admissible_mass` with this preset's base and buffer."""
        return admissible_mass(sigma_min, sigma_max, base=self.base, buffer=self.buffer, xp=xp)

    def __repr__(self) -> str:
        return f"Preset({self.name!r}, base={self.base!r}, buffer={self.buffer!r})"


#: the DDPM table of Stable Diffusion XL, which ambient-tweedie fine-tunes
_SDXL = Discrete.from_diffusers("scaled_linear", num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012)

PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {
        "talk": Preset(
            "talk",
            UniformVP(),
            Buffer(),
            "the talk's algorithm: s ~ U[0, 1] (VP), then a sample with s > s_min",
            "Annotations are VP levels s_min in [0, 1]. The slides' loss is unweighted; the default "
            "Weighting() (inverse variance) is the recommended alternative.",
            Weighting(policy="none"),
        ),
        "ambient_o_pixel": Preset(
            "ambient_o_pixel",
            LogNormal(-1.2, 1.2),
            Buffer.from_s_max(4),
            "Ambient-Omni pixel diffusion (EDM, CIFAR-10 / AFHQ): sigma > sigma_min sqrt(1 + 1/(s_max - 1)), s_max = 4",
            "VE levels. The factor sqrt(4/3) = 1.1547 bounds the ambient factor by 16 and the target variance by "
            "4 sigma_min^2. The released training loop then sets the trusted level to 0 (plain EDM loss); "
            "pass trusted_level() to the targets for the ambient loss of the paper.",
            Weighting(policy="ambient_o", s_max=4, base_weight="edm", sigma_data=0.5),
        ),
        "ambient_o_imagenet": Preset(
            "ambient_o_imagenet",
            LogNormal(-0.4, 1.0),
            Buffer(),
            "Ambient-Omni ImageNet-512 latents (EDM2 sampler defaults): sigma > sigma_min, no buffer",
            "VE levels. The EDM2 img512 sampler defaults are used by the released training loop. EDM2's "
            "learned log-variance weighting comes on top of the weighting.",
            Weighting(policy="none", base_weight="edm", sigma_data=0.5),
        ),
        "ambient_o_t2i": Preset(
            "ambient_o_t2i",
            LogNormal(-0.6, 1.2),
            Buffer(additive=0.05),
            "Ambient-Omni text-to-image (MicroDiT, 256 px pretraining): sigma > sigma_min + 0.05",
            "VE levels; sigma_min is set per source (e.g. 2.0 for synthetic images). The 512 px fine-tuning "
            "stage uses LogNormal(0.0, 0.6) with the same buffer.",
            Weighting(policy="none", base_weight="edm", sigma_data=0.9),
        ),
        "ambient_tweedie": Preset(
            "ambient_tweedie",
            DiscreteTimesteps(_SDXL),
            Buffer(),
            "ambient-tweedie (SDXL, DDPM 1000 steps): t uniform on the timesteps strictly above t_n",
            "Levels are the table's VP levels; annotate sigma_min = base.sigma_for_timestep(t_n). The original draws "
            "t from [t_n, T) and so divides by zero at t = t_n; here t_n itself is excluded. The loss weight "
            "is 1 - r on the epsilon loss, not a Weighting; pass it to squared_error as weight=.",
        ),
    }
)


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (see :data:`PRESETS`).

    Examples
    --------
    >>> from ambientloss.sampling.presets import get_preset
    >>> get_preset("talk").base
    UniformVP()
    """
    try:
        return PRESETS[name]
    except (KeyError, TypeError):
        valid = ", ".join(repr(k) for k in PRESETS)
        msg = f"unknown preset {name!r}; valid names are {valid}"
        raise ValueError(msg) from None

r"""LeRobot adapter: ambient training for LeRobot's own Diffusion Policy (tested with ``lerobot`` 0.4.4).

LeRobot's ``DiffusionModel.compute_loss(batch)`` draws ``eps ~ N(0, I)`` and a timestep
``t ~ U{0, ..., N-1}`` per sample, noises the normalised action chunk with the policy's diffusers
scheduler (``squaredcos_cap_v2``, ``N = 100`` by default), and returns the mean squared error against
``eps`` (``prediction_type="epsilon"``) or the actions (``"sample"``), padded steps zeroed when
``do_mask_loss_for_padding``. :func:`ambient_compute_loss` is that method for a batch mixing clean and
low-quality samples. Each sample carries its trusted level ``sigma_min`` (VP units of the policy's
own table, ``s_t = sqrt(1 - alphas_cumprod[t])``; 0 for a clean sample), optionally ``sigma_max``, and
for a corrupt sample its frozen trusted chunk ``x_tmin = a_m x0 + s_m eps_m``. Then

.. math::
    t \sim U\{t : s_t > \mathrm{threshold}(\sigma_{min})\}, \qquad
    x_t = \frac{a_t}{a_m} x_{t_{min}} + \frac{\sqrt D}{a_m} z, \qquad
    T_\epsilon = \frac{a_m s_t}{\sqrt D} z, \qquad
    T_{x0} = \frac{x_{t_{min}}}{a_m} - \frac{a_t s_m^2}{a_m \sqrt D} z,

with ``D = s_t^2 - s_m^2`` (VP), and the loss is

.. math::
    \mathcal L = \frac{1}{N_{el}} \sum_{b, h, d\ \text{valid}} w(s_t, \sigma_{min})\,
                 \big(\epsilon_\theta(x_t, t, c)_{bhd} - T_{bhd}\big)^2 ,

``N_el = B H A`` (LeRobot 0.4.4's ``.mean()`` over every entry, padded ones zeroed) or the number of
valid entries (``mask_mean="valid"``, LeRobot's later normalisation). ``E[T | x_t]`` is the clean
target, so the minimiser is the clean denoiser. Clean rows (``sigma_min = 0``) run LeRobot's own
code path bit for bit: ``noise_scheduler.add_noise``, target ``eps`` or the actions, weight 1.

Three pieces, none of which imports ``lerobot`` (models are duck-typed):

* :func:`ambient_compute_loss` (a drop-in ``compute_loss`` with ``noise=`` / ``timesteps=`` for tests);
* :func:`make_ambient` patches ``policy.diffusion.compute_loss``, so ``policy.forward(batch)`` and
  LeRobot's ``update_policy`` train ambiently (``del policy.diffusion.compute_loss`` undoes it). The
  corrupt rows' timesteps take their uniforms from a generator of the patch (``seed=``), so LeRobot's
  global random stream moves as under its own loss. The patch is not saved: reload with
  ``make_ambient(DiffusionPolicy.from_pretrained(path))``;
* :class:`Annotations` adds ``"ambient.sigma_min"`` (and ``"ambient.sigma_max"``, frozen
  ``"ambient.x_tmin"``) to each batch from per-episode or per-frame tables, looked up by the
  batch's ``episode_index`` or ``index``. Call it **after** the LeRobot preprocessor: the
  preprocessor drops unknown keys, and ``x_tmin`` must be built from the normalised actions.

The package's modules: ``_inputs`` (batch keys, options and their checks), ``_loss``, ``_patch``,
``_draws`` (the policy's table, kept per scheduler, and the patch's generator),
``_tables`` (the annotations) and ``_internals``, the one module that calls LeRobot's private code
(``DiffusionModel._prepare_global_conditioning`` and a copy of ``DiffusionPolicy.forward``'s camera
stacking), checked against the installed LeRobot by the tests.

Examples
--------
>>> import torch
>>> from ambientloss.adapters.lerobot import Annotations
>>> annotate = Annotations({0: 0.0, 1: 0.0, 2: 0.5}, by="episode", seed=0)   # episode 2 is low quality
>>> batch = {"action": torch.zeros(3, 16, 2), "episode_index": torch.tensor([0, 2, 1]),
...          "index": torch.tensor([4, 90, 51])}
>>> batch = annotate(batch)                      # after `batch = preprocessor(batch)`
>>> batch["ambient.sigma_min"].tolist()
[0.0, 0.5, 0.0]
>>> bool((batch["ambient.x_tmin"][0] == 0).all()), bool((batch["ambient.x_tmin"][1] != 0).any())
(True, True)
"""

from __future__ import annotations

from ._inputs import BATCH_REDUCTIONS, MASK_MEANS, OBJECTIVES, SIGMA_MAX_KEY, SIGMA_MIN_KEY, X_TMIN_KEY
from ._loss import ambient_compute_loss, schedule_of
from ._patch import make_ambient
from ._tables import Annotations

__all__ = [
    "BATCH_REDUCTIONS",
    "MASK_MEANS",
    "OBJECTIVES",
    "SIGMA_MAX_KEY",
    "SIGMA_MIN_KEY",
    "X_TMIN_KEY",
    "Annotations",
    "ambient_compute_loss",
    "make_ambient",
    "schedule_of",
]

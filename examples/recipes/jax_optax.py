"""Recipe: a jitted JAX / optax training step with the ambient loss (VP schedule, epsilon prediction).

A JAX diffusion step usually reads

    x_t = a(sigma) x0 + b(sigma) noise;   loss = mean((apply(params, x_t, sigma) - noise)**2)

:func:`ambientloss.adapters.jax.training_loss` is that step from the trusted sample ``x_tmin``: it
draws the fresh noise from the key, builds ``x_t`` and the ambient target, and returns the weighted,
masked loss, so ``jax.value_and_grad`` of it feeds ``optax`` directly. Everything runs under
``jax.jit``; where values cannot be checked, ``where=admissible(sigma, sigma_min)`` keeps any
inadmissible pair out of the loss and its gradient.

Runs on CPU in seconds: ``python examples/recipes/jax_optax.py``.
"""

from __future__ import annotations

import argparse
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ambientloss.adapters import jax as alj
from ambientloss.adapters.jax_data import frozen_x_tmin
from ambientloss.sampling import UniformVP, sample_truncated

HORIZON, ACTION_DIM = 16, 2


def toy_action_chunks(n_good: int, n_bad: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth action chunks (good) and jerky ones (bad), shape ``(N, HORIZON, ACTION_DIM)``, float32."""
    rng = np.random.default_rng(seed)
    n = n_good + n_bad
    tau = np.linspace(0, 1, HORIZON)[None, :, None]
    freq, phase = 0.5 + rng.random((n, 1, ACTION_DIM)), 2 * math.pi * rng.random((n, 1, ACTION_DIM))
    chunks = 0.8 * np.sin(2 * math.pi * freq * tau + phase)
    is_bad = np.arange(n) >= n_good
    jerk = 0.3 * rng.standard_normal((n, HORIZON, ACTION_DIM))
    chunks = np.where(is_bad[:, None, None], np.clip(chunks + jerk, -1, 1), chunks)
    return chunks.astype(np.float32), is_bad


def init_params(key: jax.Array, width: int = 128) -> dict[str, jax.Array]:
    """A two-hidden-layer MLP on the flattened chunk and the level."""
    sizes = [HORIZON * ACTION_DIM + 1, width, width, HORIZON * ACTION_DIM]
    params = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        key, sub = jax.random.split(key)
        params[f"w{i}"] = jax.random.normal(sub, (n_in, n_out), jnp.float32) / math.sqrt(n_in)
        params[f"b{i}"] = jnp.zeros(n_out, jnp.float32)
    return params


def apply(params: dict[str, jax.Array], x_t: jax.Array, sigma: jax.Array) -> jax.Array:
    """``eps_theta(x_t, sigma)`` for a batch ``(B, HORIZON, ACTION_DIM)`` and levels ``(B,)``."""
    h = jnp.concatenate([x_t.reshape(x_t.shape[0], -1), sigma[:, None].astype(x_t.dtype)], axis=1)
    h = jax.nn.silu(h @ params["w0"] + params["b0"])
    h = jax.nn.silu(h @ params["w1"] + params["b1"])
    return (h @ params["w2"] + params["b2"]).reshape(x_t.shape)


def make_step(optimizer: optax.GradientTransformation):
    """The jitted step: draw levels above ``sigma_min``, then loss, gradient and optax update."""

    @jax.jit
    def step(params, opt_state, key, x_tmin, sigma_min):
        key_u, key_noise = jax.random.split(key)
        u = jax.random.uniform(key_u, sigma_min.shape, sigma_min.dtype)
        sigma = sample_truncated(u, sigma_min, base=UniformVP(), xp=jnp)  # uniform on (sigma_min, 1]
        # --8<-- [start:two_lines]
        loss, grads = jax.value_and_grad(alj.training_loss)(
            params,
            key_noise,
            x_tmin,
            sigma,
            sigma_min,
            apply_fn=apply,
            prediction="epsilon",
            where=alj.admissible(sigma, sigma_min),
        )
        # --8<-- [end:two_lines]
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def main(steps: int = 300, batch_size: int = 64, sigma_min_bad: float = 0.5, seed: int = 0) -> list[float]:
    """Train on 32 good and 256 bad chunks with Adam; returns the training losses."""
    chunks, is_bad = toy_action_chunks(32, 256, seed)
    key = jax.random.key(seed)
    key, key_frozen, key_init = jax.random.split(key, 3)
    sigma_min = jnp.where(jnp.asarray(is_bad), jnp.float32(sigma_min_bad), jnp.float32(0.0))
    x_tmin = frozen_x_tmin(jnp.asarray(chunks), jnp.arange(len(chunks)), sigma_min, seed=key_frozen)  # once

    params = init_params(key_init)
    optimizer = optax.adam(1e-3)
    opt_state = optimizer.init(params)
    step = make_step(optimizer)
    losses = []
    for _ in range(steps):
        key, key_batch, key_step = jax.random.split(key, 3)
        idx = jax.random.randint(key_batch, (batch_size,), 0, len(chunks))
        params, opt_state, loss = step(params, opt_state, key_step, x_tmin[idx], sigma_min[idx])
        losses.append(float(loss))
    assert all(math.isfinite(v) for v in losses)
    return losses


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    args = parser.parse_args()
    out = main(steps=args.steps)
    print(f"jax / optax: loss {out[0]:.4f} -> {sum(out[-20:]) / len(out[-20:]):.4f}")

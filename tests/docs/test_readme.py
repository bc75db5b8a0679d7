"""The README's Python examples run as written, given the names they assume."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_a_torch_and_a_jax_example():
    assert any("import torch" in b for b in BLOCKS)
    assert any("import jax" in b for b in BLOCKS)


def test_torch_example_runs():
    torch = pytest.importorskip("torch")
    (block,) = [b for b in BLOCKS if "import torch" in b]
    # the example draws from torch's global generator (as user code does): seed it, then restore it
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = torch.nn.Linear(7, 7)
        scope = {
            "x_tmin": torch.randn(8, 16, 7),
            "sigma_min": torch.tensor([0.0, 0.0, 0.3, 0.5, 0.2, 0.0, 0.7, 0.1]),
            "is_pad": torch.zeros(8, 16, dtype=torch.bool),
            "obs": None,
            "model": lambda x, sigma, obs: net(x),
        }
        exec(block, scope)
    assert torch.isfinite(scope["loss"])
    assert net.weight.grad is not None


def test_jax_example_runs():
    jax = pytest.importorskip("jax")
    (block,) = [b for b in BLOCKS if "import jax" in b]
    scope = {"apply": lambda params, x, sigma: params * x}
    exec(block, scope)
    x_tmin = jax.numpy.asarray(np.random.default_rng(0).normal(size=(4, 16, 7)), dtype=jax.numpy.float32)
    sigma_min = jax.numpy.asarray([0.0, 0.3, 0.5, 0.0], dtype=jax.numpy.float32)
    sigma = jax.numpy.asarray([0.4, 0.6, 0.9, 0.2], dtype=jax.numpy.float32)
    value, grad = jax.value_and_grad(scope["loss_fn"])(1.0, x_tmin, sigma, sigma_min, jax.random.key(0))
    assert np.isfinite(float(value))
    assert np.isfinite(float(grad))


def test_jax_example_drops_an_inadmissible_row_under_jit():
    """One row with sigma == sigma_min (NaN under jit, unmasked) leaves the loss and its gradient those of the
    other rows: the same value and gradient as the masked loss written out on the admissible rows alone."""
    jax = pytest.importorskip("jax")
    import ambientloss as al

    jnp = jax.numpy
    (block,) = [b for b in BLOCKS if "import jax" in b]
    apply = lambda params, x, sigma: params * x  # noqa: E731
    scope = {"apply": apply}
    exec(block, scope)
    x_tmin = jnp.asarray(np.random.default_rng(1).normal(size=(4, 16, 7)), dtype=jnp.float32)
    sigma_min = jnp.asarray([0.0, 0.3, 0.5, 0.0], dtype=jnp.float32)
    sigma = jnp.asarray([0.4, 0.3, 0.9, 0.2], dtype=jnp.float32)  # row 1: sigma == sigma_min
    key = jax.random.key(0)
    value, grad = jax.value_and_grad(scope["loss_fn"])(1.5, x_tmin, sigma, sigma_min, key)

    keep = np.array([0, 2, 3])
    noise = jax.random.normal(key, x_tmin.shape)[keep]

    def on_admissible_rows(params):
        s, m = sigma[keep], sigma_min[keep]
        x_t, target = al.ambient_pair(x_tmin[keep], s, m, noise, prediction="x0", xp=jnp)
        return al.squared_error(apply(params, x_t, s), target, weight=al.loss_weight(s, m, xp=jnp), xp=jnp)

    want, want_grad = jax.value_and_grad(on_admissible_rows)(1.5)
    assert np.isfinite(float(value))
    assert np.isfinite(float(grad))
    np.testing.assert_allclose(float(value), float(want), rtol=1e-5)
    np.testing.assert_allclose(float(grad), float(want_grad), rtol=1e-5)


def test_sampling_example_runs():
    (block,) = [b for b in BLOCKS if "get_preset" in b]
    scope: dict = {}
    exec(block, scope)
    assert scope["x_tmin"].shape == (4, 16, 7)
    assert np.array_equal(scope["x_tmin"][:2], scope["x0"][:2])  # clean samples pass through

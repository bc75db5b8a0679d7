"""loss_weight policies against their defining identities (math.md 5.5)."""

import numpy as np
import pytest

import ambientloss as al

S = np.array([0.5, 0.6, 0.8, 0.95])
M = np.array([0.0, 0.3, 0.7, 0.9])


def test_inverse_variance_vp_unit_data_is_one_minus_ratio():
    w = al.loss_weight(S, M)
    np.testing.assert_allclose(w, 1 - M**2 / S**2, rtol=1e-15)
    assert w[0] == 1.0


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
@pytest.mark.parametrize("sigma_data", [0.5, 1.0, 2.0])
def test_inverse_variance_equalises_residual_variance(schedule, sigma_data):
    """rho (V_t + v) = V_t with V_t the Bayes error of isotropic Gaussian data (math.md 5.5)."""
    s, m = (S, M) if schedule != "ve" else (S * 3, M * 3)
    a_t, b_t = al.alpha_sigma(s, schedule=schedule)
    nu2 = (b_t / a_t) ** 2
    v_bayes = sigma_data**2 * nu2 / (sigma_data**2 + nu2) * a_t**2 / a_t**2  # x0-space Bayes error per dimension
    v = al.target_variance(s, m, schedule=schedule)
    rho = al.loss_weight(s, m, schedule=schedule, sigma_data=sigma_data)
    np.testing.assert_allclose(rho * (v_bayes + v), v_bayes, rtol=1e-12)
    assert np.all((rho >= 0) & (rho <= 1))


def test_x_tmin_policy_is_the_x_tmin_space_loss():
    """a_m^2 (1-r)^2 ||h - T_x0||^2 == ||a_m (1-r) h + (a_t b_m^2 / (a_m b_t^2)) x_t - x_tmin||^2 (math.md 5.5a)."""
    rng = np.random.default_rng(3)
    s, m = S[1:], M[1:]
    x_m, z, h = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    x_t = al.renoise(x_m, s, m, z)
    target = al.ambient_target(x_t, x_m, s, m)
    a_t, b_t = al.alpha_sigma(s)
    a_m, b_m = al.alpha_sigma(m)
    one_minus_r = 1 - (a_t * b_m) ** 2 / (a_m * b_t) ** 2
    lhs = al.loss_weight(s, m, policy="x_tmin")[:, None] * (h - target) ** 2
    shifted = (a_m * one_minus_r)[:, None] * h + (a_t * b_m**2 / (a_m * b_t**2))[:, None] * x_t
    np.testing.assert_allclose(lhs.sum(1), ((shifted - x_m) ** 2).sum(1), rtol=1e-10)


def test_ambient_o_buffer():
    """Weight 1 exactly where sigma > sigma_min sqrt(s_max / (s_max - 1)) (VE), else 0."""
    m = np.full(6, 1.0)
    factor = np.sqrt(4 / 3)
    s = np.array([1.01, 1.1, factor - 1e-9, factor + 1e-9, 2.0, 5.0])
    w = al.loss_weight(s, m, policy="ambient_o", schedule="ve", s_max=4.0)
    np.testing.assert_array_equal(w, [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(al.loss_weight(s, m, policy="ambient_o", schedule="ve", s_max=None), np.ones(6))
    # inside the buffer the Ambient-o factor sigma^4 / (sigma^2 - sigma_min^2)^2 is at most s_max^2
    inside = s[w == 1]
    assert np.all(inside**4 / (inside**2 - 1) ** 2 <= 16 + 1e-6)


def test_min_snr_matches_its_usual_forms():
    gamma = 5.0
    a, b = al.alpha_sigma(S)
    snr = a**2 / b**2
    for prediction, expected in [
        ("x0", np.minimum(snr, gamma)),
        ("epsilon", np.minimum(snr, gamma) / snr),
        ("v", np.minimum(snr, gamma) / (snr + 1)),
    ]:
        w = al.loss_weight(S, 0.0, policy="none", base="min_snr", prediction=prediction, min_snr_gamma=gamma)
        np.testing.assert_allclose(w, expected, rtol=1e-12, err_msg=prediction)
    # at VP s = 1 (SNR = 0) the epsilon weight is 1, not NaN
    assert al.loss_weight(1.0, 0.0, policy="none", base="min_snr", prediction="epsilon") == 1.0


def test_edm_weight_on_x0():
    sigma_data = 0.5
    s = np.array([0.1, 1.0, 10.0])
    w = al.loss_weight(s, 0.0, policy="none", base="edm", schedule="ve", sigma_data=sigma_data)
    np.testing.assert_allclose(w, (s**2 + sigma_data**2) / (s * sigma_data) ** 2, rtol=1e-12)


def test_cap_and_composition():
    w = al.loss_weight(S, M, base="min_snr", cap=0.5)
    raw = al.loss_weight(S, M, base="min_snr")
    np.testing.assert_array_equal(w, np.minimum(raw, 0.5))
    np.testing.assert_allclose(raw, al.loss_weight(S, M) * al.loss_weight(S, M, policy="none", base="min_snr"))


def test_levels_align_on_leading_axes_and_keep_namespace():
    torch = pytest.importorskip("torch")
    w = al.loss_weight(torch.full((4, 16), 0.6), torch.tensor([0.0, 0.1, 0.2, 0.3]))
    assert w.shape == (4, 16)
    assert w.dtype == torch.float32
    np.testing.assert_allclose(w[:, 0].numpy(), 1 - np.array([0.0, 0.1, 0.2, 0.3]) ** 2 / 0.36, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": "inverse"}, "unknown policy 'inverse'"),
        ({"base": "snr"}, "unknown base 'snr'"),
        ({"sigma_data": 0.0}, "sigma_data must be a positive finite number, got 0.0"),
        ({"s_max": 1.0}, "s_max must be greater than 1, got 1.0"),
        ({"cap": -1.0}, "cap must be a positive finite number"),
    ],
)
def test_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        al.loss_weight(S, M, **kwargs)


def test_inadmissible_pair_raises():
    with pytest.raises(ValueError, match="sigma must be greater than sigma_min"):
        al.loss_weight(np.array([0.5, 0.2]), np.array([0.1, 0.3]))


@pytest.mark.parametrize("library", ["numpy", "jax"])
def test_target_variance_of_a_tiny_sigma_min_does_not_underflow(library):
    """``v = b_m^2 b_t^2 / D`` is about ``b_m^2`` for a tiny trusted level: float32 (XLA flushes
    subnormals to zero) must not lose it through the subnormal product ``b_m^2 b_t^2``."""
    sigma, sigma_min = np.float32([0.01171875, 0.5]), np.float32([6e-18, 2e-19])
    if library == "jax":
        jnp = pytest.importorskip("jax.numpy")
        sigma, sigma_min = jnp.asarray(sigma), jnp.asarray(sigma_min)
    got = np.asarray(al.target_variance(sigma, sigma_min))
    m = np.float64(np.float32([6e-18, 2e-19]))
    np.testing.assert_allclose(got, m * m, rtol=1e-5)  # b_t^2 / D = 1 / (1 - m^2/s^2) = 1 to 1e-30

"""loss_weight policies against their defining identities (math.md 5.5).

Every reference is built from the independent oracle of ``ambientloss.testing.gaussian`` (schedule
scalars from their definitions, the target variance ``v = b_m^2 b_t^2 / D`` and the Bayes error
``Cov(x0 | x_t)`` of Gaussian data, math.md 6.1), never from the library's own ``coefficients`` or
``target_variance``.
"""

import dataclasses
import re
import typing

import numpy as np
import pytest

import ambientloss as al
from ambientloss.core.weights import as_weighting
from ambientloss.testing import gaussian as oracle

OracleSchedule = oracle.OracleSchedule

S = np.array([0.5, 0.6, 0.8, 0.95])
M = np.array([0.0, 0.3, 0.7, 0.9])


def test_inverse_variance_vp_unit_data_is_one_minus_ratio():
    w = al.loss_weight(S, M)
    np.testing.assert_allclose(w, 1 - M**2 / S**2, rtol=1e-15)
    assert w[0] == 1.0


def _pairs(schedule: str, s: np.ndarray, m: np.ndarray) -> list[tuple[oracle.Scalars, oracle.Scalars]]:
    """Oracle scalars of each ``(sigma, sigma_min)`` pair, written from the schedule's definition."""
    return [oracle.pair_scalars(OracleSchedule(schedule), float(a), float(b)) for a, b in zip(s, m, strict=True)]


@pytest.mark.parametrize("schedule", ["vp", "ve", "flow"])
@pytest.mark.parametrize("sigma_data", [0.5, 1.0, 2.0])
def test_inverse_variance_equalises_residual_variance(schedule, sigma_data):
    """rho (V_t + v) = V_t with V_t the Bayes error of isotropic Gaussian data (math.md 5.5)."""
    s, m = (S, M) if schedule != "ve" else (S * 3, M * 3)
    data = oracle.Gaussian(np.zeros(1), np.array([[sigma_data**2]]))
    pairs = _pairs(schedule, s, m)
    v_bayes = np.array([data.cov_x0(t)[0, 0] for t, _ in pairs])  # x0-space Bayes error per dimension
    v = np.array([oracle.target_variance(t, mm) for t, mm in pairs])
    rho = al.loss_weight(s, m, schedule=schedule, weighting=al.Weighting(sigma_data=sigma_data))
    np.testing.assert_allclose(rho * (v_bayes + v), v_bayes, rtol=1e-12)
    assert np.all((rho >= 0) & (rho <= 1))
    # the closed form for unit scalars: V_t = sigma_data^2 nu^2 / (sigma_data^2 + nu^2), nu = b_t / a_t
    nu2 = np.array([(t.b / t.a) ** 2 for t, _ in pairs])
    np.testing.assert_allclose(v_bayes, sigma_data**2 * nu2 / (sigma_data**2 + nu2), rtol=1e-13)


def test_x_tmin_policy_is_the_x_tmin_space_loss():
    """a_m^2 (1-r)^2 ||h - T_x0||^2 == ||a_m (1-r) h + (a_t b_m^2 / (a_m b_t^2)) x_t - x_tmin||^2 (math.md 5.5a)."""
    rng = np.random.default_rng(3)
    s, m = S[1:], M[1:]
    x_m, z, h = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    pairs = _pairs("vp", s, m)
    alpha, beta = (np.array(c)[:, None] for c in zip(*(oracle.transition(t, mm) for t, mm in pairs), strict=True))
    x_t = alpha * x_m + beta * z  # the transition kernel (math.md Proposition 1)
    # the x0 target T = c_t x_t + c_m x_tmin, coefficients from the oracle (math.md 3.4)
    coefficients = [oracle.ambient_coefficients("x0", t, mm) for t, mm in pairs]
    c_t, c_m = (np.array(c)[:, None] for c in zip(*coefficients, strict=True))
    target = c_m * x_m + c_t * x_t
    a_t = np.array([t.a for t, _ in pairs])
    b_t = np.array([t.b for t, _ in pairs])
    a_m = np.array([mm.a for _, mm in pairs])
    b_m = np.array([mm.b for _, mm in pairs])
    one_minus_r = np.array([oracle.one_minus_r(t, mm) for t, mm in pairs])
    lhs = al.loss_weight(s, m, weighting="x_tmin")[:, None] * (h - target) ** 2
    shifted = (a_m * one_minus_r)[:, None] * h + (a_t * b_m**2 / (a_m * b_t**2))[:, None] * x_t
    np.testing.assert_allclose(lhs.sum(1), ((shifted - x_m) ** 2).sum(1), rtol=1e-10)
    # the oracle's target is the library's, so the identity is about the library's weight
    np.testing.assert_allclose(al.ambient_target(x_t, x_m, s, m), target, rtol=1e-12, atol=1e-12)


def test_ambient_o_buffer():
    """Weight 1 exactly where sigma > sigma_min sqrt(s_max / (s_max - 1)) (VE), else 0."""
    m = np.full(6, 1.0)
    factor = np.sqrt(4 / 3)
    s = np.array([1.01, 1.1, factor - 1e-9, factor + 1e-9, 2.0, 5.0])
    w = al.loss_weight(s, m, weighting=al.Weighting(policy="ambient_o", s_max=4.0), schedule="ve")
    np.testing.assert_array_equal(w, [0, 0, 0, 1, 1, 1])
    no_buffer = al.Weighting(policy="ambient_o", s_max=None)
    np.testing.assert_array_equal(al.loss_weight(s, m, weighting=no_buffer, schedule="ve"), np.ones(6))
    # inside the buffer the Ambient-o factor sigma^4 / (sigma^2 - sigma_min^2)^2 is at most s_max^2
    inside = s[w == 1]
    assert np.all(inside**4 / (inside**2 - 1) ** 2 <= 16 + 1e-6)


def test_min_snr_matches_its_usual_forms():
    gamma = 5.0
    scalars = [OracleSchedule("vp").scalars(float(level)) for level in S]
    snr = np.array([(t.a / t.b) ** 2 for t in scalars])
    for prediction, expected in [
        ("x0", np.minimum(snr, gamma)),
        ("epsilon", np.minimum(snr, gamma) / snr),
        ("v", np.minimum(snr, gamma) / (snr + 1)),
    ]:
        options = al.Weighting(policy="none", base_weight="min_snr", min_snr_gamma=gamma)
        w = al.loss_weight(S, 0.0, weighting=options, prediction=prediction)
        np.testing.assert_allclose(w, expected, rtol=1e-12, err_msg=prediction)
    # at VP s = 1 (SNR = 0) the epsilon weight is 1, not NaN
    min_snr = al.Weighting(policy="none", base_weight="min_snr")
    assert al.loss_weight(1.0, 0.0, weighting=min_snr, prediction="epsilon") == 1.0


def test_edm_weight_on_x0():
    sigma_data = 0.5
    s = np.array([0.1, 1.0, 10.0])
    edm = al.Weighting(policy="none", base_weight="edm", sigma_data=sigma_data)
    w = al.loss_weight(s, 0.0, weighting=edm, schedule="ve")
    np.testing.assert_allclose(w, (s**2 + sigma_data**2) / (s * sigma_data) ** 2, rtol=1e-12)


def test_cap_and_composition():
    w = al.loss_weight(S, M, weighting=al.Weighting(base_weight="min_snr", cap=0.5))
    raw = al.loss_weight(S, M, weighting=al.Weighting(base_weight="min_snr"))
    np.testing.assert_array_equal(w, np.minimum(raw, 0.5))
    min_snr = al.Weighting(policy="none", base_weight="min_snr")
    np.testing.assert_allclose(raw, al.loss_weight(S, M) * al.loss_weight(S, M, weighting=min_snr))


def test_levels_align_on_leading_axes_and_keep_namespace():
    torch = pytest.importorskip("torch")
    w = al.loss_weight(torch.full((4, 16), 0.6), torch.tensor([0.0, 0.1, 0.2, 0.3]))
    assert w.shape == (4, 16)
    assert w.dtype == torch.float32
    np.testing.assert_allclose(w[:, 0].numpy(), 1 - np.array([0.0, 0.1, 0.2, 0.3]) ** 2 / 0.36, rtol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"policy": "inverse"}, "unknown policy 'inverse'; valid values are 'inverse_variance', 'none'"),
        ({"base_weight": "snr"}, "unknown base_weight 'snr'; valid values are None, 'edm', 'min_snr'"),
        ({"sigma_data": 0.0}, "sigma_data must be a positive finite number, got 0.0"),
        ({"sigma_data": float("nan")}, "sigma_data must be a positive finite number, got nan"),
        ({"s_max": 1.0}, "s_max must be greater than 1, got 1.0"),
        ({"s_max": "4"}, "s_max must be a positive finite number, got '4'"),
        ({"min_snr_gamma": -5.0}, "min_snr_gamma must be a positive finite number, got -5.0"),
        ({"cap": -1.0}, "cap must be a positive finite number, got -1.0"),
        ({"cap": True}, "cap must be a positive finite number, got True"),
    ],
)
def test_bad_options_name_the_field_and_the_value(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        al.Weighting(**kwargs)


@pytest.mark.parametrize(
    ("weighting", "error", "match"),
    [
        ("inverse", ValueError, "unknown weighting 'inverse'; valid values are a Weighting or a policy name"),
        (None, TypeError, "weighting must be a Weighting or a policy name, got NoneType"),
        ({"policy": "none"}, TypeError, "weighting must be a Weighting or a policy name, got dict"),
    ],
)
def test_bad_weighting_argument_is_named(weighting, error, match):
    with pytest.raises(error, match=re.escape(match)):
        al.loss_weight(S, M, weighting=weighting)


@pytest.mark.parametrize("policy", al.core.weights.POLICIES)
def test_a_policy_name_is_shorthand_for_the_object(policy):
    np.testing.assert_array_equal(
        al.loss_weight(S, M, weighting=policy), al.loss_weight(S, M, weighting=al.Weighting(policy=policy))
    )
    assert as_weighting(policy) == al.Weighting(policy=policy)
    assert al.Weighting() == al.Weighting(policy="inverse_variance")
    np.testing.assert_array_equal(al.loss_weight(S, M), al.loss_weight(S, M, weighting=al.Weighting()))


def test_the_field_types_list_the_valid_names():
    hints = typing.get_type_hints(al.Weighting)
    assert typing.get_args(hints["policy"]) == al.core.weights.POLICIES
    base_weight = typing.get_args(hints["base_weight"])  # Literal[...] | None
    assert (None, *typing.get_args(base_weight[0])) == al.core.weights.BASE_WEIGHTS
    assert base_weight[1] is type(None)


def test_weighting_is_frozen_hashable_and_compact_in_repr():
    w = al.Weighting(policy="ambient_o", s_max=4, base_weight="edm", sigma_data=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.policy = "none"  # type: ignore[misc]
    assert w == al.Weighting(policy="ambient_o", s_max=4.0, base_weight="edm", sigma_data=0.5)
    assert hash(w) == hash(al.Weighting(policy="ambient_o", s_max=4.0, base_weight="edm", sigma_data=0.5))
    assert len({w, al.Weighting(), al.Weighting("inverse_variance")}) == 2
    assert type(w.s_max) is float  # numbers are stored as plain floats
    assert al.Weighting(sigma_data=np.float32(0.5)) == al.Weighting(sigma_data=0.5)
    assert type(al.Weighting(sigma_data=np.float32(0.5)).sigma_data) is float
    assert repr(al.Weighting()) == "Weighting()"
    assert repr(w) == "Weighting(policy='ambient_o', base_weight='edm', sigma_data=0.5)"
    assert eval(repr(w), {"Weighting": al.Weighting}) == w
    assert dataclasses.replace(w, cap=2.0).cap == 2.0


WEIGHTINGS = [
    al.Weighting(),
    al.Weighting(policy="none", base_weight="edm", sigma_data=0.5, cap=3.0),
    al.Weighting(policy="ambient_o", s_max=2.5, base_weight="min_snr", min_snr_gamma=2.0),
    al.Weighting(policy="x_tmin", sigma_data=2.0),
]


@pytest.mark.parametrize("weighting", WEIGHTINGS, ids=repr)
def test_the_same_weighting_gives_the_same_weights_in_core_torch_and_jax(weighting):
    """One ``Weighting`` object, three entry points: identical per-sample weights (float64)."""
    s, m = S[1:], M[1:]
    core = al.loss_weight(s, m, weighting=weighting, prediction="v")
    torch = pytest.importorskip("torch")
    from ambientloss.adapters.torch import AmbientLoss

    loss_fn = AmbientLoss("v", weighting=weighting)
    assert loss_fn.weighting is weighting
    np.testing.assert_array_equal(loss_fn.weight(torch.from_numpy(s), torch.from_numpy(m)).numpy(), core)
    jnp = pytest.importorskip("jax.numpy")  # float64 enabled by tests/conftest.py
    from ambientloss.adapters import jax as alj

    sj, mj = jnp.asarray(s, jnp.float64), jnp.asarray(m, jnp.float64)
    pred, target = jnp.ones((3, 2), jnp.float64), jnp.zeros((3, 2), jnp.float64)
    loss = alj.ambient_loss(pred, target, sj, mj, weighting=weighting, prediction="v", reduction="per_sample")
    np.testing.assert_allclose(np.asarray(loss), core, rtol=1e-15)
    np.testing.assert_array_equal(np.asarray(alj.loss_weight(sj, mj, weighting=weighting, prediction="v")), core)


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

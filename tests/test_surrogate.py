import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikax as sx
from spikax import surrogate as sg

V = jnp.linspace(-3.0, 3.0, 241)  # includes 0 exactly (index 120)
THETA = 0.7


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# Each formula is written out here from the literature, independently of the library code.
FAMILIES = [
    (sg.FastSigmoid, 25.0, lambda x, k: 1.0 / (1.0 + k * np.abs(x)) ** 2),
    (sg.FastSigmoid, 3.0, lambda x, k: 1.0 / (1.0 + k * np.abs(x)) ** 2),
    (sg.Sigmoid, 4.0, lambda x, k: k * _sigmoid(k * x) * (1 - _sigmoid(k * x))),
    (sg.ArcTan, 2.0, lambda x, a: a / 2 / (1 + (math.pi / 2 * a * x) ** 2)),
    (sg.Triangle, 0.8, lambda x, w: np.maximum(0.0, 1 - np.abs(x) / w) / w),
    (sg.Boxcar, 0.9, lambda x, w: (np.abs(x) < w / 2) / w),
    (sg.StraightThrough, 0.3, lambda x, c: np.full_like(x, c)),
    (sg.Tanh, 1.5, lambda x, k: 1.0 - np.tanh(k * x) ** 2),
    (sg.Circ, 0.6, lambda x, a: a**3 / (a**2 + x**2) ** 1.5),
    (sg.Erfc, 1.2, lambda x, k: 2.0 / math.sqrt(math.pi) * np.exp(-((k * x) ** 2))),
]


@pytest.mark.parametrize("cls,param,formula", FAMILIES)
def test_binary_derivative_matches_formula(cls, param, formula):
    spike = cls(param)
    v = np.asarray(V) + THETA
    dv = jax.vmap(jax.grad(lambda x: spike(x, THETA)))(jnp.asarray(v))
    np.testing.assert_allclose(dv, formula(np.asarray(V), param), rtol=1e-5, atol=1e-6)
    # The threshold enters as v - theta: its gradient is the negative.
    dth = jax.vmap(jax.grad(lambda th, x: spike(x, th)), in_axes=(None, 0))(jnp.float32(THETA), jnp.asarray(v))
    np.testing.assert_allclose(dth, -formula(np.asarray(V), param), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls,param,formula", FAMILIES)
def test_binary_forward_is_heaviside(cls, param, formula):
    spike = cls(param)
    out = spike(V, 0.0)
    np.testing.assert_array_equal(out, (np.asarray(V) >= 0).astype(np.float32))
    assert float(spike(jnp.float32(0.0), 0.0, ">=")) == 1.0
    assert float(spike(jnp.float32(0.0), 0.0, ">")) == 0.0
    assert out.dtype == jnp.float32


@pytest.mark.parametrize("cls,param,formula", FAMILIES)
def test_shape_parameter_sweeps_with_vmap(cls, param, formula):
    params = jnp.array([0.5, 1.0, 2.0]) * param
    x = jnp.float32(0.05)

    def deriv(p):
        return jax.grad(lambda v: cls(p)(v, 0.0))(x)

    got = jax.vmap(deriv)(params)
    want = [formula(np.float32(0.05), float(p)) for p in params]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_shape_parameters_get_no_gradient():
    # The forward pass does not depend on the slope: its gradient must be exactly zero.
    g = jax.grad(lambda k: sg.FastSigmoid(k)(jnp.float32(0.1), 0.0))(jnp.float32(5.0))
    assert float(g) == 0.0


@given(
    v=st.floats(-10, 10, allow_nan=False, width=32),
    slope=st.floats(0.125, 50.0, width=32),
)
@settings(max_examples=60, deadline=None)
def test_fast_sigmoid_property(v, slope):
    g = jax.grad(lambda x: sg.FastSigmoid(slope)(x, 0.0))(jnp.float32(v))
    assert float(g) == pytest.approx(1.0 / (1.0 + slope * abs(v)) ** 2, rel=1e-4, abs=1e-7)


def test_multi_spike_forward():
    ms = sg.MultiSpike(max_spikes_per_dt=5.0)
    v = jnp.array([-1.0, 0.0, 0.99, 1.0, 1.5, 2.0, 3.7, 100.0])
    np.testing.assert_array_equal(ms(v, 1.0), [0, 0, 0, 1, 1, 2, 3, 5])
    # Strict comparison only changes the value exactly at threshold.
    np.testing.assert_array_equal(ms(v, 1.0, ">"), [0, 0, 0, 0, 1, 2, 3, 5])
    # With max_spikes_per_dt=1 it is a binary spike.
    np.testing.assert_array_equal(sg.MultiSpike(1.0)(v, 1.0), [0, 0, 0, 1, 1, 1, 1, 1])


def test_multi_spike_derivatives_match_formula():
    ms = sg.MultiSpike(window=0.5)
    theta = 0.8
    v = jnp.linspace(-1.0, 4.0, 501)
    dv = jax.vmap(jax.grad(lambda x: ms(x, theta)))(v)
    dth = jax.vmap(jax.grad(lambda th, x: ms(x, th)), in_axes=(None, 0))(jnp.float32(theta), v)
    active = np.asarray(v) >= theta - 0.5
    np.testing.assert_allclose(dv, np.where(active, 1 / theta, 0.0), rtol=1e-6)
    np.testing.assert_allclose(dth, np.where(active, -np.asarray(v) / theta**2, 0.0), rtol=1e-5, atol=1e-7)
    # The window moves the start of the surrogate.
    d_narrow = jax.grad(lambda x: sg.MultiSpike(window=0.1)(x, theta))(jnp.float32(0.5))
    assert float(d_narrow) == 0.0


def test_multi_spike_window_sweeps_with_vmap():
    windows = jnp.array([0.1, 0.3, 0.6])
    g = jax.vmap(lambda w: jax.grad(lambda x: sg.MultiSpike(window=w)(x, 1.0))(jnp.float32(0.6)))(windows)
    np.testing.assert_array_equal(g, [0.0, 0.0, 1.0])


@pytest.mark.parametrize("cls", [sg.FastSigmoid, sg.Sigmoid, sg.ArcTan, sg.Triangle, sg.Boxcar, sg.StraightThrough])
def test_bad_parameter_is_rejected(cls):
    with pytest.raises(ValueError, match="must be > 0"):
        cls(-1.0)
    with pytest.raises(ValueError, match="finite"):
        cls(float("nan"))


def test_unknown_fire_at_is_rejected():
    with pytest.raises(ValueError, match="fire_at"):
        sg.FastSigmoid()(jnp.zeros(3), 0.0, "=>")
    with pytest.raises(ValueError, match="fire_at"):
        sx.IF.create(fire_at="gt")


# Norse's threshold methods, derivatives as Norse documents (norse/torch/functional/threshold.py).
NORSE = {
    "super": lambda x, a: 1.0 / (a * np.abs(x) + 1.0) ** 2,
    "tanh": lambda x, a: 1.0 - np.tanh(a * x) ** 2,
    "logistic": lambda x, a: 1.0 - np.tanh(a * x) ** 2,
    "triangle": lambda x, a: a * np.maximum(0.0, 1.0 - np.abs(x)),
    "tent": lambda x, a: a * np.maximum(0.0, 1.0 - np.abs(x)),
    # d/dx of 1/2 + x / (2 sqrt(x^2 + a^2)), times 2 a, as Norse's HeaviCirc.backward.
    "circ": lambda x, a: (-(x**2) / (2 * (a**2 + x**2) ** 1.5) + 1 / (2 * np.sqrt(a**2 + x**2))) * 2 * a,
    "heavi_erfc": lambda x, a: 2 * np.exp(-((a * x) ** 2)) / np.sqrt(np.pi),
    "erfc": lambda x, a: 2 * np.exp(-((a * x) ** 2)) / np.sqrt(np.pi),
    "heaviside": lambda x, a: np.zeros_like(x),
}


@pytest.mark.parametrize("method", list(NORSE))
@pytest.mark.parametrize("alpha", [0.7, 3.0])
def test_norse_methods_forward_and_derivative(method, alpha):
    spike = sg.norse(method, alpha)
    x = np.asarray(V)
    # Norse's forward is the strict step [x > 0].
    np.testing.assert_array_equal(spike(V, 0.0, ">"), (x > 0).astype(np.float32))
    dv = jax.vmap(jax.grad(lambda v: spike(v, 0.0, ">")))(V)
    np.testing.assert_allclose(dv, NORSE[method](x, alpha), rtol=2e-5, atol=1e-6)


def test_norse_unknown_method():
    with pytest.raises(ValueError, match="`method` must be one of"):
        sg.norse("relu")


def test_triangle_height_and_default_area():
    spike = sg.Triangle(0.5, height=3.0)
    np.testing.assert_allclose(float(jax.grad(lambda v: spike(v, 0.0))(0.25)), 3.0 * 0.5, rtol=1e-6)
    area = np.trapezoid(jax.vmap(jax.grad(lambda v: sg.Triangle(0.5)(v, 0.0)))(V), np.asarray(V))
    np.testing.assert_allclose(area, 1.0, rtol=1e-3)

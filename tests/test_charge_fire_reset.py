"""LIFNode (SpikingJelly), IF and LI (NIR), and user-defined charges through sx.Neuron."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import spikax as sx
from helpers import SmoothSigmoid, assert_trees_close, python_loop


def first_crossing(x, tau, theta, decay_input=True):
    """Steps from V=0 until H >= theta under constant input (closed form of the charge)."""
    gain = x if decay_input else x * tau
    # H_k = gain * (1 - (1 - 1/tau)^k) >= theta
    return math.ceil(math.log(1 - theta / gain) / math.log(1 - 1 / tau) - 1e-9)


@pytest.mark.parametrize(
    "x,tau,decay_input", [(2.0, 2.0, True), (1.5, 2.0, True), (1.2, 2.0, True), (1.1, 5.0, True), (0.5, 3.0, False)]
)
def test_lifnode_fires_with_the_closed_form_period(x, tau, decay_input):
    node = sx.LIFNode.create(tau=tau, decay_input=decay_input)
    spikes, _, _ = node(jnp.full((60, 1), x))
    period = first_crossing(x, tau, 1.0, decay_input)
    want = np.zeros(60)
    want[period - 1 :: period] = 1
    np.testing.assert_array_equal(spikes[:, 0], want)


def test_lifnode_default_input_two_fires_every_step():
    # H = 0 + (2 - 0)/2 = 1 = V_threshold exactly: Theta(0) = 1, so it fires each step.
    spikes, state, _ = sx.LIFNode.create()(jnp.full((10,), 2.0))
    np.testing.assert_array_equal(spikes, np.ones(10))
    assert float(state.v) == 0.0


def lifnode_numpy(xs, tau, v_th, v_reset, decay_input):
    v = np.zeros_like(xs[0]) + (0.0 if v_reset is None else v_reset)
    out = []
    rest = 0.0 if v_reset is None else v_reset
    for x in xs:
        h = v + (x - (v - rest)) / tau if decay_input else v - (v - rest) / tau + x
        s = (h >= v_th).astype(np.float64)
        v = h - s * v_th if v_reset is None else h * (1 - s) + v_reset * s
        out.append(s)
    return np.array(out), v


@pytest.mark.parametrize("v_reset", [None, 0.0, -0.3])
@pytest.mark.parametrize("decay_input", [True, False])
def test_lifnode_matches_reference_loop_any_shape(key, v_reset, decay_input):
    xs = jax.random.uniform(key, (50, 2, 3, 4), minval=-0.5, maxval=1.5)
    node = sx.LIFNode.create(tau=3.0, v_threshold=0.8, v_reset=v_reset, decay_input=decay_input)
    spikes, state, rec = node(xs, record=True)
    want_s, want_v = lifnode_numpy(np.asarray(xs, np.float64), 3.0, 0.8, v_reset, decay_input)
    assert spikes.shape == xs.shape and rec["v"].shape == xs.shape
    np.testing.assert_array_equal(spikes, want_s)
    np.testing.assert_allclose(state.v, want_v, rtol=1e-5, atol=1e-6)


def test_lifnode_state_starts_at_v_reset():
    assert float(sx.LIFNode.create(v_reset=-0.2).init_state(()).v) == pytest.approx(-0.2)
    assert float(sx.LIFNode.create(v_reset=None).init_state(()).v) == 0.0
    assert sx.LIFNode.create().init_state((2, 5)).v.shape == (2, 5)


def test_lifnode_loop_jit_vmap_continuation(key):
    node = sx.LIFNode.create(tau=2.5, v_reset=None)
    xs = jax.random.uniform(key, (3, 40, 5)) * 1.2
    ys, st, _ = node(xs[0])
    ys_loop, st_loop = python_loop(node, xs[0])
    np.testing.assert_array_equal(ys, ys_loop)
    ys_jit, st_jit, _ = eqx.filter_jit(lambda m, x: m(x))(node, xs[0])
    np.testing.assert_array_equal(ys_jit, ys)
    batched, _, _ = jax.vmap(node)(xs)
    for b in range(3):
        np.testing.assert_array_equal(batched[b], node(xs[b])[0])
    a, s1, _ = node(xs[0, :17])
    b, s2, _ = node(xs[0, 17:], s1)
    np.testing.assert_array_equal(jnp.concatenate([a, b]), ys)
    assert_trees_close(s2, st, rtol=1e-6)


@pytest.mark.parametrize("v_reset", [None, 0.0])
def test_lifnode_gradients_on_smooth_twin(key, v_reset):
    xs = jax.random.uniform(key, (20, 3)) * 1.5

    def loss(xs, tau, v_th):
        node = sx.LIFNode.create(tau=2.0, v_reset=v_reset, spike_fn=SmoothSigmoid(3.0))
        node = eqx.tree_at(lambda m: (m.params.tau, m.params.v_threshold), node, (tau, v_th))
        ys, st, _ = node(xs)
        return jnp.sum(ys * jnp.linspace(0.5, 1.5, 20)[:, None]) + jnp.sum(st.v**2)

    check_grads(loss, (xs, jnp.float32(2.5), jnp.float32(1.0)), order=1, modes=["rev"], eps=1e-3, atol=5e-2, rtol=5e-2)


def test_detach_reset_changes_gradient_not_forward(key):
    xs = jax.random.uniform(key, (30, 4)) * 1.5

    def run(detach):
        node = sx.LIFNode.create(detach_reset=detach)
        return node(xs)[0], jax.grad(lambda x: jnp.sum(node(x)[0]))(xs)

    (s0, g0), (s1, g1) = run(False), run(True)
    np.testing.assert_array_equal(s0, s1)
    assert not np.allclose(g0, g1)


def test_lifnode_bad_arguments():
    with pytest.raises(ValueError, match="`tau` must be >= 1"):
        sx.LIFNode.create(tau=0.5)
    with pytest.raises(ValueError, match="`tau` must be > 0"):
        sx.LIFNode.create(tau=-2.0)
    with pytest.raises(ValueError, match="`v_threshold` must be finite"):
        sx.LIFNode.create(v_threshold=float("nan"))
    with pytest.raises(TypeError, match="spike_fn"):
        sx.LIFNode.create(spike_fn=jnp.tanh)


@pytest.mark.parametrize("fire_at,period", [(">", 5), (">=", 4)])
def test_if_closed_form(fire_at, period):
    dt = 1e-3
    neuron = sx.IF.create(r=1 / dt, v_threshold=1.0, dt=dt, fire_at=fire_at)
    spikes, _, rec = neuron(jnp.full((40, 1), 0.25), record=True)
    want = np.zeros(40)
    want[period - 1 :: period] = 1
    np.testing.assert_array_equal(spikes[:, 0], want)
    # Between spikes v climbs by dt * r * x = 0.25 per step from 0.
    np.testing.assert_allclose(rec["v"][: period - 1, 0], 0.25 * np.arange(1, period), rtol=1e-6)


def test_if_soft_reset_keeps_the_excess():
    neuron = sx.IF.create(r=1.0, v_threshold=1.0, v_reset=None, dt=1.0)
    spikes, state, _ = neuron(jnp.array([[0.7], [0.7], [0.2]]))
    np.testing.assert_array_equal(spikes[:, 0], [0, 1, 0])
    assert float(state.v[0]) == pytest.approx(0.4 + 0.2, abs=1e-6)


def test_li_closed_form_and_start():
    dt, tau, r, v_leak, x = 1e-3, 10e-3, 2.0, -0.5, 0.3
    li = sx.LI.create(tau=tau, r=r, v_leak=v_leak, dt=dt)
    v, state, _ = li(jnp.full((100, 2), x))
    assert float(li.init_state((2,)).v[0]) == v_leak
    k = np.arange(1, 101)
    target = v_leak + r * x
    want = target + (v_leak - target) * (1 - dt / tau) ** k
    np.testing.assert_allclose(v[:, 0], want, rtol=1e-5, atol=1e-6)


def test_li_converges_to_the_ode_at_first_order():
    # tau dv/dt = -v + r*I(t), I(t) = sin(2 pi 20 t); exact solution by variation of constants.
    tau, r, T = 10e-3, 1.0, 0.1
    w = 2 * np.pi * 20

    def exact(t):
        a = 1 / tau
        return r * a * (a * np.sin(w * t) - w * np.cos(w * t) + w * np.exp(-a * t)) / (a**2 + w**2)

    errors = []
    for dt in (4e-4, 2e-4, 1e-4):
        n = int(round(T / dt))
        t = np.arange(n) * dt  # input of step k is I(k dt); the state after it is v((k+1) dt)
        v, _, _ = sx.LI.create(tau=tau, r=r, dt=dt)(jnp.asarray(np.sin(w * t)[:, None], jnp.float32))
        errors.append(np.max(np.abs(np.asarray(v[:, 0]) - exact(t + dt))))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.15)


def test_li_rejects_dt_above_tau():
    with pytest.raises(ValueError, match="forward Euler overshoots"):
        sx.LI.create(tau=0.5e-3, dt=1e-3)


class QIFParams(eqx.Module):
    tau: jax.Array
    v_threshold: jax.Array
    v_reset: jax.Array


def qif_charge(p, v, x, dt):
    return v + dt / p.tau * (v * v + x)


def test_user_defined_charge_is_a_full_neuron(key):
    # Only the charge is written; fire, reset, loop, record and vmap come from the library.
    params = QIFParams(jnp.float32(10e-3), jnp.float32(5.0), jnp.float32(-1.0))
    neuron = sx.Neuron(qif_charge, params, dt=1e-4)
    xs = jnp.full((400, 3), jnp.array([0.0, 5.0, 50.0]))
    spikes, state, rec = neuron(xs, record=True)
    v = np.full(3, -1.0)
    want = []
    for _ in range(400):
        h = v + 1e-4 / 10e-3 * (v * v + np.array([0.0, 5.0, 50.0]))
        s = (h >= 5.0).astype(float)
        v = np.where(s > 0, -1.0, h)
        want.append(s)
    np.testing.assert_array_equal(spikes, np.array(want))
    assert spikes[:, 0].sum() == 0 and spikes[:, 2].sum() > spikes[:, 1].sum() > 0
    with pytest.raises(TypeError, match="`params` must have a field `v_threshold`"):
        sx.Neuron(qif_charge, {"tau": 1.0})

"""CubaLIF / CubaLI / Integrator: NIR's neurons under each discretisation, against closed forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import SmoothSigmoid, python_loop

import spikax as sx
from spikax.neurons import Integrator


def v_lif(t, tau, r, x, v_leak=0.0):
    """Sub-threshold NIR LIF from v(0) = v_leak under a constant input: v_leak + r x (1 - e^{-t/tau})."""
    return v_leak + r * x * (1.0 - np.exp(-t / tau))


def v_cuba(t, tau_s, tau_m, r, w_in, x):
    """Sub-threshold NIR CubaLIF from rest: I = w x (1 - e^{-t/ts}), v by convolution (ts != tm)."""
    i_inf = w_in * x
    a = tau_s / (tau_s - tau_m)
    return r * i_inf * (1.0 - np.exp(-t / tau_m) - a * (np.exp(-t / tau_s) - np.exp(-t / tau_m)))


def test_exact_integrator_is_exact_for_a_constant_input_without_synapse():
    tau, r, x, v_leak, dt = 10e-3, 2.0, 0.3, -0.1, 1e-3
    cell = sx.CubaLI.create(tau_syn=None, tau_mem=tau, r=r, v_leak=v_leak, dt=dt, integrator="exact")
    v = np.asarray(cell(jnp.full((50, 2), x))[0])[:, 0]
    t = dt * np.arange(1, 51)
    # float32 exponentials and 50 recursive steps: a few ulps of O(1).
    np.testing.assert_allclose(v, v_lif(t, tau, r, x, v_leak), atol=2e-6)


@pytest.mark.parametrize("integrator,order", [("euler", 1.0), ("exact", 1.0)])
def test_cubalif_converges_to_the_ode_as_dt_shrinks(integrator, order):
    tau_s, tau_m, r, w_in, x, t_end = 2e-3, 5e-3, 1.0, 1.0, 1.0, 10e-3
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):
        n = round(t_end / dt)
        cell = sx.CubaLI.create(tau_syn=tau_s, tau_mem=tau_m, r=r, w_in=w_in, dt=dt, integrator=integrator)
        v = np.asarray(cell(jnp.full((n, 1), x))[0])[:, 0]
        errors.append(abs(v[-1] - v_cuba(t_end, tau_s, tau_m, r, w_in, x)))
    ratios = np.array(errors[:-1]) / np.array(errors[1:])
    # First order: halving dt halves the error (the drive is held over each step in both).
    np.testing.assert_allclose(ratios, 2.0**order, rtol=0.1)
    assert errors[-1] < 5e-3


def test_new_current_and_next_step_reset_follow_snntorch_recursion():
    # snnTorch Synaptic, subtract: I = a I + x, v = b v + I - thr * S_prev, S = [v > thr].
    dt, alpha, beta = 1e-4, 0.6, 0.8
    tau_s, tau_m = dt / (1 - alpha), dt / (1 - beta)
    cell = sx.CubaLIF.create(
        tau_syn=tau_s, tau_mem=tau_m, r=tau_m / dt, w_in=tau_s / dt, v_reset=None, dt=dt, current="new", reset_at="next"
    )
    xs = np.array([0.0, 0.9, 0.0, 0.8, 0.7, 0.0, 0.0, 1.2, 0.0, 0.0], np.float32)
    i = v = s = 0.0
    expected = []
    for x in xs:
        i = alpha * i + x
        v = beta * v + i - s
        s = float(v > 1.0)
        expected.append(s)
    out = np.asarray(cell(xs[:, None])[0])[:, 0]
    np.testing.assert_array_equal(out, expected)
    assert 0 < sum(expected) < len(xs)


def test_scan_equals_python_loop_and_vmap_equals_loop(key):
    cell = sx.CubaLIF.create(
        tau_syn=3e-3, tau_mem=6e-3, r=4.0, w_in=2.0, dt=1e-3, integrator="decay", reset_at="next", v_reset=0.0
    )
    xs = jax.random.uniform(key, (3, 40, 4)) * 2.0
    ys, final, _ = cell(xs[0])
    ys_loop, final_loop = python_loop(cell, xs[0])
    np.testing.assert_array_equal(ys, ys_loop)
    np.testing.assert_array_equal(final.v, final_loop.v)
    first, st, _ = cell(xs[0, :17])
    second, _, _ = cell(xs[0, 17:], st)
    np.testing.assert_array_equal(jnp.concatenate([first, second]), ys)
    batched = jax.vmap(lambda x: cell(x)[0])(xs)
    for b in range(3):
        np.testing.assert_array_equal(batched[b], cell(xs[b])[0])


def test_gradients_through_a_smooth_twin_match_finite_differences(key):
    from jax.test_util import check_grads

    def loss(w_in):
        cell = sx.CubaLIF.create(
            tau_syn=3e-3, tau_mem=6e-3, r=4.0, w_in=w_in, dt=1e-3, spike_fn=SmoothSigmoid(), v_reset=None
        )
        return cell(jnp.full((20, 2), 0.5))[0].sum()

    check_grads(loss, (jnp.float32(1.5),), order=1, modes=["rev"], atol=2e-2, rtol=2e-2)
    assert float(jax.grad(loss)(jnp.float32(1.5))) > 0


def test_integrator_and_bad_parameters():
    np.testing.assert_allclose(Integrator(2.0, dt=1e-3)(jnp.ones((5, 1)))[0][:, 0], 2e-3 * np.arange(1, 6), rtol=1e-6)
    with pytest.raises(ValueError, match="`integrator` must be one of"):
        sx.CubaLIF.create(integrator="rk4")
    with pytest.raises(ValueError, match="`reset_at` must be one of"):
        sx.CubaLIF.create(reset_at="later")
    with pytest.raises(ValueError, match="tau_mem"):
        sx.CubaLIF.create(tau_mem=-1e-3)
    with pytest.raises(ValueError, match="larger than the time constant `tau_syn`"):
        sx.CubaLIF.create(tau_syn=1e-4, dt=1e-3)

"""AdEx in Norse's form (LIFAdEx) and in physical units (AdEx): references, Naud et al. patterns, errors."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from firing_patterns import classify

import spikax as sx
from spikax.neurons import NAUD2008

# --------------------------------------------------------------------------------------------
# LIFAdEx against an independent NumPy transcription of the equations
# --------------------------------------------------------------------------------------------

NORSE_DEFAULTS = dict(a=4.0, b=0.02, dT=0.5, tai=2.0, tsi=1 / 5e-3, tmi=1 / 1e-2, vl=0.0, vth=1.0, vr=0.0)


def numpy_lif_adex(currents, *, synapse=True, dt=1e-3, w_rec=None, p=NORSE_DEFAULTS):
    """Norse's lif_adex steps in float64 NumPy: feed-forward / recurrent / current encoder."""
    T, n = currents.shape
    v, i, a, z = np.full(n, p["vl"]), np.zeros(n), np.zeros(n), np.zeros(n)
    zs, vs, is_, as_ = [], [], [], []
    for t in range(T):
        drive = currents[t] + (z @ w_rec if w_rec is not None else 0.0)
        i_jump = i + drive if synapse else drive
        dv = p["vl"] - v + p["dT"] * np.exp((v - p["vth"]) / p["dT"]) + i_jump - a
        v_dec = v + dt * p["tmi"] * dv
        i_dec = i_jump - dt * p["tsi"] * i_jump if synapse else i
        a_dec = a + dt * p["tai"] * (p["a"] * (v - p["vl"]) - a)
        z = (v_dec - p["vth"] > 0).astype(float)
        v = (1 - z) * v_dec + z * p["vr"]
        i, a = i_dec, a_dec + z * p["b"]
        zs.append(z), vs.append(v), is_.append(i), as_.append(a)
    return np.array(zs), np.array(vs), np.array(is_), np.array(as_)


@pytest.fixture
def drive():
    rng = np.random.default_rng(0)
    return (rng.random((400, 6)) < 0.3) * rng.uniform(0.0, 40.0, (400, 6))


@pytest.mark.parametrize("synapse", [True, False], ids=["feed-forward", "current-encoder"])
def test_lif_adex_matches_reference(drive, synapse):
    if not synapse:
        drive = drive * 0.1 + 1.2  # a direct current: sustained firing with adaptation
    z_ref, v_ref, i_ref, a_ref = numpy_lif_adex(drive, synapse=synapse)
    model = sx.LIFAdEx.create(6, synapse=synapse)
    z, state, rec = model(jnp.asarray(drive, jnp.float32), record=True)
    assert z_ref.sum() > 20, "the reference run must spike for the comparison to mean something"
    np.testing.assert_array_equal(np.asarray(z), z_ref)
    np.testing.assert_allclose(np.asarray(rec["v"]), v_ref, atol=2e-5)
    np.testing.assert_allclose(np.asarray(rec["i"]), i_ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(rec["a"]), a_ref, atol=2e-5)


def test_lif_adex_recurrent_step_is_recurrent_composition(drive):
    w_rec = np.random.default_rng(1).normal(0.0, 8.0, (6, 6))
    z_ref, v_ref, _, a_ref = numpy_lif_adex(drive, w_rec=w_rec)
    net = sx.Recurrent(sx.LIFAdEx.create(6), w_rec)
    z, state, rec = net(jnp.asarray(drive, jnp.float32), record=True)
    assert z_ref.sum() > 20
    np.testing.assert_array_equal(np.asarray(z), z_ref)
    np.testing.assert_allclose(np.asarray(rec["v"]), v_ref, atol=5e-5)
    np.testing.assert_allclose(np.asarray(rec["a"]), a_ref, atol=5e-5)


def test_lif_adex_adaptation_jump_and_strict_threshold():
    model = sx.LIFAdEx.create(1, adaptation_current=0.0, tau_adapt=1e6)
    # v' = v_th exactly does not spike (strict >): start just so the step lands on v_th.
    st = sx.neurons.LIFAdExState(v=jnp.array([1.0]), i=jnp.zeros(1), a=jnp.zeros(1))
    st_next, z = model.step(st, jnp.array([-0.5]))  # v' = 1 + 0.1*(0 - 1 + 0.5 - 0.5 + 0.5) = 0.95
    assert float(z[0]) == 0.0
    st = sx.neurons.LIFAdExState(v=jnp.array([0.99]), i=jnp.zeros(1), a=jnp.zeros(1))
    st_next, z = model.step(st, jnp.array([100.0]))
    assert float(z[0]) == 1.0
    np.testing.assert_allclose(float(st_next.v[0]), 0.0)
    np.testing.assert_allclose(float(st_next.a[0]), 0.02, rtol=1e-6)  # a += b at the spike


def test_norse_method_names_reach_the_surrogate():
    model = sx.LIFAdEx.create(3, method="triangle", alpha=0.3)
    assert isinstance(model.spike_fn, sx.surrogate.Triangle)
    np.testing.assert_allclose(float(model.spike_fn.height), 0.3)
    with pytest.raises(ValueError, match="method"):
        sx.LIFAdEx.create(3, method="sigmoidish")


# --------------------------------------------------------------------------------------------
# Physical AdEx
# --------------------------------------------------------------------------------------------


def numpy_adex(current, p, dt, V_peak):
    """Forward Euler of Brette & Gerstner's equations, float64, V and w from the old state."""
    v, w = p["E_L"], 0.0
    spikes = []
    for k, i_k in enumerate(current):
        dv = (-p["g_L"] * (v - p["E_L"]) + p["g_L"] * p["Delta_T"] * np.exp((v - p["V_T"]) / p["Delta_T"]) - w + i_k)
        dw = (p["a"] * (v - p["E_L"]) - w) / p["tau_w"]
        v, w = v + dt * dv / p["C"], w + dt * dw
        if v > V_peak:
            spikes.append(k)
            v, w = p["V_reset"], w + p["b"]
    return np.array(spikes)


def run_pattern(name, dt=1e-4, t_end=0.6):
    model = sx.AdEx.naud2008(name, dt=dt)
    steps = int(round(t_end / dt))
    s, _, _ = model(jnp.full((steps, 1), NAUD2008[name]["I"], jnp.float32))
    return np.nonzero(np.asarray(s[:, 0]))[0] * dt * 1e3


@pytest.mark.parametrize("name", list(NAUD2008))
def test_naud2008_patterns(name):
    """Each published parameter set shows its own firing pattern (Naud et al. 2008, Fig. 4)."""
    spikes_ms = run_pattern(name)
    assert classify(spikes_ms, 600.0) == name, f"{name}: spikes at {np.round(spikes_ms, 1)} ms"


@pytest.mark.parametrize("name", ["adaptation", "initial burst", "regular bursting", "delayed regular bursting"])
def test_naud2008_patterns_survive_a_finer_step(name):
    assert classify(run_pattern(name, dt=5e-5), 600.0) == name


CHAOTIC = "irregular spiking"


def spikax_naud_steps(name, dt, steps):
    p = NAUD2008[name]
    s, _, _ = sx.AdEx.naud2008(name, dt=dt)(jnp.full((steps, 1), p["I"]))
    return np.nonzero(np.asarray(s[:, 0]))[0]


@pytest.mark.parametrize("name", list(NAUD2008))
def test_adex_float64_is_forward_euler_exactly(name):
    """In float64, spikax and a NumPy forward Euler give the same spike steps over 600 ms.

    The irregular-spiking cell is chaotic: rounding differences in the order of operations
    grow until single spikes move (after about 430 ms in float64), so it is compared over 400 ms.
    """
    dt, steps = 1e-4, 4000 if name == CHAOTIC else 6000
    ref = numpy_adex(np.full(steps, NAUD2008[name]["I"]), NAUD2008[name], dt, 0.0)
    with jax.enable_x64(True):
        got = spikax_naud_steps(name, dt, steps)
    assert len(got) == len(ref) >= 1
    assert np.max(np.abs(got - ref)) <= 1


@pytest.mark.parametrize("name", [n for n in NAUD2008 if n != CHAOTIC])
def test_adex_float32_keeps_the_spike_count(name):
    """float32 (the default) keeps every count; near a bifurcation (delayed regular bursting)
    spike times drift by up to 1 ms over 600 ms, elsewhere they stay within one step."""
    dt, steps = 1e-4, 6000
    ref = numpy_adex(np.full(steps, NAUD2008[name]["I"]), NAUD2008[name], dt, 0.0)
    got = spikax_naud_steps(name, dt, steps)
    assert len(got) == len(ref)
    assert np.max(np.abs(got - ref)) <= (10 if name == "delayed regular bursting" else 1)


def test_adex_closed_form_subthreshold_step():
    """Below threshold with a = 0 the first step is the explicit formula."""
    model = sx.AdEx.create(1, a=0.0, b=0.0)
    p = model.params
    st, s = model.step(model.init_state(), jnp.array([100e-12]))
    dv = 1e-4 / p.C * (p.g_L * p.delta_T * jnp.exp((p.v_leak - p.v_rh) / p.delta_T) + 100e-12)
    np.testing.assert_allclose(np.asarray(st.v), np.asarray(p.v_leak + dv), rtol=1e-6)
    assert float(s[0]) == 0.0 and float(st.w[0]) == 0.0


def test_adex_far_spike_cut_stays_finite():
    """With V_peak far above V_T the exponential would overflow; it must not give inf or NaN."""
    model = sx.AdEx.create(2, v_threshold=0.5, dt=1e-4)
    xs = jnp.full((3000, 2), 2e-9)

    def loss(scale):
        s, st, rec = model(xs * scale, record=True)
        return jnp.sum(s), rec["v"]

    (count, v), grad = jax.value_and_grad(loss, has_aux=True)(1.0)
    assert np.all(np.isfinite(np.asarray(v)))
    assert float(count) > 5
    assert np.isfinite(float(grad))


def test_adex_bad_parameters():
    with pytest.raises(ValueError, match="`C` must be > 0"):
        sx.AdEx.create(2, C=-1e-12)
    with pytest.raises(ValueError, match="`tau_w` must be > 0"):
        sx.AdEx.create(2, tau_w=0.0)
    with pytest.raises(ValueError, match="`delta_T` must be > 0"):
        sx.AdEx.create(2, delta_T=0.0)
    with pytest.raises(ValueError, match="`v_threshold` must be above `v_rh`"):
        sx.AdEx.create(2, v_threshold=-0.06)
    with pytest.raises(ValueError, match="forward Euler"):
        sx.AdEx.create(2, dt=0.05)  # dt > C/g_L = 9.4 ms
    with pytest.raises(ValueError, match="`delta_T` must be > 0"):
        sx.LIFAdEx.create(2, delta_T=-0.5)
    with pytest.raises(ValueError, match="`tau_mem` must be > 0"):
        sx.LIFAdEx.create(2, tau_mem=0.0)
    with pytest.raises(ValueError, match="name"):
        sx.AdEx.naud2008("chaotic")
    with pytest.raises(ValueError, match=r"shape \(T, 3\)"):
        sx.AdEx.create(3)(jnp.zeros((10, 4)))


# --------------------------------------------------------------------------------------------
# Brian2's forward Euler (stored run, tests/data/make_brian2_naud2008.py)
# --------------------------------------------------------------------------------------------

BRIAN2 = json.loads((Path(__file__).parent / "data" / "brian2_naud2008.json").read_text())


def test_brian2_reference_uses_the_same_table():
    for name, entry in BRIAN2["patterns"].items():
        for key, value in entry["params"].items():
            np.testing.assert_allclose(NAUD2008[name][key], value, rtol=1e-12, err_msg=f"{name}: {key}")


@pytest.mark.parametrize("name", list(NAUD2008))
def test_adex_matches_brian2(name):
    """Brian2 2.9, forward Euler at dt = 0.1 ms: the same spike count and steps (float64).

    The chaotic irregular-spiking cell is compared over its first 400 ms (rounding differences
    grow until spikes move after about 430 ms; see test_adex_float64_is_forward_euler_exactly).
    """
    dt = BRIAN2["dt"]
    steps = int(round((0.4 if name == CHAOTIC else BRIAN2["duration"]) / dt))
    ref = np.array([k for k in BRIAN2["patterns"][name]["spike_steps"] if k < steps])
    with jax.enable_x64(True):
        got = spikax_naud_steps(name, dt, steps)
    assert len(got) == len(ref) >= 1
    assert np.max(np.abs(got - ref)) <= 1

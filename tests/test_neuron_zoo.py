"""Izhikevich presets, ALIF, EIF, QIF, PLIF: published behaviour, closed forms, references."""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import python_loop

import spikax as sx

# --------------------------------------------------------------------------------------------
# Izhikevich (2003): each preset against the description of the paper's Fig. 2
# --------------------------------------------------------------------------------------------

DT = 1e-4


def izh_run(preset, current):
    """Spike times (ms) and v (mV) of one cell under ``current`` (mV/ms per step of 0.1 ms)."""
    model = sx.Izhikevich.create(preset=preset, dt=DT)
    s, _, rec = model(jnp.asarray(current, jnp.float32)[:, None], record=True)
    return np.nonzero(np.asarray(s[:, 0]))[0] * DT * 1e3, np.asarray(rec["v"][:, 0])


def step_current(amplitude, t_on=0.05, t_off=0.35, t_end=0.35):
    i = np.zeros(int(round(t_end / DT)), np.float32)
    i[int(round(t_on / DT)) : int(round(t_off / DT))] = amplitude
    return i


def bursts(t_ms, gap_ms=10.0):
    """Group spikes separated by less than ``gap_ms``; returns the group sizes."""
    if len(t_ms) == 0:
        return []
    sizes, n = [], 1
    for d in np.diff(t_ms):
        if d < gap_ms:
            n += 1
        else:
            sizes.append(n)
            n = 1
    return sizes + [n]


def test_izhikevich_regular_spiking_adapts():
    """RS: 'a few spikes with short inter-spike period, then the period increases'."""
    t, _ = izh_run("RS", step_current(10.0))
    isi = np.diff(t)
    assert len(t) >= 5
    assert isi[0] < 0.6 * isi[-1]
    assert np.all(isi > 10.0), "regular spiking does not burst"


def test_izhikevich_intrinsically_bursting():
    """IB: 'a stereotypical burst of spikes followed by repetitive single spikes'."""
    t, _ = izh_run("IB", step_current(10.0))
    sizes = bursts(t)
    assert sizes[0] >= 3 and all(n == 1 for n in sizes[1:]) and len(sizes) >= 4


def test_izhikevich_chattering():
    """CH: 'stereotypical bursts of closely spaced spikes', repeated."""
    t, _ = izh_run("CH", step_current(10.0))
    sizes = bursts(t)
    assert len(sizes) >= 4 and all(n >= 3 for n in sizes[:-1])


def test_izhikevich_fast_spiking_vs_regular():
    """FS: 'periodic trains of action potentials with extremely high frequency'."""
    t_fs, _ = izh_run("FS", step_current(10.0))
    t_rs, _ = izh_run("RS", step_current(10.0))
    assert len(t_fs) > 4 * len(t_rs)
    assert np.all(bursts(t_fs, gap_ms=2.0)) and np.median(np.diff(t_fs)) < 10.0  # > 100 Hz


def test_izhikevich_low_threshold_spiking():
    """LTS: 'high-frequency trains with noticeable spike-frequency adaptation'."""
    t, _ = izh_run("LTS", step_current(10.0))
    isi = np.diff(t)
    assert isi[0] < 5.0 and isi[-1] > 3.0 * isi[0]
    assert np.all(isi[1:] > 0.95 * isi[:-1]), "single spikes with lengthening intervals, not bursts"
    t_at_low, _ = izh_run("LTS", step_current(2.0))
    t_rs_low, _ = izh_run("RS", step_current(2.0))
    assert len(t_at_low) > 0 and len(t_rs_low) == 0, "a lower threshold than RS"


def test_izhikevich_thalamo_cortical_two_regimes():
    """TC: tonic firing when depolarised; a rebound burst after release from hyperpolarisation."""
    t, _ = izh_run("TC", step_current(10.0))
    assert len(t) > 20 and np.std(np.diff(t)[-10:]) < 0.1 * np.mean(np.diff(t)[-10:])
    release = 250.0
    t, v = izh_run("TC", step_current(-10.0, t_on=0.05, t_off=release * 1e-3, t_end=0.45))
    assert v[int(0.24 / DT)] < -75.0, "hyperpolarised"
    rebound = t[(t > release) & (t < release + 50.0)]
    assert len(rebound) >= 2 and np.all(np.diff(rebound) < 15.0)
    t_rs, _ = izh_run("RS", step_current(-10.0, t_on=0.05, t_off=release * 1e-3, t_end=0.45))
    assert len(t_rs) == 0


def test_izhikevich_resonator():
    """RZ: damped sub-threshold oscillations, and it fires to a doublet at its resonant interval."""
    kick = step_current(1.0, t_on=0.05, t_off=0.051, t_end=0.4)
    _, v = izh_run("RZ", kick)
    _, v_rs = izh_run("RS", kick)

    def sign_changes(v):
        dev = v[int(0.052 / DT):] - v[0]
        sig = np.sign(dev[np.abs(dev) > 1e-3])
        return int(np.sum(sig[1:] != sig[:-1]))

    assert sign_changes(v) >= 4 and sign_changes(v_rs) <= 1
    # Linearised at rest, the period is 2 pi / sqrt(det - tr^2/4) = 41 ms: a doublet 45 ms apart
    # fires the cell, the same doublet 25 ms apart (half a period) does not.
    def doublet(gap_ms):
        i = np.zeros(int(0.4 / DT), np.float32)
        for t0 in (0.05, 0.05 + gap_ms * 1e-3):
            i[int(round(t0 / DT)) : int(round(t0 / DT)) + 10] = 2.5
        return len(izh_run("RZ", i)[0])

    assert doublet(45.0) >= 1 and doublet(25.0) == 0


def test_izhikevich_rest_and_presets():
    np.testing.assert_allclose(np.asarray(sx.neurons.izhikevich_rest(jnp.array([0.2, 0.26]))), [-70.0, -62.5], atol=0.2)
    m = sx.Izhikevich.create(3, preset="chattering", d=[1.0, 2.0, 3.0])
    np.testing.assert_allclose(np.asarray(m.params.v_reset), -50.0)
    np.testing.assert_allclose(np.asarray(m.params.d), [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="preset"):
        sx.Izhikevich.create(preset="bursty")
    with pytest.raises(ValueError, match="too large"):
        sx.Izhikevich.create(dt=2e-3)
    with pytest.raises(ValueError, match="`a` must be > 0"):
        sx.Izhikevich.create(a=-0.02)


# --------------------------------------------------------------------------------------------
# ALIF (Bellec et al. 2018)
# --------------------------------------------------------------------------------------------


def numpy_alif(x, *, tau_mem, tau_adapt, beta, b0, dt):
    alpha, rho = math.exp(-dt / tau_mem), math.exp(-dt / tau_adapt)
    v, a = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    out, thr = [], []
    for x_t in x:
        h = alpha * v + (1 - alpha) * x_t
        A = b0 + beta * a
        s = (h >= A).astype(float)
        v = h - s * A
        a = rho * a + (1 - rho) * s
        out.append(s), thr.append(A)
    return np.array(out), np.array(thr)


def test_alif_matches_reference_and_adapts():
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 4.0, (500, 5)).astype(np.float32)
    ref, _ = numpy_alif(x, tau_mem=20e-3, tau_adapt=200e-3, beta=1.8, b0=1.0, dt=1e-3)
    s, st, rec = sx.ALIF.create(5)(jnp.asarray(x), record=True)
    np.testing.assert_array_equal(np.asarray(s), ref)
    # Constant drive: the threshold climbs, the intervals lengthen.
    s, _, _ = sx.ALIF.create(1)(jnp.full((1000, 1), 3.0))
    t = np.nonzero(np.asarray(s[:, 0]))[0]
    isi = np.diff(t)
    assert isi[-1] >= 1.25 * isi[0]
    s0, _, _ = sx.ALIF.create(1, beta=0.0)(jnp.full((1000, 1), 3.0))
    assert np.ptp(np.diff(np.nonzero(np.asarray(s0[:, 0]))[0])) <= 1, "beta = 0: a plain LIF, regular"


def test_alif_threshold_jump_and_decay():
    """One spike raises the threshold by beta (1 - rho); it then decays by rho per step."""
    dt, tau_a, beta = 1e-3, 100e-3, 2.0
    model = sx.ALIF.create(1, tau_adapt=tau_a, beta=beta)
    rho = math.exp(-dt / tau_a)
    x = np.zeros((30, 1), np.float32)
    x[0] = 25.0  # (1 - alpha) x = 1.22: one spike at step 0, then v = 0.22 decays
    s, _, rec = model(jnp.asarray(x), record=True)
    assert np.asarray(s)[:, 0].tolist() == [1.0] + [0.0] * 29
    a = np.asarray(rec["a"][:, 0])
    np.testing.assert_allclose(a, (1 - rho) * rho ** np.arange(30), rtol=1e-5)
    # The threshold the next step sees: b0 + beta a.
    np.testing.assert_allclose(1.0 + beta * a[0], 1.0 + beta * (1 - rho), rtol=1e-6)


# --------------------------------------------------------------------------------------------
# EIF and QIF: rheobase, closed-form period, convergence to the ODE
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("offset, fires", [(-0.02, False), (0.02, True)])
def test_eif_rheobase(offset, fires):
    """EIF fires for a constant input iff I > v_rh - v_leak - delta_T (the minimum of dv/dt is at v_rh)."""
    delta_T, v_rh = 0.1, 0.8
    i_rh = v_rh - 0.0 - delta_T
    model = sx.EIF.create(tau=20e-3, delta_T=delta_T, v_rh=v_rh, v_threshold=1.5, v_reset=0.0, dt=1e-4)
    s, _, _ = model(jnp.full((20000, 1), i_rh + offset))
    assert (float(jnp.sum(s)) > 0) == fires


def qif_period(I, *, tau, a0, v_c, v_leak, v_th, v_reset):
    """Time from v_reset to v_th of tau dv/dt = a0 (v - v_leak)(v - v_c) + I (I above rheobase)."""
    m = 0.5 * (v_leak + v_c)
    c = I - a0 * (v_c - v_leak) ** 2 / 4
    k = math.sqrt(a0 / c)
    return tau / math.sqrt(a0 * c) * (math.atan((v_th - m) * k) - math.atan((v_reset - m) * k))


def test_qif_period_converges_to_closed_form():
    """Forward Euler's period error halves with dt (first order) toward the exact period."""
    kw = dict(tau=20e-3, a0=1.0, v_c=0.8, v_leak=0.0, v_th=1.0, v_reset=-0.1)
    I = 0.5
    exact = qif_period(I, **kw)
    errors = []
    for dt in (4e-4, 2e-4, 1e-4, 5e-5):
        model = sx.QIF.create(
            tau=kw["tau"], a0=kw["a0"], v_c=kw["v_c"], v_threshold=kw["v_th"], v_reset=kw["v_reset"], dt=dt
        )
        state = sx.NeuronState(v=jnp.full((1,), kw["v_reset"]))
        steps = int(6 * exact / dt)
        s, _, _ = model(jnp.full((steps, 1), I), state)
        t = np.nonzero(np.asarray(s[:, 0]))[0]
        period = (t[-1] - t[0]) / (len(t) - 1) * dt
        errors.append(abs(period - exact))
    # The discrete period is a whole number of steps: the error is O(dt) but not smooth in dt.
    assert all(e <= 2.0 * dt for e, dt in zip(errors, (4e-4, 2e-4, 1e-4, 5e-5))), errors
    assert errors[-1] < 0.01 * exact and errors[-1] < errors[0] / 4


def test_eif_first_spike_converges_to_ode():
    """The first-spike latency of EIF converges at first order to solve_ivp's."""
    integrate = pytest.importorskip("scipy.integrate")
    tau, dT, v_rh, v_cut, I = 20e-3, 0.1, 0.8, 1.2, 0.8

    def rhs(t, v):
        return [(-(v[0]) + dT * math.exp((v[0] - v_rh) / dT) + I) / tau]

    hit = lambda t, v: v[0] - v_cut  # noqa: E731
    hit.terminal = True
    sol = integrate.solve_ivp(rhs, (0, 1.0), [0.0], events=hit, rtol=1e-10, atol=1e-12)
    exact = sol.t_events[0][0]
    errors = []
    for dt in (2e-4, 1e-4, 5e-5):
        model = sx.EIF.create(tau=tau, delta_T=dT, v_rh=v_rh, v_threshold=v_cut, dt=dt)
        s, _, _ = model(jnp.full((int(2 * exact / dt), 1), I))
        first = (np.argmax(np.asarray(s[:, 0])) + 1) * dt  # the step that ends past the cut
        errors.append(abs(first - exact))
    assert all(e <= 3.0 * dt for e, dt in zip(errors, (2e-4, 1e-4, 5e-5))), errors
    assert errors[-1] < 0.01 * exact and errors[-1] < errors[0] / 2.5


def test_eif_qif_bad_parameters():
    with pytest.raises(ValueError, match="`delta_T` must be > 0"):
        sx.EIF.create(delta_T=0.0)
    with pytest.raises(ValueError, match="above `v_rh`"):
        sx.EIF.create(v_rh=1.2, v_threshold=1.0)
    with pytest.raises(ValueError, match="forward Euler"):
        sx.EIF.create(tau=1e-4, dt=1e-3)
    with pytest.raises(ValueError, match="above `v_leak`"):
        sx.QIF.create(v_c=-0.5)
    with pytest.raises(ValueError, match="above `v_c`"):
        sx.QIF.create(v_threshold=0.5)
    with pytest.raises(ValueError, match="`a0` must be > 0"):
        sx.QIF.create(a0=-1.0)


def test_eif_exponential_never_overflows():
    """A state set far above the cut (or a huge cut) still gives finite values and gradients."""
    model = sx.EIF.create(delta_T=0.01, v_threshold=50.0, dt=1e-4)

    def loss(v0):
        s, st, rec = model(jnp.full((50, 2), 0.5), sx.NeuronState(v=v0), record=True)
        return jnp.sum(rec["v"] ** 2)

    v0 = jnp.array([0.9, 1e4])
    value, grad = jax.value_and_grad(loss)(v0)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad)))


# --------------------------------------------------------------------------------------------
# PLIF (Fang et al. 2021)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("decay_input", [True, False])
@pytest.mark.parametrize("v_reset", [0.0, None])
def test_plif_starts_as_lifnode_with_its_initial_tau(decay_input, v_reset):
    x = jax.random.uniform(jax.random.key(0), (60, 7), minval=0.0, maxval=1.5)
    plif = sx.PLIF(tau=3.0, decay_input=decay_input, v_reset=v_reset)
    lif = sx.LIFNode.create(tau=3.0, decay_input=decay_input, v_reset=v_reset)
    s_p, st_p, rec_p = plif(x, record=True)
    s_l, st_l, rec_l = lif(x, record=True)
    np.testing.assert_array_equal(np.asarray(s_p), np.asarray(s_l))
    np.testing.assert_allclose(np.asarray(rec_p["v"]), np.asarray(rec_l["v"]), atol=1e-6)
    np.testing.assert_allclose(float(plif.params.tau), 3.0, rtol=1e-6)


def test_plif_tau_gradient_matches_finite_difference():
    """d loss / d w through the whole run, with a smooth surrogate twin, against central differences."""
    from helpers import SmoothSigmoid

    x = jax.random.uniform(jax.random.key(1), (40, 3), minval=0.0, maxval=1.5)
    model = sx.PLIF(tau=2.5, spike_fn=SmoothSigmoid(4.0))

    def loss(w):
        s, _, _ = eqx.tree_at(lambda m: m.params.w, model, w)(x)
        return jnp.sum(s * jnp.arange(40.0)[:, None])

    w0 = model.params.w
    g = float(jax.grad(loss)(w0))
    eps = 1e-2
    fd = (float(loss(w0 + eps)) - float(loss(w0 - eps))) / (2 * eps)
    assert g != 0.0
    np.testing.assert_allclose(g, fd, rtol=3e-2)


def test_plif_bad_initial_tau():
    with pytest.raises(ValueError, match="`tau` must be > 1"):
        sx.PLIF(tau=1.0)


# --------------------------------------------------------------------------------------------
# Every new model: loop == Python loop, jit, vmap, continuation, gradients, composition
# --------------------------------------------------------------------------------------------

MODELS = {
    "LIFAdEx": (lambda: sx.LIFAdEx.create(4), 30.0),
    "LIFAdEx-encoder": (lambda: sx.LIFAdEx.create(4, synapse=False), 2.5),
    "AdEx": (lambda: sx.AdEx.create(4, dt=1e-4), 1.5e-9),
    "ALIF": (lambda: sx.ALIF.create(4), 3.0),
    "Izhikevich": (lambda: sx.Izhikevich.create(4, preset="FS", dt=2e-4), 15.0),
    "EIF": (lambda: sx.EIF.create(delta_T=0.1, v_threshold=1.3, dt=2e-4), 1.5),
    "QIF": (lambda: sx.QIF.create(dt=2e-4), 1.0),
    "PLIF": (lambda: sx.PLIF(), 1.5),
}


def model_input(scale, steps=120, n=4, seed=0):
    return scale * jax.random.uniform(jax.random.key(seed), (steps, n), minval=0.5, maxval=1.5)


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_scan_jit_vmap_continuation(name):
    make, scale = MODELS[name]
    model = make()
    xs = model_input(scale)
    s, state, _ = model(xs)
    assert float(jnp.sum(s)) > 0, "the input must make the model spike"
    s_loop, state_loop = python_loop(model, xs)
    np.testing.assert_array_equal(np.asarray(s), np.asarray(s_loop))
    s_jit, _, _ = jax.jit(lambda m, x: m(x))(model, xs)
    np.testing.assert_array_equal(np.asarray(s), np.asarray(s_jit))
    s1, st1, _ = model(xs[:50])
    s2, st2, _ = model(xs[50:], st1)
    np.testing.assert_array_equal(np.asarray(s), np.asarray(jnp.concatenate([s1, s2])))
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(st2)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(a))))
    batch = jnp.stack([model_input(scale, seed=k) for k in range(3)])
    s_b, _, _ = jax.vmap(lambda x: model(x))(batch)
    for k in range(3):
        np.testing.assert_array_equal(np.asarray(s_b[k]), np.asarray(model(batch[k])[0]))


@pytest.mark.parametrize("name", list(MODELS))
def test_zoo_gradients_and_composition(name):
    make, scale = MODELS[name]
    model = make()
    xs = model_input(scale)

    def loss(k):
        s, _, _ = model(xs * k)
        return jnp.sum(s)

    g = float(jax.grad(loss)(1.0))
    assert np.isfinite(g) and g != 0.0
    net = sx.Sequential(sx.Linear(jnp.eye(4) * scale), model)
    s_net, _, _ = net(xs / scale)
    np.testing.assert_array_equal(np.asarray(s_net), np.asarray(model(xs)[0]))
    rec_net = sx.Recurrent(model, jnp.zeros((4, 4)))
    np.testing.assert_array_equal(np.asarray(rec_net(xs)[0]), np.asarray(model(xs)[0]))

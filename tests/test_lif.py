import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import spikax as sx
from helpers import EPS32, SmoothSigmoid, assert_trees_close, python_loop


def closed_form_v(t, x, b, alpha, beta):
    """Sub-threshold LIF potential after t steps of constant input x on one synapse."""
    t = np.asarray(t, dtype=np.float64)
    geo_a = (1 - alpha**t) / (1 - alpha)
    cross = beta * (alpha**t - beta**t) / (alpha - beta)
    return x * beta / (1 - beta) * (geo_a - cross) + b * geo_a


def test_subthreshold_constant_input_matches_closed_form():
    dt, tau_mem, tau_syn, x, b = 1e-3, 20e-3, 5e-3, 0.01, 0.002
    lif = sx.LIF.create(1, tau_mem=tau_mem, tau_syn=tau_syn, bias=b, v_threshold=1e6, dt=dt)
    _, _, rec = lif(jnp.full((300, 1), x), record=True)
    alpha, beta = np.exp(-dt / tau_mem), np.exp(-dt / tau_syn)
    want = closed_form_v(np.arange(1, 301), x, b, alpha, beta)
    np.testing.assert_allclose(rec["v"][:, 0], want, rtol=2e-5)
    # Steady state: x*beta/(1-beta)/(1-alpha) + b/(1-alpha).
    assert float(rec["v"][-1, 0]) == pytest.approx(x * beta / (1 - beta) / (1 - alpha) + b / (1 - alpha), rel=1e-4)


def test_update_order_of_one_step():
    # i += x; v *= alpha; i *= beta; v += i + b; S = floor(v/theta); v -= S*theta.
    alpha, beta = np.exp(-0.1), np.exp(-0.5)
    lif = sx.LIF.create(1, tau_mem=10e-3, tau_syn=2e-3, bias=0.05, v_threshold=1.0, dt=1e-3)
    state = sx.LIFState(v=jnp.array([0.4]), i_syn=jnp.array([0.2]))
    state, s = lif.step(state, jnp.array([3.0]))
    i = (0.2 + 3.0) * beta
    h = 0.4 * alpha + i + 0.05
    assert float(s[0]) == np.floor(h)
    np.testing.assert_allclose(state.i_syn, [i], rtol=1e-6)
    np.testing.assert_allclose(state.v, [h - np.floor(h)], rtol=1e-6)


@pytest.mark.parametrize(
    "max_spikes,v_reset,want_s,want_v",
    [(2**16, None, 3.0, 0.7), (2, None, 2.0, 1.7), (1, None, 1.0, 2.7), (2**16, 0.0, 3.0, 0.0)],
)
def test_multi_spike_and_reset(max_spikes, v_reset, want_s, want_v):
    lif = sx.LIF.create(1, tau_syn=1e-3, max_spikes_per_dt=max_spikes, v_reset=v_reset, dt=1e-3)
    beta = np.exp(-1.0)
    spikes, state, _ = lif(jnp.array([[3.7 / beta]], jnp.float32))
    assert float(spikes[0, 0]) == want_s
    assert float(state.v[0]) == pytest.approx(want_v, abs=1e-5)


def test_synapse_channel_layout_and_per_synapse_tau():
    n, s = 2, 3
    tau_syn = np.array([[2e-3, 4e-3, 8e-3], [3e-3, 6e-3, 12e-3]])
    lif = sx.LIF.create(n, n_synapses=s, tau_syn=tau_syn, v_threshold=1e6)
    xs = jnp.zeros((10, n * s)).at[0, 1 * s + 2].set(1.0)
    _, _, rec = lif(xs, record=True)
    i = np.asarray(rec["i_syn"]).reshape(10, n, s)
    mask = np.zeros((n, s), bool)
    mask[1, 2] = True
    assert np.all(i[:, ~mask] == 0)
    np.testing.assert_allclose(i[:, 1, 2], np.exp(-1e-3 / 12e-3) ** np.arange(1, 11), rtol=1e-5)
    # Per-neuron tau_syn shared by each neuron's synapses.
    lif2 = sx.LIF.create(n, n_synapses=s, tau_syn=[2e-3, 3e-3])
    np.testing.assert_allclose(lif2.params.tau_syn, [[2e-3] * 3, [3e-3] * 3])


def test_per_neuron_parameters():
    lif = sx.LIF.create(3, tau_mem=[10e-3, 20e-3, 40e-3], bias=[0.0, 0.1, 0.2], v_threshold=[10.0, 20.0, 30.0])
    xs = jnp.zeros((50, 3))
    _, _, rec = lif(xs, record=True)
    for n, (tau, b) in enumerate([(10e-3, 0.0), (20e-3, 0.1), (40e-3, 0.2)]):
        a = np.exp(-1e-3 / tau)
        np.testing.assert_allclose(rec["v"][:, n], b * (1 - a ** np.arange(1, 51)) / (1 - a), rtol=1e-5, atol=1e-7)


def make_lif(**kw):
    return sx.LIF.create(4, n_synapses=2, tau_mem=[10e-3, 15e-3, 20e-3, 30e-3], tau_syn=5e-3, v_threshold=0.5, **kw)


def test_scan_equals_python_loop(key):
    lif = make_lif(bias=0.01)
    xs = jax.random.uniform(key, (60, 8)) * 0.4
    ys, state, rec = lif(xs, record=True)
    ys_loop, state_loop = python_loop(lif, xs)
    assert float(ys.sum()) > 0, "the test must exercise spikes"
    np.testing.assert_allclose(ys, ys_loop)
    assert_trees_close(state, state_loop, rtol=1e-6)
    np.testing.assert_allclose(rec["v"][-1], state.v)


def test_jit_equals_no_jit_and_vmap_equals_loop(key):
    lif = make_lif(noise_std=0.3)
    xs = jax.random.uniform(key, (3, 40, 8)) * 0.4
    keys = jax.random.split(jax.random.key(7), 3)
    eager = [lif(xs[b], key=keys[b]) for b in range(3)]
    jitted = eqx.filter_jit(lambda m, x, k: m(x, key=k))(lif, xs[0], keys[0])
    assert_trees_close(jitted[:2], eager[0][:2], rtol=1e-6)
    batched = jax.vmap(lambda x, k: lif(x, key=k))(xs, keys)
    for b in range(3):
        np.testing.assert_allclose(batched[0][b], eager[b][0])
        np.testing.assert_allclose(batched[1].v[b], eager[b][1].v, rtol=1e-5, atol=1e-6)


def test_state_continuation(key):
    lif = make_lif()
    xs = jax.random.uniform(key, (80, 8)) * 0.4
    ys, state, _ = lif(xs)
    ys1, s1, _ = lif(xs[:40])
    ys2, s2, _ = lif(xs[40:], s1)
    np.testing.assert_allclose(jnp.concatenate([ys1, ys2]), ys)
    assert_trees_close(s2, state, rtol=1e-6)


def test_a_noisy_run_split_in_two_with_the_same_key_equals_the_unsplit_run(key):
    # Step t's noise comes from fold_in(key, t) with t counted in the state, so "continue where
    # it stopped" holds with noise: the same draws, bit for bit, eager and under jit.
    lif = make_lif(noise_std=0.4)
    xs = jax.random.uniform(key, (60, 8)) * 0.4
    k = jax.random.key(3)
    ys, state, _ = lif(xs, key=k)
    ys1, s1, _ = lif(xs[:23], key=k)
    ys2, s2, _ = lif(xs[23:], s1, key=k)
    assert int(s1.step) == 23 and int(s2.step) == 60
    np.testing.assert_array_equal(jnp.concatenate([ys1, ys2]), ys)
    np.testing.assert_array_equal(s2.v, state.v)
    run = eqx.filter_jit(lambda m, x, s, k: m(x, s, key=k)[1])
    np.testing.assert_array_equal(run(lif, xs[23:], run(lif, xs[:23], None, k), k).v, state.v)
    # Stepping one step at a time draws the same noise as the sequence (to an ulp or two: eager
    # steps round each operation, the compiled loop fuses them).
    st = lif.init_state()
    for t in range(5):
        st, _ = lif.step(st, xs[t], key=k)
    np.testing.assert_allclose(st.v, lif(xs[:5], key=k)[1].v, rtol=4 * EPS32, atol=4 * EPS32)
    # ...and the two halves are different draws, not the first half's noise again.
    _, fresh, _ = lif(xs[23:], jax.tree.map(lambda a: a, s1), key=jax.random.key(4))
    assert not np.array_equal(fresh.v, state.v)


def test_noise_statistics_and_determinism(key):
    sigma, tau, dt = 0.5, 20e-3, 1e-3
    lif = sx.LIF.create(4000, tau_mem=tau, v_threshold=1e6, noise_std=sigma, dt=dt)
    xs = jnp.zeros((300, 4000))
    _, state, _ = lif(xs, key=key)
    alpha = np.exp(-dt / tau)
    var = sigma**2 * dt / (1 - alpha**2)
    assert float(jnp.var(state.v)) == pytest.approx(var, rel=0.1)
    assert abs(float(jnp.mean(state.v))) < 4 * np.sqrt(var / 4000)
    _, again, _ = lif(xs, key=key)
    np.testing.assert_array_equal(again.v, state.v)
    _, other, _ = lif(xs, key=jax.random.key(99))
    assert not np.allclose(other.v, state.v)
    with pytest.raises(ValueError, match="key"):
        lif(xs)


def test_gradients_on_smooth_twin(key):
    lif = sx.LIF.create(3, n_synapses=2, tau_mem=20e-3, tau_syn=8e-3, v_threshold=0.3, spike_fn=SmoothSigmoid(4.0))
    xs = jax.random.uniform(key, (25, 6)) * 0.3

    def loss(xs, tau_mem, tau_syn, bias, thr):
        params = sx.neurons.LIFParams(tau_mem=tau_mem, tau_syn=tau_syn, bias=bias, v_threshold=thr)
        m = eqx.tree_at(lambda m: m.params, lif, params)
        ys, state, _ = m(xs)
        return jnp.sum(ys * jnp.arange(1, 26)[:, None]) + jnp.sum(state.v**2)

    p = lif.params
    args = (xs, p.tau_mem, p.tau_syn, p.bias + 0.05, p.v_threshold)
    check_grads(loss, args, order=1, modes=["rev"], eps=1e-3, atol=5e-2, rtol=5e-2)


def test_finite_differences_below_threshold(key):
    # With no spikes the model is smooth; the real multi-spike surrogate never activates.
    xs = jax.random.uniform(key, (40, 2)) * 0.1

    def loss(tau_mem, tau_syn, bias):
        lif = sx.LIF.create(2, tau_mem=tau_mem, tau_syn=tau_syn, bias=bias, v_threshold=100.0)
        _, _, rec = lif(xs, record=True)
        return jnp.sum(rec["v"] ** 2)

    args = (jnp.float32(20e-3), jnp.float32(10e-3), jnp.float32(0.01))
    grads = jax.grad(loss, argnums=(0, 1, 2))(*args)
    for i, g in enumerate(grads):
        h = float(args[i]) * 1e-3
        up = [a + h if j == i else a for j, a in enumerate(args)]
        dn = [a - h if j == i else a for j, a in enumerate(args)]
        fd = (float(loss(*up)) - float(loss(*dn))) / (2 * h)
        assert float(g) == pytest.approx(fd, rel=2e-2)


def test_bad_input_errors():
    lif = sx.LIF.create(3, n_synapses=2)
    with pytest.raises(ValueError, match=r"`xs` must have shape \(T, 6\)"):
        lif(jnp.ones((10, 3)))
    with pytest.raises(ValueError, match=r"`xs` must have shape"):
        lif(jnp.ones((2, 10, 6)))
    with pytest.raises(ValueError, match="`tau_mem` must be > 0"):
        sx.LIF.create(3, tau_mem=0.0)
    with pytest.raises(ValueError, match="`tau_syn` must be > 0"):
        sx.LIF.create(3, tau_syn=[1e-3, -1e-3, 1e-3])
    with pytest.raises(ValueError, match="`dt` must be a positive"):
        sx.LIF.create(3, dt=0.0)
    with pytest.raises(ValueError, match="`bias` must be finite"):
        sx.LIF.create(3, bias=float("nan"))
    with pytest.raises(ValueError, match="`v_threshold` must be > 0"):
        sx.LIF.create(3, v_threshold=0.0)
    with pytest.raises(ValueError, match=r"`tau_mem` must be a scalar or broadcast to shape \(3,\)"):
        sx.LIF.create(3, tau_mem=[1e-2, 2e-2])
    with pytest.raises(ValueError, match="`v_reset` must be finite"):
        sx.LIF.create(3, v_reset=float("nan"))
    with pytest.raises(TypeError, match="params"):
        sx.LIF({"tau_mem": 1.0})
    with pytest.raises(ValueError, match="`n_neurons` must be a positive integer"):
        sx.LIF.create(0)
    with pytest.raises(ValueError, match="`noise_std` must be >= 0"):
        sx.LIF.create(3, noise_std=-1.0)


def test_dt_larger_than_time_constant_warns():
    with pytest.warns(UserWarning, match="larger than the time constant `tau_syn`"):
        sx.LIF.create(2, tau_syn=0.5e-3, dt=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sx.LIF.create(2, tau_syn=1e-3, dt=1e-3)


def test_integer_input_and_record_function():
    lif = sx.LIF.create(3, v_threshold=2.5)
    counts = jnp.array([[1, 0, 3]] * 6, dtype=jnp.int32)  # spike counts, e.g. from sx.encode
    spikes, state, rec = lif(counts, record=lambda st, s: st.v.sum() + s.sum())
    spikes_f, state_f, _ = lif(counts.astype(jnp.float32))
    np.testing.assert_array_equal(spikes, spikes_f)
    assert spikes.dtype == jnp.float32 and rec.shape == (6,)
    np.testing.assert_allclose(rec[-1], state.v.sum() + spikes[-1].sum(), rtol=1e-6)


def test_built_inside_jit_from_traced_values(key):
    # Every parameter may be a tracer when the model is built (a sweep under jit or vmap);
    # nothing in construction may need its value (noise_std used to be float()-ed).
    xs = jax.random.uniform(key, (30, 3)) * 0.5
    k = jax.random.key(1)

    def run(tau, sigma, thr):
        return sx.LIF.create(3, tau_mem=tau, noise_std=sigma, v_threshold=thr)(xs, key=k)[1].v

    eager = run(15e-3, 0.2, 0.6)
    np.testing.assert_allclose(jax.jit(run)(15e-3, 0.2, 0.6), eager, rtol=4 * EPS32, atol=4 * EPS32)
    swept = jax.vmap(run, in_axes=(None, 0, None))(15e-3, jnp.array([0.2, 0.0]), 0.6)
    np.testing.assert_allclose(swept[0], eager, rtol=4 * EPS32, atol=4 * EPS32)
    quiet = sx.LIF.create(3, tau_mem=15e-3, v_threshold=0.6)(xs)[1].v
    np.testing.assert_allclose(swept[1], quiet, rtol=4 * EPS32, atol=4 * EPS32)

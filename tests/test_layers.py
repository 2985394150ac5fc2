import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from helpers import assert_close_to_rounding, assert_trees_close


def test_linear_init_is_kaiming_uniform(key):
    lin = sx.Linear.create(400, 300, key=key)
    bound = 1 / np.sqrt(400)
    w = np.asarray(lin.weight)
    assert w.shape == (400, 300) and lin.bias.shape == (300,)
    assert np.abs(w).max() <= bound and np.abs(lin.bias).max() <= bound
    # Uniform on [-b, b]: variance b^2 / 3.
    assert w.var() == pytest.approx(bound**2 / 3, rel=0.02)
    assert sx.Linear.create(4, 3, use_bias=False, key=key).bias is None
    same = sx.Linear.create(400, 300, key=key)
    np.testing.assert_array_equal(same.weight, lin.weight)


def test_linear_applies_to_every_step(key):
    lin = sx.Linear.create(5, 3, key=key)
    xs = jax.random.normal(key, (11, 5))
    ys, state, rec = lin(xs)
    np.testing.assert_allclose(ys, np.asarray(xs) @ np.asarray(lin.weight) + np.asarray(lin.bias), rtol=1e-5, atol=1e-6)
    assert state is None and rec is None
    assert lin(xs, record=True)[2] == {}
    with pytest.raises(ValueError, match="in_features = 5"):
        lin(jnp.ones((11, 4)))
    with pytest.raises(ValueError, match="`key` is required"):
        sx.Linear.create(5, 3, key=None)
    fixed = sx.Linear([[0.1]])
    np.testing.assert_allclose(fixed(jnp.ones((3, 1)))[0], 0.1)


def test_recurrent_equals_manual_loop(key):
    n, s = 4, 2
    lif = sx.LIF.create(n, n_synapses=s, tau_mem=10e-3, tau_syn=5e-3, v_threshold=0.5)
    w_rec = jax.random.normal(key, (n, n * s)) * 0.5
    rnn = sx.Recurrent(lif, w_rec)
    xs = jax.random.uniform(jax.random.key(3), (50, n * s)) * 0.5
    ys, state, rec = rnn(xs, record=True)
    # Rockpool: i_syn += x_t + S_{t-1} @ W_rec.
    st, prev, want = lif.init_state(), jnp.zeros(n), []
    for t in range(50):
        st, prev = lif.step(st, xs[t] + prev @ w_rec)
        want.append(prev)
    assert float(ys.sum()) > 0
    np.testing.assert_array_equal(ys, jnp.stack(want))
    # Eager steps against the compiled loop, through a matrix product: rounding-level only.
    jax.tree.map(assert_close_to_rounding, state.cell, st)
    assert set(rec) == {"v", "i_syn"} and rec["v"].shape == (50, n)


def test_recurrent_continuation_and_vmap(key):
    lif = sx.LIF.create(3, tau_mem=10e-3, v_threshold=0.4)
    rnn = sx.Recurrent(lif, jnp.full((3, 3), 0.2))
    xs = jax.random.uniform(key, (2, 60, 3)) * 0.3
    ys, st, _ = rnn(xs[0])
    a, s1, _ = rnn(xs[0, :25])
    b, s2, _ = rnn(xs[0, 25:], s1)
    np.testing.assert_array_equal(jnp.concatenate([a, b]), ys)
    assert_trees_close(s2, st, rtol=1e-6)
    batched = jax.vmap(rnn)(xs)[0]
    np.testing.assert_array_equal(batched[1], rnn(xs[1])[0])


def test_recurrent_shape_errors():
    lif = sx.LIF.create(3, n_synapses=2)
    with pytest.raises(ValueError, match="cell output of shape"):
        sx.Recurrent(lif, jnp.zeros((4, 6)))(jnp.zeros((5, 6)))
    with pytest.raises(ValueError, match=r"`xs` must have shape \(T, 6\)"):
        sx.Recurrent(lif, jnp.zeros((3, 6)))(jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match="`w_rec` must be 2-D"):
        sx.Recurrent(lif, jnp.zeros(3))
    with pytest.raises(TypeError, match="cell"):
        sx.Recurrent(sx.Linear.create(3, 3, key=jax.random.key(0)), jnp.zeros((3, 3)))


def make_net(key, noise_std=0.2):
    k1, k2, k3 = jax.random.split(key, 3)
    return sx.Sequential(
        sx.Linear.create(6, 8, key=k1),
        sx.Recurrent(
            sx.LIF.create(8, tau_mem=10e-3, v_threshold=0.3, noise_std=noise_std), jax.random.normal(k3, (8, 8)) * 0.1
        ),
        sx.Linear.create(8, 3, key=k2),
        sx.LI.create(tau=5e-3),
    )


def test_sequential_is_layer_by_layer(key):
    net = make_net(key)
    xs = jax.random.uniform(key, (40, 6))
    k = jax.random.key(5)
    ys, states, recs = net(xs, key=k, record=True)
    keys = jax.random.split(k, 4)
    h = xs
    for layer, lk, st in zip(net.layers, keys, states):
        h, st_ref, _ = layer(h, key=lk)
        assert_trees_close(st, st_ref, rtol=1e-6)
    np.testing.assert_allclose(ys, h, rtol=1e-6)
    assert len(recs) == 4 and recs[0] == {} and set(recs[1]) == {"v", "i_syn", "step"} and set(recs[3]) == {"v"}
    assert recs[1]["v"].shape == (40, 8)


def test_sequential_continuation_vmap_jit(key):
    net = make_net(key)
    xs = jax.random.uniform(key, (3, 40, 6))
    k1, k2 = jax.random.split(jax.random.key(2))
    # Continuation with noise: each step's noise is drawn from its absolute index.
    ys, st, _ = net(xs[0], key=k2)
    a, s1, _ = net(xs[0, :15], key=k2)
    b, s2, _ = net(xs[0, 15:], s1, key=k2)
    assert_close_to_rounding(jnp.concatenate([a, b]), ys)
    jax.tree.map(assert_close_to_rounding, s2, st)
    keys = jax.random.split(k1, 3)
    batched = jax.vmap(lambda x, k: net(x, key=k)[0])(xs, keys)
    jitted = eqx.filter_jit(lambda m, x, k: m(x, key=k)[0])
    for i in range(3):
        assert_close_to_rounding(batched[i], net(xs[i], key=keys[i])[0])
        assert_close_to_rounding(jitted(net, xs[i], keys[i]), batched[i])
    init = net.init_state((6,))
    assert init[0] is None and init[1].output.shape == (8,) and init[3].v.shape == (3,)
    with pytest.raises(ValueError, match="key"):
        net(xs[0])


def test_sequential_gradient_flows_to_every_weight(key):
    net = sx.Sequential(
        sx.Linear.create(6, 8, key=key), sx.LIF.create(8, v_threshold=0.2, spike_fn=sx.surrogate.FastSigmoid(5.0)),
        sx.Linear.create(8, 2, key=jax.random.key(1)), sx.LI.create(tau=5e-3),
    )
    xs = jax.random.uniform(key, (30, 6))
    grads = eqx.filter_grad(lambda m: jnp.sum(m(xs)[0] ** 2))(net)
    for g in (grads.layers[0].weight, grads.layers[2].weight):
        assert np.all(np.isfinite(g)) and np.abs(g).sum() > 0

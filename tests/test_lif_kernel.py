"""The LIF's fused whole-sequence kernel (FusedAdjoint, the LIF default) against the generic loop.

The kernel runs the same operations in the same order as the generic loop, so forward values
are equal exactly; its backward pass is written by hand, so gradients agree up to float32
rounding of sums over T steps (rtol 1e-5 at T = 40: about T times float32's 6e-8).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx

B, T, N = 3, 40, 6
RTOL = 1e-5

CONFIGS = {
    "default": dict(tau_mem=5e-3, tau_syn=8e-3),
    "two synapses, reset to 0, bias": dict(
        n_synapses=2, tau_syn=[[5e-3, 9e-3]] * N, v_reset=0.0, bias=0.05
    ),
    "fast sigmoid, detached reset": dict(spike_fn=sx.surrogate.FastSigmoid(), detach_reset=True),
    "membrane only, binary spikes": dict(tau_syn=None, tau_mem=5e-3, max_spikes_per_dt=1),
}


def pair(config):
    fused = sx.LIF.create(N, **config)
    direct = sx.LIF.create(N, **config, adjoint=sx.DirectAdjoint())
    return fused, direct


def data(model, seed=0):
    k1, k2, k3 = jax.random.split(jax.random.key(seed), 3)
    xs = 0.6 * jax.random.normal(k1, (B, T, model.in_features)) + 0.3
    return xs, jax.random.normal(k2, (B, T, N)), jax.random.normal(k3, (B, N))


def loss(model, xs, g, gv):
    ys, final, _ = jax.vmap(lambda x: model(x))(xs)
    extra = 0.0 if final.i_syn is None else jnp.sum(final.i_syn**2)
    return jnp.sum(ys * g) + jnp.sum(final.v * gv) + extra


def close(a, b):
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=RTOL, atol=RTOL * max(np.abs(b).max(), 1e-30))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_fused_kernel_equals_the_generic_loop(name):
    fused, direct = pair(CONFIGS[name])
    assert isinstance(fused.adjoint, sx.FusedAdjoint)
    xs, g, gv = data(fused)
    run = jax.jit(lambda m, xs: jax.vmap(lambda x: m(x)[:2])(xs))
    (yf, sf), (yd, sd) = run(fused, xs), run(direct, xs)
    assert float(jnp.sum(yd)) > 10  # the neurons fire
    np.testing.assert_array_equal(yf, yd)
    for a, b in zip(jax.tree.leaves(sf), jax.tree.leaves(sd)):
        np.testing.assert_array_equal(a, b)
    # Every parameter, the input: the kernel keeps H_t (all parameters trained) ...
    gf, gd = eqx.filter_jit(eqx.filter_grad(loss))(fused, xs, g, gv), eqx.filter_grad(loss)(direct, xs, g, gv)
    for a, b in zip(jax.tree.leaves(gf.params), jax.tree.leaves(gd.params)):
        close(a, b)
    # ... or only the surrogate's window mask (nothing of the LIF trained).
    dx = jax.jit(jax.grad(loss, argnums=1))
    close(dx(fused, xs, g, gv), dx(direct, xs, g, gv))


def test_gradient_of_the_initial_state_and_a_continued_run():
    fused, direct = pair(CONFIGS["default"])
    xs, _, _ = data(fused)
    x = xs[0]

    def two_halves(model, state):
        ys1, mid, _ = model(x[: T // 2], state)
        ys2, end, _ = model(x[T // 2 :], mid)
        return jnp.sum(ys1) + 2 * jnp.sum(ys2) + jnp.sum(end.v)

    state = fused.init_state()
    state = eqx.tree_at(lambda s: (s.v, s.i_syn), state, (jnp.full((N,), 0.4), jnp.full((N,), 0.2)))
    gf, gd = jax.grad(two_halves, argnums=1)(fused, state), jax.grad(two_halves, argnums=1)(direct, state)
    close(gf.v, gd.v), close(gf.i_syn, gd.i_syn)
    # Continuing from the final state equals the unsplit run.
    whole = fused(x)[0]
    first, mid, _ = fused(x[: T // 2])
    np.testing.assert_array_equal(jnp.concatenate([first, fused(x[T // 2 :], mid)[0]]), whole)


def test_a_parameter_sweep_under_vmap():
    fused, direct = pair(CONFIGS["default"])
    xs, _, _ = data(fused)
    taus = jnp.array([3e-3, 5e-3, 9e-3])

    def counts(model, tau):
        m = eqx.tree_at(lambda m: m.params.tau_mem, model, jnp.full((N,), tau))
        return jnp.sum(m(xs[0])[0])

    sweep = lambda m: jax.vmap(lambda t: counts(m, t))(taus)  # noqa: E731
    np.testing.assert_array_equal(sweep(fused), sweep(direct))
    close(jax.vmap(jax.grad(counts, argnums=1), in_axes=(None, 0))(fused, taus),
          jax.vmap(jax.grad(counts, argnums=1), in_axes=(None, 0))(direct, taus))


def test_calls_the_kernel_does_not_cover_run_the_generic_loop():
    fused, direct = pair(CONFIGS["default"])
    xs, _, _ = data(fused)
    rec_f, rec_d = fused(xs[0], record=True)[2], direct(xs[0], record=True)[2]
    np.testing.assert_array_equal(rec_f["v"], rec_d["v"])
    noisy = sx.LIF.create(N, noise_std=0.1)
    key = jax.random.key(3)
    np.testing.assert_array_equal(
        noisy(xs[0], key=key)[0], sx.LIF.create(N, noise_std=0.1, adjoint=sx.DirectAdjoint())(xs[0], key=key)[0]
    )
    chunked = sx.LIF.create(N, **CONFIGS["default"], adjoint=sx.FusedAdjoint(checkpoint_every=7))
    np.testing.assert_array_equal(chunked(xs[0])[0], direct(xs[0])[0])
    # Forward mode needs the generic loop.
    with pytest.raises(TypeError):
        jax.jvp(lambda x: fused(x)[0], (xs[0],), (xs[0],))
    jax.jvp(lambda x: direct(x)[0], (xs[0],), (xs[0],))


def test_a_linear_lif_layer_keeps_no_extra_sequence_buffers():
    """The backward pass writes dL/dy into the Linear output's buffer, so XLA's temporaries
    hold about two (B, T, n) float arrays (y or its cotangent, and the transposed cotangent
    the weight gradient's matmul reads) plus one boolean per neuron and step."""
    n = 64
    xs = (jax.random.uniform(jax.random.key(0), (4, 50, n)) < 0.1).astype(jnp.float32)
    w = sx.Linear.create(n, n, use_bias=False, key=jax.random.key(1)).weight
    seq_bytes = xs.size * 4

    def temp(model):
        grad = jax.grad(lambda w: jnp.sum(jax.vmap(lambda x: model(x @ w)[0])(xs)))
        return jax.jit(grad).lower(w).compile().memory_analysis().temp_size_in_bytes

    fused, direct = sx.LIF.create(n), sx.LIF.create(n, adjoint=sx.DirectAdjoint())
    assert temp(fused) <= 2 * seq_bytes + xs.size + 64 * 1024
    assert temp(fused) < temp(direct)


def test_membrane_only_lif_closed_form_and_errors():
    lif = sx.LIF.create(N, tau_syn=None, tau_mem=10e-3, v_threshold=100.0)
    alpha = np.exp(-0.1)
    x = 0.5
    v = np.asarray(lif(jnp.full((T, N), x), record=True)[2]["v"])[:, 0]
    t = np.arange(1, T + 1)
    np.testing.assert_allclose(v, x * (1 - alpha**t) / (1 - alpha), rtol=1e-5)
    assert lif.init_state().i_syn is None and lif.n_synapses == 1 and lif.in_features == N
    with pytest.raises(ValueError, match="n_synapses"):
        sx.LIF.create(N, tau_syn=None, n_synapses=2)
    pytest.importorskip("nir")
    from spikax.interop import nir as snir

    with pytest.raises(ValueError, match="membrane-only LIF"):
        snir.to_nir(lif)

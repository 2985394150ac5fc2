import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx


def leaky_step(state, x):
    # A tiny nonlinear step: leaky accumulator with a saturating output.
    state = 0.9 * state + x
    return state, jnp.tanh(state)


def test_scan_equals_python_loop(key):
    xs = jax.random.normal(key, (37, 4))
    ys, final, rec = sx.simulate(leaky_step, jnp.zeros(4), xs, record=lambda s, y: {"s": s, "y2": y * 2})
    s = jnp.zeros(4)
    want_y, want_s = [], []
    for t in range(37):
        s, y = leaky_step(s, xs[t])
        want_y.append(y)
        want_s.append(s)
    np.testing.assert_allclose(ys, jnp.stack(want_y), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(final, s, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rec["s"], jnp.stack(want_s), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rec["y2"], 2 * ys, rtol=1e-6)


def test_record_options(key):
    xs = jax.random.normal(key, (5, 3))
    _, _, rec = sx.simulate(leaky_step, jnp.zeros(3), xs)
    assert rec is None
    _, final, rec = sx.simulate(leaky_step, jnp.zeros(3), xs, record=True)
    assert rec.shape == (5, 3)
    np.testing.assert_allclose(rec[-1], final)
    with pytest.raises(TypeError, match="record"):
        sx.simulate(leaky_step, jnp.zeros(3), xs, record="v")


@pytest.mark.parametrize("k", [1, 4, 7, 10, 50])
def test_checkpointing_changes_nothing_but_memory(key, k):
    xs = jax.random.normal(key, (30, 3))
    w = jnp.array([0.5, -1.0, 2.0])

    def loss(w, k):
        ys, final, rec = sx.simulate(
            lambda s, x: leaky_step(s, x * w), jnp.zeros(3), xs, record=lambda s, y: s, checkpoint_every=k
        )
        return jnp.sum(ys**2) + jnp.sum(final) + jnp.sum(rec), (ys, rec)

    (l0, (ys0, rec0)), g0 = jax.value_and_grad(loss, has_aux=True)(w, None)
    (l1, (ys1, rec1)), g1 = jax.value_and_grad(loss, has_aux=True)(w, k)
    np.testing.assert_allclose(l1, l0, rtol=1e-6)
    np.testing.assert_allclose(ys1, ys0, rtol=1e-6)
    np.testing.assert_allclose(rec1, rec0, rtol=1e-6)
    np.testing.assert_allclose(g1, g0, rtol=1e-5)


def test_pytree_inputs_and_bad_inputs():
    xs = {"a": jnp.ones((4, 2)), "b": jnp.arange(4.0)}
    ys, final, _ = sx.simulate(lambda s, x: (s + x["a"].sum() + x["b"], s), jnp.float32(0.0), xs)
    assert float(final) == 2 * 4 + 6
    with pytest.raises(ValueError, match="leading time axis"):
        sx.simulate(leaky_step, jnp.zeros(2), {"a": jnp.ones((4, 2)), "b": jnp.ones((5, 2))})
    with pytest.raises(ValueError, match="no arrays"):
        sx.simulate(leaky_step, jnp.zeros(2), None)
    with pytest.raises(ValueError, match="checkpoint_every"):
        sx.simulate(leaky_step, jnp.zeros(2), jnp.ones((4, 2)), checkpoint_every=0)


def test_checkpoint_every_reaches_a_model_call_through_its_adjoint():
    # Chunked checkpointing is part of the adjoint object, so an ordinary model call uses it:
    # the same gradient, and the backward pass recomputes chunks (a remat in the program).
    xs = jax.random.uniform(jax.random.key(0), (100, 4))
    plain = sx.LIF.create(4, spike_fn=sx.surrogate.FastSigmoid(5.0))
    chunked = sx.LIF.create(4, spike_fn=sx.surrogate.FastSigmoid(5.0), adjoint=sx.DirectAdjoint(checkpoint_every=16))

    def loss(model, x):
        return jnp.sum(model(x)[0] * jnp.arange(100.0)[:, None])

    g_plain, g_chunked = (jax.grad(loss, argnums=1)(m, xs) for m in (plain, chunked))
    np.testing.assert_allclose(g_chunked, g_plain, rtol=1e-6, atol=1e-7)
    assert "remat" in str(jax.make_jaxpr(lambda x: jax.grad(loss, argnums=1)(chunked, x))(xs))
    assert "remat" not in str(jax.make_jaxpr(lambda x: jax.grad(loss, argnums=1)(plain, x))(xs))
    with pytest.raises(ValueError, match="checkpoint_every"):
        sx.RecomputeAdjoint(checkpoint_every=0)

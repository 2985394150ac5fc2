"""Bad input gets a clear error naming the argument; nothing silently yields NaN or a dead neuron.

Every model of the library is probed with the same mistakes: a NaN or inf in the input (eager,
under ``jit``, and with the run-time checks off), a state from a model of another size, and
parameters that the constructor must refuse.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx
from spikax.devices import dynapse as dx

#: name -> (factory of a model of n neurons, input step shape for n neurons, input scale: a
#: uniform input of up to this drives the neurons at tens of Hz, at most one spike per step).
MODELS = {
    "LIF": (lambda n: sx.LIF.create(n), lambda n: (n,), 0.006),
    "ALIF": (lambda n: sx.ALIF.create(n), lambda n: (n,), 3.0),
    "LIFNode": (lambda n: sx.LIFNode.create(), lambda n: (n,), 2.5),
    "PLIF": (lambda n: sx.PLIF(), lambda n: (n,), 2.5),
    "IF": (lambda n: sx.IF.create(), lambda n: (n,), 100.0),
    "LI": (lambda n: sx.LI.create(), lambda n: (n,), 1.0),
    "EIF": (lambda n: sx.EIF.create(), lambda n: (n,), 2.0),
    "QIF": (lambda n: sx.QIF.create(), lambda n: (n,), 2.0),
    "AdEx": (lambda n: sx.AdEx.create(n), lambda n: (n,), 2e-9),
    "LIFAdEx": (lambda n: sx.LIFAdEx.create(n), lambda n: (n,), 0.6),
    "Izhikevich": (lambda n: sx.Izhikevich.create(n), lambda n: (n,), 15.0),
    "DynapSim": (lambda n: dx.DynapSim.create(n), lambda n: (n, 4), 0.5),
}


def _inputs(name, n=3, T=20):
    _, shape, scale = MODELS[name]
    return scale * jnp.ones((T, *shape(n)), jnp.float32)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_non_finite_input_is_an_error_eagerly_and_under_jit(name):
    model = MODELS[name][0](3)
    xs = _inputs(name).at[7, 1].set(jnp.nan)
    with pytest.raises(ValueError, match=r"`xs(\.ampa)?` must be finite"):
        model(xs)
    with pytest.raises(Exception, match=f"{type(model).__name__}: the state or the parameters became NaN or inf"):
        jax.block_until_ready(eqx.filter_jit(lambda m, x: m(x)[0])(model, xs))
    with pytest.raises(Exception, match=f"{type(model).__name__}: the state or the parameters became NaN or inf"):
        jax.block_until_ready(eqx.filter_jit(lambda m, x: m(x, record=True)[2])(model, xs))
    # Training computes the loss with its gradient: the check is in that program too. (Under
    # grad alone the forward outputs, and the check on them, are discarded; a NaN input then
    # shows as a NaN gradient wherever the gradient depends on the input's value.)
    loss = lambda m, x: jnp.sum(m(x)[0])  # noqa: E731
    with pytest.raises(Exception, match="the state or the parameters became NaN or inf"):
        jax.block_until_ready(eqx.filter_jit(jax.value_and_grad(loss))(model, xs))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_with_the_run_time_checks_off_a_nan_shows_in_the_output(name):
    # The documented switch trades the check for speed; the NaN then reaches the output (the
    # spike of a NaN membrane is NaN, not a silent 0), from the step it entered on.
    model = MODELS[name][0](3)
    xs = _inputs(name).at[7, 1].set(jnp.inf if name == "DynapSim" else jnp.nan)
    previous = sx.set_runtime_checks(False)
    try:
        ys = np.asarray(eqx.filter_jit(lambda m, x: m(x)[0])(model, xs))
    finally:
        sx.set_runtime_checks(previous)
    assert previous is True
    assert np.all(np.isfinite(ys[:7]))
    assert np.isnan(ys[7:, 1]).all() or (name == "DynapSim" and np.isnan(ys[7:, 1]).any())


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_non_finite_value_in_any_parameter_inside_jit_raises(name):
    # Every leaf, NaN and inf: a NaN threshold would otherwise silence the neurons for good.
    model = MODELS[name][0](3)
    leaves, treedef = jax.tree.flatten(model.params)
    run = eqx.filter_jit(lambda m, p, x: eqx.tree_at(lambda q: q.params, m, p)(x)[0])
    xs = _inputs(name)
    jax.block_until_ready(run(model, model.params, xs))
    for i in range(len(leaves)):
        for value in (jnp.nan, jnp.inf):
            poisoned = jax.tree.unflatten(treedef, leaves[:i] + [jnp.full_like(leaves[i], value)] + leaves[i + 1:])
            with pytest.raises(Exception, match="the state or the parameters became NaN or inf"):
                jax.block_until_ready(run(model, poisoned, xs))
    # A training step (loss and gradient) raises too.
    step = eqx.filter_jit(jax.value_and_grad(lambda p, m, x: jnp.sum(eqx.tree_at(lambda q: q.params, m, p)(x)[0])))
    poisoned = jax.tree.unflatten(treedef, [jnp.full_like(leaves[0], jnp.nan)] + leaves[1:])
    with pytest.raises(Exception, match="the state or the parameters became NaN or inf"):
        jax.block_until_ready(step(poisoned, model, xs))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_state_from_a_model_of_another_size_names_state(name):
    make, shape, _ = MODELS[name]
    model, other = make(3), make(4)
    with pytest.raises(ValueError, match="`state"):
        model(_inputs(name), other.init_state(shape(4)))


def test_a_state_from_another_model_names_state():
    lif = sx.LIF.create(3)
    with pytest.raises(ValueError, match="`state` is not a state of this LIF"):
        lif(jnp.ones((5, 3)), sx.IF.create().init_state((3,)))
    net = sx.Recurrent(sx.LIF.create(3), jnp.zeros((3, 3)))
    with pytest.raises(ValueError, match="`state` is not a state of this Recurrent"):
        net(jnp.ones((5, 3)), lif.init_state())


def test_layers_refuse_non_finite_inputs_and_weights(key):
    xs = jnp.ones((5, 3)).at[2, 0].set(jnp.inf)
    with pytest.raises(ValueError, match="`xs` must be finite, got 1 non-finite value.*index \\(2, 0\\)"):
        sx.Linear.create(3, 2, key=key)(xs)
    with pytest.raises(ValueError, match="`xs` must be finite"):
        sx.Recurrent(sx.LIF.create(3), jnp.zeros((3, 3)))(xs)
    with pytest.raises(ValueError, match="`xs` must be finite"):
        sx.Sequential(sx.Linear.create(3, 2, key=key), sx.LIF.create(2))(xs)
    with pytest.raises(ValueError, match="`weight` must be finite"):
        sx.Linear(jnp.full((3, 2), jnp.nan))
    with pytest.raises(ValueError, match="`xs` must be finite"):
        dx.DynapseLinear.create(3, 2, key=key)(xs)


# ------------------------------------------------------------------ checks that were bypassable


def test_hand_built_dynapse_parameters_get_the_same_checks():
    p = dx.DynapseParams.default(2)
    with pytest.raises(ValueError, match="`Itau_mem` must be finite"):
        dx.DynapSim(eqx.tree_at(lambda q: q.Itau_mem, p, jnp.array([jnp.nan, 1e-12])))
    with pytest.raises(ValueError, match="`C_mem` must be > 0"):
        dx.DynapSim(eqx.tree_at(lambda q: q.C_mem, p, jnp.array([-1e-12, 1e-12])))
    with pytest.raises(ValueError, match=r"`C_mem` must have shape \(n_neurons,\)"):
        dx.DynapSim(eqx.tree_at(lambda q: q.C_mem, p, jnp.ones(3) * 1e-12))


@pytest.mark.parametrize("percent", [float("inf"), float("nan"), -5.0])
def test_apply_mismatch_refuses_impossible_percentages(percent):
    with pytest.raises(ValueError, match="`percent`"):
        dx.apply_mismatch(jax.random.key(0), dx.DynapseParams.default(2), percent)


def test_apply_mismatch_names_a_wrong_params_type():
    # (Under the test suite's run-time type checking, beartype words this one; it names `params`.)
    with pytest.raises(TypeError, match="params"):
        dx.apply_mismatch(jax.random.key(0), {"Itau_mem": 1e-12}, 10.0)


def test_zero_spikes_per_step_is_refused():
    with pytest.raises(ValueError, match="`max_spikes_per_dt` must be >= 1"):
        dx.DynapSim.create(2, multi_spike=True, max_spikes_per_dt=0)
    with pytest.raises(ValueError, match="`max_spikes_per_dt` must be >= 1"):
        sx.LIF.create(2, max_spikes_per_dt=0)


@pytest.mark.parametrize(
    "make",
    [
        lambda: sx.IF.create(v_threshold=0.0, v_reset=0.0),
        lambda: sx.IF.create(v_threshold=-1.0, v_reset=None),
        lambda: sx.LIFNode.create(v_threshold=0.5, v_reset=0.6),
        lambda: sx.PLIF(v_threshold=0.2, v_reset=0.2),
    ],
)
def test_a_threshold_at_or_below_the_rest_is_refused(make):
    # Otherwise the neuron fires on every step with no input at all.
    with pytest.raises(ValueError, match="`v_threshold` must be"):
        make()


# --------------------------------------------------------------------------- errors that name


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: sx.LIFNode.create(tau=2.0 * jnp.ones(3), v_threshold=jnp.ones(4)), "v_threshold"),
        (lambda: sx.IF.create(r=jnp.ones(3), v_threshold=jnp.ones(2)), "v_threshold"),
        (lambda: sx.LI.create(tau=jnp.full(3, 2e-2), r=jnp.ones(4)), "r"),
        (lambda: sx.EIF.create(tau=jnp.full(3, 2e-2), v_threshold=jnp.ones(4)), "v_threshold"),
        (lambda: sx.QIF.create(tau=jnp.full(3, 2e-2), v_threshold=jnp.ones(4)), "v_threshold"),
    ],
)
def test_parameters_that_do_not_broadcast_are_refused_at_construction(make, name):
    with pytest.raises(ValueError, match=f"`{name}` has shape"):
        make()


def test_sizes_and_names_are_checked_where_they_are_given(key):
    with pytest.raises(ValueError, match="`in_features` must be a positive integer"):
        dx.DynapseLinear.create(0, 2, key=key)
    with pytest.raises(ValueError, match="`out_features` must be a positive integer"):
        dx.DynapseLinear.create(2, -2, key=key)
    with pytest.raises(TypeError, match="spike_fn"):
        sx.LIF.create(3, spike_fn="fast_sigmoid")
    with pytest.raises(ValueError, match="`alpha` must be finite"):
        sx.LIFAdEx.create(3, alpha=float("nan"))
    with pytest.raises(ValueError, match="`input_shape`"):
        sx.Sequential(sx.Linear.create(2, 3, key=key)).init_state(None)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(times=[0.1], channels=[0], n_steps=-3), "`n_steps` must be a positive integer"),
        (dict(times=[0.1], channels=[0], n_channels=2.5), "n_channels"),
        (dict(times=["0.1"], channels=[0]), "`times` must be numbers"),
        (dict(times=[0.1], channels=["a"]), "`channels` must be numbers"),
    ],
)
def test_events_to_raster_names_its_bad_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sx.encode.events_to_raster(dt=1e-3, **kwargs)


def test_a_whole_chip_at_30_percent_mismatch_passes_its_own_checks():
    # Deviated currents are floored at the dark current Io, which the parameter checks require
    # (a 1 % of nominal floor used to put Itau_mem below Io in every 1024-neuron draw).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # t_ref < dt/2 in a few neurons is expected
        for seed in range(3):
            p = dx.apply_mismatch(jax.random.key(seed), dx.DynapseParams.default(1024), 30.0)
            dx.DynapSim(p)
            assert float(jnp.min(p.Itau_mem)) >= float(p.Io[0])

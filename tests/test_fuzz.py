"""Fuzz: random valid parameters and inputs for every model give finite outputs, states and gradients.

Shapes are fixed per model, so each model compiles once and hypothesis varies only values
(passed as arguments to one jitted function). Each run is 0.3 s of model time (300 steps for
the step-counted LIFNode/PLIF); Izhikevich runs one neuron of each of its seven presets and AdEx
one of each of the eight Naud et al. (2008) patterns. Parameters are scaled leaf by leaf by
factors in [0.85, 1.15] (which keeps every ordering the constructors require: threshold above
reset, rheobase above rest, ...); inputs are uniform and non-negative, up to three times a drive
that fires the model at tens of Hz (``MODELS`` in ``test_hardening.py``; AdEx: each pattern's
own current).
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spikax.devices import dynapse as dx
from spikax.neurons import IZHIKEVICH_PRESETS
from test_gradients import ADEX_NAMES, adex, adex_currents, izhikevich
from test_hardening import MODELS

import spikax as sx

N = 3
#: Populations holding every preset, with the drive scale of each neuron.
PRESET_POPULATIONS = {
    "Izhikevich": (lambda: izhikevich(list(IZHIKEVICH_PRESETS)), 15.0),
    "AdEx": (lambda: adex(ADEX_NAMES), adex_currents(ADEX_NAMES)),
}
FUZZ = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)


def _floats(tree) -> list:
    return [leaf for leaf in jax.tree.leaves(tree) if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)]


def _finite(tree) -> bool:
    return all(bool(np.all(np.isfinite(np.asarray(leaf)))) for leaf in _floats(tree))


@eqx.filter_jit
def _run_and_grad(model, factors, drive):
    def loss(params, drive):
        m = eqx.tree_at(lambda q: q.params, model, params)
        ys, state, _ = m(drive)
        return jnp.sum(ys) + sum(jnp.sum(leaf) for leaf in _floats(state)), (ys, state)

    params = jax.tree.map(lambda p, f: p * f, model.params, factors)
    (_, (ys, state)), grads = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, drive)
    return ys, state, grads


# DynapSim is fuzzed below, in a recurrent network with mismatched parameters.
@pytest.mark.parametrize("name", sorted(set(MODELS) - {"DynapSim"}))
def test_random_valid_parameters_and_inputs_give_finite_everything(name):
    make, shape, scale = MODELS[name]
    if name in PRESET_POPULATIONS:
        make_population, scale = PRESET_POPULATIONS[name]
        model = make_population()
        n = model.params.a.shape[0]
    else:
        model, n = make(N), N
    steps = 300 if model.dt >= 1 else int(round(0.3 / model.dt))
    leaves, treedef = jax.tree.flatten(model.params)

    @FUZZ
    @given(seed=st.integers(0, 2**31 - 1), gain=st.floats(0.0, 3.0))
    def check(seed, gain):
        k_p, k_x = jax.random.split(jax.random.key(seed))
        keys = jax.random.split(k_p, len(leaves))
        factors = jax.tree.unflatten(
            treedef, [jax.random.uniform(k, jnp.shape(leaf), minval=0.85, maxval=1.15) for k, leaf in zip(keys, leaves)]
        )
        per_input = jnp.broadcast_to(jnp.asarray(scale, jnp.float32), shape(n))[None]
        drive = gain * per_input * jax.random.uniform(k_x, (steps, *shape(n)))
        ys, state, grads = _run_and_grad(model, factors, drive)
        assert _finite(ys), "non-finite output"
        assert _finite(state), "non-finite state"
        assert _finite(grads), "non-finite gradient"

    check()


@eqx.filter_jit
def _recurrent_dynapse(params, w_rec, w_in, spikes_in):
    def loss(args):
        params, w_rec, w_in = args
        net = sx.Recurrent(dx.DynapSim(params), dx.Synapses(ampa=w_rec))
        ys, state, _ = net(dx.DynapseLinear(w_in)(spikes_in)[0])
        return jnp.sum(ys), (ys, state)

    (_, (ys, state)), grads = jax.value_and_grad(loss, has_aux=True)((params, w_rec, w_in))
    return ys, state, grads


@FUZZ
@given(seed=st.integers(0, 2**31 - 1), w_max=st.floats(0.0, 10.0), rate=st.floats(5.0, 80.0))
def test_dynapsim_with_recurrent_excitation_and_30_percent_mismatch_stays_finite(seed, w_max, rate):
    keys = jax.random.split(jax.random.key(seed), 4)
    n, steps = 4, 300
    params = dx.apply_mismatch(keys[0], dx.DynapseParams.default(n), 30.0)
    w_rec = w_max * jax.random.uniform(keys[1], (n, n))
    w_in = 2.0 * jax.random.uniform(keys[2], (6, n))
    spikes_in = (jax.random.uniform(keys[3], (steps, 6)) < rate * 1e-3).astype(jnp.float32)
    ys, state, grads = _recurrent_dynapse(params, w_rec, w_in, spikes_in)
    assert _finite(ys) and _finite(state) and _finite(grads)

"""The NIR paper's single-LIF case (Pedersen et al. 2024), against the shipped traces.

Data: ``../shared/ref/nir/paper_01_lif/`` (see its README): 1000 steps of dt = 0.1 ms, columns
input, membrane voltage, spike.
"""

import warnings

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import pytest

import spikax as sx

DT = 1e-4
NORSE_SPIKES = [460, 510, 710, 760]
ROCKPOOL_SPIKES = [450, 500, 710, 760]


def load_trace(ref_dir, name):
    path = ref_dir / "nir" / "paper_01_lif" / "traces" / f"lif_{name}.csv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    data = np.loadtxt(path, delimiter=",")
    return data[:, 0], data[:, 1], data[:, 2]


class NIRLIFParams(eqx.Module):
    """The fields of an NIR LIF node."""

    tau: jnp.ndarray
    r: jnp.ndarray
    v_leak: jnp.ndarray
    v_threshold: jnp.ndarray
    v_reset: jnp.ndarray


def test_norse_trace_with_euler_li_charge_and_reset_to_zero(ref_dir):
    nir = pytest.importorskip("nir")
    path = ref_dir / "nir" / "paper_01_lif" / "lif_norse.nir"
    graph = nir.read(str(path))
    affine, lif = graph.nodes["0"], graph.nodes["1"]
    params = NIRLIFParams(
        *(jnp.asarray(getattr(lif, f), jnp.float32) for f in ("tau", "r", "v_leak", "v_threshold", "v_reset"))
    )
    # An NIR LIF from the library's LI stages (tau dv/dt = (v_leak - v) + R I, forward Euler)
    # and sx.Neuron: fire when v > v_threshold (NIR), reset to v_reset.
    def nir_lif(p, v, x, dt):
        li = sx.neurons.li_derive(sx.neurons.LIParams(tau=p.tau, r=p.r, v_leak=p.v_leak), dt)
        return sx.neurons.li_charge(li, sx.NeuronState(v=v), x).v

    neuron = sx.Neuron(nir_lif, params, dt=DT, fire_at=">")
    inputs, volts, spikes = load_trace(ref_dir, "norse")
    x = jnp.asarray(inputs[:, None] @ affine.weight.T + affine.bias, jnp.float32)
    out, _, rec = neuron(x, record=True)
    assert list(np.nonzero(np.asarray(out[:, 0]))[0]) == NORSE_SPIKES
    np.testing.assert_array_equal(out[:, 0], spikes)
    np.testing.assert_allclose(rec["v"][:, 0], volts, atol=1e-6)


def test_rockpool_trace_with_exponential_decay_and_subtract_reset(ref_dir):
    inputs, volts, spikes = load_trace(ref_dir, "rockpool")
    tau, k = 2.5e-3, DT / 2.5e-3

    class ExpParams(eqx.Module):
        tau: jnp.ndarray
        v_threshold: jnp.ndarray
        v_reset: None

    def exp_charge(p, v, x, dt):
        return v * jnp.exp(-dt / p.tau) + x

    # Written as a one-line charge with subtract reset (v_reset=None) ...
    neuron = sx.Neuron(exp_charge, ExpParams(jnp.float32(tau), jnp.float32(0.1), None), dt=DT)
    out, _, rec = neuron(jnp.asarray(k * inputs[:, None], jnp.float32), record=True)
    assert list(np.nonzero(np.asarray(out[:, 0]))[0]) == ROCKPOOL_SPIKES
    np.testing.assert_allclose(rec["v"][:, 0], volts, atol=1e-6)

    # ... and as sx.LIF, Rockpool's own semantics: a synapse far faster than dt hands the
    # input straight to the membrane (i_t = beta * x_t), so scale the input by 1/beta.
    tau_syn = DT / 40
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tau_syn < dt on purpose
        lif = sx.LIF.create(1, tau_mem=tau, tau_syn=tau_syn, v_threshold=0.1, dt=DT)
    beta = np.exp(-DT / tau_syn)
    out, _, rec = lif(jnp.asarray(k * inputs[:, None] / beta, jnp.float32), record=True)
    np.testing.assert_array_equal(out[:, 0], spikes)
    np.testing.assert_allclose(rec["v"][:, 0], volts, atol=1e-6)

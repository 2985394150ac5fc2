"""Your own neuron, two ways: a one-line update, and a full model from charge / fire / reset.

1. ``sx.Neuron(update, params)``: write the membrane update of one step, get a model (here a
   quadratic integrate-and-fire neuron) with the library's threshold, surrogate, reset and loop.
   Its f-I curve rises from zero as sqrt(I - I_rh), the signature of a type-I neuron.
2. A model with two state variables, written as a final subclass of
   ``spikax.neurons.AbstractSpikingNeuron``: Izhikevich's (2001) resonate-and-fire neuron,
   $\\dot z = (b + i\\omega) z + I$ with $z = u + i v$, spiking when $v$ crosses a threshold.
   It is a damped oscillator: two input pulses one period apart add up and fire it, pulses half
   a period apart cancel. Its parameters, state and four pure stage functions are all it
   declares; ``jax.vmap``, ``jax.grad`` and ``record=`` come from the base.

    python examples/own_neuron.py              # figure and summary in ./own-neuron
    python examples/own_neuron.py --out DIR

Reference: Izhikevich (2001), Resonate-and-fire neurons, Neural Networks 14, 883-894,
doi:10.1016/S0893-6080(01)00078-8.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Optional

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array
from matplotlib.figure import Figure

import spikax as sx
from spikax.neurons import AbstractSpikingNeuron, fixed_threshold

DT = 1e-4  # s


# -- 1. A one-line update ---------------------------------------------------------------------


# --8<-- [start:qif]
class QIFParams(eqx.Module):
    tau: Array  # s
    v_threshold: Array
    v_reset: Array


def qif_update(p, v, x, dt):
    """One forward-Euler step of tau dv/dt = v^2 + x (dimensionless v)."""
    return v + dt / p.tau * (v * v + x)
# --8<-- [end:qif]


def fi_curve(currents: np.ndarray, duration: float = 0.5) -> np.ndarray:
    """Firing rate (Hz) of the QIF for each constant input, one neuron per input."""
    params = QIFParams(tau=jnp.asarray(10e-3), v_threshold=jnp.asarray(10.0), v_reset=jnp.asarray(-1.0))
    neuron = sx.Neuron(qif_update, params, dt=DT)
    steps = int(duration / DT)
    spikes, _, _ = neuron(jnp.broadcast_to(jnp.asarray(currents, jnp.float32), (steps, len(currents))))
    return np.asarray(spikes.sum(0)) / duration


# -- 2. A full model: the resonate-and-fire neuron -----------------------------------------------


# --8<-- [start:rf]
class RFParams(eqx.Module):
    """Parameters (SI units): damping ``b`` (1/s, < 0), angular frequency ``omega`` (rad/s),
    ``v_threshold`` (units of v); ``v_reset`` is the potential after a spike (``u`` resets to 0)."""

    b: Array
    omega: Array
    v_threshold: Array
    v_reset: Optional[Array]


class RFState(eqx.Module):
    v: Array  # the imaginary part of z: it fires
    u: Array  # the real part


class RFCoeffs(eqx.Module):
    """Loop invariants: one step of z is a rotation by omega*dt and a decay by exp(b*dt)."""

    decay_cos: Array
    decay_sin: Array
    v_threshold: Array
    v_reset: Optional[Array]
    dt: float = eqx.field(static=True)


def rf_derive(params: RFParams, dt: float) -> RFCoeffs:
    decay = jnp.exp(params.b * dt)
    return RFCoeffs(decay * jnp.cos(params.omega * dt), decay * jnp.sin(params.omega * dt),
                    params.v_threshold, params.v_reset, dt)


def rf_charge(c: RFCoeffs, s: RFState, x: Array) -> RFState:
    """z <- exp((b + i omega) dt) z + dt x: the exact step of the oscillator, the input on u."""
    u = c.decay_cos * s.u - c.decay_sin * s.v + c.dt * x
    v = c.decay_sin * s.u + c.decay_cos * s.v
    return RFState(v=v, u=u)


def rf_on_spike(c: RFCoeffs, h: RFState, spikes: Array) -> RFState:
    """A spike also empties the oscillator's other component (``v`` is reset by the base)."""
    return RFState(v=h.v, u=h.u * (1.0 - spikes))


class ResonateAndFire(AbstractSpikingNeuron):
    """Izhikevich's (2001) resonate-and-fire neuron (see the module docstring)."""

    params: RFParams
    spike_fn: sx.AbstractSurrogate
    adjoint: sx.AbstractAdjoint
    dt: float = eqx.field(static=True)
    fire_at: str = eqx.field(static=True)
    detach_reset: bool = eqx.field(static=True)

    def __init__(self, params: RFParams, *, dt: float = DT, spike_fn=None):
        self.params, self.dt = params, dt
        self.spike_fn = sx.surrogate.FastSigmoid(10.0) if spike_fn is None else spike_fn
        self.adjoint = sx.DirectAdjoint()
        self.fire_at, self.detach_reset = ">=", False

    def init_state(self, input_shape=None) -> RFState:
        shape = (() if input_shape is None else tuple(input_shape))
        shape = jnp.broadcast_shapes(shape, jnp.shape(self.params.b))
        return RFState(v=jnp.zeros(shape), u=jnp.zeros(shape))

    def prepare(self, xs, key, *, name="xs"):
        xs = jnp.asarray(xs, jnp.float32)
        if xs.ndim < 1:
            raise ValueError(f"`{name}` must have a leading time axis (T, ...), got a scalar")
        return xs, None

    derive = staticmethod(rf_derive)
    charge = staticmethod(rf_charge)
    threshold = staticmethod(fixed_threshold)
    on_spike = staticmethod(rf_on_spike)
# --8<-- [end:rf]


FREQUENCY = 50.0  # Hz: the resonance; the period is 20 ms


def resonator() -> ResonateAndFire:
    return ResonateAndFire(RFParams(b=jnp.asarray(-20.0), omega=jnp.asarray(2 * math.pi * FREQUENCY),
                                    v_threshold=jnp.asarray(1.0), v_reset=jnp.asarray(0.0)))


def doublet(interval: float, duration: float = 0.1, kick: float = 0.8) -> np.ndarray:
    """Two one-step pulses ``interval`` s apart, the first at 10 ms, each moving ``u`` by ``kick``.

    One kick alone peaks at ``v`` = 0.72 (a quarter period later, damped by exp(b T/4)): below
    the threshold of 1.
    """
    xs = np.zeros(int(duration / DT), np.float32)
    for t in (0.01, 0.01 + interval):
        xs[int(round(t / DT))] = kick / DT
    return xs


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="own-neuron")
    parser.add_argument("--intervals", type=int, default=41, help="doublet intervals on the resonance curve")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    currents = np.linspace(-0.5, 4.0, 19)
    rates = fi_curve(currents)

    model = resonator()
    period = 1.0 / FREQUENCY
    intervals = np.linspace(0.2 * period, 1.8 * period, args.intervals)
    batch = jnp.asarray(np.stack([doublet(i) for i in intervals]))
    counts = np.asarray(jax.vmap(lambda x: model(x)[0].sum())(batch))
    shown = {"one period (20 ms)": period, "half a period (10 ms)": period / 2}
    traces = {label: model(jnp.asarray(doublet(i)), record=True) for label, i in shown.items()}

    # The surrogate makes the spike count differentiable in the model's parameters.
    def count(omega):
        m = eqx.tree_at(lambda m: m.params.omega, model, omega)
        return m(jnp.asarray(doublet(period)))[0].sum()

    d_count = float(jax.grad(count)(model.params.omega))

    fig = Figure(figsize=(12, 7.5), layout="constrained")
    (ax_fi, ax_res), (ax_a, ax_b) = fig.subplots(2, 2)
    ax_fi.plot(currents, rates, "o-", color="C0", label="sx.Neuron(qif_update, ...)")
    ax_fi.set(xlabel="constant input x (1/s)", ylabel="firing rate (Hz)",
              title="1. A one-line update: QIF f-I curve (type I)")
    ax_fi.legend(loc="upper left")
    ax_res.plot(intervals * 1e3, counts, "o-", color="C1", label="resonate-and-fire, 50 Hz")
    ax_res.axvline(period * 1e3, color="0.5", ls=":", label="one period")
    ax_res.set(xlabel="interval between the two input pulses (ms)", ylabel="output spikes",
               title="2. A full model: spikes against the doublet's interval")
    ax_res.yaxis.get_major_locator().set_params(integer=True)
    ax_res.legend(loc="center right")
    t_ms = np.arange(batch.shape[1]) * DT * 1e3
    for ax, (label, (spikes, _, rec)) in zip((ax_a, ax_b), traces.items()):
        ax.plot(t_ms, np.asarray(rec["v"]), color="C2", label="v (fires at 1)")
        ax.plot(t_ms, np.asarray(rec["u"]), color="C3", alpha=0.7, label="u")
        ax.axhline(1.0, color="0.5", ls=":", label="threshold")
        fired = np.nonzero(np.asarray(spikes))[0]
        ax.plot(t_ms[fired], np.full(len(fired), 1.15), "v", color="k", label="spike")
        ax.set(xlabel="time (ms)", ylabel="state (units of v)", title=f"pulses {label} apart: "
               f"{len(fired)} spike{'s' if len(fired) != 1 else ''}")
        ax.legend(loc="lower right", fontsize=8)
    fig.savefig(out / "own_neuron.png", dpi=110)

    summary = {
        "qif_rates_hz": dict(zip([f"{c:.2f}" for c in currents], rates.round(1).tolist())),
        "resonance_counts": dict(zip([f"{1e3 * i:.1f} ms" for i in intervals], counts.astype(int).tolist())),
        "spikes_one_period": int(np.asarray(traces["one period (20 ms)"][0]).sum()),
        "spikes_half_period": int(np.asarray(traces["half a period (10 ms)"][0]).sum()),
        "d_count_d_omega": d_count,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"QIF: silent up to x = {currents[rates == 0].max():.2f}, {rates[-1]:.0f} Hz at x = {currents[-1]:.1f}")
    print(f"resonate-and-fire: {summary['spikes_one_period']} spike(s) for pulses one period apart, "
          f"{summary['spikes_half_period']} for half a period; d count / d omega = {d_count:.3g}")
    return summary


if __name__ == "__main__":
    main()

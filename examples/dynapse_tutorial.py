"""The DYNAP-SE2 neuron, step by step: the story of the DYNAP-SE tutorials with spikax.

1. The circuit: bias currents set time constants, gains and pulse widths.
2. One neuron behind one weight, driven by Poisson spikes: Vmem and the synaptic current.
3. The f-I curve: firing rate against a constant injected current Idc.
4. Spike-frequency adaptation: the AHP lengthens the intervals.
5. NMDA gating: the same input counts only when the membrane is already depolarised.
6. Inhibition: GABA raises the leak, SHUNT subtracts from the input current.
7. Device mismatch: the same network on ten simulated chips.

    python examples/dynapse_tutorial.py            # figures in ./dynapse-tutorial
    python examples/dynapse_tutorial.py --out DIR
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

import spikax as sx
from spikax.devices import dynapse as dx

#: The simulation step (s). DynapSim works in seconds; 1 ms is its default and the longest step
#: that resolves its 1 ms refractory period (one spike per step at most).
DT = 1e-3


def section(title):
    print(f"\n== {title}")


def rate(spikes):
    """Mean firing rate (Hz) of ``(T, n)`` spikes at step DT."""
    return float(np.asarray(spikes).sum(0).mean() / (spikes.shape[0] * DT))


def circuit():
    section("1. the circuit")
    d = dx.DEFAULTS
    kappa = dx.kappa_mean(d["kappa_n"], d["kappa_p"])
    print(f"kappa = (kappa_n + kappa_p)/2 = {kappa:.3f}; Io = {d['Io']:.1e} A; Ut = {d['Ut']} V")
    blocks = (("membrane", "C_mem", "Itau_mem"), ("AMPA", "C_ampa", "Itau_ampa"), ("AHP", "C_ahp", "Itau_ahp"))
    for name, C, I in blocks:
        tau = dx.tau_from_itau(d[I], d[C], kappa, d["Ut"])
        print(f"  {name:<8} tau = C Ut / (kappa Itau) = {d[C] * 1e12:.1f} pF, {d[I] * 1e12:.2f} pA "
              f"-> {tau * 1e3:.1f} ms")
    print(f"  t_pulse = Vth C_pulse / Ipulse = {dx.pulse_width(d['Ipulse'], d['C_pulse'], d['Vth']) * 1e6:.1f} us")
    print(f"  t_ref   = Vth C_ref / Iref     = {dx.pulse_width(d['Iref'], d['C_ref'], d['Vth']) * 1e3:.2f} ms")
    print(f"  10 ms on the AMPA synapse needs Itau_ampa = {dx.itau_from_tau(10e-3, d['C_ampa'], kappa, d['Ut']):.3g} A")


# --8<-- [start:single_neuron]
def single_neuron(out: Path):
    section("2. one neuron behind one weight")
    x = sx.encode.poisson(20.0, duration=1.0, dt=DT, n_channels=1, key=jax.random.key(0))
    net = sx.Sequential(dx.DynapseLinear([[0.1]]), dx.DynapSim.create(1, dt=DT))
    spikes, _, rec = net(x, record=True)
    r = rec[1]
    print(f"{int(x.sum())} input spikes -> {int(spikes.sum())} output spikes")
    fig = sx.plot.twin(r["vmem"][:, 0], r["iampa"][:, 0], dt=DT, left_label="Vmem (V)", right_label="I_ampa (A)",
                       right_log=True, spikes=spikes[:, 0], title="one neuron, weight 0.1, 20 Hz Poisson input")
    fig.savefig(out / "single_neuron.png", dpi=110)
    return fig
# --8<-- [end:single_neuron]


def fi_curve(out: Path):
    section("3. the f-I curve")
    idc = np.logspace(-11.2, -8, 14)
    steps = int(round(2.0 / DT))
    spikes, _, _ = dx.DynapSim.create(len(idc), dt=DT, Idc=idc)(jnp.zeros((steps, len(idc), 4)))
    rates = np.asarray(spikes.sum(0)) / (steps * DT)
    for i, r in zip(idc, rates):
        print(f"  Idc = {i:.2e} A -> {r:6.1f} Hz")
    fig = Figure(figsize=(5, 3.5), layout="constrained")
    ax = fig.add_subplot()
    ax.semilogx(idc, rates, "o-")
    ax.set_xlabel("Idc (A)")
    ax.set_ylabel("rate (Hz)")
    ax.set_title("f-I curve")
    fig.savefig(out / "fi_curve.png", dpi=110)
    return fig


def adaptation(out: Path):
    section("4. spike-frequency adaptation")
    d = dx.DEFAULTS
    itau = dx.itau_from_tau(0.5, d["C_ahp"], dx.kappa_mean(d["kappa_n"], d["kappa_p"]), d["Ut"])
    model = dx.DynapSim.create(2, dt=DT, Idc=1e-9, Itau_ahp=itau, Igain_ahp=10 * itau, Iw_ahp=[5e-13, 1e-7])
    spikes, _, rec = model(jnp.zeros((int(round(1.0 / DT)), 2, 4)), record=True)
    for j, label in enumerate(("no AHP", "AHP")):
        isi = np.round(np.diff(np.nonzero(np.asarray(spikes[:, j]))[0]) * DT * 1e3).astype(int)  # ms
        print(f"  {label:<7}: {int(spikes[:, j].sum()):3d} spikes, first intervals {isi[:3]} ms, last {isi[-3:]} ms")
    fig = sx.plot.traces(np.asarray(rec["iahp"]) * 1e12, dt=DT, ylabel="I_ahp (pA)", labels=["no AHP", "AHP"],
                         title="adaptation current")
    fig.savefig(out / "adaptation.png", dpi=110)
    return fig


def nmda_gating():
    section("5. NMDA gating")
    xs = np.zeros((int(round(1.0 / DT)), 2, 4))
    xs[:: int(round(4e-3 / DT)), :, 1] = 1.0  # 250 Hz onto NMDA
    for idc in (1e-11, 4e-11):
        spikes, _, _ = dx.DynapSim.create(2, dt=DT, Idc=idc, If_nmda=[5e-13, 3e-8])(jnp.asarray(xs))
        print(f"  Idc = {idc:.0e} A: gate open (If = Io) {rate(spikes[:, :1]):5.1f} Hz, "
              f"gate at If = 30 nA {rate(spikes[:, 1:]):5.1f} Hz")


def inhibition():
    section("6. inhibition: GABA vs SHUNT")
    print("  a neuron at Idc = 100 pA, with a 200 Hz train of weight w onto GABA or SHUNT")
    print("  GABA adds to the leak (it enters I_mem_inf and the I_mem I_gaba / I_tau term);")
    print("  SHUNT subtracts from the input current only, so it is the gentler of the two:")
    for w in (0.0, 0.002, 0.005, 0.01, 0.02, 0.05):
        xs = np.zeros((int(round(1.0 / DT)), 2, 4))
        every = int(round(5e-3 / DT))  # 200 Hz
        xs[::every, 0, 2] = w
        xs[::every, 1, 3] = w
        r = np.asarray(dx.DynapSim.create(2, dt=DT, Idc=1e-10)(jnp.asarray(xs))[0].sum(0)) / (xs.shape[0] * DT)
        print(f"  w = {w:<5g}: GABA {r[0]:3.0f} Hz, SHUNT {r[1]:3.0f} Hz")


# --8<-- [start:mismatch]
def mismatch(out: Path):
    section("7. device mismatch")
    nominal = dx.DynapseParams.default(8, Idc=1e-9)
    keys = jax.random.split(jax.random.key(42), 10)
    chips = jax.vmap(lambda k: dx.apply_mismatch(k, nominal, 10.0))(keys)
    steps = int(round(1.0 / DT))
    counts = jax.vmap(lambda p: dx.DynapSim(p, dt=DT)(jnp.zeros((steps, 8, 4)))[0].sum(0))(chips)
    rates = np.asarray(counts) / (steps * DT)  # (chip, neuron), Hz
    nominal_rate = float(dx.DynapSim.create(1, dt=DT, Idc=1e-9)(jnp.zeros((steps, 1, 4)))[0].sum()) / (steps * DT)
    n_chips, n_neurons = rates.shape
    print(f"  nominal neuron: {nominal_rate:.0f} Hz; {n_chips} chips x {n_neurons} neurons at 10 % mismatch: "
          f"{rates.mean():.1f} +- {rates.std():.1f} Hz (min {rates.min():.0f}, max {rates.max():.0f})")
    # A grid of chips and neurons, not a time series (so not sx.plot.heatmap, whose columns are
    # time steps): one cell per (chip, neuron), centred on its integer ticks.
    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(rates.T, origin="lower", aspect="auto", interpolation="nearest", cmap="viridis")
    fig.colorbar(im, ax=ax, label="rate (Hz)")
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
    ax.set_xlabel("chip")
    ax.set_ylabel("neuron")
    ax.set_title(f"rate per neuron (rows) and chip (columns), nominal {nominal_rate:.0f} Hz")
    fig.savefig(out / "mismatch.png", dpi=110)
    return rates, fig
# --8<-- [end:mismatch]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="./dynapse-tutorial")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    circuit()
    figures = {
        "single_neuron.png": single_neuron(out), "fi_curve.png": fi_curve(out), "adaptation.png": adaptation(out)
    }
    nmda_gating()
    inhibition()
    rates, figures["mismatch.png"] = mismatch(out)
    print(f"\nfigures in {out.resolve()}/")
    return {"figures": figures, "mismatch_rates": rates}


if __name__ == "__main__":
    main()

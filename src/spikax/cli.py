"""Command line: ``spikax demo`` (and ``spikax --help``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path


def _demo_lif(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    import spikax as sx

    out = _prepare_out(args)
    t_start = time.perf_counter()

    dt = args.dt
    key = jax.random.key(args.seed)
    k_in, k_w, k_noise = jax.random.split(key, 3)
    inputs = sx.encode.poisson(args.rate, duration=args.duration, dt=dt, n_channels=args.n_inputs, key=k_in)
    linear = sx.Linear.create(args.n_inputs, args.n_neurons, use_bias=False, key=k_w)
    # Each input event adds w to i_syn, which then feeds v for ~tau_syn/dt steps: the default
    # gain puts the membranes near threshold, so the figures show both silent and firing neurons.
    linear = sx.Linear(linear.weight * args.weight_gain)
    lif = sx.LIF.create(
        args.n_neurons,
        tau_mem=args.tau_mem,
        tau_syn=args.tau_syn,
        v_threshold=args.v_threshold,
        noise_std=args.noise_std,
        dt=dt,
    )
    net = sx.Sequential(linear, lif)

    run = jax.jit(lambda x, k: net(x, key=k, record=True))
    spikes, _, record = run(inputs, k_noise)
    spikes = np.asarray(spikes)
    v = np.asarray(record[1]["v"])
    i_syn = np.asarray(record[1]["i_syn"])
    inputs = np.asarray(inputs)
    elapsed = time.perf_counter() - t_start

    np.savez_compressed(
        out / "recordings.npz",
        dt=dt,
        input_spikes=inputs,
        output_spikes=spikes,
        v=v,
        i_syn=i_syn,
        weight=np.asarray(linear.weight),
        v_threshold=np.asarray(lif.params.v_threshold),
    )

    thr = np.asarray(lif.params.v_threshold)
    counts = spikes.sum(axis=0)
    best = int(np.argmax(counts))
    figures = {
        "input_raster.png": sx.plot.raster(inputs, dt=dt, title=f"{args.n_inputs} Poisson inputs at {args.rate:g} Hz"),
        "output_raster.png": sx.plot.raster(spikes, dt=dt, title=f"{args.n_neurons} LIF neurons", ylabel="neuron"),
        "membrane_traces.png": sx.plot.traces(
            v[:, :5], dt=dt, threshold=thr[:5], stagger=2.5 * float(thr.max()), ylabel="v",
            title="membrane potential (first 5 neurons)",
        ),
        "membrane_heatmap.png": sx.plot.heatmap(v, dt=dt, title="membrane potential", label="v"),
        "neuron.png": sx.plot.membrane(
            v[:, best], spikes[:, best], dt=dt, threshold=thr[best], inputs=inputs, title=f"neuron {best} (most active)"
        ),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)

    duration = inputs.shape[0] * dt
    summary = {
        "duration_s": duration,
        "dt_s": dt,
        "input_spikes": int(inputs.sum()),
        "input_rate_hz": float(inputs.sum() / (args.n_inputs * duration)),
        "output_spikes": int(spikes.sum()),
        "output_rate_hz": float(spikes.sum() / (args.n_neurons * duration)),
        "silent_neurons": int((counts == 0).sum()),
        "most_active_neuron": best,
        "most_active_rate_hz": float(counts[best] / duration),
        "wall_time_s": round(elapsed, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"spikax demo: {args.n_inputs} Poisson inputs ({args.rate:g} Hz) -> Linear -> {args.n_neurons} LIF neurons, "
          f"{duration:g} s at dt = {dt * 1e3:g} ms")
    print(f"  input spikes : {summary['input_spikes']:>7d}  ({summary['input_rate_hz']:.1f} Hz per channel)")
    print(f"  output spikes: {summary['output_spikes']:>7d}  ({summary['output_rate_hz']:.1f} Hz per neuron, "
          f"{summary['silent_neurons']} of {args.n_neurons} silent)")
    print(f"  most active  : neuron {best}, {summary['most_active_rate_hz']:.1f} Hz")
    print(f"  wall time    : {elapsed:.2f} s (including compilation)")
    print(f"  wrote        : {out.resolve()}/")
    for name in ["recordings.npz", "summary.json", *figures]:
        print(f"                 {name}")
    return 0


def _prepare_out(args) -> Path:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _demo_dynapse(args: argparse.Namespace) -> int:
    """The DYNAP-SE tutorial case: one neuron behind a 1->1 weight, Poisson input."""
    import jax
    import numpy as np

    import spikax as sx
    from spikax.devices import dynapse as dx

    out = _prepare_out(args)
    t_start = time.perf_counter()
    dt = args.dt
    inputs = sx.encode.poisson(args.rate, duration=args.duration, dt=dt, n_channels=1, key=jax.random.key(args.seed))
    layer = dx.DynapseLinear([[args.weight]], excitatory="ampa")
    neuron = dx.DynapSim.create(1, dt=dt)
    net = sx.Sequential(layer, neuron)
    spikes, _, record = jax.jit(lambda x: net(x, record=True))(inputs)
    rec = {k: np.asarray(v[:, 0]) for k, v in record[1].items()}
    spikes, inputs = np.asarray(spikes), np.asarray(inputs)
    elapsed = time.perf_counter() - t_start

    np.savez_compressed(
        out / "recordings.npz", dt=dt, input_spikes=inputs, output_spikes=spikes, weight=args.weight, **rec
    )
    thr = float(neuron.params.Ispkthr[0])
    figures = {
        "input_raster.png": sx.plot.raster(inputs, dt=dt, title=f"input: Poisson {args.rate:g} Hz", ylabel="input"),
        "output_raster.png": sx.plot.raster(spikes, dt=dt, title="output: DYNAP-SE2 neuron", ylabel="neuron"),
        "vmem_isyn.png": sx.plot.twin(
            rec["vmem"], rec["iampa"], dt=dt, left_label="Vmem (V)", right_label="I_ampa (A)", right_log=True,
            spikes=spikes[:, 0], title=f"membrane voltage and AMPA current (weight {args.weight:g})",
        ),
        "imem.png": sx.plot.traces(
            np.log10(rec["imem"]), dt=dt, threshold=np.log10(thr), ylabel="log10 Imem (A)", title="membrane current"
        ),
        "spike_function.png": sx.plot.dynapse_spike_function(neuron.params),
    }
    for name, fig in figures.items():
        fig.savefig(out / name, dpi=110)

    duration = inputs.shape[0] * dt
    summary = {
        "model": "DYNAP-SE2 (spikax.devices.dynapse.DynapSim)",
        "duration_s": duration,
        "dt_s": dt,
        "weight": args.weight,
        "input_spikes": int(inputs.sum()),
        "output_spikes": int(spikes.sum()),
        "output_rate_hz": float(spikes.sum() / duration),
        "max_imem_A": float(rec["imem"].max()),
        "max_iampa_A": float(rec["iampa"].max()),
        "Ispkthr_A": thr,
        "wall_time_s": round(elapsed, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"spikax demo: one DYNAP-SE2 neuron behind a weight of {args.weight:g} (AMPA), {args.rate:g} Hz "
          f"Poisson input, {duration:g} s at dt = {dt * 1e3:g} ms")
    print(f"  input spikes : {summary['input_spikes']:>6d}")
    print(f"  output spikes: {summary['output_spikes']:>6d}  ({summary['output_rate_hz']:.1f} Hz)")
    print(f"  peak Imem    : {summary['max_imem_A']:.3g} A (threshold {thr:.3g} A); "
          f"peak I_ampa {summary['max_iampa_A']:.3g} A")
    print(f"  wall time    : {elapsed:.2f} s (including compilation)")
    print(f"  wrote        : {out.resolve()}/")
    for name in ["recordings.npz", "summary.json", *figures]:
        print(f"                 {name}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    return _demo_dynapse(args) if args.model == "dynapse" else _demo_lif(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="spikax",
        description="spikax: fast, differentiable spiking neural networks in JAX.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="simulate a DYNAP-SE2 neuron (or a LIF layer) under Poisson input; write figures, recordings, summary",
        description=(
            "--model dynapse (default): the DYNAP-SE tutorial case, one DYNAP-SE2 neuron behind a weight "
            "of --weight onto its AMPA synapse, driven by a --rate Hz Poisson train; writes the input and "
            "output rasters, Vmem with I_ampa on twin axes, Imem against the threshold, the multi-spike "
            "function with its surrogate, recordings.npz (imem, vmem, iampa, inmda, igaba, ishunt, iahp, "
            "spikes) and summary.json. --model lif: N_INPUTS Poisson trains through a random Linear layer "
            "into N_NEURONS current-based LIF neurons; writes rasters, membrane traces with thresholds, "
            "a heatmap, one neuron's membrane, recordings.npz and summary.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    demo.add_argument("--out", default="./spikax-out", help="output folder (created if missing)")
    demo.add_argument("--model", choices=["dynapse", "lif"], default="dynapse", help="which demo")
    demo.add_argument("--weight", type=float, default=0.1, help="dynapse: input weight (units of Iscale)")
    demo.add_argument("--n-inputs", type=int, default=100, help="lif: number of Poisson input channels")
    demo.add_argument("--n-neurons", type=int, default=20, help="lif: number of LIF neurons")
    demo.add_argument("--rate", type=float, default=20.0, help="input rate per channel (Hz)")
    demo.add_argument("--duration", type=float, default=1.0, help="simulated time (s)")
    demo.add_argument("--dt", type=float, default=1e-3, help="time step (s)")
    demo.add_argument("--tau-mem", type=float, default=20e-3, help="lif: membrane time constant (s)")
    demo.add_argument("--tau-syn", type=float, default=10e-3, help="lif: synaptic time constant (s)")
    demo.add_argument("--v-threshold", type=float, default=1.0, help="lif: firing threshold v_threshold")
    demo.add_argument("--weight-gain", type=float, default=0.3, help="lif: multiplies the Kaiming-uniform weights")
    demo.add_argument("--noise-std", type=float, default=0.0, help="lif: membrane noise (units of v per sqrt(s))")
    demo.add_argument("--seed", type=int, default=0, help="seed of every random draw")
    demo.set_defaults(func=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return args.func(args)
    except (ValueError, TypeError) as err:
        print(f"spikax {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # Output piped into `head` and closed early: not an error of ours.
        sys.stdout = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())

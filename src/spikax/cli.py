"""Command line: ``spikax demo``, ``spikax train``, ``spikax deploy`` (and ``--help``, ``--version``).

Every bad option value is a one-line ``spikax <command>: error: --option ...`` on stderr and exit
code 2 (argparse's convention), checked before anything is simulated or written; no traceback.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

#: Most time steps a demo simulates (1000 s at 1 ms): beyond this it is no longer a demo.
MAX_STEPS = 1_000_000
#: Most values in one demo array (inputs, recordings, weights): 50 M float32 are 200 MB.
MAX_VALUES = 50_000_000
#: Largest --weight: a weight current of 100 x Iscale (1 uA at the default Iscale of 10 nA).
MAX_WEIGHT = 100.0


class _UsageError(Exception):
    """A bad command line: reported as ``<prog>: error: <message>``, exit code 2."""

    def __init__(self, message: str, prog: str = "spikax demo"):
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    # argparse prints the whole usage before its error and exits; one line naming the option is
    # clearer, and raising lets `main` return 2 like for every other error (subparsers are
    # built with the parent's class, so they raise too).
    def error(self, message):
        raise _UsageError(message, self.prog)


def _number(what: str, *, minimum: float, inclusive: bool, maximum: float = math.inf):
    """An argparse ``type``: a finite float in range; the message names the unit (argparse adds the option)."""

    def parse(text: str) -> float:
        try:
            x = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number ({what}), got {text!r}") from None
        if not math.isfinite(x):
            raise argparse.ArgumentTypeError(f"must be a finite number ({what}), got {text!r}")
        low_ok = x >= minimum if inclusive else x > minimum
        if not low_ok or x > maximum:
            bound = f"{'>=' if inclusive else '>'} {minimum:g}"
            if maximum < math.inf:
                bound += f" and <= {maximum:g}"
            raise argparse.ArgumentTypeError(f"must be {bound} ({what}), got {text!r}")
        return x

    parse.__name__ = "number"
    return parse


def _integer(what: str, *, minimum: int, maximum: int):
    def parse(text: str) -> int:
        try:
            x = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number ({what}), got {text!r}") from None
        if not minimum <= x <= maximum:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and {maximum} ({what}), got {text!r}")
        return x

    parse.__name__ = "integer"
    return parse


def _devices(text: str) -> int:
    """``--devices``: ``all`` (one XLA CPU device per core) or a count up to the cores."""
    from .distributed import default_cpu_devices

    cores = default_cpu_devices()
    if text.strip().lower() == "all":
        return cores
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of CPU devices or 'all', got {text!r}") from None
    if not 1 <= n <= cores:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {cores} (this process may use {cores} core{'s' * (cores > 1)}), got {text!r}"
        )
    return n


def _add_devices(parser) -> None:
    parser.add_argument(
        "--devices", type=_devices, default=None, metavar="N|all",
        help="split batches (and chips) over N XLA CPU devices, one per core (all: every core this process may "
             "use); default: one device",
    )


def _weight(text: str) -> float:
    x = _number("units of Iscale", minimum=-math.inf, inclusive=True)(text)
    if x > MAX_WEIGHT:
        raise argparse.ArgumentTypeError(
            f"must be <= {MAX_WEIGHT:g} (units of Iscale: a weight current of {MAX_WEIGHT:g} x 10 nA = 1 uA "
            f"at the default Iscale), got {text!r}"
        )
    if x < 0:
        raise argparse.ArgumentTypeError(
            f"must be >= 0, got {text!r}: it is the weight onto the AMPA (excitatory) synapse; a negative "
            "weight would drive the GABA synapse instead, and inhibition alone never makes this one "
            "otherwise undriven neuron fire"
        )
    return x


def _check_demo(args: argparse.Namespace) -> None:
    """Checks between options (each alone was checked by its argparse ``type``), before any work."""
    from .encode import n_steps_for

    dt, duration = args.dt, args.duration
    if dt > duration:
        raise _UsageError(f"--dt {dt:g} s is longer than --duration {duration:g} s: not a single step")
    try:
        n_steps = n_steps_for(duration, dt)
    except ValueError:
        raise _UsageError(f"--duration {duration:g} s is not a whole number of --dt {dt:g} s steps") from None
    if n_steps > MAX_STEPS:
        raise _UsageError(
            f"--duration {duration:g} s at --dt {dt:g} s is {n_steps:,} steps, more than the demo's "
            f"{MAX_STEPS:,}: shorten --duration or raise --dt"
        )
    if args.model == "dynapse":
        from .devices import dynapse as dx

        params = dx.DynapseParams.default(1)
        if dx.short_refractory(params, dt):
            t_ref = float(dx.pulse_width(params.Iref, params.C_ref, params.Vth)[0])
            raise _UsageError(
                f"--dt {dt:g} s is longer than the DYNAP-SE2 neuron's refractory period ({t_ref * 1e3:.3g} ms): "
                "the simulator reports at most one spike per step; use --dt <= 1e-3"
            )
    else:
        for option, tau in (("--tau-mem", args.tau_mem), ("--tau-syn", args.tau_syn)):
            # The LIF's own rule (it warns): nothing faster than one step is resolved.
            if tau < dt:
                raise _UsageError(f"--dt {dt:g} s is longer than {option} {tau:g} s: the LIF dynamics are not resolved")
        for what, size in (
            ("--n-inputs x steps (--duration / --dt)", args.n_inputs * n_steps),
            ("--n-neurons x steps (--duration / --dt)", args.n_neurons * n_steps),
            ("--n-inputs x --n-neurons (weights)", args.n_inputs * args.n_neurons),
        ):
            if size > MAX_VALUES:
                raise _UsageError(
                    f"{what} = {size:,} values, more than the demo's {MAX_VALUES:,}: make the run smaller"
                )
    if args.rate * dt > 1.0:
        raise _UsageError(
            f"--rate {args.rate:g} Hz at --dt {dt:g} s is {args.rate * dt:g} spikes per step: a binary "
            "Poisson train carries at most 1; lower --rate or --dt"
        )
    args.out = _prepare_out(args.out)


def _prepare_out(path: str, prog: str = "spikax demo") -> Path:
    """The output folder, created and probed with a file, so a bad --out fails before the run."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise _UsageError(f"--out {path}: is a file, not a folder", prog)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise _UsageError(f"--out {path}: cannot write there ({err.strerror or err})", prog) from None
    return out


def _demo_lif(args: argparse.Namespace) -> int:
    import jax
    import numpy as np

    import spikax as sx

    out = args.out
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
    # The LIF's v has no physical unit: it is measured against v_threshold (a.u.).
    v_label = "v (a.u.)"
    figures = {
        "input_raster.png": sx.plot.raster(
            inputs, dt=dt, title=f"{args.n_inputs} Poisson inputs at {args.rate:g} Hz", ylabel="input channel"
        ),
        "output_raster.png": sx.plot.raster(spikes, dt=dt, title=f"{args.n_neurons} LIF neurons", ylabel="neuron"),
        "membrane_traces.png": sx.plot.traces(
            v[:, :5], dt=dt, threshold=thr[:5], stagger=2.5 * float(thr.max()), ylabel=v_label,
            title=f"membrane potential (first {min(5, args.n_neurons)} neurons)",
        ),
        "membrane_heatmap.png": sx.plot.heatmap(v, dt=dt, title="membrane potential", label=v_label),
        "neuron.png": sx.plot.membrane(
            v[:, best], spikes[:, best], dt=dt, threshold=thr[best], inputs=inputs, v_label=v_label,
            threshold_label=f"v_threshold = {float(thr[best]):g}", title=f"neuron {best} (most active)",
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
        "max_spikes_per_step": int(spikes.max()) if spikes.size else 0,
        "wall_time_s": round(elapsed, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"spikax demo: {args.n_inputs} Poisson inputs ({args.rate:g} Hz) -> Linear -> {args.n_neurons} LIF neurons, "
          f"{duration:g} s at dt = {dt * 1e3:g} ms")
    print(f"  input spikes : {summary['input_spikes']:>7d}  ({summary['input_rate_hz']:.1f} Hz per channel)")
    print(f"  output spikes: {summary['output_spikes']:>7d}  ({summary['output_rate_hz']:.1f} Hz per neuron, "
          f"{summary['silent_neurons']} of {args.n_neurons} silent; at most {summary['max_spikes_per_step']} "
          "per neuron and step)")
    print(f"  most active  : neuron {best}, {summary['most_active_rate_hz']:.1f} Hz")
    print(f"  wall time    : {elapsed:.2f} s (including compilation)")
    print(f"  wrote        : {out.resolve()}/")
    for name in ["recordings.npz", "summary.json", *figures]:
        print(f"                 {name}")
    return 0


def _demo_dynapse(args: argparse.Namespace) -> int:
    """The DYNAP-SE tutorial case: one neuron behind a 1->1 weight, Poisson input."""
    import jax
    import numpy as np

    import spikax as sx
    from spikax.devices import dynapse as dx

    out = args.out
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
    ireset = float(neuron.params.Ireset[0])
    # The recorded Imem is the state after each step's reset: where the membrane crossed
    # Ispkthr inside a step (a spike), the sample is already back near Ireset. So the trace's
    # peak stays below the threshold; the crossings are the spikes, drawn on the threshold line.
    crossings = int((spikes[:, 0] > 0).sum())
    figures = {
        "input_raster.png": sx.plot.raster(
            inputs, dt=dt, title=f"input: Poisson {args.rate:g} Hz", ylabel="input channel"
        ),
        "output_raster.png": sx.plot.raster(spikes, dt=dt, title="output: DYNAP-SE2 neuron", ylabel="neuron"),
        "vmem_isyn.png": sx.plot.twin(
            rec["vmem"], rec["iampa"], dt=dt, left_label="Vmem (V)", right_label="I_ampa (A)", right_log=True,
            spikes=spikes[:, 0], title=f"membrane voltage and AMPA current (weight {args.weight:g})",
        ),
        "imem.png": sx.plot.membrane(
            rec["imem"], spikes[:, 0], dt=dt, threshold=thr, inputs=inputs, log=True,
            v_label="Imem after each step (A)", threshold_label=f"Ispkthr = {thr:.3g} A",
            title=f"membrane current: {crossings} threshold crossings, each a spike and a reset",
        ),
        "spike_function.png": sx.plot.dynapse_spike_function(neuron),
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
        "threshold_crossings": crossings,
        "max_recorded_imem_A": float(rec["imem"].max()),
        "max_iampa_A": float(rec["iampa"].max()),
        "Ispkthr_A": thr,
        "Ireset_A": ireset,
        "wall_time_s": round(elapsed, 3),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"spikax demo: one DYNAP-SE2 neuron behind a weight of {args.weight:g} (AMPA), {args.rate:g} Hz "
          f"Poisson input, {duration:g} s at dt = {dt * 1e3:g} ms")
    print(f"  input spikes : {summary['input_spikes']:>6d}")
    print(f"  output spikes: {summary['output_spikes']:>6d}  ({summary['output_rate_hz']:.1f} Hz)")
    print(f"  Imem         : crossed Ispkthr = {thr:.3g} A {crossings} times (each crossing is a spike and a reset "
          f"to {ireset:.2g} A);")
    print(f"                 recorded after each step's reset, it peaks at {summary['max_recorded_imem_A']:.3g} A; "
          f"peak I_ampa {summary['max_iampa_A']:.3g} A")
    print(f"  wall time    : {elapsed:.2f} s (including compilation)")
    print(f"  wrote        : {out.resolve()}/")
    for name in ["recordings.npz", "summary.json", *figures]:
        print(f"                 {name}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    _check_demo(args)
    return _demo_dynapse(args) if args.model == "dynapse" else _demo_lif(args)


def _check_task_packages(task, prog: str) -> None:
    """A task whose data comes from an optional package says which one to install."""
    if task == "vowels":
        try:
            import aeon  # noqa: F401
        except ImportError:
            raise _UsageError(
                "--task vowels reads Japanese Vowels from the `aeon` package, which is not installed: "
                "pip install 'spikax[data]'", prog
            ) from None
    if task == "digits":
        try:
            import sklearn  # noqa: F401
        except ImportError:
            raise _UsageError("--task digits needs scikit-learn: pip install 'spikax[examples]'", prog) from None


def _train(args: argparse.Namespace) -> int:
    prog = "spikax train"
    if args.mismatch and args.model != "dynapse":
        raise _UsageError("--mismatch applies to --model dynapse (a chip network); a LIF network has no chip", prog)
    if args.fan_in is not None and args.model != "dynapse":
        raise _UsageError("--fan-in applies to --model dynapse (a chip network); a LIF network has no chip", prog)
    _check_task_packages(args.task, prog)
    out = _prepare_out(args.out, prog)
    checkpoint = out / "checkpoint.spikax"
    if args.resume and not checkpoint.exists():
        raise _UsageError(f"--resume: {checkpoint} does not exist (train without --resume first)", prog)
    if not args.resume and checkpoint.exists():
        raise _UsageError(
            f"--out {args.out} holds a run already ({checkpoint.name}): add --resume to continue it, "
            "or choose another --out", prog
        )
    n_devices = args.devices or 1
    if args.batch_size is not None and args.batch_size % n_devices:
        raise _UsageError(
            f"--batch-size {args.batch_size} does not divide over --devices {n_devices}: each device takes an equal "
            f"share of a batch (try --batch-size {-(-args.batch_size // n_devices) * n_devices})", prog
        )
    from .train._experiment import train_task

    t0 = time.perf_counter()
    summary = train_task(
        args.task, args.model, out, epochs=args.epochs, mismatch=args.mismatch, batch_size=args.batch_size,
        learning_rate=args.lr, seed=args.seed, n_hidden=args.n_hidden, resume=args.resume,
        progress=not args.no_progress, robustness_chips=args.chips, fan_in=args.fan_in, devices=n_devices,
    )
    print(
        f"{args.model} on {args.task}: test accuracy {100 * summary['test_accuracy']:.1f} % after "
        f"{summary['epochs']} epochs ({summary['median_epoch_train_time_s']:.2f} s per epoch, "
        f"{100 * summary['median_step_share']:.0f} % of it in the compiled step; {time.perf_counter() - t0:.0f} s "
        f"in all; batch {summary['batch_size']} on {n_devices} device{'s' if n_devices > 1 else ''})"
    )
    if "robustness" in summary:
        curve = ", ".join(f"{p} {100 * m:.1f} ± {100 * s:.1f}" for p, (m, s) in summary["robustness"].items())
        print(f"accuracy over {args.chips} drawn chips per mismatch level (%): {curve}")
    print(f"wrote {', '.join(summary['files'])} and summary.json to {out}")
    return 0


def _load_network(path: str, prog: str):
    """The physical model in a ``model.spikax`` or a run's ``checkpoint.spikax``."""
    from .train import load_model, read_metadata, unwrap
    from .train._fit import load_run

    if not Path(path).is_file():
        raise _UsageError(f"CHECKPOINT {path}: no such file", prog)
    try:
        kind = read_metadata(path)["kind"]
    except ValueError as err:
        raise _UsageError(f"CHECKPOINT {err}", prog) from None
    if kind == "model":
        return load_model(path), read_metadata(path)["metadata"]
    if kind == "run":
        run, meta = load_run(path)
        return unwrap(run.model), meta
    raise _UsageError(f"CHECKPOINT {path} holds a {kind!r}, not a model or a training run", prog)


def _deploy(args: argparse.Namespace) -> int:
    prog = "spikax deploy"
    from .devices.dynapse import deploy as dd

    if args.check is not None:
        if args.checkpoint is not None:
            raise _UsageError("--check validates a configuration file; give no CHECKPOINT with it", prog)
        try:
            config = dd.ChipConfig.load(args.check)
        except ValueError as err:
            print(f"{prog}: {err}", file=sys.stderr)
            return 1
        d = config.data
        fan_in = max((len(nr["cam"]) for nr in d["neurons"]), default=0)
        print(
            f"{args.check}: a valid DYNAP-SE2 configuration: {len(d['neurons'])} neurons on {len(d['cores'])} "
            f"core(s) of chip(s) {sorted({c['chip'] for c in d['cores']})}, {len(d['inputs'])} input channels, "
            f"{len(d['outputs'])} outputs, largest fan-in {fan_in}, dt = {d['dt']:g} s"
        )
        return 0
    if args.checkpoint is None:
        raise _UsageError("give a CHECKPOINT (model.spikax or checkpoint.spikax) to deploy, or --check FILE", prog)
    _check_task_packages(args.task, prog)
    out = Path(args.out)
    if out.exists() and out.is_dir():
        raise _UsageError(f"--out {args.out} is a folder; give the configuration file's path", prog)
    if not out.parent.exists():
        raise _UsageError(f"--out {args.out}: folder {out.parent} does not exist", prog)
    if args.report is not None and not Path(args.report).parent.exists():
        raise _UsageError(f"--report {args.report}: folder {Path(args.report).parent} does not exist", prog)
    model, meta = _load_network(args.checkpoint, prog)
    try:
        linear, cell, _, _ = dd.split_chip_network(model)
    except ValueError as err:
        raise _UsageError(f"CHECKPOINT {args.checkpoint}: {err}", prog) from None
    task = None
    if args.task is not None:
        from .train.tasks import load_task

        task = load_task(args.task)
        channels = task.test[0].shape[-1]
        if channels != linear.in_features:
            raise _UsageError(
                f"--task {args.task} has {channels} input channels, the network in {args.checkpoint} "
                f"{linear.in_features}: it was not trained on this task", prog
            )
    if args.n_cores is not None and args.n_cores > cell.n_neurons:
        raise _UsageError(f"--n-cores {args.n_cores} is more than the network's {cell.n_neurons} neurons", prog)
    trained = model
    if args.prune_fan_in:
        model = dd.prune_fan_in(model, dd.CAM_ENTRIES)
    try:
        deployment = dd.deploy(model, n_cores=args.n_cores)
    except ValueError as err:
        raise _UsageError(str(err).replace("`n_cores`", "--n-cores"), prog) from None
    deployment.config.save(out)
    print(dd.format_report(deployment.report))
    if task is not None:
        import jax

        from .train import evaluate

        objective = task.objective("dynapse")
        key = jax.random.key(args.seed)
        def accuracy(net):
            return 100 * evaluate(net, task.test, objective=objective, key=key)["accuracy"]

        pruned = f", {accuracy(model):.1f} % pruned to 64 inputs per neuron" if args.prune_fan_in else ""
        print(
            f"test accuracy on {args.task}: {accuracy(trained):.1f} % as trained{pruned}, "
            f"{accuracy(deployment.network()):.1f} % as configured (biases rounded to codes, weights quantised)"
        )
    if args.report is not None:
        Path(args.report).write_text(json.dumps(deployment.report, indent=1))
    print(f"wrote {out}" + (f" and {args.report}" if args.report else ""))
    return 0


def _version() -> str:
    # The package's own attribute, not importlib.metadata: an editable install keeps the
    # metadata of the day it was installed (here it said 0.1.0 for 0.2.0). Importing spikax
    # costs nothing more: this module is inside it.
    from . import __version__

    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="spikax",
        description="spikax: fast, differentiable spiking neural networks in JAX.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="simulate a DYNAP-SE2 neuron (or a LIF layer) under Poisson input; write figures, recordings, summary",
        description=(
            "--model dynapse (default): the DYNAP-SE tutorial case, one DYNAP-SE2 neuron behind a weight "
            "of --weight onto its AMPA synapse, driven by a --rate Hz Poisson train; writes the input and "
            "output rasters, Vmem with I_ampa on twin axes, Imem against the threshold with the spikes "
            "marked, the spike function with the surrogate derivative the model trains with, "
            "recordings.npz (imem, vmem, iampa, inmda, igaba, ishunt, iahp, spikes) and summary.json. "
            "--model lif: N_INPUTS Poisson trains through a random Linear layer into N_NEURONS "
            "current-based LIF neurons; writes rasters, membrane traces with thresholds, a heatmap, "
            "one neuron's membrane, recordings.npz and summary.json."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    seconds = dict(minimum=0.0, inclusive=False)
    demo.add_argument("--out", default="./spikax-out", help="output folder (created if missing)")
    demo.add_argument("--model", choices=["dynapse", "lif"], default="dynapse", help="which demo")
    # A negative weight would go to the GABA synapse, and inhibition alone cannot make the one,
    # otherwise undriven neuron fire: the demo is about excitation, so the weight is >= 0.
    demo.add_argument("--weight", type=_weight, default=0.1,
                      help=f"dynapse: weight onto the AMPA synapse (units of Iscale, 0 to {MAX_WEIGHT:g})")
    demo.add_argument("--n-inputs", type=_integer("input channels", minimum=1, maximum=MAX_VALUES), default=100,
                      help="lif: number of Poisson input channels")
    demo.add_argument("--n-neurons", type=_integer("neurons", minimum=1, maximum=MAX_VALUES), default=20,
                      help="lif: number of LIF neurons")
    demo.add_argument("--rate", type=_number("Hz", minimum=0.0, inclusive=True), default=20.0,
                      help="input rate per channel (Hz)")
    demo.add_argument("--duration", type=_number("seconds", **seconds), default=1.0, help="simulated time (s)")
    demo.add_argument("--dt", type=_number("seconds", **seconds), default=1e-3, help="time step (s)")
    demo.add_argument("--tau-mem", type=_number("seconds", **seconds), default=20e-3,
                      help="lif: membrane time constant (s)")
    demo.add_argument("--tau-syn", type=_number("seconds", **seconds), default=10e-3,
                      help="lif: synaptic time constant (s)")
    demo.add_argument("--v-threshold", type=_number("units of v", minimum=0.0, inclusive=False), default=1.0,
                      help="lif: firing threshold v_threshold")
    demo.add_argument("--weight-gain", type=_number("a factor", minimum=0.0, inclusive=True), default=0.3,
                      help="lif: multiplies the Kaiming-uniform weights")
    demo.add_argument("--noise-std", type=_number("units of v per sqrt(s)", minimum=0.0, inclusive=True), default=0.0,
                      help="lif: membrane noise (units of v per sqrt(s))")
    demo.add_argument("--seed", type=_integer("a seed", minimum=0, maximum=2**32 - 1), default=0,
                      help="seed of every random draw")
    demo.set_defaults(func=_demo)

    train = sub.add_parser(
        "train",
        help="train a network on a shipped task (Japanese Vowels, frozen noise, digits); resumable",
        description=(
            "Train --model lif (Linear -> LIF -> Linear -> LI readout) or --model dynapse (DynapseLinear -> "
            "recurrent DYNAP-SE2 neurons -> linear readout of their spike counts) on --task vowels (UEA "
            "Japanese Vowels, 9 speakers; needs pip install 'spikax[data]'), frozen-noise (Rockpool's "
            "DYNAP-SE2 tutorial: two frozen Poisson patterns, two chip neurons) or digits (scikit-learn's "
            "8x8 digits). Adam, mini-batches, evaluation on the test set after every epoch, a progress bar. "
            "With --mismatch P every training sample runs on a freshly drawn chip whose bias currents and "
            "weights deviate by P %% (one std). Writes to --out: checkpoint.spikax (after every epoch; "
            "--resume continues it), model.spikax (load with spikax.train.load_model), metrics.jsonl, "
            "curves.png (loss and accuracy), sample.png (rasters of one test sample), summary.json and, "
            "for --model dynapse, robustness.json/png: test accuracy over --chips drawn chips at 0, 5, 10, "
            "20 and 30 %% mismatch."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    train.add_argument("--task", choices=["vowels", "frozen-noise", "digits"], default="vowels", help="data set")
    train.add_argument("--model", choices=["lif", "dynapse"], default="dynapse", help="network")
    train.add_argument("--mismatch", type=_number("percent", minimum=0.0, inclusive=True, maximum=100.0),
                       default=0.0, help="train on a freshly drawn chip per sample with this mismatch (%%)")
    train.add_argument("--epochs", type=_integer("epochs", minimum=1, maximum=100_000), default=None,
                       help="passes over the training set (default: the task's)")
    train.add_argument("--batch-size", type=_integer("samples", minimum=1, maximum=100_000), default=None,
                       help="samples per step (default: the task's)")
    train.add_argument("--lr", type=_number("Adam learning rate", minimum=0.0, inclusive=False, maximum=1.0),
                       default=None, help="Adam learning rate (default: the task's)")
    train.add_argument("--n-hidden", type=_integer("neurons", minimum=1, maximum=100_000), default=None,
                       help="hidden neurons (default 128; frozen noise has none)")
    train.add_argument("--chips", type=_integer("chips", minimum=0, maximum=100_000), default=50,
                       help="drawn chips per mismatch level for the robustness curve (0: skip it)")
    train.add_argument("--seed", type=_integer("a seed", minimum=0, maximum=2**32 - 1), default=0,
                       help="seed of the model, the shuffling and every random draw")
    train.add_argument("--fan-in", type=_integer("incoming connections", minimum=1, maximum=64), default=None,
                       help="dynapse: keep each neuron's strongest N incoming connections from the start and "
                            "hold the rest at zero (64 = the chip's CAM entries; needed by spikax deploy)")
    train.add_argument("--out", default="./spikax-train", help="output folder (created if missing)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_devices(train)
    train.set_defaults(func=_train)

    deploy = sub.add_parser(
        "deploy",
        help="turn a trained chip network into a DYNAP-SE2 configuration (JSON), or check one",
        description=(
            "Read a trained chip network (model.spikax or checkpoint.spikax from spikax train --model dynapse "
            "--fan-in 64: DynapseLinear -> DynapSim or Recurrent(DynapSim) -> optional off-chip readout; a network "
            "trained without the fan-in limit needs --prune-fan-in), group its neurons "
            "into cores that share one bias set, round every bias current to its (coarse, fine) code, quantise "
            "the weights to four base currents per core and a 4-bit mask per connection, place the neurons and "
            "route their events (tags, CAM and SRAM entries) under the chip's limits, and write the "
            "configuration to --out. Prints a report: chips and cores used, largest fan-in and fan-out, weight "
            "and bias errors and, with --task, the test accuracy before and after. A network that does not fit "
            "is refused with the limit, the neuron or core and by how much. --check FILE validates an existing "
            "configuration (exit code 1 if it has problems, each one named)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    deploy.add_argument("checkpoint", nargs="?", metavar="CHECKPOINT",
                        help="model.spikax or checkpoint.spikax of a chip network")
    deploy.add_argument("--out", default="config.json", help="configuration file to write")
    deploy.add_argument("--n-cores", type=_integer("cores", minimum=1, maximum=16), default=None,
                        help="cores to use; none given: as few as fit, 256 neurons per core")
    deploy.add_argument("--prune-fan-in", action="store_true",
                        help="keep each neuron's 64 strongest incoming connections (the CAM limit) first")
    deploy.add_argument("--task", choices=["vowels", "frozen-noise", "digits"], default=None,
                        help="report the test accuracy of this task before and after deployment")
    deploy.add_argument("--report", default=None, help="also write the report as JSON to this file")
    deploy.add_argument("--check", default=None, metavar="FILE", help="validate this configuration file instead")
    deploy.add_argument("--seed", type=_integer("a seed", minimum=0, maximum=2**32 - 1), default=0,
                        help="seed of the evaluation's random draws")
    deploy.set_defaults(func=_deploy)

    from .interop.nir._convention import PRESETS

    nir_cmd = sub.add_parser(
        "nir",
        help="list an NIR graph's nodes, shapes and edges; with --input, run it",
        description=(
            "Read an NIR graph (.nir, from snnTorch, Norse, Sinabs, Rockpool, Spyx, spikax ...), print its nodes "
            "with their types and input/output shapes per step, and its edges. With --input X.npz, run it on the "
            "array in that file ((T, *input shape), or (B, T, ...) for a batch; time-major, one row per --dt "
            "step) and print the output's total per channel (spike counts) and its largest channel. --preset "
            "chooses how the continuous-time graph is stepped (see the README's NIR section)."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    nir_cmd.add_argument("file", metavar="FILE", help="the .nir graph")
    nir_cmd.add_argument("--dt", type=_number("seconds", minimum=0.0, inclusive=False, maximum=1.0), default=1e-3,
                         help="simulation step (s)")
    nir_cmd.add_argument("--preset", choices=sorted(PRESETS), default=None,
                         help="discrete-time convention (default: the file's if spikax wrote it, else nir)")
    nir_cmd.add_argument("--reset", choices=["to_v_reset", "subtract"], default=None,
                         help="override the preset's reset (NIR files cannot record a subtractive reset)")
    nir_cmd.add_argument("--input", default=None, metavar="X.npz", help="run the graph on this raster")
    nir_cmd.add_argument("--key", default=None, help="the array's name in --input (default: its only or first array)")
    nir_cmd.add_argument("--out", default=None, metavar="Y.npz", help="with --input: save the output sequence here")
    _add_devices(nir_cmd)
    nir_cmd.set_defaults(func=_nir)
    return parser


def _nir(args) -> int:
    import numpy as np

    from .interop.nir import from_nir, read_graph
    from .interop.nir._import import _flatten

    prog = "spikax nir"
    path = Path(args.file)
    if not path.is_file():
        raise _UsageError(f"FILE {path}: no such file", prog)
    try:
        graph = read_graph(path)
        model = from_nir(graph, dt=args.dt, preset=args.preset, **({"reset": args.reset} if args.reset else {}))
    except ImportError as err:
        raise _UsageError(str(err), prog) from None
    except ValueError as err:
        raise _UsageError(f"FILE {path}: {err}", prog) from None
    nodes, edges, _, _ = _flatten(graph)
    meta = {k: v for k, v in (graph.metadata or {}).items()}
    print(f"{path}: {len(nodes)} nodes, {len(edges)} edges" + (f"; metadata {meta}" if meta else ""))
    width = max(len(n) for n in nodes)
    for name in (n for stage in model.plan for n in stage):  # in the order they run
        node, layer = nodes[name], model.nodes[name]
        shape_in, shape_out = model.shape_of(name), model.shape_of(name, output=True)
        n_params = sum(int(np.size(a)) for a in jax_leaves(getattr(layer, "params", layer)))
        print(f"  {name:<{width}}  {type(node).__name__:<10} {str(shape_in):>16} -> {str(shape_out):<16} "
              f"{type(layer).__name__}" + (f", {n_params} parameters" if n_params else ""))
    cycles = [stage for stage in model.plan if len(stage) > 1 or (stage[0], stage[0]) in model.edges]
    print("edges: " + ", ".join(f"{a} -> {b}" for a, b in edges))
    for stage in cycles:
        print(f"cycle (stepped together; edges out of its neurons carry the previous step): {' -> '.join(stage)}")
    if args.input is None:
        if args.out:
            raise _UsageError("--out saves the output of a run: give --input too", prog)
        return 0
    xs = _load_input(args.input, args.key, prog)
    inputs = dict(model.inputs)
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise _UsageError(
            f"--input runs graphs with one input and one output node; this one has inputs {sorted(inputs)} "
            f"and outputs {list(model.outputs)} (use spikax.interop.nir.from_nir in Python)", prog)
    (in_shape,) = inputs.values()
    batched = xs.ndim == len(in_shape) + 2 and xs.shape[2:] == in_shape
    if xs.shape[1:] == in_shape:
        ys = np.asarray(model(xs)[0])
    elif batched:
        from .distributed import gather, vmap

        n_devices = args.devices or 1
        if xs.shape[0] % n_devices:
            raise _UsageError(
                f"--input {args.input}: a batch of {xs.shape[0]} does not divide over --devices {n_devices}", prog)
        ys = gather(vmap(lambda m, x: m(x)[0], in_axes=(None, 0), devices=n_devices)(model, xs))
    else:
        raise _UsageError(
            f"--input {args.input}: the array has shape {xs.shape}, but the graph takes "
            f"(T, {', '.join(map(str, in_shape))}) steps (or a batch (B, T, ...))", prog)
    # Totals over time (axis 0, or 1 for a batch), one per output channel.
    totals = ys.sum(axis=1 if batched else 0)
    totals = totals.reshape((totals.shape[0], -1) if batched else (-1,))
    np.set_printoptions(linewidth=120)
    print(f"ran {xs.shape[1 if batched else 0]} steps of {args.dt:g} s: output {ys.shape}")
    print(f"output total per channel: {totals if totals.ndim == 1 else totals.tolist()}")
    print(f"largest channel: {np.atleast_1d(np.argmax(totals, axis=-1)).tolist()}")
    if args.out:
        np.savez(args.out, outputs=ys)
        print(f"wrote {args.out}")
    return 0


def jax_leaves(layer):
    import equinox as eqx
    import jax

    return jax.tree.leaves(eqx.filter(layer, eqx.is_array))


def _load_input(path: str, key, prog: str):
    import zipfile

    import numpy as np

    if not Path(path).is_file():
        raise _UsageError(f"--input {path}: no such file", prog)
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise _UsageError(f"--input {path}: not an .npz/.npy array file ({err})", prog) from None
    if isinstance(data, np.ndarray):
        xs = data
    else:
        names = list(data.files)
        if not names:
            raise _UsageError(f"--input {path}: the file holds no arrays", prog)
        if key is not None and key not in names:
            raise _UsageError(f"--key {key}: not in {path} (it holds {names})", prog)
        xs = data[key if key is not None else names[0]]
    if not np.issubdtype(xs.dtype, np.number) or not np.all(np.isfinite(xs)):
        raise _UsageError(f"--input {path}: the array must hold finite numbers", prog)
    return xs.astype(np.float32)


def main(argv=None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        if getattr(args, "devices", None) is not None:
            from .distributed import cpu_devices

            try:
                cpu_devices(args.devices)
            except RuntimeError as err:
                raise _UsageError(f"--devices {args.devices}: {err}", f"spikax {args.command}") from None
        os.environ.setdefault("MPLBACKEND", "Agg")
        return args.func(args)
    except _UsageError as err:
        print(f"{err.prog}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError) as err:
        # Checked options should not get here; if the library still refuses (or a disk fills
        # up while writing), say so in one line rather than with a traceback.
        if isinstance(err, BrokenPipeError):
            # Output piped into `head` and closed early: not an error of ours.
            sys.stdout = open(os.devnull, "w")
            return 0
        print(f"spikax: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

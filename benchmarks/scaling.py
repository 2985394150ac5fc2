"""Scaling over CPU cores: 1 device against N XLA host devices in the same process.

Two parts (``--part dynapsim|ensemble|all``):

- ``dynapsim``: the DYNAP-SE2 benchmark of ``dynapsim.py`` (a DynapseLinear layer into 512
  DynapSim neurons, batch 16, 500 steps, about 13 Hz per neuron), forward and forward+backward
  (the gradient of the summed spikes w.r.t. the input weights), on one device and on all N:
  ``sx.distributed.vmap`` for the forward pass and ``sx.distributed.value_and_grad`` (each device
  differentiates its share, one all-reduce) for fwd+bwd. Also the plain ``jax.sharding`` way
  (the batch placed on N devices, ``jax.jit`` of the unchanged ``jax.vmap``), and Rockpool's
  ``DynapSim`` (one device: it does not shard) when ``rockpool`` is installed. Cases are timed
  in interleaved rounds (one call each per round), medians after compilation.
- ``ensemble``: ``sx.distributed.ensemble`` over ``--chips`` drawn chips (10 % mismatch of every
  bias current, capacitance and weight, ``spikax.train.ChipMismatch``) of a recurrent
  256-neuron chip network (``spikax.train.chip_network(32, 256)``) on a 200 ms frozen Poisson
  input; per chip the spike count of every neuron. Each device count runs in its own process so
  that its peak memory (``ru_maxrss``) is its own; prints chips per second and the chunk size.

    python benchmarks/scaling.py [--devices 2] [--part all] [--repeats 7] [--adjoint replay|recompute]
                                 [--chips 10000] [--chunk C]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings

from train_epoch import cpu_name  # the benchmarks' one CPU-name reader (this folder is on sys.path)

BATCH, STEPS, N = 16, 500, 512


def rounds(cases: dict, repeats: int) -> dict:
    """Median seconds per case, the cases called in turn in each of ``repeats`` rounds."""
    import jax

    for fn, args in cases.values():  # compile, and one warm call
        jax.block_until_ready(fn(*args))
    times = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (fn, args) in cases.items():
            t0 = time.perf_counter()
            jax.block_until_ready(fn(*args))
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def dynapsim_part(n_devices: int, repeats: int, adjoint: str = "replay") -> None:
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    import spikax as sx
    from spikax.devices import dynapse as dx

    xs = (jax.random.uniform(jax.random.key(0), (BATCH, STEPS, N)) < 0.05).astype(jnp.float32)
    layer = dx.DynapseLinear.create(N, N, key=jax.random.key(1), inhibitory="shunt")
    adjoints = {"replay": sx.ReplayAdjoint(), "recompute": sx.RecomputeAdjoint()}
    model = dx.DynapSim.create(N, adjoint=adjoints[adjoint])

    def spikes(layer, model, x):
        return model(layer(x)[0])[0]

    def total(layer, model, x):  # one sample's summed spikes, the benchmark's loss
        return jnp.sum(spikes(layer, model, x))

    cases = {}
    for d in sorted({1, n_devices}):
        fwd = sx.distributed.vmap(spikes, in_axes=(None, None, 0), devices=d)
        cases[f"spikax forward, {d} device{'s' * (d > 1)}"] = (fwd, (layer, model, xs))
        grad = sx.distributed.value_and_grad(total, in_axes=(None, 0), devices=d)
        cases[f"spikax fwd+bwd, {d} device{'s' * (d > 1)}"] = (grad, (layer, model, xs))
    if n_devices > 1:
        # The plain way: the batch placed over the devices, the single-device program unchanged.
        mesh = Mesh(np.asarray(jax.devices()[:n_devices]), ("batch",))
        xs_sharded = jax.device_put(xs, NamedSharding(mesh, PartitionSpec("batch")))
        layer_r, model_r = jax.device_put((layer, model), NamedSharding(mesh, PartitionSpec()))

        @eqx.filter_jit
        def plain(layer, model, xs):
            loss = lambda l: jnp.mean(jax.vmap(lambda x: jnp.sum(spikes(l, model, x)))(xs))
            return eqx.filter_value_and_grad(loss)(layer)

        cases[f"plain jax.sharding fwd+bwd, {n_devices} devices"] = (plain, (layer_r, model_r, xs_sharded))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from rockpool.devices.dynapse import DynapSim
            from rockpool.nn.combinators import Sequential
            from rockpool.nn.modules import LinearJax
        net = Sequential(LinearJax((N, N), has_bias=False), DynapSim(N))
        params = net.parameters()

        def rp_forward(params, xs):
            return net.set_attributes(params)(xs)[0]

        cases["Rockpool forward, 1 device"] = (jax.jit(rp_forward), (params, xs))
        cases["Rockpool fwd+bwd, 1 device"] = (
            jax.jit(jax.value_and_grad(lambda p, x: jnp.sum(rp_forward(p, x)))), (params, xs))
    except Exception as err:  # optional comparison
        print(f"(Rockpool not compared: {type(err).__name__}: {err})")
    rate = float(jnp.mean(cases["spikax forward, 1 device"][0](layer, model, xs))) / 1e-3
    med = rounds(cases, repeats)
    print(f"DynapSim ({adjoint} adjoint), batch {BATCH}, {STEPS} steps, {N} neurons ({rate:.1f} Hz mean rate); "
          f"medians of {repeats} interleaved rounds")
    for name, t in med.items():
        print(f"  {name:<40} {t:8.4f} s")
    for what in ("forward", "fwd+bwd"):
        one = med[f"spikax {what}, 1 device"]
        if n_devices > 1:
            many = med[f"spikax {what}, {n_devices} devices"]
            print(f"  spikax {what}: {n_devices} devices / 1 device: {one / many:.2f}x")
        rp = med.get(f"Rockpool {what}, 1 device")
        if rp is not None:
            best = med[f"spikax {what}, {n_devices} device{'s' * (n_devices > 1)}"]
            print(f"  spikax {what} on {n_devices} device{'s' * (n_devices > 1)} vs Rockpool: {rp / best:.2f}x faster"
                  f" (on 1 device: {rp / one:.2f}x)")
    if n_devices > 1:
        plain = med[f"plain jax.sharding fwd+bwd, {n_devices} devices"]
        print(f"  plain jax.sharding fwd+bwd: {med['spikax fwd+bwd, 1 device'] / plain:.2f}x over 1 device")


def ensemble_worker(n_devices: int, n_chips: int, chunk) -> dict:
    """One process: the ensemble on ``n_devices`` devices; returns its figures."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    import spikax as sx

    net = sx.train.chip_network(32, 256, key=jax.random.key(0))
    xs = jnp.asarray(np.random.default_rng(0).random((200, 32)) < 0.02, jnp.float32)  # 20 Hz, 200 ms
    perturb = sx.train.ChipMismatch(10.0)

    def counts(key, net, perturb, xs):
        chip = perturb(net, key=key)
        return jnp.sum(chip(xs)[0], axis=0)

    t0 = time.perf_counter()
    r = sx.distributed.ensemble(counts, n_chips, net, perturb, xs, key=jax.random.key(1), devices=n_devices,
                                chunk_size=chunk)
    elapsed = time.perf_counter() - t0
    # A second, shorter pass of the same program gives the rate without compilation.
    t1 = time.perf_counter()
    sx.distributed.ensemble(counts, min(n_chips, 2048), net, perturb, xs, key=jax.random.key(2),
                            devices=n_devices, chunk_size=chunk, progress=False)
    steady = min(n_chips, 2048) / (time.perf_counter() - t1)
    size = sx.distributed.ensemble_chunk_size(counts, n_chips, net, perturb, xs, key=jax.random.key(1),
                                              devices=n_devices) if chunk is None else chunk
    rates = r / 0.2
    return {
        "devices": n_devices, "chips": n_chips, "seconds": elapsed, "chips_per_s": n_chips / elapsed,
        "steady_chips_per_s": steady, "chunk": size,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "mean_rate_hz": float(rates.mean()), "chip_rate_std_hz": float(rates.mean(1).std()),
        "first_chip_counts": r[0, :5].tolist(),
    }


def ensemble_part(n_devices: int, n_chips: int, chunk) -> None:
    print(f"ensemble: {n_chips} chips of chip_network(32, 256), 200 steps, 10 % mismatch")
    results = []
    for d in sorted({1, n_devices}):
        env = dict(os.environ)
        env.pop("SPIKAX_CPU_DEVICES", None)
        cmd = [sys.executable, __file__, "--ensemble-worker", str(d), "--chips", str(n_chips),
               "--devices", str(n_devices)]
        if chunk is not None:
            cmd += ["--chunk", str(chunk)]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(res)
        print(f"  {d} device{'s' * (d > 1)}: {res['seconds']:.1f} s in all, {res['chips_per_s']:.0f} chips/s "
              f"({res['steady_chips_per_s']:.0f} chips/s without compilation), chunk {res['chunk']} chips, "
              f"peak memory {res['peak_rss_mib']:.0f} MiB; mean rate {res['mean_rate_hz']:.1f} Hz, "
              f"std of the chips' mean rates {res['chip_rate_std_hz']:.2f} Hz")
    if len(results) == 2:
        assert results[0]["first_chip_counts"] == results[1]["first_chip_counts"], "chips differ between devices"
        gain = results[1]["steady_chips_per_s"] / results[0]["steady_chips_per_s"]
        print(f"  {n_devices} devices / 1 device: {gain:.2f}x (steady); the same chips on both")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=None, help="host devices (default: one per core)")
    parser.add_argument("--part", choices=["dynapsim", "ensemble", "all"], default="all")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--adjoint", choices=["replay", "recompute"], default="replay",
                        help="DynapSim's adjoint (replay is the default of the model)")
    parser.add_argument("--chips", type=int, default=10_000)
    parser.add_argument("--chunk", type=int, default=None, help="chips per chunk (default: sized to the memory)")
    parser.add_argument("--ensemble-worker", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import spikax as sx

    n = sx.distributed.cpu_devices(args.devices)
    if args.ensemble_worker is not None:
        print(json.dumps(ensemble_worker(args.ensemble_worker, args.chips, args.chunk)))
        return
    import jax

    print(f"{cpu_name()}, {sx.distributed.default_cpu_devices()} cores; jax {jax.__version__}; {n} host devices")
    if args.part in ("dynapsim", "all"):
        dynapsim_part(n, args.repeats, args.adjoint)
    if args.part in ("ensemble", "all"):
        ensemble_part(n, args.chips, args.chunk)


if __name__ == "__main__":
    main()

"""Open Neuromorphic SNN benchmark: one Linear layer, then one LIF layer.

Input batch 16, 500 time steps, n inputs and n neurons. For each n this prints, as medians over
repeats after compilation:

- ``forward``: the spikes of the whole batch;
- ``fwd+bwd``: the gradient of the summed output spikes w.r.t. the Linear weights;
- ``matmul``: the baseline, the same Linear layer's forward and backward alone (y = x W and
  dW = x^T g with a dense cotangent g, so neither product can be simplified away);

and the ratios fwd+bwd / matmul and forward / (forward product alone), the compile time and the
XLA buffer memory (arguments + outputs + temporaries) of each compiled function.

    python benchmarks/lif_layer.py                 # n = 512 and 4096
    python benchmarks/lif_layer.py --sizes 512 --repeats 20
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp

import spikax as sx

BATCH, STEPS = 16, 500


def _compile(fn, *args):
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    seconds = time.perf_counter() - t0
    mem = compiled.memory_analysis()
    nbytes = None
    if mem is not None:
        nbytes = mem.argument_size_in_bytes + mem.output_size_in_bytes + mem.temp_size_in_bytes - mem.alias_size_in_bytes
    return compiled, seconds, nbytes


def _median_time(compiled, args, repeats):
    jax.block_until_ready(compiled(*args))  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def build(n: int, key):
    kx, kw = jax.random.split(key)
    xs = (jax.random.uniform(kx, (BATCH, STEPS, n)) < 0.05).astype(jnp.float32)
    linear = sx.Linear(n, n, use_bias=False, key=kw)
    # A time constant of 5 ms and the input scaled up give a few percent of spiking, as in the
    # original benchmark's setting (the speed does not depend on the activity).
    lif = sx.LIF(n, tau_mem=5e-3, tau_syn=5e-3)
    return xs, linear.weight * 4.0, lif


def snn_forward(w, xs, lif):
    def one(x):
        return lif(x @ w)[0]

    return jax.vmap(one)(xs)


def snn_loss(w, xs, lif):
    return jnp.sum(snn_forward(w, xs, lif))


def snn_grad(w, xs, lif):
    return jax.grad(snn_loss)(w, xs, lif)


def matmul_forward(w, xs):
    return xs @ w


def matmul_fwd_bwd(w, xs, g):
    y, vjp = jax.vjp(lambda w_: xs @ w_, w)
    (dw,) = vjp(g)
    return jnp.sum(y), dw


def run(n: int, repeats: int) -> dict:
    xs, w, lif = build(n, jax.random.key(0))
    g = jax.random.normal(jax.random.key(1), (BATCH, STEPS, n))
    rows = {}
    for name, fn, args in (
        ("forward", snn_forward, (w, xs, lif)),
        ("fwd+bwd", snn_grad, (w, xs, lif)),
        ("matmul fwd", matmul_forward, (w, xs)),
        ("matmul fwd+bwd", matmul_fwd_bwd, (w, xs, g)),
    ):
        compiled, compile_s, nbytes = _compile(fn, *args)
        rows[name] = dict(time=_median_time(compiled, args, repeats), compile=compile_s, bytes=nbytes)
    rate = float(jnp.mean(snn_forward(w, xs, lif)) / lif.dt)
    rows["rate_hz"] = rate
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument("--repeats", type=int, default=None, help="timed runs per function (default 20 for n<=1024, else 5)")
    args = parser.parse_args(argv)
    print(f"jax {jax.__version__} on {jax.devices()[0].platform}, batch {BATCH}, {STEPS} steps")
    header = f"{'n':>5} {'case':<15} {'median ms':>10} {'compile s':>10} {'XLA MiB':>9} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for n in args.sizes:
        repeats = args.repeats or (20 if n <= 1024 else 5)
        rows = run(n, repeats)
        base = {"forward": rows["matmul fwd"]["time"], "fwd+bwd": rows["matmul fwd+bwd"]["time"]}
        for name in ("forward", "fwd+bwd", "matmul fwd", "matmul fwd+bwd"):
            r = rows[name]
            ratio = f"{r['time'] / base[name]:.2f}x" if name in base else ""
            mib = f"{r['bytes'] / 2**20:.0f}" if r["bytes"] is not None else "?"
            print(f"{n:>5} {name:<15} {r['time'] * 1e3:>10.1f} {r['compile']:>10.2f} {mib:>9} {ratio:>7}")
        print(f"{n:>5} mean output rate {rows['rate_hz']:.1f} Hz")


if __name__ == "__main__":
    main()

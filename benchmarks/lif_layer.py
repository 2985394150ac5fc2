"""Open Neuromorphic SNN benchmark: one Linear layer, then one LIF layer.

Input batch 16, 500 time steps, n inputs and n neurons (batch-first, as spikax takes batches:
``jax.vmap`` over the unbatched model). For each n, medians over interleaved repeats after
compilation of

- ``forward``: the output spikes of the whole batch;
- ``fwd+bwd``: the gradient of the summed output spikes w.r.t. the Linear weights;
- ``fwd+bwd (T,B,n)``: the same with the input stored time-major, ``jax.vmap(..., in_axes=1)``;
- ``matmul fwd`` / ``matmul fwd+bwd``: the baseline, the same Linear layer alone: ``y = x W``,
  and ``y = x W`` with ``dW = x^T g`` for a dense random cotangent ``g`` (so neither matrix
  product can be simplified away);

with the ratios forward / matmul fwd and fwd+bwd / matmul fwd+bwd, the compile time and the
XLA buffer memory (arguments + outputs + temporaries) of each compiled function.

Every run is repeated under two settings of glibc's allocator, each in its own process:

- ``default``: glibc as configured; XLA's large per-call temporaries are ``mmap``-ed and
  returned to the OS after every call, so each call page-faults them in again;
- ``retain``: ``mallopt`` keeps freed memory in the process (``M_MMAP_THRESHOLD`` 1 GiB,
  ``M_TRIM_THRESHOLD`` 2 GiB), the same as running with
  ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647``.

    python benchmarks/lif_layer.py                       # n = 512 and 4096, both allocators
    python benchmarks/lif_layer.py --sizes 512 --repeats 30 --allocator retain
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import sys
import time

BATCH, STEPS = 16, 500


def retain_freed_memory() -> bool:
    """Ask glibc to keep freed memory (see the module docstring); False where unavailable."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def run(n: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    import spikax as sx

    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    xs = (jax.random.uniform(kx, (BATCH, STEPS, n)) < 0.05).astype(jnp.float32)
    w = sx.Linear.create(n, n, use_bias=False, key=kw).weight
    # Defaults of spikax.LIF except faster time constants; the activity does not change the
    # speed (every neuron runs every step), it is printed for the record.
    lif = sx.LIF.create(n, tau_mem=5e-3, tau_syn=5e-3)
    g = jax.random.normal(kg, (BATCH, STEPS, n))

    def snn_forward(w, xs, lif):
        return jax.vmap(lambda x: lif(x @ w)[0])(xs)

    def snn_grad(w, xs, lif):
        return jax.grad(lambda w: jnp.sum(snn_forward(w, xs, lif)))(w)

    # The same network on time-major data (T, B, n), the PyTorch libraries' layout: vmap over
    # axis 1 lets the time loop slice the batch in place, without transposing to time-major.
    def snn_grad_time_major(w, xs_t, lif):
        def loss(w):
            return jnp.sum(jax.vmap(lambda x: lif(x)[0], in_axes=1, out_axes=1)(xs_t @ w))

        return jax.grad(loss)(w)

    def matmul_forward(w, xs):
        return xs @ w

    def matmul_fwd_bwd(w, xs, g):
        y, vjp = jax.vjp(lambda w_: xs @ w_, w)
        return jnp.sum(y), vjp(g)[0]

    cases = {
        "forward": (snn_forward, (w, xs, lif)),
        "fwd+bwd": (snn_grad, (w, xs, lif)),
        "fwd+bwd (T,B,n)": (snn_grad_time_major, (w, jnp.swapaxes(xs, 0, 1), lif)),
        "matmul fwd": (matmul_forward, (w, xs)),
        "matmul fwd+bwd": (matmul_fwd_bwd, (w, xs, g)),
    }
    rows, compiled = {}, {}
    for name, (fn, args) in cases.items():
        t0 = time.perf_counter()
        c = jax.jit(fn).lower(*args).compile()
        compile_s = time.perf_counter() - t0
        mem = c.memory_analysis()
        nbytes = None
        if mem is not None:
            nbytes = (
                mem.argument_size_in_bytes + mem.output_size_in_bytes
                + mem.temp_size_in_bytes - mem.alias_size_in_bytes
            )
        jax.block_until_ready(c(*args))  # warm-up
        compiled[name] = (c, args)
        rows[name] = dict(compile=compile_s, bytes=nbytes, times=[])
    # Interleave the cases so that slow drifts of the machine hit them all alike.
    for _ in range(repeats):
        for name, (c, args) in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(*args))
            rows[name]["times"].append(time.perf_counter() - t0)
    for r in rows.values():
        r["time"] = statistics.median(r.pop("times"))
    rows["rate_hz"] = float(jnp.mean(snn_forward(w, xs, lif)) / lif.dt)
    return rows


def report(n: int, rows: dict, allocator: str) -> None:
    fb = rows["matmul fwd+bwd"]["time"]
    base = {"forward": rows["matmul fwd"]["time"], "fwd+bwd": fb, "fwd+bwd (T,B,n)": fb}
    for name in ("forward", "fwd+bwd", "fwd+bwd (T,B,n)", "matmul fwd", "matmul fwd+bwd"):
        r = rows[name]
        ratio = f"{r['time'] / base[name]:.2f}x" if name in base else ""
        mib = f"{r['bytes'] / 2**20:.0f}" if r["bytes"] is not None else "?"
        print(f"{allocator:<8} {n:>5} {name:<16} {r['time'] * 1e3:>10.1f} {r['compile']:>10.2f} {mib:>9} {ratio:>7}")
    print(f"{allocator:<8} {n:>5} mean output rate {rows['rate_hz']:.1f} Hz per neuron")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per case (default 25 for n <= 1024, else 5)"
    )
    parser.add_argument("--allocator", choices=["both", "default", "retain"], default="both")
    args = parser.parse_args(argv)

    if args.allocator == "both":
        header = f"{'alloc':<8} {'n':>5} {'case':<16} {'median ms':>10} {'compile s':>10} {'XLA MiB':>9} {'ratio':>7}"
        print(header)
        print("-" * len(header), flush=True)
        for mode in ("default", "retain"):
            cmd = [sys.executable, __file__, "--allocator", mode, "--sizes", *map(str, args.sizes)]
            if args.repeats:
                cmd += ["--repeats", str(args.repeats)]
            subprocess.run(cmd, check=True)
        return

    if args.allocator == "retain" and not retain_freed_memory():
        print("retain: mallopt unavailable (not glibc?)", file=sys.stderr)
        return
    import jax

    platform = jax.devices()[0].platform
    print(f"{args.allocator:<8} jax {jax.__version__} on {platform}, batch {BATCH}, {STEPS} steps", flush=True)
    for n in args.sizes:
        repeats = args.repeats or (25 if n <= 1024 else 5)
        report(n, run(n, repeats), args.allocator)
        sys.stdout.flush()


if __name__ == "__main__":
    main()

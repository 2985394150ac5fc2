"""Open Neuromorphic SNN benchmark: one Linear layer, then one LIF layer.

Input batch 16, 500 time steps, n inputs and n neurons (batch-first, as spikax takes batches:
``jax.vmap`` over the unbatched model). Two neuron configurations:

- ``LIF``: ``sx.LIF`` as created by default (a synaptic current and a membrane, Rockpool's
  ``LIFJax``), time constants 5 ms;
- ``membrane``: the membrane-only LIF, ``sx.LIF.create(n, tau_syn=None)`` (the neuron of
  Spyx's ``LIF`` and snnTorch's ``Leaky``), 5 ms.

For each n, medians over interleaved repeats after compilation of

- ``forward``: the output spikes of the whole batch;
- ``fwd+bwd``: the gradient of the summed output spikes w.r.t. the Linear weights;
- ``fwd+bwd (T,B,n)``: the LIF with the input stored time-major, ``jax.vmap(..., in_axes=1)``;
- ``spyx ...``: when ``spyx`` is installed, Spyx's ``LIF`` (membrane) and ``CuBaLIF`` (LIF)
  on the same data and weights, through ``spyx.nn.run(..., batch_major=True)``, with
  ``beta``/``alpha`` = e^{-dt/tau};
- ``matmul fwd`` / ``matmul fwd+bwd``: the baseline, the same Linear layer alone: ``y = x W``,
  and ``y = x W`` with ``dW = x^T g`` for a dense random cotangent ``g`` (so neither matrix
  product can be simplified away);

with the ratios forward / matmul fwd and fwd+bwd / matmul fwd+bwd, the time of the first call
(trace, compile and run) less a steady call (``1st - s``, s), and the XLA buffer memory
(arguments + outputs + temporaries) of each compiled function.

Every run is repeated under two settings of glibc's allocator, each in its own process:

- ``default``: glibc as configured; XLA's large per-call temporaries are ``mmap``-ed and
  returned to the OS after every call, so each call page-faults them in again;
- ``retain``: ``mallopt`` keeps freed memory in the process (``M_MMAP_THRESHOLD`` 1 GiB,
  ``M_TRIM_THRESHOLD`` 2 GiB), the same as running with
  ``MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=2147483647``.

    python benchmarks/lif_layer.py                       # n = 512 and 4096, both allocators
    python benchmarks/lif_layer.py --sizes 512 --repeats 30 --allocator default
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import subprocess
import sys
import time

import numpy as np
from train_epoch import cpu_name  # the benchmarks' one CPU-name reader (this folder is on sys.path)

BATCH, STEPS = 16, 500
MEMBRANE_THRESHOLD = 0.2


def vector_isa() -> str:
    """The widest x86 vector extension the CPU reports (XLA's code differs between them)."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "ISA unknown"
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"


def retain_freed_memory() -> bool:
    """Ask glibc to keep freed memory (see the module docstring); False where unavailable."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30)) and bool(libc.mallopt(m_trim_threshold, 2**31 - 1))


def spyx_cases(n, xs, w, dt, tau):
    """Spyx's membrane-only ``LIF`` and two-state ``CuBaLIF`` on the same data ({} without spyx)."""
    try:
        import spyx
        from flax import nnx
    except ImportError:
        return {}
    import jax
    import jax.numpy as jnp

    decay = float(np.exp(-dt / tau))
    cases = {}
    for label, make in (
        ("membrane", lambda: spyx.nn.LIF((n,), beta=decay, threshold=MEMBRANE_THRESHOLD, rngs=nnx.Rngs(0))),
        ("LIF", lambda: spyx.nn.CuBaLIF((n,), alpha=decay, beta=decay, threshold=1.0, rngs=nnx.Rngs(0))),
    ):
        graph, state = nnx.split(make())

        def forward(w, xs, state, graph=graph):
            return spyx.nn.run(nnx.merge(graph, state), xs @ w, batch_major=True)[0]

        def fwd_bwd(w, xs, state, forward=forward):
            return jax.grad(lambda w: jnp.sum(forward(w, xs, state)))(w)

        cases[f"spyx {label} forward"] = (forward, (w, xs, state))
        cases[f"spyx {label} fwd+bwd"] = (fwd_bwd, (w, xs, state))
    return cases


def run(n: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    import spikax as sx

    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    xs = (jax.random.uniform(kx, (BATCH, STEPS, n)) < 0.05).astype(jnp.float32)
    w = sx.Linear.create(n, n, use_bias=False, key=kw).weight
    # Defaults of spikax.LIF except faster time constants; the activity does not change the
    # speed (every neuron runs every step), it is printed for the record.
    tau = 5e-3
    models = {
        "LIF": sx.LIF.create(n, tau_mem=tau, tau_syn=tau),
        # Without the synaptic filter's gain the same input drives the membrane less: a lower
        # threshold keeps the two configurations' rates alike (Spyx's neurons get the same).
        "membrane": sx.LIF.create(n, tau_mem=tau, tau_syn=None, v_threshold=MEMBRANE_THRESHOLD),
    }
    g = jax.random.normal(kg, (BATCH, STEPS, n))

    def snn_forward(w, xs, lif):
        return jax.vmap(lambda x: lif(x @ w)[0])(xs)

    def snn_grad(w, xs, lif):
        return jax.grad(lambda w: jnp.sum(snn_forward(w, xs, lif)))(w)

    # The same network on time-major data (T, B, n), the PyTorch libraries' layout.
    def snn_grad_time_major(w, xs_t, lif):
        def loss(w):
            return jnp.sum(jax.vmap(lambda x: lif(x)[0], in_axes=1, out_axes=1)(xs_t @ w))

        return jax.grad(loss)(w)

    def matmul_forward(w, xs):
        return xs @ w

    def matmul_fwd_bwd(w, xs, g):
        y, vjp = jax.vjp(lambda w_: xs @ w_, w)
        return jnp.sum(y), vjp(g)[0]

    cases = {}
    for label, lif in models.items():
        cases[f"{label} forward"] = (snn_forward, (w, xs, lif))
        cases[f"{label} fwd+bwd"] = (snn_grad, (w, xs, lif))
    cases["LIF fwd+bwd (T,B,n)"] = (snn_grad_time_major, (w, jnp.swapaxes(xs, 0, 1), models["LIF"]))
    cases.update(spyx_cases(n, xs, w, models["LIF"].dt, tau))
    cases["matmul fwd"] = (matmul_forward, (w, xs))
    cases["matmul fwd+bwd"] = (matmul_fwd_bwd, (w, xs, g))
    rows, compiled = {}, {}
    for name, (fn, args) in cases.items():
        t0 = time.perf_counter()
        jax.block_until_ready(jax.jit(fn)(*args))  # the first call: trace, compile, run
        first_s = time.perf_counter() - t0
        c = jax.jit(fn).lower(*args).compile()  # from the cache the first call filled
        mem = c.memory_analysis()
        nbytes = None
        if mem is not None:
            nbytes = (
                mem.argument_size_in_bytes + mem.output_size_in_bytes
                + mem.temp_size_in_bytes - mem.alias_size_in_bytes
            )
        jax.block_until_ready(c(*args))  # warm-up
        compiled[name] = (c, args)
        rows[name] = dict(first=first_s, bytes=nbytes, times=[])
    # Interleave the cases so that slow drifts of the machine hit them all alike.
    for _ in range(repeats):
        for name, (c, args) in compiled.items():
            t0 = time.perf_counter()
            jax.block_until_ready(c(*args))
            rows[name]["times"].append(time.perf_counter() - t0)
    for r in rows.values():
        r["time"] = statistics.median(r.pop("times"))
        r["first"] -= r["time"]
    rows["rate_hz"] = {label: float(jnp.mean(snn_forward(w, xs, m)) / m.dt) for label, m in models.items()}
    return rows


def report(n: int, rows: dict, allocator: str) -> None:
    fwd, fb = rows["matmul fwd"]["time"], rows["matmul fwd+bwd"]["time"]
    for name, r in rows.items():
        if name == "rate_hz":
            continue
        base = None if name.startswith("matmul") else fwd if name.endswith("forward") else fb
        ratio = f"{r['time'] / base:.2f}x" if base else ""
        mib = f"{r['bytes'] / 2**20:.0f}" if r["bytes"] is not None else "?"
        print(
            f"{allocator:<8} {n:>5} {name:<22} {r['time'] * 1e3:>10.1f} {r['first']:>9.2f} {mib:>8} {ratio:>7}"
        )
    rates = ", ".join(f"{k} {v:.1f} Hz" for k, v in rows["rate_hz"].items())
    print(f"{allocator:<8} {n:>5} mean output rate per neuron: {rates}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 4096])
    parser.add_argument(
        "--repeats", type=int, default=None, help="timed runs per case (default 25 for n <= 1024, else 5)"
    )
    parser.add_argument("--allocator", choices=["both", "default", "retain"], default="both")
    args = parser.parse_args(argv)

    if args.allocator == "both":
        header = (
            f"{'alloc':<8} {'n':>5} {'case':<22} {'median ms':>10} {'1st - s':>9} {'XLA MiB':>8} {'ratio':>7}"
        )
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
    print(
        f"{args.allocator:<8} jax {jax.__version__} on {platform} ({cpu_name()}, {vector_isa()}), "
        f"batch {BATCH}, {STEPS} steps",
        flush=True,
    )
    for n in args.sizes:
        repeats = args.repeats or (25 if n <= 1024 else 5)
        report(n, run(n, repeats), args.allocator)
        sys.stdout.flush()


if __name__ == "__main__":
    main()

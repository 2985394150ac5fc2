"""DYNAP-SE2 simulation speed: a Linear layer into 512 DynapSim neurons, batch 16, 500 steps.

For spikax (and for Rockpool's ``DynapSim``, jit-compiled, in the same process, when
``rockpool`` is installed) this prints medians after compilation of

- ``forward``: the output spikes of the batch;
- ``fwd+bwd``: the gradient of the summed output spikes w.r.t. the input weights;

plus the Linear layer's own forward+backward (``y = xW``, ``dW = x^T g``) as the matrix-product
baseline, and the ratios. spikax integrates four DPI synapses, the AHP and the DPI membrane with
Heun's method in z = Imem + Igain ln(Imem/Io) and locates each threshold crossing inside the
step; Rockpool integrates one combined synapse and the membrane with forward Euler.

    python benchmarks/dynapsim.py [--repeats 5] [--method heun|rk4|euler] [--adjoint replay|recompute|direct]
                                  [--allocator default|retain]
"""

from __future__ import annotations

import argparse
import ctypes
import statistics
import time
import warnings

BATCH, STEPS, N = 16, 500, 512


def retain_freed_memory() -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(-3, 1 << 30)) and bool(libc.mallopt(-1, 2**31 - 1))


def timed(fn, args, repeats):
    import jax

    t0 = time.perf_counter()
    jax.block_until_ready(fn(*args))
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), first


def spikax_cases(xs, method, adjoint="replay"):
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    import spikax as sx
    from spikax.devices import dynapse as dx

    adjoints = {"replay": sx.ReplayAdjoint(), "recompute": sx.RecomputeAdjoint(), "direct": sx.DirectAdjoint()}
    # Excitation onto AMPA, inhibition onto SHUNT: about 15 Hz per neuron, 93 % of them active.
    layer = dx.DynapseLinear.create(N, N, key=jax.random.key(1), inhibitory="shunt")
    model = dx.DynapSim.create(N, method=method, adjoint=adjoints[adjoint])

    def forward(layer, model, xs):
        return jax.vmap(lambda x: model(layer(x)[0])[0])(xs)

    def fwd_bwd(layer, model, xs):
        return eqx.filter_grad(lambda l: jnp.sum(forward(l, model, xs)))(layer)

    return {
        "forward": (eqx.filter_jit(forward), (layer, model, xs)),
        "fwd+bwd": (eqx.filter_jit(fwd_bwd), (layer, model, xs)),
    }, lambda: float(jnp.mean(forward(layer, model, xs))) / 1e-3


def rockpool_cases(xs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from rockpool.devices.dynapse import DynapSim
            from rockpool.nn.combinators import Sequential
            from rockpool.nn.modules import LinearJax
    except Exception as err:  # pragma: no cover - optional comparison
        return None, f"rockpool not available ({type(err).__name__}: {err})"
    import jax
    import jax.numpy as jnp

    net = Sequential(LinearJax((N, N), has_bias=False), DynapSim(N))
    params = net.parameters()

    def forward(params, xs):
        out, _, _ = net.set_attributes(params)(xs)
        return out

    def fwd_bwd(params, xs):
        return jax.grad(lambda p: jnp.sum(forward(p, xs)))(params)

    return {
        "forward": (jax.jit(forward), (params, xs)),
        "fwd+bwd": (jax.jit(fwd_bwd), (params, xs)),
    }, None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--method", default="heun", choices=["heun", "rk4", "euler"])
    parser.add_argument("--allocator", default="default", choices=["default", "retain"])
    parser.add_argument("--adjoint", default="replay", choices=["replay", "recompute", "direct"])
    args = parser.parse_args(argv)
    if args.allocator == "retain":
        retain_freed_memory()
    import jax
    import jax.numpy as jnp

    xs = (jax.random.uniform(jax.random.key(0), (BATCH, STEPS, N)) < 0.05).astype(jnp.float32)
    w = jax.random.normal(jax.random.key(2), (N, N)) * 0.05
    g = jax.random.normal(jax.random.key(3), (BATCH, STEPS, N))

    def matmul_fwd_bwd(w, xs, g):
        y, vjp = jax.vjp(lambda w_: xs @ w_, w)
        return jnp.sum(y), vjp(g)[0]

    base, _ = timed(jax.jit(matmul_fwd_bwd), (w, xs, g), args.repeats)
    print(f"jax {jax.__version__}, batch {BATCH}, {STEPS} steps, {N} neurons, allocator {args.allocator}")
    print(f"{'simulator':<28} {'case':<8} {'median s':>9} {'1st call s':>10} {'x matmul':>9}")
    print(f"{'Linear alone (baseline)':<28} {'fwd+bwd':<8} {base:>9.4f}")
    results = {}
    cases, rate = spikax_cases(xs, args.method, args.adjoint)
    for name, (fn, fargs) in cases.items():
        med, first = timed(fn, fargs, args.repeats)
        results[("spikax", name)] = med
        print(f"{'spikax DynapSim (' + args.method + ')':<28} {name:<8} {med:>9.4f} {first:>10.2f} {med / base:>9.1f}")
    print(f"{'':<28} mean output rate {rate():.1f} Hz")
    rcases, why = rockpool_cases(xs)
    if rcases is None:
        print(why)
        return
    for name, (fn, fargs) in rcases.items():
        med, first = timed(fn, fargs, args.repeats)
        results[("rockpool", name)] = med
        print(f"{'Rockpool DynapSim (Euler)':<28} {name:<8} {med:>9.4f} {first:>10.2f} {med / base:>9.1f}")
    for name in ("forward", "fwd+bwd"):
        speedup = results[("rockpool", name)] / results[("spikax", name)]
        print(f"spikax / Rockpool {name}: {speedup:.2f}x faster" if speedup >= 1 else
              f"spikax / Rockpool {name}: {1 / speedup:.2f}x slower")


if __name__ == "__main__":
    main()

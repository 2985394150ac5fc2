"""4-bit weight quantisation for DYNAP-SE2: spikax against Rockpool's autoencoder and uniform grids.

The same signed weight matrices (input 16 x 64 and recurrent 64 x 64, in units of
Iscale = 10 nA, so a weight of 1 is a 10 nA weight current) go through

- ``spikax.devices.dynapse.deploy.quantize_weights`` (magnitudes; the sign is the dendrite),
- the best uniform 4-bit grid per core, ideal (any step) and realisable (bases rounded to codes),
- Rockpool 3.1's ``autoencoder_quantization`` with its defaults, where Rockpool is installed
  (its random initialisation is seeded, so its figures repeat),

on Gaussian, heavy-tailed (Student t, 2 and 3 degrees of freedom) and sparse (90 % zeros)
weights, over 1, 2 and 4 cores. It prints the relative error ||W_q - W|| / ||W|| over both
matrices, the ratio of spikax's to Rockpool's, and the time per call.

    python benchmarks/quantize.py [--seeds 3]
"""

from __future__ import annotations

import argparse
import logging
import platform
import time

import numpy as np

from spikax.devices.dynapse import deploy as dd

ISCALE = 1e-8


def matrices(kind: str, seed: int):
    rng = np.random.default_rng(seed)
    shapes = ((16, 64), (64, 64))
    if kind == "gaussian":
        return [rng.normal(size=s) for s in shapes]
    if kind.startswith("t"):
        return [rng.standard_t(int(kind[1:]), size=s) for s in shapes]
    if kind == "sparse":
        return [rng.normal(size=s) * (rng.random(s) < 0.1) for s in shapes]
    raise ValueError(kind)


def rel_error(ws, qs) -> float:
    return float(np.sqrt(sum(np.sum((q - w) ** 2) for w, q in zip(ws, qs)) / sum(np.sum(w**2) for w in ws)))


def spikax_quantize(ws, cores):
    q = dd.quantize_weights([np.abs(w) * ISCALE for w in ws], cores)
    return [np.sign(w) * qq / ISCALE for w, qq in zip(ws, q.quantized)]


def uniform(ws, cores, realisable: bool) -> float:
    # Per core: the grid's squared error, summed; relative to the whole matrices' norm.
    total = sum(np.sum(w**2) for w in ws)
    sq = 0.0
    for c in np.unique(cores):
        flat = np.concatenate([np.abs(w[:, cores == c]).ravel() for w in ws]) * ISCALE
        sq += (dd.uniform_grid_error(flat, realisable=realisable) * np.linalg.norm(flat) / ISCALE) ** 2
    return float(np.sqrt(sq / total))


def rockpool_quantize(ws, cores):
    """Rockpool's quantiser, or None where Rockpool is not installed."""
    logging.getLogger().setLevel(logging.ERROR)  # Rockpool warns that the vendor SDK is absent
    try:
        from rockpool.devices.dynapse.quantization import autoencoder_quantization
    except ImportError:
        return None
    state = np.random.get_state()
    np.random.seed(0)  # Rockpool draws its initial weights from numpy's global generator
    try:
        spec = autoencoder_quantization(n_cluster=int(cores.max()) + 1, core_map=cores, weights_in=ws[0],
                                        weights_rec=ws[1], Iscale=ISCALE, n_bits=4)
    finally:
        np.random.set_state(state)
    out = []
    for which in ("in", "rec"):
        total = 0.0
        for c in range(len(spec[f"weights_{which}"])):
            base = np.array([spec[f"Iw_{k}"][c] for k in range(4)], dtype=np.float64) / ISCALE
            masks = np.asarray(spec[f"weights_{which}"][c]).astype(np.int64)
            bits = (masks[..., None] >> np.arange(4)) & 1
            total = total + np.asarray(spec[f"sign_{which}"][c], dtype=np.float64) * (bits @ base)
        out.append(total)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=1, help="weight draws per case")
    parser.add_argument("--no-rockpool", action="store_true")
    args = parser.parse_args(argv)
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"CPU: {cpu}; relative error ||W_q - W|| / ||W|| over w_in (16x64) and w_rec (64x64), in %")
    header = f"{'weights':9} {'cores':>5} {'spikax':>7} {'uniform':>8} {'uniform':>8} {'Rockpool':>9} {'ratio':>6} " \
             f"{'spikax':>7} {'Rockpool':>9}"
    print(header)
    print(f"{'':9} {'':>5} {'':>7} {'ideal':>8} {'on codes':>8} {'':>9} {'':>6} {'s/call':>7} {'s/call':>9}")
    for kind in ("gaussian", "t2", "t3", "sparse"):
        for n_cores in (1, 2, 4):
            cores = np.arange(64) * n_cores // 64
            rows = []
            for seed in range(args.seeds):
                ws = matrices(kind, seed)
                t0 = time.perf_counter()
                ours = rel_error(ws, spikax_quantize(ws, cores))
                t_ours = time.perf_counter() - t0
                ideal, real = uniform(ws, cores, False), uniform(ws, cores, True)
                rp, t_rp = None, None
                if not args.no_rockpool:
                    t0 = time.perf_counter()
                    q = rockpool_quantize(ws, cores)
                    t_rp = time.perf_counter() - t0
                    rp = None if q is None else rel_error(ws, q)
                rows.append((ours, ideal, real, rp, t_ours, t_rp))
            ours, ideal, real = (np.mean([r[i] for r in rows]) for i in range(3))
            t_ours = np.median([r[4] for r in rows])
            if rows[0][3] is None:
                rp_text, ratio_text, t_rp_text = "n/a", "", ""
            else:
                rp = np.mean([r[3] for r in rows])
                rp_text, ratio_text = f"{100 * rp:9.1f}", f"{ours / rp:6.3f}"
                t_rp_text = f"{np.median([r[5] for r in rows]):9.1f}"
            print(f"{kind:9} {n_cores:5d} {100 * ours:7.2f} {100 * ideal:8.2f} {100 * real:8.2f} {rp_text:>9} "
                  f"{ratio_text:>6} {t_ours:7.2f} {t_rp_text:>9}")


if __name__ == "__main__":
    main()

"""Japanese Vowels speaker identification with a LIF network and a recurrent DYNAP-SE2 network.

Data: the UEA Japanese Vowels set (9 speakers, 270 training and 370 test utterances of 7-29
frames of 12 LPC cepstrum coefficients), read from the ``aeon`` wheel: ``pip install
'spikax[data]'``, no download. Encoding (``spikax.train.tasks``): z-scored coefficients split
into ON and OFF channels (24), sigma-delta spike trains at up to 500 Hz, 10 ms per frame.

Three trainings (``spikax train`` runs the same function, ``spikax.train._experiment.train_task``):

1. ``lif``: Linear(24 -> 128) -> LIF -> Linear(128 -> 9) -> LI, max-membrane cross-entropy.
2. ``dynapse``: DynapseLinear(24 -> 128) -> Recurrent(DynapSim(128)) -> Linear readout of the
   spike counts, nominal chip.
3. ``dynapse`` trained on a freshly drawn chip for every training sample (``--mismatch``, default 20 %).

Both chip networks are then evaluated over ``--chips`` drawn chips at 0, 5, 10, 20 and 30 %
mismatch; ``robustness.png`` compares them. Every run writes its own folder (checkpoint,
model, metrics, curves, rasters, summary) under ``--out``.

    python examples/train_vowels.py                  # ~12 min on 2 CPU cores
    python examples/train_vowels.py --epochs 5 --chips 5   # a quick look
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from spikax.train._experiment import plot_robustness, train_task


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=None, help="default: the task's (LIF 80, DynapSim 40)")
    parser.add_argument("--mismatch", type=float, default=20.0, help="mismatch (%%) of the mismatch-aware training")
    parser.add_argument("--chips", type=int, default=50, help="drawn chips per mismatch level")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="vowels-out")
    parser.add_argument("--skip-lif", action="store_true")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    if not args.skip_lif:
        runs["lif"] = train_task("vowels", "lif", out / "lif", epochs=args.epochs, seed=args.seed, robustness_chips=0)
    # --8<-- [start:train]
    runs["dynapse"] = train_task("vowels", "dynapse", out / "dynapse", epochs=args.epochs, seed=args.seed,
                                 robustness_chips=args.chips)
    runs["dynapse-mismatch"] = train_task(
        "vowels", "dynapse", out / f"dynapse-mismatch{args.mismatch:g}", epochs=args.epochs, seed=args.seed,
        mismatch=args.mismatch, robustness_chips=args.chips,
    )
    # --8<-- [end:train]
    curves = {}
    for name, label in (("dynapse", "plain training (nominal chip)"),
                        ("dynapse-mismatch", f"mismatch-aware training (a {args.mismatch:g} % chip per sample)")):
        folder = out / ("dynapse" if name == "dynapse" else f"dynapse-mismatch{args.mismatch:g}")
        curves[label] = json.loads((folder / "robustness.json").read_text())
    plot_robustness(curves, out / "robustness.png",
                    title="Recurrent DYNAP-SE2 network, Japanese Vowels: accuracy over drawn chips")
    summary = {name: {k: v for k, v in s.items() if k != "files"} for name, s in runs.items()}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    for name, s in runs.items():
        line = (f"{name:>17}: test accuracy {100 * s['test_accuracy']:.1f} %, "
                f"{s['median_epoch_train_time_s']:.2f} s/epoch")
        if "robustness" in s:
            line += "; over chips: " + ", ".join(f"{p} {100 * m:.1f}±{100 * sd:.1f}" for p, (m, sd) in
                                                 s["robustness"].items())
        print(line)
    return summary


if __name__ == "__main__":
    main()

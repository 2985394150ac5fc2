"""Train a spiking network on handwritten digits with surrogate-gradient BPTT and ``spikax.train.fit``.

Data: scikit-learn's 8x8 digits (1797 images, shipped with scikit-learn: no download), each
pixel rate-coded as a spike train (probability per step = intensity; drawn once from the seed),
25 % held out. Network (``spikax.train.tasks``): ``Linear(64 -> 128) -> LIF -> Linear(128 -> 10)
-> LIF``, binary spikes with the fast-sigmoid surrogate, classified by the output spike counts
(cross-entropy). Optimiser: Adam (optax). ``spikax train --task
digits --model lif`` runs the same.

    python examples/train_digits.py               # ~10 s on 2 CPU cores
    python examples/train_digits.py --epochs 3    # quicker
"""

from __future__ import annotations

import argparse

import jax
import optax

import spikax as sx
from spikax.train import tasks


def train(
    *,
    epochs: int = 10,
    batch_size: int = 64,
    n_steps: int = 25,
    learning_rate: float = 5e-4,
    n_hidden: int = 128,
    max_batches: int | None = None,
    seed: int = 0,
    verbose: bool = True,
):
    """Train and return ``(model, history per epoch, test accuracy)``.

    ``max_batches`` trains on the first ``max_batches * batch_size`` training images only.
    """
    task = tasks.load_task("digits", n_hidden=n_hidden, n_steps=n_steps, seed=seed)
    x, y = task.train
    if max_batches is not None:
        x, y = x[: max_batches * batch_size], y[: max_batches * batch_size]
    k_model, k_fit, k_eval = jax.random.split(jax.random.key(seed), 3)
    model = task.make_model("lif", k_model)
    objective = task.objective("lif")
    result = sx.train.fit(
        model, (x, y), objective=objective, optimiser=optax.adam(learning_rate), epochs=epochs,
        batch_size=batch_size, key=k_fit, progress=verbose,
    )
    test = sx.train.evaluate(result.model, task.test, objective=objective, key=k_eval)
    return result.model, result.history, test["accuracy"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=25, help="time steps per image (dt = 1 ms)")
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    _, history, test_acc = train(
        epochs=args.epochs, batch_size=args.batch_size, n_steps=args.steps, learning_rate=args.lr, seed=args.seed
    )
    for h in history:
        print(f"epoch {h['epoch']:>2}: loss {h['train_loss']:.3f}, train accuracy {h['train_accuracy']:.3f} "
              f"({h['train_time_s']:.2f} s)")
    print(f"test accuracy: {test_acc:.3f} on the held-out 25% of the digits (chance: 0.100)")


if __name__ == "__main__":
    main()

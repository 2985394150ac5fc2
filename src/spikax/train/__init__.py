"""Training: losses and metrics on spike counts.

Each takes a model's outputs for a batch (``jax.vmap`` of the unbatched model) and returns a
scalar; they depend on nothing but JAX. The fit loop and checkpoints are still to come here.
"""

from ._losses import spike_count_cross_entropy as spike_count_cross_entropy
from ._losses import spike_count_accuracy as spike_count_accuracy

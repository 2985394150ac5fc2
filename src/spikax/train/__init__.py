"""Training: the fit loop, objectives and losses, reparameterisations, checkpoints, chip training.

- :func:`fit` trains any spikax model with an optax optimiser (mini-batches through
  ``jax.vmap``, a compiled step, evaluation, JSON-lines metrics, a tqdm bar, early stopping,
  checkpoints and resume); :func:`evaluate` measures a model on data.
- Objectives for one sample: :class:`Classification` (spike counts, maximum membrane or mean
  readout, with a :class:`RateRegulariser` and weight decay) and :class:`RateTarget`; batch
  losses :func:`spike_count_cross_entropy`, :func:`max_membrane_cross_entropy`, :func:`rate_mse`.
- Constraints by reparameterisation: :class:`Positive`, :class:`NonNegative`,
  :class:`SignedSynapses`, :class:`Masked`, :func:`unwrap`.
- DYNAP-SE2: :func:`chip_network`, :func:`chip_trainable`, :class:`ChipMismatch`,
  :func:`evaluate_mismatch`.
- Files: :func:`save_model` / :func:`load_model`, :func:`save_run` / :func:`load_run`.
"""

from . import tasks as tasks
from ._checkpoint import load as load
from ._checkpoint import load_model as load_model
from ._checkpoint import read_metadata as read_metadata
from ._checkpoint import save as save
from ._checkpoint import save_model as save_model
from ._chip import ChipMismatch as ChipMismatch
from ._chip import chip_network as chip_network
from ._chip import chip_trainable as chip_trainable
from ._chip import evaluate_mismatch as evaluate_mismatch
from ._fit import EarlyStopping as EarlyStopping
from ._fit import FitResult as FitResult
from ._fit import Run as Run
from ._fit import default_filter as default_filter
from ._fit import evaluate as evaluate
from ._fit import fit as fit
from ._fit import load_run as load_run
from ._fit import save_run as save_run
from ._losses import Classification as Classification
from ._losses import RateRegulariser as RateRegulariser
from ._losses import RateTarget as RateTarget
from ._losses import forward as forward
from ._losses import max_membrane_cross_entropy as max_membrane_cross_entropy
from ._losses import rate_mse as rate_mse
from ._losses import spike_count_accuracy as spike_count_accuracy
from ._losses import spike_count_cross_entropy as spike_count_cross_entropy
from ._losses import weight_l2 as weight_l2
from ._reparam import AbstractReparam as AbstractReparam
from ._reparam import Masked as Masked
from ._reparam import NonNegative as NonNegative
from ._reparam import Positive as Positive
from ._reparam import SignedSynapses as SignedSynapses
from ._reparam import unwrap as unwrap

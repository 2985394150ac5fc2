"""DYNAP-SE2 deployment: from a trained network to a chip configuration, and back into simulation.

The whole path is :func:`deploy` (a model in, a :class:`ChipConfig` and a report out) and
:func:`to_network` (a configuration in, the spikax network the chip runs out); its stages are
public too:

- the bias generator (:mod:`._bias`): :func:`bias_code`, :func:`bias_current`,
  :func:`representable_currents`, :data:`BIAS_NAMES` (the 23 chip biases by simulator name),
  and a parameter set as a per-core code table and back: :func:`encode_biases`, :func:`decode_biases`;
- shared biases and placement (:mod:`._mapping`): :func:`share_biases`, :func:`assign_cores`,
  :func:`route`, and the chip's limits;
- 4-bit weights (:mod:`._quantize`): :func:`quantize_weights`, :func:`uniform_grid_error`,
  :class:`QuantizedWeight` (fine-tuning with a straight-through estimator),
  :func:`quantization_aware`; fan-in: :func:`prune_fan_in` (with :class:`spikax.train.Masked`);
- the chip part of a model: :func:`split_chip_network`;
- the configuration file (:mod:`._config`): :class:`ChipConfig`, :func:`validate_config`.

The simulation never imports this package (a test checks it). It reads and writes what every
stage shares: :class:`~spikax.devices.dynapse.DynapseParams` and the network's weights.
"""

from ._bias import BIAS_NAMES as BIAS_NAMES
from ._bias import COARSE_VALUES as COARSE_VALUES
from ._bias import FINE_VALUES as FINE_VALUES
from ._bias import NEURON_BIASES as NEURON_BIASES
from ._bias import WEIGHT_BIASES as WEIGHT_BIASES
from ._bias import BiasCode as BiasCode
from ._bias import CoreBiases as CoreBiases
from ._bias import bias_code as bias_code
from ._bias import bias_current as bias_current
from ._bias import chip_bias_name as chip_bias_name
from ._bias import decode_biases as decode_biases
from ._bias import encode_biases as encode_biases
from ._bias import representable_currents as representable_currents
from ._config import ChipConfig as ChipConfig
from ._config import Deployment as Deployment
from ._config import deploy as deploy
from ._config import format_report as format_report
from ._config import to_network as to_network
from ._config import validate_config as validate_config
from ._network import prune_fan_in as prune_fan_in
from ._network import quantization_aware as quantization_aware
from ._network import split_chip_network as split_chip_network
from ._mapping import CAM_ENTRIES as CAM_ENTRIES
from ._mapping import CHIPS as CHIPS
from ._mapping import CORES_PER_CHIP as CORES_PER_CHIP
from ._mapping import NEURONS_PER_CORE as NEURONS_PER_CORE
from ._mapping import SRAM_ENTRIES as SRAM_ENTRIES
from ._mapping import TAGS as TAGS
from ._mapping import Placement as Placement
from ._mapping import SharedBiases as SharedBiases
from ._mapping import assign_cores as assign_cores
from ._mapping import route as route
from ._mapping import share_biases as share_biases
from ._quantize import N_LEVELS as N_LEVELS
from ._quantize import QuantizedWeight as QuantizedWeight
from ._quantize import WeightQuantization as WeightQuantization
from ._quantize import levels as levels
from ._quantize import quantize_currents as quantize_currents
from ._quantize import quantize_weights as quantize_weights
from ._quantize import uniform_grid_error as uniform_grid_error

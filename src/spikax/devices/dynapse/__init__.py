"""DYNAP-SE2: a faithful, differentiable simulator of the chip's neurons and synapses.

Simulation only: nothing here imports matplotlib (the figures are in :mod:`spikax.plot`) or
the deployment tools (:mod:`spikax.devices.dynapse.deploy`, imported on request).
"""

from ._circuit import DEFAULTS as DEFAULTS
from ._circuit import N_SYNAPSE_TYPES as N_SYNAPSE_TYPES
from ._circuit import PARAMETER_NAMES as PARAMETER_NAMES
from ._circuit import SYNAPSES as SYNAPSES
from ._circuit import TIME_CONSTANTS as TIME_CONSTANTS
from ._circuit import DynapseParams as DynapseParams
from ._circuit import Synapses as Synapses
from ._dynamics import DEFAULT_SPIKE_FN as DEFAULT_SPIKE_FN
from ._dynamics import METHODS as METHODS
from ._dynamics import DynapseCharged as DynapseCharged
from ._dynamics import DynapseCoeffs as DynapseCoeffs
from ._dynamics import DynapseState as DynapseState
from ._dynamics import dpi_jump as dpi_jump
from ._dynamics import dynapse_charge as dynapse_charge
from ._dynamics import dynapse_derive as dynapse_derive
from ._dynamics import dynapse_fire as dynapse_fire
from ._dynamics import dynapse_init_state as dynapse_init_state
from ._dynamics import dynapse_reset as dynapse_reset
from ._dynamics import dynapse_spike as dynapse_spike
from ._dynamics import imem_from_z as imem_from_z
from ._dynamics import membrane_rhs as membrane_rhs
from ._dynamics import short_refractory as short_refractory
from ._dynamics import vmem_from_imem as vmem_from_imem
from ._dynamics import z_from_imem as z_from_imem
from ._mismatch import DEFAULT_MISMATCH as DEFAULT_MISMATCH
from ._mismatch import apply_mismatch as apply_mismatch
from ._module import DynapseLinear as DynapseLinear
from ._module import DynapSim as DynapSim
from ._translate import gain_ratio as gain_ratio
from ._translate import igain_from_ratio as igain_from_ratio
from ._translate import ipulse_from_width as ipulse_from_width
from ._translate import itau_from_tau as itau_from_tau
from ._translate import kappa_mean as kappa_mean
from ._translate import pulse_width as pulse_width
from ._translate import tau_from_itau as tau_from_itau

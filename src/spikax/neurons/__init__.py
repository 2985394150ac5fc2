"""Neuron models: one file each (Params, State, pure stage functions, a thin final module).

Every stage function has one signature across models: ``X_derive(params, dt) -> coeffs``,
``X_charge(coeffs, state, x) -> state``, ``X_threshold(coeffs, h)`` and
``X_on_spike(coeffs, h, s) -> state`` (models with a fixed threshold use
:func:`fixed_threshold`, models whose spike only resets ``v`` use :func:`no_jump`).
"""

from ._adex import NAUD2008 as NAUD2008
from ._adex import AdEx as AdEx
from ._adex import AdExCoeffs as AdExCoeffs
from ._adex import AdExParams as AdExParams
from ._adex import AdExState as AdExState
from ._adex import LIFAdEx as LIFAdEx
from ._adex import LIFAdExCoeffs as LIFAdExCoeffs
from ._adex import LIFAdExParams as LIFAdExParams
from ._adex import LIFAdExState as LIFAdExState
from ._adex import adex_charge as adex_charge
from ._adex import adex_derive as adex_derive
from ._adex import adex_on_spike as adex_on_spike
from ._adex import lif_adex_charge as lif_adex_charge
from ._adex import lif_adex_derive as lif_adex_derive
from ._adex import lif_adex_on_spike as lif_adex_on_spike
from ._alif import ALIF as ALIF
from ._alif import ALIFCoeffs as ALIFCoeffs
from ._alif import ALIFParams as ALIFParams
from ._alif import ALIFState as ALIFState
from ._alif import alif_charge as alif_charge
from ._alif import alif_derive as alif_derive
from ._alif import alif_on_spike as alif_on_spike
from ._alif import alif_threshold as alif_threshold
from ._base import AbstractSpikingNeuron as AbstractSpikingNeuron
from ._base import Neuron as Neuron
from ._base import NeuronState as NeuronState
from ._base import fire as fire
from ._base import fixed_threshold as fixed_threshold
from ._base import no_jump as no_jump
from ._base import reset as reset
from ._eif import EIF as EIF
from ._eif import AbstractEulerNeuron as AbstractEulerNeuron
from ._eif import QIF as QIF
from ._eif import EIFParams as EIFParams
from ._eif import EulerCoeffs as EulerCoeffs
from ._eif import QIFParams as QIFParams
from ._eif import eif_charge as eif_charge
from ._eif import euler_derive as euler_derive
from ._eif import qif_charge as qif_charge
from ._exp import exp_term as exp_term
from ._if import IF as IF
from ._if import IFCoeffs as IFCoeffs
from ._if import IFParams as IFParams
from ._if import if_charge as if_charge
from ._if import if_derive as if_derive
from ._izhikevich import IZHIKEVICH_PRESETS as IZHIKEVICH_PRESETS
from ._izhikevich import Izhikevich as Izhikevich
from ._izhikevich import IzhikevichCoeffs as IzhikevichCoeffs
from ._izhikevich import IzhikevichParams as IzhikevichParams
from ._izhikevich import IzhikevichState as IzhikevichState
from ._izhikevich import izhikevich_charge as izhikevich_charge
from ._izhikevich import izhikevich_derive as izhikevich_derive
from ._izhikevich import izhikevich_on_spike as izhikevich_on_spike
from ._izhikevich import izhikevich_rest as izhikevich_rest
from ._li import LI as LI
from ._li import LICoeffs as LICoeffs
from ._li import LIParams as LIParams
from ._li import li_charge as li_charge
from ._li import li_derive as li_derive
from ._lif import LIF as LIF
from ._lif import LIFCoeffs as LIFCoeffs
from ._lif import LIFParams as LIFParams
from ._lif import LIFState as LIFState
from ._lif import lif_charge as lif_charge
from ._lif import lif_derive as lif_derive
from ._lifnode import PLIF as PLIF
from ._lifnode import LIFNode as LIFNode
from ._lifnode import LIFNodeCoeffs as LIFNodeCoeffs
from ._lifnode import LIFNodeParams as LIFNodeParams
from ._lifnode import PLIFParams as PLIFParams
from ._lifnode import lifnode_charge as lifnode_charge
from ._lifnode import lifnode_derive as lifnode_derive

"""Neuron models: one file each (Params, State, pure step, thin module)."""

from ._base import AbstractChargeFireReset as AbstractChargeFireReset
from ._base import Neuron as Neuron
from ._base import NeuronState as NeuronState
from ._base import fire as fire
from ._base import reset as reset
from ._base import run_neuron as run_neuron
from ._if import IF as IF
from ._if import IFParams as IFParams
from ._if import if_charge as if_charge
from ._li import LI as LI
from ._li import LIParams as LIParams
from ._li import li_charge as li_charge
from ._lif import LIF as LIF
from ._lif import LIFCoeffs as LIFCoeffs
from ._lif import LIFParams as LIFParams
from ._lif import LIFState as LIFState
from ._lif import lif_derive as lif_derive
from ._lif import lif_charge as lif_charge
from ._lif import lif_step as lif_step
from ._lifnode import LIFNode as LIFNode
from ._lifnode import LIFNodeParams as LIFNodeParams
from ._lifnode import lifnode_charge as lifnode_charge

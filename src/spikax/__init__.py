"""spikax: fast, differentiable spiking neural networks in JAX."""

from . import encode as encode
from . import neurons as neurons
from . import plot as plot
from . import surrogate as surrogate
from ._types import AbstractNeuron as AbstractNeuron
from ._types import AbstractSurrogate as AbstractSurrogate
from .layers import Linear as Linear
from .layers import Recurrent as Recurrent
from .layers import RecurrentState as RecurrentState
from .layers import Sequential as Sequential
from .neurons import ALIF as ALIF
from .neurons import EIF as EIF
from .neurons import IF as IF
from .neurons import PLIF as PLIF
from .neurons import QIF as QIF
from .neurons import AbstractSpikingNeuron as AbstractSpikingNeuron
from .neurons import AdEx as AdEx
from .neurons import Izhikevich as Izhikevich
from .neurons import LIFAdEx as LIFAdEx
from .neurons import LI as LI
from .neurons import LIF as LIF
from .neurons import AbstractChargeFireReset as AbstractChargeFireReset
from .neurons import LIFNode as LIFNode
from .neurons import LIFState as LIFState
from .neurons import Neuron as Neuron
from .neurons import NeuronState as NeuronState
from .neurons import run_neuron as run_neuron
from .simulate import simulate as simulate

__version__ = "0.1.0"

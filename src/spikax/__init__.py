"""spikax: fast, differentiable spiking neural networks in JAX.

Importing spikax never imports matplotlib or the optional subsystems: :mod:`spikax.plot`,
:mod:`spikax.train`, :mod:`spikax.interop` and :mod:`spikax.distributed` load on first use
(``sx.plot.raster(...)`` works as usual).
"""

import importlib as _importlib
import os as _os

if _os.environ.get("SPIKAX_CPU_DEVICES", "").strip():
    # One XLA CPU device per core (or the given count), before anything can start JAX.
    from .distributed import _apply_environment

    _apply_environment()

from . import encode as encode
from . import neurons as neurons
from . import surrogate as surrogate
from ._adjoint import AbstractAdjoint as AbstractAdjoint
from ._adjoint import DirectAdjoint as DirectAdjoint
from ._adjoint import FusedAdjoint as FusedAdjoint
from ._adjoint import RecomputeAdjoint as RecomputeAdjoint
from ._adjoint import ReplayAdjoint as ReplayAdjoint
from ._adjoint import mark_root as mark_root
from ._types import AbstractLayer as AbstractLayer
from ._types import AbstractNeuron as AbstractNeuron
from ._types import AbstractSurrogate as AbstractSurrogate
from .layers import AvgPool2d as AvgPool2d
from .layers import Conv1d as Conv1d
from .layers import Conv2d as Conv2d
from .layers import Flatten as Flatten
from .layers import Graph as Graph
from .layers import Linear as Linear
from .layers import Recurrent as Recurrent
from .layers import RecurrentState as RecurrentState
from .layers import Sequential as Sequential
from .layers import SumPool2d as SumPool2d
from .neurons import ALIF as ALIF
from .neurons import CubaLI as CubaLI
from .neurons import CubaLIF as CubaLIF
from .neurons import EIF as EIF
from .neurons import IF as IF
from .neurons import LI as LI
from .neurons import LIF as LIF
from .neurons import PLIF as PLIF
from .neurons import QIF as QIF
from .neurons import AbstractSpikingNeuron as AbstractSpikingNeuron
from .neurons import AdEx as AdEx
from .neurons import Izhikevich as Izhikevich
from .neurons import LIFAdEx as LIFAdEx
from .neurons import LIFNode as LIFNode
from .neurons import LIFState as LIFState
from .neurons import Neuron as Neuron
from .neurons import NeuronState as NeuronState
from ._validate import set_runtime_checks as set_runtime_checks
from .simulate import simulate as simulate

__version__ = "0.2.0"

_LAZY = ("plot", "train", "interop", "distributed", "devices")


def __getattr__(name):
    if name in _LAZY:
        return _importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))

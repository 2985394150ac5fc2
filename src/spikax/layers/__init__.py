"""Layers: feed-forward weights, recurrence, stacking."""

from ._linear import Linear as Linear
from ._linear import kaiming_uniform as kaiming_uniform
from ._recurrent import Recurrent as Recurrent
from ._recurrent import RecurrentState as RecurrentState
from ._sequential import Sequential as Sequential

"""Layers: feed-forward weights, recurrence, stacking."""

from ._linear import Linear as Linear
from ._linear import kaiming_uniform as kaiming_uniform
from ._recurrent import Recurrent as Recurrent
from ._recurrent import RecurrentState as RecurrentState
from ._sequential import Sequential as Sequential
from ._conv import AvgPool2d as AvgPool2d
from ._conv import Conv1d as Conv1d
from ._conv import Conv2d as Conv2d
from ._conv import Flatten as Flatten
from ._conv import SumPool2d as SumPool2d
from ._elementwise import Delay as Delay
from ._elementwise import DelayState as DelayState
from ._elementwise import Scale as Scale
from ._elementwise import Threshold as Threshold

from ._graph import Graph as Graph
from ._graph import Identity as Identity

"""NIR import and export (``nir`` package; Pedersen et al. 2024, doi:10.1038/s41467-024-52259-9).

spikax's parameter names are NIR's (``tau_mem``, ``tau_syn``, ``tau``, ``r``, ``v_leak``,
``v_threshold``, ``v_reset``, ``w_in``), so a node's fields map onto a model's ``Params`` one to
one; what a file cannot say (the step, how the equations are discretised, the reset) is an
explicit :class:`Convention`, with named presets for the main exporters (:data:`PRESETS`).
"""

from ._convention import PRESETS as PRESETS
from ._convention import Convention as Convention
from ._convention import convention as convention
from ._convention import preset_table as preset_table
from ._import import from_nir as from_nir
from ._import import read_graph as read_graph
from ._export import to_nir as to_nir

"""The run-time type checker the tests install over spikax (see ``conftest.py``).

beartype with PEP 484's implicit numeric tower, so that an ``int`` is a valid ``float``.
"""

from beartype import BeartypeConf, beartype

typecheck = beartype(conf=BeartypeConf(is_pep484_tower=True))

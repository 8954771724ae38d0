from .algorithms import *  # noqa: F401,F403
from .algorithms.lewel import LEWELB, LEWELM  # noqa: F401
from .losses import *  # noqa: F401,F403
from .necks import *  # noqa: F401,F403

"""PyTorch-exact pooling in NumPy: ``from pooling_course import functional as PF``."""

from .avg_pool import *  # noqa: F403
from .avg_pool import __all__ as _avg_all
from .max_pool import *  # noqa: F403
from .max_pool import __all__ as _max_all

__all__ = [*_max_all, *_avg_all]

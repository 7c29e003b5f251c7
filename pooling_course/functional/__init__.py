"""PyTorch-exact pooling in NumPy: ``from pooling_course import functional as PF``.

Every function mirrors its ``torch.nn.functional`` namesake (NumPy arrays in and out) and
every ``<op>_backward(grad_output, input, <op's parameters>)`` returns the gradient with
respect to ``input`` that torch's autograd computes. ``*_loop`` functions are the readable
loop references the book shows; the others are vectorised over strided window views.
Beside them, the rules every op shares: :func:`pool_output_size` / :func:`pool_output_shape`
(torch's output size) and :func:`sliding_windows` (the window view); and
:func:`release_scratch`, which frees the buffers the fast kernels keep between calls.
Pooling that torch does not have is in :mod:`pooling_course.ops`.
"""

# Not torch functions: the output-size rule every op follows and the strided window view every
# kernel reduces, both taught in chapter 1; the kernels' kept scratch buffers.
from ._core import pool_output_shape, pool_output_size, sliding_windows
from ._kernels import release_scratch
from .adaptive import *  # noqa: F403
from .adaptive import __all__ as _adaptive_all
from .avg_pool import *  # noqa: F403
from .avg_pool import __all__ as _avg_all
from .fractional import *  # noqa: F403
from .fractional import __all__ as _fractional_all
from .lp_pool import *  # noqa: F403
from .lp_pool import __all__ as _lp_all
from .max_pool import *  # noqa: F403
from .max_pool import __all__ as _max_all
from .unpool import *  # noqa: F403
from .unpool import __all__ as _unpool_all

__all__ = [
    "pool_output_size", "pool_output_shape", "sliding_windows", "release_scratch",
    *_max_all, *_avg_all, *_adaptive_all, *_lp_all, *_unpool_all, *_fractional_all,
]

"""Pooling beyond ``torch.nn.functional``: ``from pooling_course import ops``.

Operations from papers and from ``torchvision.ops``, in NumPy alone, each with its readable
loop reference (``*_loop``) and, where it has one, its gradient (``*_backward``) beside it:

* :mod:`~pooling_course.ops.blur`: anti-aliased pooling, ``blur_pool1d/2d`` and
  ``max_blur_pool1d/2d`` (Zhang, 2019);
* :mod:`~pooling_course.ops.spp`: ``global_avg_pool2d``, ``global_max_pool2d`` and
  ``spatial_pyramid_pool`` (He et al., 2014);
* :mod:`~pooling_course.ops.roi` and :mod:`~pooling_course.ops.roi_align`: ``roi_pool``
  (Girshick, 2015) and ``roi_align`` (He et al., 2017), bit-exact to torchvision's CPU kernels;
* :mod:`~pooling_course.ops.stochastic`: ``stochastic_pool2d`` (Zeiler & Fergus, 2013);
* :mod:`~pooling_course.ops.mixed`: ``mixed_pool2d``, ``gated_pool2d`` (Lee et al., 2016),
  ``softmax_pool2d`` and ``min_pool2d``;
* :mod:`~pooling_course.ops.sequence`: ``max_over_time`` (Kim, 2014) and ``attention_pool``
  (Ilse et al., 2018);
* :mod:`~pooling_course.ops.frameworks`: the pooling rules of TensorFlow/Keras and ONNX, and
  how to reproduce each in PyTorch.

Every name below is importable from ``pooling_course.ops`` directly.
"""

from . import frameworks
from .blur import *  # noqa: F403
from .blur import __all__ as _blur_all
from .mixed import *  # noqa: F403
from .mixed import __all__ as _mixed_all
from .roi import *  # noqa: F403
from .roi import __all__ as _roi_all
from .roi_align import *  # noqa: F403
from .roi_align import __all__ as _roi_align_all
from .sequence import *  # noqa: F403
from .sequence import __all__ as _sequence_all
from .spp import *  # noqa: F403
from .spp import __all__ as _spp_all
from .stochastic import *  # noqa: F403
from .stochastic import __all__ as _stochastic_all

__all__ = [*_blur_all, *_spp_all, *_roi_all, *_roi_align_all, *_stochastic_all, *_mixed_all,
           *_sequence_all, "frameworks"]

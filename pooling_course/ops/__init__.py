"""Pooling operations beyond ``torch.nn.functional``: NumPy only, never a chapter module.

:mod:`pooling_course.ops.frameworks` runs the pooling rules of TensorFlow/Keras and ONNX
(and says how to reproduce them in PyTorch).
"""

from . import frameworks

__all__ = ["frameworks"]

"""Pooling as other frameworks define it, in NumPy: TensorFlow/Keras, ONNX, and the way back
to PyTorch.

- :mod:`.pool_nd`: the general N-d core (per-side padding, dilation, divisor rules, layouts).
- :mod:`.tensorflow`: ``tf.nn.max_pool`` / ``tf.nn.avg_pool`` and Keras's pooling layers.
- :mod:`.onnx`: one ONNX pooling node (``MaxPool`` ... ``MaxUnpool``) with ONNX's defaults.
- :mod:`.porting`: the PyTorch call that reproduces a TF/Keras/ONNX pooling, or why none can.
"""

from .onnx import onnx_pool
from .pool_nd import output_length, pool_nd, same_pads
from .porting import TorchPlan, to_torch
from .tensorflow import keras_pool, tf_avg_pool, tf_max_pool, tf_max_pool_with_argmax

__all__ = ["TorchPlan", "keras_pool", "onnx_pool", "output_length", "pool_nd", "same_pads",
           "tf_avg_pool", "tf_max_pool", "tf_max_pool_with_argmax", "to_torch"]

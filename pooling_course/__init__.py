"""Pooling layers from first principles: NumPy pooling that matches PyTorch exactly.

Modules follow the course's chapters: :mod:`pooling_course.forward` (windows, strides,
output size, receptive field) and :mod:`pooling_course.functional` (every pooling op, a
mirror of ``torch.nn.functional``). :mod:`pooling_course.grading` grades exercise notebooks.
"""

__version__ = "0.1.0"

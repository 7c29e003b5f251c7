"""Pooling layers from first principles: NumPy pooling that matches PyTorch exactly.

The library, NumPy alone: :mod:`pooling_course.functional` (every pooling op of
``torch.nn.functional``, with its backward) and :mod:`pooling_course.ops` (pooling beyond it:
blur, pyramid, RoI, stochastic, mixed and attention pooling). The chapter modules
(:mod:`pooling_course.forward`, ``filtering``, ``equivariance``, ``backward``, ``regions``,
``variants``, ``fast``) compute and draw the book's pages on top of it;
:mod:`pooling_course.grading` grades exercise notebooks. Importing this package imports none
of them.
"""

__version__ = "0.1.0"

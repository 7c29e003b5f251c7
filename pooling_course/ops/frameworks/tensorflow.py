"""TensorFlow's and Keras's pooling rules, in NumPy.

``tf.nn.max_pool`` / ``tf.nn.avg_pool`` take ``ksize`` and ``strides`` as an int or a list of
length 1, N or N+2, a padding ``"VALID"`` or ``"SAME"`` (max pooling also explicit pairs), and
a data format string (channels last by default: ``None`` picks NWC, NHWC or NDHWC by
the input's rank). ``"SAME"`` makes ``ceil(L / stride)``
windows and puts an odd padding cell at the end; a SAME average divides by the cells inside
the input only. There is no ``ceil_mode`` and no dilation. Keras's layers
(``keras.layers.MaxPooling2D`` ...) use ``pool_size``, ``strides=None`` meaning the pool size,
lower-case ``padding`` and ``data_format="channels_last"``; they compute the same thing.

XLA (and so JAX's ``lax.reduce_window`` and Keras on the JAX backend) places windows by the
same rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pool_nd import pool_nd, same_pads

DATA_FORMATS = {"NWC": 1, "NCW": 1, "NHWC": 2, "NCHW": 2, "NDHWC": 3, "NCDHW": 3}
KERAS_FORMATS = ("channels_last", "channels_first")


def _window_arg(value: int | Sequence[int], n: int, channels_last: bool,
                name: str) -> tuple[int, ...]:
    """ksize or strides: an int, or a list of length 1, N or N+2 (batch and channel 1)."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        items = (int(value),)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        items = tuple(value)
    else:
        raise TypeError(f"{name} must be an int or a list of ints, got {value!r}")
    if not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
               for v in items):
        raise TypeError(f"{name} must be an int or a list of ints, got {value!r}")
    if len(items) == 1:
        items = items * n
    elif len(items) == n + 2:
        outer = (items[0], items[-1]) if channels_last else (items[0], items[1])
        if outer != (1, 1):
            raise ValueError(f"{name}: pooling over the batch or channel dimension is not "
                             f"supported, got {list(items)}")
        items = items[1:-1] if channels_last else items[2:]
    elif len(items) != n:
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2}, got {len(items)}")
    if min(items) < 1:
        raise ValueError(f"{name} must be positive, got {list(items)}")
    return tuple(int(v) for v in items)


def _layout(x: np.ndarray, data_format: str | None) -> tuple[int, bool]:
    if data_format is None:  # TensorFlow picks channels last by the input's rank
        data_format = {3: "NWC", 4: "NHWC", 5: "NDHWC"}.get(np.ndim(x), "NHWC")
    if data_format not in DATA_FORMATS:
        raise ValueError(f"data_format must be one of {sorted(DATA_FORMATS)}, "
                         f"got {data_format!r}")
    n = DATA_FORMATS[data_format]
    if np.ndim(x) != n + 2:
        raise ValueError(f"input must be rank {n + 2} for data_format={data_format!r}, "
                         f"got shape {np.shape(x)}")
    return n, data_format.endswith("C")


def tf_pads(x_shape: Sequence[int], ksize: Sequence[int], strides: Sequence[int],
            padding: str | Sequence[Sequence[int]], channels_last: bool
            ) -> list[tuple[int, int]]:
    """The ``(begin, end)`` pads per spatial axis that TensorFlow's ``padding`` means."""
    n = len(ksize)
    spatial = x_shape[1:-1] if channels_last else x_shape[2:]
    if isinstance(padding, str):
        if padding == "VALID":
            return [(0, 0)] * n
        if padding == "SAME":
            return [same_pads(spatial[a], ksize[a], strides[a]) for a in range(n)]
        raise ValueError(f"padding must be 'VALID', 'SAME' or explicit pairs, got {padding!r}")
    pairs = [tuple(int(v) for v in pair) for pair in padding]
    if len(pairs) != n + 2 or any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"explicit padding must be {n + 2} [begin, end] pairs, one per "
                         f"dimension, got {padding!r}")
    outer = (pairs[0], pairs[-1]) if channels_last else (pairs[0], pairs[1])
    if outer != ((0, 0), (0, 0)):
        raise ValueError(f"explicit padding of the batch and channel dimensions must be "
                         f"[0, 0], got {padding!r}")
    inner = pairs[1:-1] if channels_last else pairs[2:]
    if min(min(pair) for pair in inner) < 0:
        raise ValueError(f"explicit padding must be non-negative, got {padding!r}")
    return inner


def tf_max_pool(input: np.ndarray, ksize: int | Sequence[int], strides: int | Sequence[int],
                padding: str | Sequence[Sequence[int]], data_format: str | None = None
                ) -> np.ndarray:
    """``tf.nn.max_pool``: padded cells never win.

    >>> tf_max_pool(np.arange(5.0).reshape(1, 5, 1), 2, 2, "SAME").ravel()
    array([1., 3., 4.])
    """
    x = np.asarray(input)
    n, last = _layout(x, data_format)
    k = _window_arg(ksize, n, last, "ksize")
    s = _window_arg(strides, n, last, "strides")
    pads = tf_pads(x.shape, k, s, padding, last)
    return pool_nd(x, k, s, pads, mode="max", channels_last=last)


def tf_max_pool_with_argmax(input: np.ndarray, ksize: int | Sequence[int],
                            strides: int | Sequence[int], padding: str,
                            include_batch_in_index: bool = False
                            ) -> tuple[np.ndarray, np.ndarray]:
    """``tf.nn.max_pool_with_argmax`` (NHWC only): the maxima and their flat NHWC indices.

    A maximum at ``[b, y, x, c]`` has the index ``(y * width + x) * channels + c``, plus
    ``b * height * width * channels`` with ``include_batch_in_index``.

    >>> x = np.array([3.0, 1, 2, 5]).reshape(1, 2, 1, 2)
    >>> tf_max_pool_with_argmax(x, [2, 1], 1, "VALID")[1].ravel()
    array([0, 3])
    """
    x = np.asarray(input)
    _layout(x, "NHWC")
    k = _window_arg(ksize, 2, True, "ksize")
    s = _window_arg(strides, 2, True, "strides")
    pads = tf_pads(x.shape, k, s, padding, True)
    y, plane = pool_nd(x, k, s, pads, channels_last=True, return_indices=True)
    n, h, w, c = x.shape
    index = plane * c + np.arange(c)
    if include_batch_in_index:
        index = index + np.arange(n).reshape(n, 1, 1, 1) * (h * w * c)
    return y, index.astype(np.int64)


def tf_avg_pool(input: np.ndarray, ksize: int | Sequence[int], strides: int | Sequence[int],
                padding: str, data_format: str | None = None) -> np.ndarray:
    """``tf.nn.avg_pool``: a SAME window divides by its cells inside the input.

    >>> tf_avg_pool(np.arange(5.0).reshape(1, 5, 1), 2, 2, "SAME").ravel()
    array([0.5, 2.5, 4. ])
    """
    x = np.asarray(input)
    n, last = _layout(x, data_format)
    if not isinstance(padding, str):
        raise ValueError("tf.nn.avg_pool takes padding 'VALID' or 'SAME' only; explicit "
                         "padding is a max_pool feature")
    k = _window_arg(ksize, n, last, "ksize")
    s = _window_arg(strides, n, last, "strides")
    pads = tf_pads(x.shape, k, s, padding, last)
    return pool_nd(x, k, s, pads, mode="avg", count_include_pad=False, channels_last=last)


def keras_pool(x: np.ndarray, kind: str, pool_size: int | Sequence[int],
               strides: int | Sequence[int] | None = None, padding: str = "valid",
               data_format: str = "channels_last") -> np.ndarray:
    """Keras 3's ``MaxPooling{1,2,3}D`` (``kind="max"``) or ``AveragePooling{1,2,3}D``
    (``kind="avg"``) on a batch ``x``.

    ``strides=None`` means ``pool_size``; ``padding`` is ``"valid"`` or ``"same"`` (TF's
    rule); ``data_format`` ``"channels_last"`` (default) or ``"channels_first"``.

    >>> x = np.arange(5.0).reshape(1, 5, 1)
    >>> keras_pool(x, "avg", 2, padding="same").ravel()
    array([0.5, 2.5, 4. ])
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    if data_format not in KERAS_FORMATS:
        raise ValueError(f"data_format must be one of {KERAS_FORMATS}, got {data_format!r}")
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")
    x = np.asarray(x)
    n = len(pool_size) if isinstance(pool_size, Sequence) else x.ndim - 2
    if n not in (1, 2, 3) or x.ndim != n + 2:
        raise ValueError(f"input must be rank {n + 2} (batch, {n} spatial, channels), got "
                         f"shape {x.shape}")
    last = data_format == "channels_last"
    fmt = {1: "NWC", 2: "NHWC", 3: "NDHWC"}[n] if last else {1: "NCW", 2: "NCHW",
                                                              3: "NCDHW"}[n]
    k = _window_arg(pool_size, n, last, "pool_size")
    s = k if strides is None else _window_arg(strides, n, last, "strides")
    fn = tf_max_pool if kind == "max" else tf_avg_pool
    return fn(x, k, s, padding.upper(), fmt)

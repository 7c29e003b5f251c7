"""One ONNX pooling node, in NumPy, with ONNX's defaults.

ONNX spells pooling differently from PyTorch: ``strides`` default to 1 (not the kernel),
``count_include_pad`` to 0 (PyTorch: True), ``pads`` list every begin then every end
(``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``), ``auto_pad`` chooses ``SAME_UPPER``
(odd cell at the end, TensorFlow's SAME) or ``SAME_LOWER`` (at the beginning), ``LpPool``
raises ``|x|`` to the power ``p`` (PyTorch's ``lp_pool`` keeps the sign for odd ``p``), and
``MaxPool``'s indices count over the whole tensor, row-major (``storage_order=0``) or with the
spatial axes column-major (``storage_order=1``). ONNX does not say what a max does with
NaN; here a NaN wins its window, as in PyTorch, TensorFlow and JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .pool_nd import pool_nd, same_pads

_WINDOW = ("auto_pad", "kernel_shape", "pads", "strides", "ceil_mode", "dilations")
ATTRIBUTES = {
    "MaxPool": _WINDOW + ("storage_order",),
    "AveragePool": _WINDOW + ("count_include_pad",),
    "LpPool": _WINDOW + ("p",),
    "GlobalAveragePool": (),
    "GlobalMaxPool": (),
    "GlobalLpPool": ("p",),
    "MaxUnpool": ("kernel_shape", "pads", "strides"),
}
AUTO_PADS = ("NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER")


def _ints(value: object, n: int, name: str, op_type: str) -> tuple[int, ...]:
    items = tuple(int(v) for v in np.asarray(value).ravel())
    if len(items) != n:
        raise ValueError(f"{op_type}: attribute {name} needs {n} values for a {n}-d "
                         f"input, got {list(items)}")
    return items


def _pads(op_type: str, attrs: dict, spatial: Sequence[int], kernel: Sequence[int],
          strides: Sequence[int], dilations: Sequence[int]) -> list[tuple[int, int]]:
    n = len(spatial)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    if auto_pad not in AUTO_PADS:
        raise ValueError(f"{op_type}: auto_pad must be one of {AUTO_PADS}, got {auto_pad!r}")
    if auto_pad != "NOTSET" and "pads" in attrs:
        raise ValueError(f"{op_type}: pads and auto_pad={auto_pad} cannot be used together")
    if auto_pad == "VALID":
        return [(0, 0)] * n
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        odd = "end" if auto_pad == "SAME_UPPER" else "begin"
        return [same_pads(spatial[a], kernel[a], strides[a], dilations[a], odd)
                for a in range(n)]
    flat = _ints(attrs.get("pads", [0] * 2 * n), 2 * n, "pads", op_type)
    if min(flat) < 0:
        raise ValueError(f"{op_type}: pads must be non-negative, got {list(flat)}")
    return [(flat[a], flat[n + a]) for a in range(n)]


def _windowed(op_type: str, x: np.ndarray, attrs: dict, return_indices: bool
              ) -> tuple[np.ndarray, ...]:
    n = x.ndim - 2
    if "kernel_shape" not in attrs:
        raise ValueError(f"{op_type}: the attribute kernel_shape is required")
    kernel = _ints(attrs["kernel_shape"], n, "kernel_shape", op_type)
    strides = _ints(attrs.get("strides", [1] * n), n, "strides", op_type)
    dilations = _ints(attrs.get("dilations", [1] * n), n, "dilations", op_type)
    pads = _pads(op_type, attrs, x.shape[2:], kernel, strides, dilations)
    auto = attrs.get("auto_pad", "NOTSET") not in ("NOTSET", b"NOTSET")
    ceil_mode = bool(attrs.get("ceil_mode", 0)) and not auto  # SAME fixes the size itself
    common = dict(dilation=dilations, ceil_mode=ceil_mode)
    if op_type == "AveragePool":
        return (pool_nd(x, kernel, strides, pads, mode="avg",
                        count_include_pad=bool(attrs.get("count_include_pad", 0)),
                        **common),)
    if op_type == "LpPool":
        return (pool_nd(x, kernel, strides, pads, mode="lp", p=attrs.get("p", 2), **common),)
    if not return_indices:
        return (pool_nd(x, kernel, strides, pads, mode="max", **common),)
    y, plane_index = pool_nd(x, kernel, strides, pads, mode="max", return_indices=True,
                             **common)
    spatial = x.shape[2:]
    storage_order = int(attrs.get("storage_order", 0))
    if storage_order not in (0, 1):
        raise ValueError(f"{op_type}: storage_order must be 0 or 1, got {storage_order}")
    if storage_order == 1:  # spatial axes column-major: h + w * H (+ d * H * W ...)
        coords = np.unravel_index(plane_index, spatial)
        plane_index = np.ravel_multi_index(coords, spatial, order="F")
    planes = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * n)
    return y, (planes * int(np.prod(spatial)) + plane_index).astype(np.int64)


def _max_unpool(x: np.ndarray, indices: np.ndarray, output_shape: np.ndarray | None,
                attrs: dict, frame: str) -> np.ndarray:
    n = x.ndim - 2
    if "kernel_shape" not in attrs:
        raise ValueError("MaxUnpool: the attribute kernel_shape is required")
    kernel = _ints(attrs["kernel_shape"], n, "kernel_shape", "MaxUnpool")
    strides = _ints(attrs.get("strides", [1] * n), n, "strides", "MaxUnpool")
    pads = _ints(attrs.get("pads", [0] * 2 * n), 2 * n, "pads", "MaxUnpool")
    default = x.shape[:2] + tuple((x.shape[2 + a] - 1) * strides[a] - pads[a] - pads[n + a]
                                  + kernel[a] for a in range(n))
    shape = default if output_shape is None else tuple(int(v) for v in output_shape)
    if len(shape) != x.ndim:
        raise ValueError(f"MaxUnpool: output_shape must have {x.ndim} values, got {shape}")
    if np.shape(indices) != x.shape:
        raise ValueError(f"MaxUnpool: I must have X's shape {x.shape}, got "
                         f"{np.shape(indices)}")
    if frame not in ("spec", "output"):
        raise ValueError(f"frame must be 'spec' or 'output', got {frame!r}")
    scatter = default if frame == "spec" else shape
    flat = np.zeros(int(np.prod(scatter)), dtype=x.dtype)
    idx = np.asarray(indices, dtype=np.int64).ravel()
    if idx.size and (idx.min() < 0 or idx.max() >= flat.size):
        raise ValueError(f"MaxUnpool: indices must lie in [0, {flat.size}), got "
                         f"[{idx.min()}, {idx.max()}]")
    flat[idx] = x.ravel()
    if frame == "output":
        return flat.reshape(shape)
    # ONNX's reference: scatter into the default frame, then place it at the origin of
    # output_shape (a larger output gets zeros after each row).
    out = np.zeros(shape, dtype=x.dtype)
    corner = tuple(slice(0, min(a, b)) for a, b in zip(default, shape, strict=True))
    out[corner] = flat.reshape(default)[corner]
    return out


def onnx_pool(op_type: str, *inputs: np.ndarray, return_indices: bool = False,
              frame: str = "spec", **attributes: object) -> tuple[np.ndarray, ...]:
    """Run one ONNX pooling node and return its outputs as a tuple.

    Args:
        op_type: ``"MaxPool"``, ``"AveragePool"``, ``"LpPool"``, ``"GlobalAveragePool"``,
            ``"GlobalMaxPool"``, ``"GlobalLpPool"`` or ``"MaxUnpool"``.
        *inputs: the node's inputs in ONNX's order: ``X`` (``N, C, *spatial``); for
            ``MaxUnpool`` ``X``, ``I`` and optionally ``output_shape``.
        return_indices: ``MaxPool`` only: also return ``Indices`` (the node's optional second
            output), flat over the whole tensor, honouring ``storage_order``.
        frame: ``MaxUnpool`` with ``output_shape``: ``"spec"`` reads the indices in the
            default output frame and pads the result (ONNX's reference and its test data);
            ``"output"`` reads them in ``output_shape``'s frame (PyTorch, onnxruntime).
        **attributes: the node's attributes by their ONNX names; ONNX's defaults for the
            rest (strides 1, pads 0, dilations 1, ceil_mode 0, count_include_pad 0, p 2,
            storage_order 0, auto_pad ``"NOTSET"``).

    >>> x = np.arange(6.0).reshape(1, 1, 6)
    >>> onnx_pool("AveragePool", x, kernel_shape=[3],
    ...           auto_pad="SAME_UPPER")[0]
    array([[[0.5, 1. , 2. , 3. , 4. , 4.5]]])
    """
    if op_type not in ATTRIBUTES:
        raise ValueError(f"op_type must be one of {sorted(ATTRIBUTES)}, got {op_type!r}")
    unknown = sorted(set(attributes) - set(ATTRIBUTES[op_type]))
    if unknown:
        raise TypeError(f"{op_type} has no attribute {unknown[0]!r}; its attributes are "
                        f"{list(ATTRIBUTES[op_type])}")
    if return_indices and op_type != "MaxPool":
        raise ValueError(f"return_indices: only MaxPool has an Indices output, not {op_type}")
    wanted = (2, 3) if op_type == "MaxUnpool" else (1, 1)
    if not wanted[0] <= len(inputs) <= wanted[1]:
        raise TypeError(f"{op_type} takes {wanted[0]}..{wanted[1]} inputs, got {len(inputs)}")
    x = np.asarray(inputs[0])
    if x.ndim < 3:
        raise ValueError(f"{op_type}: X must be (N, C, *spatial), got shape {x.shape}")
    if op_type == "MaxUnpool":
        shape = np.asarray(inputs[2]) if len(inputs) == 3 else None
        return (_max_unpool(x, np.asarray(inputs[1]), shape, attributes, frame),)
    axes = tuple(range(2, x.ndim))
    if op_type == "GlobalMaxPool":
        return (x.max(axis=axes, keepdims=True),)
    if op_type == "GlobalAveragePool":
        return (x.mean(axis=axes, keepdims=True, dtype=np.float64).astype(x.dtype),)
    if op_type == "GlobalLpPool":
        p = float(attributes.get("p", 2))
        total = (np.abs(x.astype(np.float64)) ** p).sum(axis=axes, keepdims=True)
        return ((total ** (1.0 / p)).astype(x.dtype),)
    return _windowed(op_type, x, attributes, return_indices)

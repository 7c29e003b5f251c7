"""The way back to PyTorch: which ``torch.nn.functional`` call reproduces a pooling written
for TensorFlow/Keras or ONNX, or why no single call can.

PyTorch pads symmetrically (``padding`` ≤ half the kernel) and has no ``padding="same"``
for pooling; TensorFlow's SAME pads one cell more at the end when the total padding is
odd, and its average divides by the cells inside the input. The exact port is then an
explicit ``F.pad`` (with ``-inf`` for max, so padding never wins) followed by an unpadded
pool, and for the average ``count_include_pad=False`` when the padding is symmetric, or
a second pool of a ones-mask as divisor when it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .onnx import _pads


@dataclass(frozen=True)
class TorchPlan:
    """A PyTorch recipe. ``pad`` is ``F.pad``'s argument (last axis first) or ``None``;
    ``call`` the pooling call as source text; ``single_call`` whether one
    ``F.*_pool*d`` call without ``F.pad`` matches; ``why`` says why not, if not."""

    kind: str
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]
    pad: tuple[int, ...] | None
    pad_value: float | None
    call: str
    single_call: bool
    why: str

    def __str__(self) -> str:
        lines = []
        if self.pad is not None:
            lines.append(f"x = F.pad(x, {self.pad}, value={self.pad_value})")
        lines.append(self.call)
        if self.pad is not None and self.kind == "avg":
            lines.append("# divisor: the same pool of F.pad(ones, ...) then y / count")
        return "\n".join(lines)


def to_torch(kind: str, input_shape: Sequence[int], kernel_size: int | Sequence[int],
             stride: int | Sequence[int] | None = None, padding: object = "valid", *,
             framework: str = "keras", count_include_pad: bool | None = None,
             dilation: int | Sequence[int] = 1, ceil_mode: bool = False) -> TorchPlan:
    """The PyTorch call that reproduces one pooling of another framework.

    Args:
        kind: ``"max"`` or ``"avg"``.
        input_shape: the spatial sizes only, e.g. ``(28, 28)``.
        kernel_size, stride: per spatial axis (``stride=None``: the kernel, as in Keras
            and PyTorch; ONNX's own default is 1 and must be given).
        padding: ``"valid"``/``"same"`` (Keras, any case; TF's ``"VALID"``/``"SAME"``), ONNX
            ``auto_pad`` names, or explicit ``(begin, end)`` pairs per spatial axis.
        framework: ``"keras"``, ``"tf"`` or ``"onnx"`` (decides the average's divisor:
            TF/Keras exclude padding; ONNX follows ``count_include_pad``, default 0).
        count_include_pad: ONNX's attribute (``None``: the framework's default).
        dilation, ceil_mode: ONNX's attributes (TF/Keras have neither for pooling).

    >>> print(to_torch("max", (5,), 2, 2, "same"))
    x = F.pad(x, (0, 1), value=-inf)
    F.max_pool1d(x, kernel_size=(2,), stride=(2,))
    """
    if kind not in ("max", "avg"):
        raise ValueError(f"kind must be 'max' or 'avg', got {kind!r}")
    if framework not in ("keras", "tf", "onnx"):
        raise ValueError(f"framework must be 'keras', 'tf' or 'onnx', got {framework!r}")
    n = len(input_shape)
    if not 1 <= n <= 3:
        raise ValueError(f"input_shape must list 1 to 3 spatial sizes, got {input_shape!r}")

    def per_axis(value: int | Sequence[int], name: str) -> tuple[int, ...]:
        items = (value,) * n if isinstance(value, int) else tuple(value)
        if len(items) != n or min(items) < 1:
            raise ValueError(f"{name} must be a positive int or {n} of them, got {value!r}")
        return tuple(int(v) for v in items)

    k = per_axis(kernel_size, "kernel_size")
    s = k if stride is None else per_axis(stride, "stride")
    d = per_axis(dilation, "dilation")
    if framework != "onnx" and (max(d) > 1 or ceil_mode):
        raise ValueError("dilation and ceil_mode exist for pooling in ONNX and PyTorch, "
                         f"not in {framework}")
    if isinstance(padding, str):
        name = padding.upper()
        name = {"SAME": "SAME_UPPER"}.get(name, name)
        pads = _pads("to_torch", {"auto_pad": name}, input_shape, k, s, d)
    else:
        pads = [tuple(int(v) for v in pair) for pair in padding]
        if len(pads) != n:
            raise ValueError(f"padding must give {n} (begin, end) pairs, got {padding!r}")
    if count_include_pad is None:
        count_include_pad = False
    fn = f"F.{kind}_pool{n}d"
    symmetric = all(b == e for b, e in pads)
    fits = all(2 * b <= kk for (b, _), kk in zip(pads, k, strict=True))
    extra = f", dilation={d}" if max(d) > 1 else ""
    extra += ", ceil_mode=True" if ceil_mode else ""
    if kind == "avg" and max(d) > 1:
        raise ValueError("PyTorch's avg_pool has no dilation: no call reproduces this")
    no_pad = all(b == e == 0 for b, e in pads)
    if symmetric and fits:
        pad_arg = "" if no_pad else f", padding={tuple(b for b, _ in pads)}"
        cip = "" if kind == "max" or no_pad else f", count_include_pad={count_include_pad}"
        call = f"{fn}(x, kernel_size={k}, stride={s}{pad_arg}{cip}{extra})"
        return TorchPlan(kind, k, s, tuple(pads), None, None, call, True, "")
    torch_pad = tuple(v for b, e in reversed(pads) for v in (b, e))
    why = ("the padding is asymmetric " + str(pads) if not symmetric
           else f"the padding {pads} exceeds half the kernel {k}")
    if kind == "max":
        call = f"{fn}(x, kernel_size={k}, stride={s}{extra})"
        return TorchPlan(kind, k, s, tuple(pads), torch_pad, float("-inf"), call, False, why)
    call = f"{fn}(x, kernel_size={k}, stride={s}{extra})"
    if not count_include_pad:
        why += "; the divisor counts only cells inside the input"
    return TorchPlan(kind, k, s, tuple(pads), torch_pad, 0.0, call, False, why)

"""Chapter 8, one pooling across frameworks: what the page runs and draws.

The pooling rules themselves live in the library (:mod:`pooling_course.ops.frameworks`);
this module holds the page's runtimes (onnxruntime, Keras on JAX), the PyTorch side of a port
(:class:`PlannedPool` runs a :class:`~pooling_course.ops.frameworks.TorchPlan`), the custom
autograd pooling layer and its training run, and the interactive figure.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import widgets
from .ops.frameworks import TorchPlan, pool_nd, same_pads, tf_max_pool, to_torch

__all__ = [
    "FRAMEWORKS", "PlannedPool", "SameMaxPool2d", "SameMaxPoolFunction",
    "import_keras", "keras_same_max_pool_layer", "onnx_node_tests", "run_onnxruntime",
    "train_digits_with",
    "window_rules", "windows_compare", "windows_figure",
]


# --- runtimes ----------------------------------------------------------------------------------

def import_keras() -> object:
    """Keras 3 on the JAX backend (the backend must be chosen before the first import)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras

    if keras.backend.backend() != "jax":
        raise RuntimeError(f"Keras runs on {keras.backend.backend()}, this page needs jax")
    return keras


def run_onnxruntime(op_type: str, *inputs: np.ndarray, n_outputs: int = 1,
                    **attributes: object) -> list[np.ndarray]:
    """Build a one-node ONNX model (opset 22) and run it with onnxruntime on the CPU."""
    import onnx
    import onnxruntime
    from onnx import helper

    kinds = {np.dtype(np.float32): onnx.TensorProto.FLOAT,
             np.dtype(np.int64): onnx.TensorProto.INT64}
    names = [f"x{i}" for i in range(len(inputs))]
    outs = [f"y{i}" for i in range(n_outputs)]
    graph = helper.make_graph(
        [helper.make_node(op_type, names, outs, **attributes)], "pool",
        [helper.make_tensor_value_info(n, kinds[a.dtype], a.shape)
         for n, a in zip(names, inputs, strict=True)],
        [helper.make_tensor_value_info(o, kinds[np.dtype(np.float32 if i == 0
                                                          else np.int64)], None)
         for i, o in enumerate(outs)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 22)])
    model.ir_version = 10
    session = onnxruntime.InferenceSession(model.SerializeToString(),
                                           providers=["CPUExecutionProvider"])
    return session.run(None, dict(zip(names, inputs, strict=True)))


def onnx_node_tests(pattern: str = "pool") -> list[tuple[str, str, list, dict, list]]:
    """ONNX's backend node tests whose name holds ``pattern``, from the installed ``onnx``
    wheel's data files: ``(name, op_type, inputs, attributes, expected outputs)``."""
    import glob

    import onnx
    from onnx import helper, numpy_helper

    root = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    cases = []
    for folder in sorted(glob.glob(os.path.join(root, f"test_*{pattern}*"))):
        node = onnx.load(os.path.join(folder, "model.onnx")).graph.node[0]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
        data = os.path.join(folder, "test_data_set_0")
        tensors = [[numpy_helper.to_array(onnx.load_tensor(f"{data}/{kind}_{i}.pb"))
                    for i in range(len(names))]
                   for kind, names in (("input", node.input), ("output", node.output))]
        cases.append((os.path.basename(folder), node.op_type, *tensors[:1], attrs,
                      tensors[1]))
    return cases


# --- the PyTorch side of a port ---------------------------------------------------------------

class PlannedPool(nn.Module):
    """Runs a :class:`TorchPlan`: ``F.pad`` (if any), the pool, and for an average with
    asymmetric padding the division by the same pool of a padded ones-mask (so the divisor
    counts the cells inside the input, as TensorFlow's does)."""

    def __init__(self, plan: TorchPlan) -> None:
        super().__init__()
        self.plan = plan

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        n = len(plan.kernel_size)
        pool = getattr(F, f"{plan.kind}_pool{n}d")
        if plan.pad is None:
            if plan.single_call and any(b for b, _ in plan.pads):
                extra = {} if plan.kind == "max" else {"count_include_pad": False}
                return pool(x, plan.kernel_size, plan.stride,
                            tuple(b for b, _ in plan.pads), **extra)
            return pool(x, plan.kernel_size, plan.stride)
        y = pool(F.pad(x, plan.pad, value=plan.pad_value), plan.kernel_size, plan.stride)
        if plan.kind == "avg":
            ones = F.pad(torch.ones_like(x[:1, :1]), plan.pad, value=0.0)
            y = y / pool(ones, plan.kernel_size, plan.stride)
        return y


# --- your own pooling layer -------------------------------------------------------------------

class SameMaxPoolFunction(torch.autograd.Function):
    """TensorFlow-style SAME max pooling as a PyTorch autograd function.

    Forward: the library's ``tf_max_pool`` (NumPy) on an ``(N, C, H, W)`` tensor. Backward:
    each output's gradient goes to its window's winner (the first maximum), summed where a
    cell wins several windows, as PyTorch's own max pooling does.
    """

    @staticmethod
    def forward(ctx: object, x: torch.Tensor, kernel_size: int, stride: int) -> torch.Tensor:
        a = x.detach().cpu().numpy()
        pads = [same_pads(size, kernel_size, stride) for size in a.shape[2:]]
        y, index = pool_nd(a, (kernel_size,) * 2, stride, pads, return_indices=True)
        ctx.save_for_backward(torch.from_numpy(index))
        ctx.input_shape = a.shape
        return torch.from_numpy(np.ascontiguousarray(y)).to(x.dtype)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        (index,) = ctx.saved_tensors
        n, c, h, w = ctx.input_shape
        planes = grad.new_zeros(n, c, h * w)
        planes.scatter_add_(2, index.reshape(n, c, -1), grad.reshape(n, c, -1))
        return planes.reshape(n, c, h, w), None, None


class SameMaxPool2d(nn.Module):
    """The layer PyTorch lacks: ``MaxPool2d`` with TensorFlow's ``padding='same'``."""

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride or kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return SameMaxPoolFunction.apply(x, self.kernel_size, self.stride)


def train_digits_with(pool: Callable[[], nn.Module] | None, seed: int, epochs: int = 6,
                      lr: float = 0.1) -> float:
    """Chapter 4's digits network and recipe, its two 2x2 max pools replaced by ``pool()``
    (``None`` keeps ``nn.MaxPool2d(2)``); returns the final test accuracy."""
    from sklearn.datasets import load_digits

    from .backward_digits import digits_cnn

    digits = load_digits()
    images = torch.from_numpy((digits.images[:, None] / 16.0).astype(np.float32))
    labels = torch.from_numpy(digits.target.astype(np.int64))
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))
    train, test = order[:1200], order[1200:]
    torch.manual_seed(seed)
    model = digits_cnn("max")
    if pool is not None:
        model[2], model[5] = pool(), pool()
    optimiser = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    batches = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        shuffled = train[torch.randperm(len(train), generator=batches)]
        for start in range(0, len(shuffled), 100):
            batch = shuffled[start:start + 100]
            optimiser.zero_grad()
            F.cross_entropy(model(images[batch]), labels[batch]).backward()
            optimiser.step()
    with torch.no_grad():
        return (model(images[test]).argmax(dim=1) == labels[test]).float().mean().item()


def keras_same_max_pool_layer() -> type:
    """A Keras 3 custom ``Layer``: SAME max pooling (NHWC) from ``keras.ops`` primitives.

    The end padding is ``-inf`` (padding never wins); each output is the maximum of the
    ``k * k`` strided shifts of the padded map, so the backend differentiates it.
    """
    keras = import_keras()
    ops = keras.ops

    class SameMaxPool(keras.layers.Layer):
        def __init__(self, pool_size: int, strides: int | None = None, **kwargs):
            super().__init__(**kwargs)
            self.pool_size, self.strides = pool_size, strides or pool_size

        def call(self, x: object) -> object:
            k, s = self.pool_size, self.strides
            h, w = x.shape[1], x.shape[2]
            (top, bottom), (left, right) = same_pads(h, k, s), same_pads(w, k, s)
            x = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]],
                        constant_values=-np.inf)
            out_h, out_w = -(-h // s), -(-w // s)
            best = None
            for i in range(k):
                for j in range(k):
                    shift = x[:, i:i + (out_h - 1) * s + 1:s,
                              j:j + (out_w - 1) * s + 1:s, :]
                    best = shift if best is None else ops.maximum(best, shift)
            return best

    return SameMaxPool


# --- the interactive figure ---------------------------------------------------------------------

#: The framework choices of the figure, each a rule for placing 1-d windows.
FRAMEWORKS = ("Keras 'same'", "Keras 'valid'", "ONNX SAME_LOWER",
              "PyTorch padding=k//2", "PyTorch ceil_mode")


@dataclass(frozen=True)
class WindowRules:
    """Where one framework puts the windows of a 1-d pool: pads, rounding, divisor."""

    pads: tuple[int, int]
    ceil_mode: bool
    count_include_pad: bool
    plan: TorchPlan | None  # None: the framework is PyTorch itself


def window_rules(length: int, kernel: int, stride: int, framework: str) -> WindowRules:
    """The figure's framework choice as explicit pads, ``ceil_mode`` and divisor rule."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    if framework.startswith("Keras"):
        padding = framework.split("'")[1]
        plan = to_torch("avg", (length,), kernel, stride, padding)
        return WindowRules(plan.pads[0], False, False, plan)
    if framework == "ONNX SAME_LOWER":
        plan = to_torch("avg", (length,), kernel, stride, "SAME_LOWER", framework="onnx")
        return WindowRules(plan.pads[0], False, False, plan)
    if framework == "PyTorch padding=k//2":
        return WindowRules((kernel // 2, kernel // 2), False, True, None)
    return WindowRules((0, 0), True, True, None)


def _figure_output(length: int, kernel: int, stride: int, framework: str) -> np.ndarray:
    rules = window_rules(length, kernel, stride, framework)
    x = np.arange(1.0, length + 1)[None]
    return pool_nd(x, (kernel,), stride, [rules.pads], mode="avg",
                   ceil_mode=rules.ceil_mode, count_include_pad=rules.count_include_pad)


def windows_figure(length: int = 7, kernel: int = 3, stride: int = 2,
                   framework: str = "Keras 'same'") -> str:
    """SVG: the input cells 1..length, the padding cells (grey, "pad"), cells a ceil_mode
    window reads past the padding (dashed, "–"), one bar per window with its average, the
    output size and whether a single PyTorch call reproduces it.

    >>> "output size 4" in windows_figure(7, 3, 2, "Keras 'same'")
    True
    """
    from .figures import PADDING, WINDOW_COLOURS

    rules = window_rules(length, kernel, stride, framework)
    out = _figure_output(length, kernel, stride, framework).ravel()
    begin, end = rules.pads
    reach = (len(out) - 1) * stride + kernel - begin  # one past the last cell read
    over = max(reach - length - end, 0)
    cell, left = 44, 8
    first = -begin
    cells = range(first, length + end + over)
    width = left * 2 + cell * len(cells)
    parts = []
    for pos, i in enumerate(cells):
        x0 = left + pos * cell
        if 0 <= i < length:
            fill, text, dash = "#ffffff", str(i + 1), ""
        elif i < length + end:
            fill, text, dash = PADDING, "pad", ""
        else:
            fill, text, dash = "#ffffff", "–", ' stroke-dasharray="4 3"'
        parts.append(f'<rect x="{x0}" y="8" width="{cell - 2}" height="34" fill="{fill}" '
                     f'stroke="#555"{dash}/><text x="{x0 + cell / 2 - 1}" y="31" '
                     f'text-anchor="middle" font-size="15">{text}</text>')
    for o, value in enumerate(out):
        start = o * stride - begin
        x0 = left + (start - first) * cell + 3
        y0 = 52 + o * 24
        colour = WINDOW_COLOURS[o % len(WINDOW_COLOURS)]
        parts.append(f'<rect class="pc-window" x="{x0}" y="{y0}" width="{kernel * cell - 8}" '
                     f'height="18" fill="{colour}" fill-opacity="0.3" stroke="{colour}"/>'
                     f'<text x="{x0 + 4}" y="{y0 + 14}" font-size="14">y{o} = '
                     f'{value:.3g}</text>')
    height = 60 + len(out) * 24
    svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(width, 300)}" '
           f'height="{height}" role="img" aria-label="windows">{"".join(parts)}</svg>')
    if rules.plan is None:
        verdict = "one PyTorch call: yes (it is PyTorch)"
    elif rules.plan.single_call:
        verdict = f"one PyTorch call: yes, {rules.plan.call}"
    else:
        verdict = f"one PyTorch call: no ({rules.plan.why})"
    return (f'<div class="pc-frameworks">{svg}<p class="pc-note" style="font-size:15px">'
            f'pads (begin, end) = {rules.pads}, output size {len(out)}; '
            f'{html.escape(verdict)}</p></div>')


def windows_compare(length: int = 7, kernel: int = 3, stride: int = 2,
                    framework: str = "Keras 'same'") -> widgets.Comparison:
    """The figure's averages from the library and from PyTorch (the plan, run for real)."""
    rules = window_rules(length, kernel, stride, framework)
    x = torch.arange(1.0, length + 1).reshape(1, 1, length)
    if rules.plan is None:
        pad = rules.pads[0]
        theirs = F.avg_pool1d(x, kernel, stride, pad, ceil_mode=rules.ceil_mode)
        name = (f"F.avg_pool1d(x, {kernel}, {stride}, {pad}, "
                f"ceil_mode={rules.ceil_mode})")
    else:
        theirs = PlannedPool(rules.plan)(x)
        name = "F.pad + F.avg_pool1d" if rules.plan.pad else rules.plan.call
    ours = _figure_output(length, kernel, stride, framework)
    return widgets.Comparison(name, ours.ravel(), theirs.numpy().ravel())


def tf_same_max(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """NCHW SAME max pooling through the library (the page's reference for the port)."""
    return tf_max_pool(x, kernel, stride, "SAME", "NCHW")

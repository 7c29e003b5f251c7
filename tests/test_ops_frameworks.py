"""The frameworks library (``pooling_course.ops.frameworks``) against real runtimes: every ONNX
backend node test for the pooling operators (the data files of the pinned ``onnx`` wheel),
onnxruntime on random configurations, JAX's ``lax.reduce_window`` and Keras 3 (JAX backend) on
random SAME/VALID configurations in every data format, and PyTorch for ``to_torch``.
"""

from __future__ import annotations

import glob
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from pooling_course.ops.frameworks import (  # noqa: E402
    keras_pool,
    onnx_pool,
    pool_nd,
    same_pads,
    tf_avg_pool,
    tf_max_pool,
    to_torch,
)

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import helper, numpy_helper  # noqa: E402

from pooling_course.frameworks import run_onnxruntime  # noqa: E402

NODE_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
NODE_TESTS = sorted(os.path.basename(p) for p in glob.glob(os.path.join(NODE_DIR, "test_*pool*")))


def _load(name):
    model = onnx.load(os.path.join(NODE_DIR, name, "model.onnx"))
    node = model.graph.node[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs = {k: v.decode() if isinstance(v, bytes) else v for k, v in attrs.items()}
    data = os.path.join(NODE_DIR, name, "test_data_set_0")
    inputs, outputs = [], []
    for i in range(len(node.input)):
        inputs.append(numpy_helper.to_array(onnx.load_tensor(f"{data}/input_{i}.pb")))
    for i in range(len(node.output)):
        outputs.append(numpy_helper.to_array(onnx.load_tensor(f"{data}/output_{i}.pb")))
    return node.op_type, inputs, attrs, outputs


def test_the_onnx_wheel_ships_every_pooling_node_test():
    assert len(NODE_TESTS) == 53, NODE_TESTS


@pytest.mark.parametrize("name", NODE_TESTS)
def test_onnx_backend_node_test(name):
    """ONNX's own expected outputs, values and indices, within ONNX's tolerance."""
    op_type, inputs, attrs, expected = _load(name)
    got = onnx_pool(op_type, *inputs, return_indices=len(expected) == 2, **attrs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
        # onnx.backend.test.runner compares with rtol=1e-3, atol=1e-7
        np.testing.assert_allclose(g, e, rtol=1e-3, atol=1e-7)


# --- onnxruntime on random configurations --------------------------------------------------

def _run_ort(op_type, inputs, attrs, n_out=1):
    """onnxruntime's answer, from the same one-node model the chapter builds."""
    return run_onnxruntime(op_type, *inputs, n_outputs=n_out, **attrs)


def _random_config(rng, n):
    k = [int(v) for v in rng.integers(1, 4, n)]
    s = [int(v) for v in rng.integers(1, 4, n)]
    d = [int(v) for v in rng.integers(1, 3, n)]
    shape = [int(rng.integers((kk - 1) * dd + 2, 9)) for kk, dd in zip(k, d, strict=True)]
    return k, s, d, shape


@pytest.mark.parametrize("seed", range(6))
def test_onnx_pool_agrees_with_onnxruntime(seed):
    rng = np.random.default_rng(seed)
    checked = 0
    for trial in range(12):
        n = 1 + (trial % 3)
        k, s, d, shape = _random_config(rng, n)
        x = rng.standard_normal([2, 3, *shape]).astype(np.float32)
        attrs = dict(kernel_shape=k, strides=s)
        auto = ["NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"][trial % 4]
        if auto == "NOTSET":
            attrs["pads"] = [int(rng.integers(0, kk // 2 + 1)) for kk in k * 2]
            attrs["ceil_mode"] = int(rng.integers(0, 2))
        else:
            attrs["auto_pad"] = auto
        op = ["MaxPool", "AveragePool", "LpPool"][trial % 3]
        if op == "AveragePool":
            attrs["count_include_pad"] = int(rng.integers(0, 2))
        if op == "LpPool":
            attrs["p"] = int(rng.integers(1, 4))
        if auto == "NOTSET":  # onnxruntime leaves dilation out of SAME's padding
            attrs["dilations"] = d
        if op == "MaxPool" and n <= 2:
            attrs["storage_order"] = int(rng.integers(0, 2))
        n_out = 2 if op == "MaxPool" else 1
        expected = _run_ort(op, [x], attrs, n_out)
        got = onnx_pool(op, x, return_indices=n_out == 2, **attrs)
        for g, e in zip(got, expected, strict=True):
            np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-6, err_msg=f"{op} {attrs}")
        checked += 1
    assert checked == 12


@pytest.mark.parametrize("op", ["GlobalMaxPool", "GlobalAveragePool", "GlobalLpPool"])
def test_global_pools_agree_with_onnxruntime(op):
    x = np.random.default_rng(3).standard_normal((2, 3, 4, 5)).astype(np.float32)
    if op == "GlobalLpPool":  # onnxruntime has no GlobalLpPool kernel: it is an LpPool
        np.testing.assert_allclose(
            onnx_pool(op, x, p=3)[0],
            _run_ort("LpPool", [x], dict(kernel_shape=[4, 5], p=3))[0], rtol=1e-5)
        return
    np.testing.assert_allclose(onnx_pool(op, x)[0], _run_ort(op, [x], {})[0],
                               rtol=1e-5, atol=1e-6)


def test_max_unpool_frames_onnxruntime_and_torch_use_the_output_frame():
    x = np.random.default_rng(4).standard_normal((1, 2, 4, 4)).astype(np.float32)
    y, idx = onnx_pool("MaxPool", x, return_indices=True, kernel_shape=[2, 2], strides=[2, 2])
    attrs = dict(kernel_shape=[2, 2], strides=[2, 2])
    shape = np.array([1, 2, 5, 5], dtype=np.int64)
    ort_out = _run_ort("MaxUnpool", [y, idx, shape], attrs)[0]
    spec = onnx_pool("MaxUnpool", y, idx, shape, **attrs)[0]
    np.testing.assert_array_equal(spec[..., :4, :4], x * (x == np.repeat(
        np.repeat(y, 2, axis=2), 2, axis=3)))  # the spec: the 4x4 frame at the origin
    assert not np.array_equal(ort_out, spec)
    np.testing.assert_array_equal(
        ort_out, onnx_pool("MaxUnpool", y, idx, shape, frame="output", **attrs)[0])
    # torch's indices are per plane; it reads them in each 5x5 output plane
    plane_idx = idx - np.arange(2).reshape(1, 2, 1, 1) * 16
    torch_out = F.max_unpool2d(torch.from_numpy(y), torch.from_numpy(plane_idx), 2, 2,
                               output_size=(5, 5)).numpy()
    np.testing.assert_array_equal(
        torch_out, onnx_pool("MaxUnpool", y, plane_idx + np.arange(2).reshape(1, 2, 1, 1)
                             * 25, shape, frame="output", **attrs)[0])


def test_lp_pool_odd_p_onnx_takes_abs_torch_keeps_the_sign():
    x = np.array([[[-2.0, -1.0, 2.0, -1.0, 2.0, 1.0]]], dtype=np.float32)
    onnx_y = onnx_pool("LpPool", x, kernel_shape=[2], strides=[2], p=3)[0]
    torch_y = F.lp_pool1d(torch.from_numpy(x), 3, 2).numpy()
    np.testing.assert_allclose(onnx_y.ravel(), [9 ** (1 / 3)] * 3, rtol=1e-6)
    # torch: (sum x^p)^(1/p), NaN where the sum is negative
    np.testing.assert_allclose(torch_y.ravel(), [np.nan, 7 ** (1 / 3), 9 ** (1 / 3)],
                               rtol=1e-6)


def test_onnx_errors_name_the_attribute():
    x = np.zeros((1, 1, 4, 4), np.float32)
    with pytest.raises(TypeError, match="count_include_pad"):
        onnx_pool("MaxPool", x, kernel_shape=[2, 2], count_include_pad=1)
    with pytest.raises(ValueError, match="kernel_shape"):
        onnx_pool("AveragePool", x)
    with pytest.raises(ValueError, match="auto_pad"):
        onnx_pool("MaxPool", x, kernel_shape=[2, 2], auto_pad="SAME")
    with pytest.raises(ValueError, match="strides"):
        onnx_pool("MaxPool", x, kernel_shape=[2, 2], strides=[1])


# --- JAX and Keras 3 -------------------------------------------------------------------------

jax = pytest.importorskip("jax")
keras = pytest.importorskip("keras")
from jax import lax  # noqa: E402

FORMATS = ["NWC", "NCW", "NHWC", "NCHW", "NDHWC", "NCDHW"]


def _jax_pool(x, kind, k, s, padding, fmt):
    """XLA's reduce_window with TF's window dims; the SAME average divides by a ones-pool."""
    n = len(fmt) - 2
    last = fmt.endswith("C")
    dims = (1, *k, 1) if last else (1, 1, *k)
    steps = (1, *s, 1) if last else (1, 1, *s)
    xj = jax.numpy.asarray(x)
    if kind == "max":
        return np.asarray(lax.reduce_window(xj, -jax.numpy.inf, lax.max, dims, steps, padding))
    total = lax.reduce_window(xj, 0.0, lax.add, dims, steps, padding)
    count = lax.reduce_window(jax.numpy.ones_like(xj), 0.0, lax.add, dims, steps, padding)
    assert n == len(k)
    return np.asarray(total / count)


@pytest.mark.parametrize("fmt", FORMATS)
def test_tf_pools_agree_with_jax_reduce_window(fmt):
    rng = np.random.default_rng(len(fmt) * 7 + fmt.index("C"))
    n = len(fmt) - 2
    for trial in range(4):
        k = [int(v) for v in rng.integers(1, 4, n)]
        s = [int(v) for v in rng.integers(1, 4, n)]
        shape = [int(rng.integers(kk, 8)) for kk in k]
        full = [2, *shape, 3] if fmt.endswith("C") else [2, 3, *shape]
        x = rng.standard_normal(full).astype(np.float32)
        padding = ("SAME", "VALID")[trial % 2]
        np.testing.assert_array_equal(tf_max_pool(x, k, s, padding, fmt),
                                      _jax_pool(x, "max", k, s, padding, fmt))
        np.testing.assert_allclose(tf_avg_pool(x, k, s, padding, fmt),
                                   _jax_pool(x, "avg", k, s, padding, fmt), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_keras_layers_agree_with_keras_on_jax(n, data_format):
    rng = np.random.default_rng(n * 3 + len(data_format))
    layers = {"max": [keras.layers.MaxPooling1D, keras.layers.MaxPooling2D,
                      keras.layers.MaxPooling3D],
              "avg": [keras.layers.AveragePooling1D, keras.layers.AveragePooling2D,
                      keras.layers.AveragePooling3D]}
    for trial, kind in enumerate(["max", "avg", "max", "avg"]):
        pool = tuple(int(v) for v in rng.integers(1, 4, n))
        strides = None if trial < 2 else tuple(int(v) for v in rng.integers(1, 4, n))
        padding = ("same", "valid")[trial % 2] if trial < 2 else ("valid", "same")[trial % 2]
        shape = [int(rng.integers(p, 8)) for p in pool]
        full = [2, *shape, 3] if data_format == "channels_last" else [2, 3, *shape]
        x = rng.standard_normal(full).astype(np.float32)
        layer = layers[kind][n - 1](pool_size=pool, strides=strides, padding=padding,
                                    data_format=data_format)
        np.testing.assert_allclose(
            keras_pool(x, kind, pool, strides, padding, data_format),
            np.asarray(layer(x)), rtol=1e-5, atol=1e-6)


def test_tf_errors_name_the_parameter():
    x = np.zeros((1, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="ksize"):
        tf_max_pool(x, [2, 2, 2], 1, "SAME")
    with pytest.raises(ValueError, match="padding"):
        tf_max_pool(x, 2, 2, "same")
    with pytest.raises(ValueError, match="explicit"):
        tf_avg_pool(x, 2, 2, [[0, 0], [1, 0], [1, 0], [0, 0]])
    with pytest.raises(ValueError, match="data_format"):
        tf_max_pool(x, 2, 2, "SAME", "NHCW")


def test_tf_explicit_padding_for_max_pool():
    x = np.random.default_rng(5).standard_normal((1, 5, 6, 2)).astype(np.float32)
    pads = [[0, 0], [1, 0], [0, 2], [0, 0]]
    expected = np.asarray(lax.reduce_window(
        jax.numpy.asarray(x), -jax.numpy.inf, lax.max, (1, 2, 3, 1), (1, 2, 2, 1),
        [tuple(p) for p in pads]))
    np.testing.assert_array_equal(tf_max_pool(x, [2, 3], 2, pads), expected)


# --- the core and the port to PyTorch ---------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_pool_nd_is_torch_where_torch_has_the_option(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 3, 9, 8)).astype(np.float32)
    k, s, d = (int(v) for v in rng.integers(1, 4, 3))
    p = int(rng.integers(0, k // 2 + 1))
    ceil = bool(seed % 2)
    y, i = pool_nd(x, (k, k), s, p, dilation=d, ceil_mode=ceil, return_indices=True)
    ty, ti = F.max_pool2d(torch.from_numpy(x), k, s, p, d, ceil_mode=ceil,
                          return_indices=True)
    np.testing.assert_array_equal(y, ty.numpy())
    np.testing.assert_array_equal(i, ti.numpy())
    for cip in (True, False):
        np.testing.assert_allclose(
            pool_nd(x, (k, k), s, p, mode="avg", ceil_mode=ceil, count_include_pad=cip),
            F.avg_pool2d(torch.from_numpy(x), k, s, p, ceil, cip).numpy(), rtol=1e-6,
            atol=1e-6)


def _run_plan(plan, x, kind):
    t = torch.from_numpy(x)
    env = {"F": F, "x": t, "inf": float("inf")}
    if plan.pad is None:
        return eval(plan.call, env).numpy()
    env["x"] = F.pad(t, plan.pad, value=plan.pad_value)
    y = eval(plan.call, env)
    if kind == "avg":
        env["x"] = F.pad(torch.ones_like(t), plan.pad, value=0.0)
        y = y / eval(plan.call, env)
    return y.numpy()


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_to_torch_reproduces_keras_same_and_valid(kind):
    rng = np.random.default_rng(7)
    for _ in range(10):
        k = tuple(int(v) for v in rng.integers(1, 5, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        shape = tuple(int(rng.integers(max(k), 10)) for _ in k)
        x = rng.standard_normal((1, 2, *shape)).astype(np.float32)
        for padding in ("same", "valid"):
            plan = to_torch(kind, shape, k, s, padding)
            expected = keras_pool(x, kind, k, s, padding, "channels_first")
            np.testing.assert_allclose(_run_plan(plan, x, kind), expected, rtol=1e-6,
                                       atol=1e-6)
            total = [sum(same_pads(L, kk, ss)) for L, kk, ss in zip(shape, k, s, strict=True)]
            if padding == "same" and any(t % 2 for t in total):
                assert not plan.single_call and "asymmetric" in plan.why

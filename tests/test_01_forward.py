"""Chapter 1, the forward pass: the package's shape arithmetic and loop references against
torch, and the graded tests of exercise 01_forward (marked ``graded``; they grade the notebook
given by ``--submission``, by default the reference solution)."""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from pooling_course import forward
from pooling_course.forward import Layer, pool_output_shape, pool_output_size, receptive_fields
from pooling_course.grading import expect

EXERCISE = "01_forward"


def torch_output_size(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int | None:
    """Torch's answer, or None when torch rejects the configuration."""
    try:
        return F.max_pool1d(torch.zeros(1, 1, n), k, s, p, d, ceil_mode).shape[-1]
    except RuntimeError:
        return None


# --- the package ---------------------------------------------------------------------------

def test_output_size_agrees_with_torch_on_every_small_config():
    for n, k, s, p, d, ceil_mode in itertools.product(range(1, 12), range(1, 6), range(1, 5),
                                                      range(0, 4), range(1, 4), (False, True)):
        expected = torch_output_size(n, k, s, p, d, ceil_mode)
        if expected is None:
            with pytest.raises(ValueError):
                pool_output_size(n, k, s, p, d, ceil_mode)
        else:
            assert pool_output_size(n, k, s, p, d, ceil_mode) == expected, (n, k, s, p, d)


@pytest.mark.parametrize(("kwargs", "parameter"), [
    (dict(kernel_size=0), "kernel_size"),
    (dict(kernel_size=2, stride=0), "stride"),
    (dict(kernel_size=2, dilation=0), "dilation"),
    (dict(kernel_size=2, padding=-1), "padding"),
    (dict(kernel_size=2, padding=2), "padding"),
    (dict(kernel_size=9), "input_size"),
])
def test_rejected_configuration_names_the_parameter(kwargs, parameter):
    with pytest.raises(ValueError, match=parameter):
        pool_output_size(4, **kwargs)


@pytest.mark.parametrize("bad", [2.0, "2", True, (2, 2, 2), None])
def test_kernel_size_of_wrong_type_or_length_is_rejected(bad):
    with pytest.raises((TypeError, ValueError), match="kernel_size"):
        pool_output_shape((4, 4), bad)


def test_padding_rule_is_half_the_kernel_even_with_dilation():
    # Dilation widens the window, yet torch still caps padding at kernel_size // 2.
    assert torch_output_size(9, 2, 1, 2, 3, False) is None
    with pytest.raises(ValueError, match="padding"):
        pool_output_size(9, 2, 1, 2, 3)


def measured_receptive_field(layers: list[tuple[int, int, int]]) -> tuple[int, int]:
    """(receptive field, effective stride) of the last layer, measured in torch: the input
    pixels a unit's gradient reaches, and how far the next unit's footprint is shifted."""
    modules = []
    for k, s, d in layers:
        conv = torch.nn.Conv1d(1, 1, k, s, dilation=d, bias=False)
        torch.nn.init.ones_(conv.weight)  # all-ones weights: no gradient vanishes by accident
        modules.append(conv)
    net = torch.nn.Sequential(*modules).double()
    footprints = []
    for shift in (0, 1):
        x = torch.ones(1, 1, 600, dtype=torch.float64, requires_grad=True)
        y = net(x)
        y[0, 0, y.shape[-1] // 2 + shift].backward()
        footprints.append(torch.nonzero(x.grad[0, 0]).flatten())
    first = footprints[0]
    return int(first[-1] - first[0] + 1), int(footprints[1][0] - first[0])


STACKS = [[(3, 1, 1), (2, 2, 1), (5, 1, 1), (3, 2, 1), (3, 1, 2)],
          [(3, 1, 1), (3, 1, 1), (2, 2, 1), (3, 1, 1), (3, 1, 1), (2, 2, 1), (5, 1, 1)],
          [(7, 2, 1), (3, 2, 1), (1, 1, 1), (3, 3, 1)], [(4, 4, 1)], [(1, 1, 1)]]


@pytest.mark.parametrize("stack", STACKS)
def test_receptive_fields_match_the_gradient_footprint_in_torch(stack):
    rows = receptive_fields([Layer(f"layer{i}", k, s, d) for i, (k, s, d) in enumerate(stack)])
    assert (rows[-1].receptive_field, rows[-1].effective_stride) == measured_receptive_field(
        stack)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_loop_references_match_torch(data):
    n, c = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 2))
    h, w = data.draw(st.integers(1, 7)), data.draw(st.integers(1, 7))
    k = (data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4)))
    s = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)))
    p = (data.draw(st.integers(0, k[0] // 2)), data.draw(st.integers(0, k[1] // 2)))
    d = (data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2)))
    ceil_mode = data.draw(st.booleans())
    batched = data.draw(st.booleans())
    shape = (n, c, h, w) if batched else (c, h, w)
    x = data.draw(st.sampled_from([np.float32, np.float64]))(
        np.random.default_rng(data.draw(st.integers(0, 99))).integers(-2, 3, shape))
    x[np.random.default_rng(1).random(shape) < 0.1] = np.nan  # ties and NaNs on purpose
    t = torch.from_numpy(x)
    try:
        want, want_idx = F.max_pool2d(t, k, s, p, d, ceil_mode, return_indices=True)
    except RuntimeError:
        with pytest.raises(ValueError):
            forward.max_pool2d_loop(x, k, s, p, d, ceil_mode)
        return
    got, got_idx = forward.max_pool2d_loop(x, k, s, p, d, ceil_mode, return_indices=True)
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(got_idx, want_idx.numpy())
    assert got.dtype == x.dtype
    for count_include_pad in (True, False):
        want = F.avg_pool2d(t, k, s, p, ceil_mode, count_include_pad)
        got = forward.avg_pool2d_loop(x, k, s, p, ceil_mode, count_include_pad)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-6)


def test_max_pool_of_a_window_wholly_in_padding_is_torchs_lowest_and_index():
    x = np.arange(3.0).reshape(1, 1, 3)
    want, want_idx = F.max_pool2d(torch.from_numpy(x), (2, 1), 1, (1, 0), (2, 1),
                                  return_indices=True)
    got, got_idx = forward.max_pool2d_loop(x, (2, 1), 1, (1, 0), (2, 1), return_indices=True)
    assert np.isneginf(got).all()
    np.testing.assert_array_equal(got, want.numpy())
    np.testing.assert_array_equal(got_idx, want_idx.numpy())


# --- graded: exercise 01_forward ---------------------------------------------------------
# Each question keeps its fixed teaching examples and adds inputs drawn from `rng`, fresh for
# each student and grade seed, so a table of the public inputs cannot pass. Expected values come
# from torch (cached: a class graded in one process asks torch once per configuration).

torch_output_size = functools.cache(torch_output_size)

SIZE_HINT = ("count the windows: (input_size + 2*padding - dilation*(kernel_size-1) - 1) / stride "
             "+ 1, floored (or ceiled in ceil_mode, but a window may not start in the padding)")
MAX_HINT = ("pad with -inf (never with 0), slide a kernel_size window by stride in both "
            "directions, and return an array of x's dtype")
RF_HINT = ("walk the layers input side first: rf grows by (k-1) times the product of the "
           "strides before the layer; that product is the effective stride")


def random_configs(rng: np.random.Generator, ceil_mode: bool, count: int = 40) -> list[tuple]:
    """``count`` configurations torch accepts, from ranges wider than the fixed grid."""
    configs = []
    while len(configs) < count:
        k, s, d = int(rng.integers(1, 9)), int(rng.integers(1, 7)), int(rng.integers(1, 4))
        p = int(rng.integers(0, k // 2 + 1))
        n = int(rng.integers(max(1, d * (k - 1) + 1 - 2 * p), 200))
        if torch_output_size(n, k, s, p, d, ceil_mode) is not None:
            configs.append((n, k, s, p, d, ceil_mode))
    return configs


SIZE_HINTS = {
    "off_by_one": "One window off: the count is (input_size + 2*padding - dilation*(kernel_size"
                  " - 1) - 1) // stride + 1; the + 1 counts the first window.",
    "values": SIZE_HINT,
}
CEIL_HINTS = {
    "off_by_one": "In ceil_mode round the division up, then drop the last window if it would "
                  "start in the right padding: (out - 1) * stride >= input_size + padding.",
    "values": SIZE_HINT,
}


def check_sizes(submission, configs: list[tuple], must_be_int: bool = False) -> None:
    """Only the first output-size test insists on an int: a float answer costs one point."""
    for n, k, s, p, d, ceil_mode in configs:
        got = submission.pool_output_size(n, k, s, p, d, ceil_mode)
        want = torch_output_size(n, k, s, p, d, ceil_mode)
        what = f"pool_output_size({n}, {k}, {s}, {p}, {d}, ceil_mode={ceil_mode})"
        hints = CEIL_HINTS if ceil_mode else SIZE_HINTS
        if must_be_int:
            expect.integer(got, want, what, hints)
        else:
            expect.number(got, want, what, hints)


@pytest.mark.graded(EXERCISE, points=1, question="1.1 pool_output_size", hint=SIZE_HINT)
def test_output_size_without_padding(submission, rng):
    fixed = [(n, k, s, 0, 1, False) for n, k, s in [(5, 2, 2), (7, 3, 1), (10, 4, 3), (4, 4, 1)]]
    drawn = [(int(rng.integers(k, 300)), k, int(rng.integers(1, 8)), 0, 1, False)
             for k in rng.integers(1, 10, size=30)]
    check_sizes(submission, fixed + drawn, must_be_int=True)


@pytest.mark.graded(EXERCISE, points=1, question="1.1 pool_output_size", hint=SIZE_HINT)
def test_output_size_defaults_stride_to_kernel_size(submission, rng):
    cases = [(4, 2), (5, 2), (6, 2)] + [(int(rng.integers(9, 300)), int(rng.integers(1, 9)))
                                        for _ in range(10)]
    for n, k in cases:
        got, want = submission.pool_output_size(n, k), torch_output_size(n, k, k, 0, 1, False)
        expect.number(got, want, f"pool_output_size({n}, {k})",
                      {"values": "stride=None means stride = kernel_size.",
                       "off_by_one": "stride=None means stride = kernel_size; "
                                     + SIZE_HINTS["off_by_one"]})


@pytest.mark.graded(EXERCISE, points=1, question="1.1 pool_output_size", hint=SIZE_HINT)
def test_output_size_with_padding_and_dilation(submission, rng):
    fixed = [(5, 2, 2, 1, 1, False), (9, 3, 1, 1, 2, False), (7, 3, 2, 0, 3, False)]
    check_sizes(submission, fixed + random_configs(rng, ceil_mode=False))


@pytest.mark.graded(EXERCISE, points=1, question="1.1 pool_output_size", hint=SIZE_HINT)
def test_output_size_ceil_mode_and_the_last_window_rule(submission, rng):
    # (5, 2, 2, 1): ceil would give a last window wholly in the padding; torch drops it.
    fixed = [(5, 2, 2, 0, 1, True), (5, 2, 2, 1, 1, True), (6, 3, 2, 1, 1, True)]
    check_sizes(submission, fixed + random_configs(rng, ceil_mode=True))


def torch_max_pool2d(x: np.ndarray, k: object, s: object = None, p: object = 0) -> np.ndarray:
    return F.max_pool2d(torch.from_numpy(x)[None], k, s, p)[0].numpy()


MAX_HINTS = {
    "off_by_one": "One window too many or too few: there are (H + 2*padding - kernel_size) "
                  "// stride + 1 windows along H (range(that), not range(that - 1) or + 1).",
    "shape": "The output has (H + 2*padding - kernel_size) // stride + 1 rows and likewise "
             "columns; stride=None means stride = kernel_size.",
    "dtype": "Keep x's dtype: create the output with dtype=x.dtype.",
    "values": "Each output is the maximum of one kernel_size window, starting at (i*stride, "
              "j*stride) of the padded input.",
}
ZERO_PAD_HINT = ("Pad with -inf, never with 0: on negative inputs a zero from the padding wins "
                 "the border windows (np.pad(..., constant_values=-np.inf), in a float array).")


@pytest.mark.graded(EXERCISE, points=1, question="1.2 max_pool2d", hint=MAX_HINT)
def test_max_pool2d_on_the_worked_example(submission):
    x = np.array([[1, 3, 2, 1], [4, 6, 5, 0], [2, 9, 3, 4], [0, 1, 7, 2]], dtype=np.float32)
    pooled(submission, x, 2, 2)


def pooled(submission, x: np.ndarray, *args, dtype: bool = False) -> np.ndarray:
    """The student's max_pool2d(x, *args), compared with torch: type, shape, (with ``dtype``)
    dtype, then values; a dtype slip costs only the test that checks the dtype."""
    got = submission.max_pool2d(x, *args)
    want = torch_max_pool2d(x, *args)
    call = f"max_pool2d(<{x.shape[0]}x{x.shape[1]} {x.dtype}>, {', '.join(map(repr, args))})"
    hints = dict(MAX_HINTS)
    if (isinstance(got, np.ndarray) and got.shape == want.shape and got.dtype.kind in "fiu"
            and np.any((got == 0) & (want < 0))):
        hints["values"] = hints["off_by_one"] = ZERO_PAD_HINT
    return expect.array(got, want, call, hints, dtype=dtype)


@pytest.mark.graded(EXERCISE, points=2, question="1.2 max_pool2d", hint=MAX_HINT)
def test_max_pool2d_overlapping_and_strided_windows(submission, rng):
    for h, w, k, s in itertools.product((5, 7), (4, 7), (2, 3), (1, 2, 3)):
        pooled(submission, rng.normal(size=(h, w)).astype(np.float32), k, s)


@pytest.mark.graded(EXERCISE, points=2, question="1.2 max_pool2d", hint=MAX_HINT)
def test_max_pool2d_padding_never_wins(submission, rng):
    x = -np.arange(1, 26, dtype=np.float64).reshape(5, 5)
    for k, s, p in [(2, 2, 1), (3, 1, 1), (3, 2, 1), (4, 3, 2)]:
        pooled(submission, x, k, s, p)
    for _ in range(6):  # all negative: a zero from the padding would win
        k = int(rng.integers(2, 6))
        x = -rng.uniform(1, 9, size=tuple(rng.integers(k, 12, size=2)))
        pooled(submission, x, k, int(rng.integers(1, 4)), int(rng.integers(1, k // 2 + 1)))


@pytest.mark.graded(EXERCISE, points=1, question="1.2 max_pool2d", hint=MAX_HINT)
def test_max_pool2d_rectangular_windows_and_dtype(submission, rng):
    x = np.random.default_rng(1).integers(-9, 9, size=(6, 7)).astype(np.float32)
    cases = [(x, (2, 3), (1, 2), (1, 0))]
    for dtype in (np.float32, np.float64):
        k = tuple(int(v) for v in rng.integers(1, 5, size=2))
        y = rng.integers(-9, 9, size=tuple(rng.integers(5, 12, size=2))).astype(dtype)
        cases.append((y, k, tuple(int(v) for v in rng.integers(1, 4, size=2)),
                      tuple(int(rng.integers(0, v // 2 + 1)) for v in k)))
    for y, k, s, p in cases:
        pooled(submission, y, k, s, p, dtype=True)


RF_HINTS = {
    "type": "Return the pair (receptive_field, effective_stride) as a tuple of two ints.",
    "off_by_one": "Start from rf = 1 (one input pixel) and add (k - 1) * jump per layer, where "
                  "jump is the product of the strides of the layers before it.",
    "values": RF_HINT,
}


@pytest.mark.graded(EXERCISE, points=3, question="1.3 receptive_field", hint=RF_HINT)
def test_receptive_field_matches_the_network_measured_in_torch(submission, rng):
    stacks = [s for s in STACKS if all(d == 1 for _, _, d in s)]
    stacks += [[(int(rng.integers(1, 8)), int(rng.integers(1, 3)), 1)  # fits torch's 600 px
                for _ in range(int(rng.integers(1, 6)))] for _ in range(4)]
    for stack in stacks:
        layers = [(k, s) for k, s, _ in stack]
        got = submission.receptive_field(layers)
        rf, jump = measured(tuple(stack))
        call = f"receptive_field({layers})"
        field, stride = expect.parts(got, ("receptive_field", "effective_stride"), call,
                                     RF_HINTS)
        own_stride = 1 + sum((k - 1) * s for k, s in layers)  # a typical mistake
        hints = RF_HINTS if field != own_stride or own_stride == rf else {
            **RF_HINTS, "values": "Each layer adds (k - 1) times the product of the strides of "
                                  "the layers BEFORE it (the jump), not times its own stride."}
        expect.integer(field, rf, f"{call}[0], the receptive field (torch measures it)", hints)
        expect.integer(stride, jump, f"{call}[1], the effective stride (the product of the "
                                     "strides)", {**RF_HINTS, "values": "The effective stride "
                                                  "is the product of all the layers' strides."})


@functools.cache
def measured(stack: tuple) -> tuple[int, int]:
    return measured_receptive_field(list(stack))

"""The graded tests of exercise 05_regions (marked ``graded``; they grade the notebook given by
``--submission``, by default the reference solution), compared with torch and the package
through :mod:`pooling_course.grading.expect`; a wrong answer that equals what a known mistake
computes gets the hint naming that mistake."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pooling_course import regions
from pooling_course.grading import expect
from pooling_course.ops import roi_align

EXERCISE = "05_regions"

BOUNDS_HINTS = {
    "type": "Return the pair (starts, ends): two arrays (or lists) of output_size integers.",
    "shape": "Return output_size starts and output_size ends: one window per output cell.",
    "off_by_one": "A bound is one off: starts are floor(i*L/O), ends are ceil((i+1)*L/O) and "
                  "exclusive (the window is x[start:end]).",
    "values": "starts are floor(i*L/O), ends are ceil((i+1)*L/O), computed with integers: "
              "i*L//O and -((-(i+1)*L)//O).",
}
FLOAT_HINT = ("Use integer arithmetic: starts i*L//O, ends -((-(i+1)*L)//O); float division "
              "lands on the wrong side of an integer for these sizes.")


def bound_mistakes(length: int, out: int) -> dict[str, list[tuple[np.ndarray, str]]]:
    """What known mistakes return for the starts and for the ends."""
    i = np.arange(out)
    return {
        "starts": [(np.array([math.floor(v * length / out) for v in i]), FLOAT_HINT),
                   (np.array([math.ceil(v * length / out) for v in i]),
                    "Starts round down: floor(i*L/O) (i*L//O), ends round up.")],
        "ends": [(np.array([math.ceil((v + 1) * length / out) for v in i]), FLOAT_HINT),
                 (-(-(i + 1) * length // out) - 1,
                  "Ends are exclusive: ceil((i+1)*L/O) itself, not one less (the window is "
                  "x[start:end])."),
                 ((i + 1) * length // out,
                  "Ends round up: ceil((i+1)*L/O), i.e. -((-(i+1)*L)//O), not (i+1)*L//O.")]}


def check_bounds(submission, length: int, out: int, starts: np.ndarray, ends: np.ndarray,
                 compared: str = "") -> None:
    call = f"adaptive_bounds({length}, {out})"
    got = expect.parts(submission.adaptive_bounds(length, out), ("starts", "ends"), call,
                       BOUNDS_HINTS)
    mistakes = bound_mistakes(length, out)
    for name, part, want in (("starts", got[0], starts), ("ends", got[1], ends)):
        if isinstance(part, list | tuple):
            part = np.asarray(part)
        if isinstance(part, np.ndarray) and part.dtype.kind == "f" and np.all(
                np.mod(part, 1) == 0):  # whole numbers held as floats count as integers
            part = part.astype(np.int64)
        expect.array(part, want.astype(np.int64), f"{call}, its {name}{compared}",
                     BOUNDS_HINTS, dtype=False, mistakes=mistakes[name])


@pytest.mark.graded(EXERCISE, points=1, question="5.1 adaptive_bounds",
                    hint="starts are i*L//O; ends are ceil((i+1)*L/O), i.e. -((-(i+1)*L)//O)")
def test_adaptive_bounds_teaching_examples(submission):
    for length, out, starts, ends in [(7, 3, [0, 2, 4], [3, 5, 7]), (8, 4, [0, 2, 4, 6],
                                       [2, 4, 6, 8]), (3, 5, [0, 0, 1, 1, 2], [1, 2, 2, 3, 3])]:
        check_bounds(submission, length, out, np.array(starts), np.array(ends))


@pytest.mark.graded(EXERCISE, points=1, question="5.1 adaptive_bounds",
                    hint="use integer arithmetic: float division lands on the wrong side of "
                         "an integer for large sizes")
def test_adaptive_bounds_match_torch_windows(submission, rng):
    sizes = [(int(L), int(o)) for L, o in zip(rng.integers(1, 400, 40), rng.integers(1, 60, 40),
                                              strict=True)] + [(49, 7), (1000, 999)]
    for length, out in sizes:
        # torch's adaptive max pool of 0..L-1 picks each window's last cell, of -(0..L-1) its
        # first: the bounds torch uses, read off its output
        line = torch.arange(length, dtype=torch.float64)[None]
        last = F.adaptive_max_pool1d(line, out)[0].long().numpy()
        first = (-F.adaptive_max_pool1d(-line, out)[0]).long().numpy()
        check_bounds(submission, length, out, first, last + 1,
                     " (read off torch's adaptive max pool of 0..L-1)")


SPP_HINTS = {
    "shape": "Concatenate C*l*l values per level l: the output has C * sum(l*l) values.",
    "values": "Each level is a (C, l, l) max over the adaptive bins (your adaptive_bounds), "
              "flattened as (C, l, l); concatenate the levels in the order given.",
    "dtype": "Keep x's dtype.",
}


@pytest.mark.graded(EXERCISE, points=3, question="5.2 spatial_pyramid_pool",
                    hint="each level is a (C, l, l) max over adaptive bins, flattened; "
                         "concatenate levels in order")
def test_spatial_pyramid_pool_matches_torch(submission, rng):
    cases = [((1, 4, 4), (1, 2)), ((3, 5, 7), (1, 2, 4)), ((2, 13, 9), (1, 2, 3, 6)),
             ((2, 3, 2), (1, 2, 4))]
    for shape, levels in cases:
        x = rng.standard_normal(shape)
        t = torch.from_numpy(x)[None]
        want = torch.cat([F.adaptive_max_pool2d(t, v).flatten(1) for v in levels], 1)[0]
        mistakes = [
            (torch.cat([F.adaptive_avg_pool2d(t, v).flatten(1) for v in levels], 1)[0].numpy(),
             "Take each bin's maximum, not its mean."),
            (torch.cat([F.adaptive_max_pool2d(t, v)[0].permute(1, 2, 0).flatten()
                        for v in levels]).numpy(),
             "Flatten each level as (C, l, l), channel first (np.ravel of the (C, l, l) "
             "array), not as (l, l, C).")]
        expect.array(submission.spatial_pyramid_pool(x, levels), want.numpy(),
                     f"spatial_pyramid_pool(<x {shape}>, {levels})", SPP_HINTS, dtype=False,
                     lists=True, mistakes=mistakes)


def _kernel_bilinear(plane: np.ndarray, y: float, x: float) -> float:
    found = regions.bilinear_weights(y, x, *plane.shape)
    if found is None:
        return 0.0
    return float(sum(w * plane[c] for c, w in zip(*found, strict=True)))


def bilinear_hints(plane: np.ndarray, y: float, x: float) -> dict[str, str]:
    h, w = plane.shape
    if y < -1 or y > h or x < -1 or x > w:
        return {"values": f"({y:g}, {x:g}) lies beyond -1 or the map's size ({h}, {w}): "
                          "such a sample is dropped and reads 0."}
    if y < 0 or x < 0 or y > h - 1 or x > w - 1:
        return {"values": f"({y:g}, {x:g}) lies within one pixel outside the map: clamp it to "
                          "the border (a sample in [-1, 0] or [H-1, H] reads the border row "
                          "at full weight)."}
    return {"values": "Inside the map it is ordinary bilinear interpolation of the four "
                      "neighbours, weighted by (1 - dy, dy) and (1 - dx, dx)."}


def check_bilinear(submission, plane: np.ndarray, points: list[tuple[float, float]]) -> None:
    for y, x in points:
        expect.number(submission.bilinear(plane, y, x), _kernel_bilinear(plane, y, x),
                      f"bilinear(<plane {plane.shape}>, {y!r}, {x!r})",
                      bilinear_hints(plane, y, x), rtol=1e-12, atol=1e-12)


@pytest.mark.graded(EXERCISE, points=1, question="5.3 bilinear",
                    hint="inside the map it is ordinary bilinear interpolation")
def test_bilinear_inside_the_map(submission, rng):
    plane = rng.standard_normal((4, 5))
    points = [(1.0, 1.5), (0.25, 0.75), (2.5, 3.25)] + [
        (float(y), float(x)) for y, x in zip(rng.uniform(0, 3, 20), rng.uniform(0, 4, 20),
                                             strict=True)]
    check_bilinear(submission, plane, points)


@pytest.mark.graded(EXERCISE, points=2, question="5.3 bilinear",
                    hint="drop samples beyond -1 or H; clamp the rest: a sample in [-1, 0] or "
                         "[H-1, H] reads the border row at full weight")
def test_bilinear_at_and_beyond_the_border(submission, rng):
    plane = rng.standard_normal((3, 4))
    points = [(-1.0, 1.0), (-1.01, 1.0), (3.0, 2.0), (3.01, 2.0), (2.5, 3.7), (-0.5, -0.5),
              (1.5, -1.0), (1.5, 4.0), (1.5, 4.2), (2.0, 3.0)] + [
        (float(y), float(x)) for y, x in zip(rng.uniform(-2, 4, 40), rng.uniform(-2, 5, 40),
                                             strict=True)]
    check_bilinear(submission, plane, points)


def _package_roi_align(x: np.ndarray, box: tuple[float, ...], size: tuple[int, int],
                       sampling_ratio: int, aligned: bool) -> np.ndarray:
    return roi_align(x[None], np.array([[0, *box]]), size, 1.0, sampling_ratio, aligned)[0]


ROI_HINTS = {
    "shape": "Return (C, output_height, output_width).",
    "values": "Sample y = y1 + i*bin_h + (iy + 0.5)*bin_h/grid_h (likewise x) and divide by the "
              "number of samples; with sampling_ratio -1 the grid is ceil(roi_h / "
              "output_height) per bin.",
    "dtype": "Keep x's dtype.",
}


def check_roi(submission, x: np.ndarray, cases: list[tuple]) -> None:
    for box, size, ratio, aligned in cases:
        want = _package_roi_align(x, box, size, ratio, aligned)
        mistakes = [(_package_roi_align(x, box, size, ratio, not aligned),
                     "aligned=True shifts the box by half a pixel (subtract 0.5 from its "
                     "corners) and does not widen it to 1; aligned=False does neither shift.")]
        if ratio == -1:
            mistakes.append((_package_roi_align(x, box, size, 1, aligned), "sampling_ratio=-1 "
                             "means an adaptive grid: ceil(roi_h / output_height) by "
                             "ceil(roi_w / output_width) samples per bin, not one."))
        box_text = "(" + ", ".join(f"{v:.3g}" for v in box) + ")"
        expect.array(submission.roi_align_box(x, box, size, ratio, aligned), want,
                     f"roi_align_box(<x {x.shape}>, {box_text}, {size}, {ratio}, {aligned})",
                     ROI_HINTS, dtype=False, rtol=1e-10, atol=1e-12, lists=True,
                     mistakes=mistakes)


@pytest.mark.graded(EXERCISE, points=2, question="5.4 roi_align_box",
                    hint="sample y = y1 + i*bin_h + (iy + 0.5)*bin_h/grid_h and divide by "
                         "the number of samples")
def test_roi_align_box_inside_the_map(submission, rng):
    x = rng.standard_normal((2, 6, 7))
    cases = [((1, 1, 4, 4), (2, 2), 2, False), ((0.5, 1.25, 5.5, 4.0), (3, 2), -1, False),
             ((0, 0, 7, 6), (3, 3), 1, True)]
    for _ in range(6):
        x1, y1 = rng.uniform(0, 3, 2)
        box = (x1, y1, x1 + rng.uniform(1, 3.5), y1 + rng.uniform(1, 2.5))
        cases.append((box, (int(rng.integers(1, 4)), int(rng.integers(1, 4))),
                      int(rng.choice([-1, 1, 2])), bool(rng.integers(2))))
    check_roi(submission, x, cases)


@pytest.mark.graded(EXERCISE, points=2, question="5.4 roi_align_box",
                    hint="without aligned, widen boxes to at least 1; with the adaptive grid "
                         "a bin may get 0 samples and output 0")
def test_roi_align_box_border_and_degenerate_boxes(submission, rng):
    x = rng.standard_normal((1, 5, 6))
    cases = [((-2, -1.5, 2, 2), (2, 2), -1, False), ((4, 3, 7.5, 6.5), (2, 2), 2, False),
             ((2, 2, 2, 2), (2, 2), -1, False), ((1, 2, 3, 2), (2, 2), -1, True),
             ((3, 1, 1, 3), (1, 2), 2, True), ((-3, 0, 9, 5), (2, 3), -1, True)]
    for _ in range(6):
        x1, y1 = rng.uniform(-3, 6, 2)
        box = (x1, y1, x1 + rng.uniform(-1, 5), y1 + rng.uniform(-1, 5))
        cases.append((box, (2, 2), int(rng.choice([-1, 2])), bool(rng.integers(2))))
    check_roi(submission, x, cases)

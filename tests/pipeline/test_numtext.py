"""pipeline.numtext writes exactly the text of Python's ``%`` formats, for any value."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.numtext import constant, fixed, general, integers, rows, texts

# values where the digit arithmetic must hand over to Python or round across a boundary:
# ties between two last digits, powers of ten, rounding up into another digit or exponent,
# the extremes of float64, non-finite values, signed zeros
EDGES = [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 1.005, 2.675, 9.5, 9.995, 9.999995, 99999.95,
         999999.5, 9999995.0, 0.000099999995, 0.0001, 0.00001, 1e-5, 1e15, 1e16, 123456.5, 1e22, 1e23,
         1e100, 1e-100, 1e300, -1e-300, 5e-324, 2.0**53, 4503599627370495.5, np.nan, np.inf, -np.inf]
FLOATS = st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64)
SCALED = st.builds(lambda m, e: m * 10.0**e, st.floats(-10, 10, allow_nan=False), st.integers(-12, 12))


def _python(values, fmt):
    return "".join(fmt % float(v) + "," for v in values)


def _ours(field):
    return rows(field, ",").decode()


@pytest.mark.parametrize("decimals", [0, 1, 2, 4, 6, 9])
def test_fixed_equals_percent_f_on_edges(decimals):
    v = np.array(EDGES + [-x for x in EDGES])
    assert _ours(fixed(v, decimals)) == _python(v, f"%.{decimals}f")


@pytest.mark.parametrize("precision", [1, 3, 6, 9])
def test_general_equals_percent_g_on_edges(precision):
    v = np.array(EDGES + [-x for x in EDGES])
    assert _ours(general(v, precision)) == _python(v, f"%.{precision}g")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(arrays(np.float64, st.integers(1, 300), elements=st.one_of(FLOATS, SCALED)), st.integers(0, 9))
def test_fixed_equals_percent_f(values, decimals):
    assert _ours(fixed(values, decimals)) == _python(values, f"%.{decimals}f")


@settings(max_examples=60, deadline=None, derandomize=True)
@given(arrays(np.float64, st.integers(1, 300), elements=st.one_of(FLOATS, SCALED)), st.integers(1, 9))
def test_general_equals_percent_g(values, precision):
    assert _ours(general(values, precision)) == _python(values, f"%.{precision}g")


def test_many_values_in_one_call_equal_percent():
    rng = np.random.default_rng(0)
    v = np.concatenate([rng.normal(0, 1, 20_000) * 10.0 ** rng.integers(-8, 10, 20_000),
                        np.round(rng.uniform(0, 20_000, 20_000), 2), np.round(rng.uniform(0, 1, 20_000), 5)])
    assert _ours(fixed(v, 4)) == _python(v, "%.4f")
    assert _ours(fixed(v, 2)) == _python(v, "%.2f")
    assert _ours(general(v)) == _python(v, "%.6g")


def test_nan_and_inf_texts_and_float32():
    v = np.array([1.0, np.nan, np.inf, -np.inf])
    assert rows(fixed(v, 4, nan=""), ",") == b"1.0000,,inf,-inf,"
    assert rows(general(v, nan="null", inf="null"), ",") == b"1,null,null,null,"
    f32 = np.float32([0.1, 1.5, 3.3])  # widened exactly, as % widens it
    assert _ours(fixed(f32, 4)) == _python(f32, "%.4f")


def test_integers_equal_percent_d():
    v = np.array([0, -1, 7, -12, 345, 2**62, -(2**62), 2**63 - 1, -(2**63)], np.int64)
    assert _ours(integers(v)) == "".join("%d," % x for x in v.tolist())
    big = np.array([0, 5, 2**63, 2**64 - 1], np.uint64)
    assert _ours(integers(big)) == "".join("%d," % x for x in big.tolist())
    assert rows(integers(np.array([True, False])), ",") == b"1,0,"
    assert _ours(integers(np.uint8([0, 255]))) == "0,255,"


def test_texts_constant_and_rows():
    assert rows(texts(np.array([True, False])), ",") == b"True,False,"
    assert rows(texts(["Tumor", "µm", ""]), "|").decode() == "Tumor|µm||"
    assert rows("[", integers([3, 4]), constant(";", [False, True]), "]\n") == b"[3]\n[4;]\n"
    assert rows(integers(np.array([], np.int64)), "\n") == b""


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="decimals"):
        fixed([1.0], 10)
    with pytest.raises(ValueError, match="precision"):
        general([1.0], 0)
    with pytest.raises(ValueError, match="integers"):
        integers([1.5])
    with pytest.raises(ValueError, match="at least one Field"):
        rows("a", "b")
    with pytest.raises(ValueError, match="one shape"):
        rows(integers([1, 2]), integers([1, 2, 3]))

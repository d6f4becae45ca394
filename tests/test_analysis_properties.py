"""Locality, symmetry and Wang et al.'s properties on hand-made and reference matrices."""

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.preprocessing import MinMaxScaler

from pe_bert.analysis import (
    AttentionInputWarning,
    UndefinedScoreWarning,
    locality,
    monotonicity,
    symmetry,
    symmetry_statistics,
    translation_invariance,
    transpose_symmetry,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CASES = json.loads((Path(__file__).parent / "data" / "locality_symmetry_vectors.json").read_text())["cases"]


def published_symmetry(matrix: np.ndarray) -> float:
    """Transcription of the published `cal_matrix_symmetry` (per row, Python loops, MinMaxScaler)."""
    scaler = MinMaxScaler()
    n = len(matrix)
    scaled = []
    for i in range(n):
        left, right = matrix[i][:i], matrix[i][i + 1 :]
        m = min(len(left), len(right))
        if m == 0:
            continue
        left_seq, right_seq = left[-m:], list(reversed(right[:m]))
        diffs = np.array([abs(left_seq[j] - right_seq[j]) for j in range(m)]).reshape(-1, 1)
        scaled.extend(v[0] for v in scaler.fit_transform(diffs))
    return 1 - sum(scaled) / len(scaled)


def random_attention(*shape, generator=None, temperature=2.0, dtype=torch.float64):
    return torch.softmax(torch.randn(*shape, generator=generator, dtype=dtype) * temperature, dim=-1)


# ---------------------------------------------------------------------------------------------
# Reference vectors (outputs of the published calculate.py)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_reference_vectors(case):
    matrix = torch.tensor(case["matrix"], dtype=torch.float64)
    with warnings.catch_warnings():
        # prev_token_10's first row is all ones (it sums to 10), as in the published vectors: scored as given.
        warnings.simplefilter("ignore", AttentionInputWarning)
        assert locality(matrix).item() == pytest.approx(case["locality"], abs=1e-9)
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        value = symmetry(matrix, variant="reference").item()
    if case["symmetry"] is None:
        assert math.isnan(value)
    else:
        assert value == pytest.approx(case["symmetry"], abs=1e-9)


def test_reference_vectors_batched_in_one_call():
    """All same-size cases stacked give the same numbers as one by one (no cross-talk between matrices)."""
    by_size = {}
    for case in CASES:
        by_size.setdefault(len(case["matrix"]), []).append(case)
    for cases in by_size.values():
        stacked = torch.tensor([c["matrix"] for c in cases], dtype=torch.float64)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedScoreWarning)
            warnings.simplefilter("ignore", AttentionInputWarning)  # prev_token_10, see test_reference_vectors
            sym = symmetry(stacked)
            local = locality(stacked)
        np.testing.assert_allclose(local.numpy(), [c["locality"] for c in cases], atol=1e-9)
        expected = [np.nan if c["symmetry"] is None else c["symmetry"] for c in cases]
        np.testing.assert_allclose(sym.numpy(), expected, atol=1e-9)


@pytest.mark.parametrize("n", [3, 4, 5, 6, 11, 32, 33, 70])
def test_reference_symmetry_matches_published_code_on_random_matrices(n):
    generator = torch.Generator().manual_seed(n)
    matrices = random_attention(4, n, n, generator=generator)
    matrices[1] = matrices[1, :1].expand(n, n)  # identical rows
    matrices[2] = torch.eye(n, dtype=torch.float64).roll(-1, dims=1)  # next-token attention
    got = symmetry(matrices)
    expected = [published_symmetry(m.numpy()) for m in matrices]
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-12)


def test_reference_symmetry_is_a_mean_over_values_not_of_row_means():
    # prev_token_10: 20 scaled values, 6 of them 1 -> 0.7 (a mean of row means would give ~0.66)
    matrix = torch.zeros(10, 10, dtype=torch.float64)
    matrix[0, 0] = 1.0
    matrix[torch.arange(1, 10), torch.arange(0, 9)] = 1.0
    assert symmetry(matrix).item() == pytest.approx(0.7, abs=1e-12)


def test_reference_degeneracies_documented_in_the_paper():
    generator = torch.Generator().manual_seed(0)
    small = torch.cat(
        [
            random_attention(5, 3, 3, generator=generator).flatten(1),
            random_attention(5, 4, 4, generator=generator).flatten(1),
        ],
        1,
    )
    assert torch.all(symmetry(small[:, :9].reshape(5, 3, 3)) == 1.0)
    assert torch.all(symmetry(small[:, 9:].reshape(5, 4, 4)) == 1.0)
    # Only the middle rows of 5x5 and 6x6 matrices have two pairs, scaled to 0 and 1: the score is fixed.
    assert torch.allclose(
        symmetry(random_attention(50, 5, 5, generator=generator)), torch.tensor(0.75, dtype=torch.float64)
    )
    assert torch.allclose(
        symmetry(random_attention(50, 6, 6, generator=generator)), torch.tensor(2 / 3, dtype=torch.float64)
    )
    varied = symmetry(random_attention(50, 7, 7, generator=generator))
    assert 0.5 < varied.min() < varied.max() < 0.7
    # One-sided attention scores 1 only with uniform rows (equal differences within each row)...
    uniform = torch.tril(torch.ones(12, 12, dtype=torch.float64))
    uniform = uniform / uniform.sum(-1, keepdim=True)
    assert symmetry(uniform).item() == 1.0
    # ...random causal rows score about 0.55 (n = 10), tending to 0.5 (the README's and docstrings' numbers).
    for n, expected in ((8, 0.58), (10, 0.55), (16, 0.52), (64, 0.50)):
        causal = torch.rand(2000, n, n, generator=torch.Generator().manual_seed(0), dtype=torch.float64).tril()
        causal = causal / causal.sum(-1, keepdim=True)
        assert symmetry(causal).mean().item() == pytest.approx(expected, abs=0.005), n
        assert symmetry(causal, variant="mass").abs().max().item() < 1e-12  # mass: never symmetric


@pytest.mark.parametrize("n", [1, 2])
def test_symmetry_is_nan_with_a_warning_when_undefined(n):
    matrices = random_attention(3, n, n)
    for variant in ("reference", "mass"):
        with pytest.warns(UndefinedScoreWarning, match="n = .* <= 2"):
            values = symmetry(matrices, variant=variant)
        assert values.shape == (3,) and torch.isnan(values).all()


def test_mass_symmetry_nan_with_warning_when_no_paired_mass():
    matrices = torch.stack([torch.eye(6, dtype=torch.float64), random_attention(6, 6)])
    with pytest.warns(UndefinedScoreWarning, match="1 of 2"):
        values = symmetry(matrices, variant="mass")
    assert math.isnan(values[0].item()) and 0.0 <= values[1].item() <= 1.0


# ---------------------------------------------------------------------------------------------
# Closed forms and well-behaved cases


@pytest.mark.parametrize("n", [1, 2, 7, 64])
def test_locality_of_identity_is_one(n):
    assert locality(torch.eye(n, dtype=torch.float64)).item() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", [1, 2, 8, 50, 300])
def test_locality_of_uniform_attention_matches_closed_form(n):
    # (1/n^2) * sum_ij 2^-|i-j| = (1/n^2) * (n + 2 * sum_{d=1}^{n-1} (n-d) 2^-d)
    closed_form = (n + 2 * sum((n - d) * 2.0**-d for d in range(1, n))) / n**2
    uniform = torch.full((n, n), 1.0 / n, dtype=torch.float64)
    assert locality(uniform).item() == pytest.approx(closed_form, rel=1e-12)


def test_mass_symmetry_is_one_on_mirror_symmetric_rows_and_zero_on_one_sided_rows():
    n = 9
    position = torch.arange(n, dtype=torch.float64)
    distance = (position[:, None] - position[None, :]).abs()
    mirror = torch.softmax(-0.7 * distance + torch.rand(n, 1, dtype=torch.float64), dim=-1)
    assert symmetry(mirror, variant="mass").item() == pytest.approx(1.0, abs=1e-12)
    left_only = torch.tril(torch.rand(n, n, dtype=torch.float64), diagonal=-1)
    left_only[0, 0] = 1.0
    left_only = left_only / left_only.sum(-1, keepdim=True)
    right_only = left_only.flip(-1).flip(-2)
    assert symmetry(left_only, variant="mass").item() == pytest.approx(0.0, abs=1e-12)
    assert symmetry(right_only, variant="mass").item() == pytest.approx(0.0, abs=1e-12)


def test_leading_dimensions_are_kept_and_match_per_matrix_results():
    generator = torch.Generator().manual_seed(1)
    batch = random_attention(2, 3, 4, 10, 10, generator=generator)
    for function in (
        locality,
        symmetry,
        lambda a: symmetry(a, variant="mass"),
        translation_invariance,
        transpose_symmetry,
    ):
        values = function(batch)
        assert values.shape == (2, 3, 4)
        singles = torch.stack([function(m) for m in batch.reshape(-1, 10, 10)]).reshape(2, 3, 4)
        torch.testing.assert_close(values, singles, rtol=0, atol=1e-12)


def test_non_contiguous_and_float32_input():
    generator = torch.Generator().manual_seed(2)
    batch = random_attention(4, 12, 12, generator=generator)
    transposed = batch.transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    assert not transposed.is_contiguous()
    torch.testing.assert_close(symmetry(transposed), symmetry(batch), rtol=0, atol=1e-12)
    single = symmetry(batch.float())
    assert single.dtype == torch.float32
    torch.testing.assert_close(single.double(), symmetry(batch), rtol=0, atol=1e-5)
    torch.testing.assert_close(locality(batch.half()).double(), locality(batch), rtol=0, atol=1e-3)


def test_numpy_in_numpy_out():
    matrices = random_attention(3, 6, 6).numpy()
    for function in (locality, symmetry, translation_invariance, transpose_symmetry):
        values = function(matrices)
        assert isinstance(values, np.ndarray) and values.shape == (3,)
        np.testing.assert_allclose(values, function(torch.from_numpy(matrices)).numpy())
    left, right = monotonicity(matrices)
    assert isinstance(left, np.ndarray) and isinstance(right, np.ndarray)


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_non_square_input_is_a_value_error_naming_the_shape(shape):
    for function in (locality, symmetry, monotonicity, translation_invariance, transpose_symmetry):
        with pytest.raises(ValueError, match=str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")):
            function(torch.rand(shape))


def test_unknown_variant():
    with pytest.raises(ValueError, match="variant"):
        symmetry(torch.eye(4), variant="nope")


def test_statistics_expose_both_variants():
    matrices = random_attention(5, 9, 9)
    stats = symmetry_statistics(matrices)
    torch.testing.assert_close(stats.reference(), symmetry(matrices))
    torch.testing.assert_close(stats.mass(), symmetry(matrices, variant="mass"))
    assert stats.num_pairs == sum(min(i, 8 - i) for i in range(9))


# ---------------------------------------------------------------------------------------------
# Wang et al.'s properties


def _toeplitz_attention(n, weights_by_offset):
    position = torch.arange(n)
    offset = position[None, :] - position[:, None]
    return weights_by_offset(offset.to(torch.float64))


def test_monotonicity_left_and_right():
    n = 12
    decaying = torch.softmax(_toeplitz_attention(n, lambda d: -0.5 * d.abs()), -1)
    result = monotonicity(decaying)
    assert result.left.item() == pytest.approx(1.0) and result.right.item() == pytest.approx(1.0)
    # right side rising with distance, left side falling
    skewed = torch.softmax(_toeplitz_attention(n, lambda d: torch.where(d > 0, 0.3 * d, -0.3 * d.abs())), -1)
    result = monotonicity(skewed)
    assert result.left.item() == pytest.approx(1.0) and result.right.item() == pytest.approx(-1.0)


def test_monotonicity_of_uniform_attention_is_undefined():
    left, right = monotonicity(torch.full((6, 6), 1 / 6))
    assert math.isnan(left.item()) and math.isnan(right.item())


def test_translation_invariance():
    n = 10
    toeplitz = _toeplitz_attention(n, lambda d: torch.exp(-0.4 * d.abs()) * (1 + 0.1 * d))
    assert translation_invariance(toeplitz).item() == pytest.approx(1.0, abs=1e-12)
    assert translation_invariance(torch.full((n, n), 0.1)).item() == 1.0  # constant: trivially invariant
    generator = torch.Generator().manual_seed(3)
    noisy = random_attention(64, n, n, generator=generator)
    assert translation_invariance(noisy).mean().item() < 0.3


def test_transpose_symmetry():
    generator = torch.Generator().manual_seed(4)
    raw = torch.rand(7, 7, generator=generator, dtype=torch.float64)
    assert transpose_symmetry(raw + raw.T).item() == pytest.approx(1.0)
    strictly_causal = torch.tril(raw, diagonal=-1)
    assert transpose_symmetry(strictly_causal).item() == pytest.approx(0.0)


# ---------------------------------------------------------------------------------------------
# Property-based: every score stays in [0, 1] on random row-stochastic matrices


@st.composite
def row_stochastic(draw):
    batch = draw(st.integers(1, 3))
    n = draw(st.integers(3, 24))
    seed = draw(st.integers(0, 2**31 - 1))
    temperature = draw(st.sampled_from([0.1, 1.0, 5.0, 30.0]))
    sparsity = draw(st.floats(0.0, 0.9))
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(batch, n, n, generator=generator, dtype=torch.float64) * temperature
    logits = logits.masked_fill(
        torch.rand(batch, n, n, generator=generator, dtype=torch.float64) < sparsity, -torch.inf
    )
    logits[..., 0] = logits[..., 0].nan_to_num(neginf=0.0)  # every row keeps at least one entry
    return torch.softmax(logits, -1)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(row_stochastic())
def test_scores_stay_in_unit_interval(matrices):
    tolerance = 1e-12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        scores = {
            "locality": locality(matrices),
            "symmetry": symmetry(matrices),
            "symmetry_mass": symmetry(matrices, variant="mass"),
            "translation_invariance": translation_invariance(matrices),
            "transpose_symmetry": transpose_symmetry(matrices),
        }
    left, right = monotonicity(matrices)
    scores["monotonicity_left"], scores["monotonicity_right"] = left.abs(), right.abs()
    for name, values in scores.items():
        defined = values[~torch.isnan(values)]
        if name in ("locality", "symmetry", "transpose_symmetry"):
            assert defined.numel() == values.numel(), name  # always defined for n >= 3
        assert torch.all(defined >= -tolerance) and torch.all(defined <= 1 + tolerance), (name, values)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(row_stochastic())
def test_reference_symmetry_matches_published_code_property(matrices):
    expected = [published_symmetry(m.numpy()) for m in matrices]
    np.testing.assert_allclose(symmetry(matrices).numpy(), expected, rtol=0, atol=1e-10)


def test_probes_subpackage_loads_lazily():
    import subprocess
    import sys

    code = (
        "import sys, pe_bert.analysis as analysis\n"
        "assert 'pe_bert.analysis.probes' not in sys.modules\n"
        "assert analysis.probes.__name__ == 'pe_bert.analysis.probes'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_locality_of_matrices_of_no_token_is_nan_with_a_warning():
    with pytest.warns(UndefinedScoreWarning, match="2 of 2 matrices have an undefined score"):
        values = locality(torch.empty(2, 0, 0))
    assert torch.isnan(values).all() and values.shape == (2,)

"""Positional properties of attention matrices: locality, symmetry and Wang et al.'s properties.

Every function takes attention probabilities shaped ``[..., n, n]`` (a torch tensor or a numpy
array; rows are query positions, columns key positions) and returns one value per matrix, shaped
``[...]`` (numpy in, numpy out). Everything is vectorised over all leading dimensions: there is no
Python loop over rows, heads or matrices.

Accepted input: each row holds non-negative, finite probabilities summing to 1 over the real tokens
(pass each sentence's block without padding: a padded row or column breaks the sums). Scores of
anything else (logits, unnormalised scores, ``2 * I``) are numbers without meaning: :func:`locality`
and :func:`symmetry` check their input and warn (:class:`AttentionInputWarning`) by default, or raise
``ValueError`` with ``strict=True``. Row sums may be off by rounding: by ``1e-2`` (hand-written
matrices rounded to a few decimals, half precision), or 4 epsilons of the input's dtype when larger
(bfloat16). Inputs that require grad are accepted: the scores are measurements, computed without
autograd and returned detached (they are not differentiable losses).

Definitions (Chen, Varoquaux, Suchanek, "The Locality and Symmetry of Positional Encodings", EMNLP Findings 2023):

* :func:`locality` -- ``Loc(A) = 1/n * sum_ij A[i,j] * 2**-|i-j|`` (Chen et al. 2023).
* :func:`symmetry` -- ``variant="reference"`` reproduces the published ``calculate.py`` exactly,
  including its per-row min-max scaling; ``variant="mass"`` is the well-behaved variant
  ``1 - sum|A[i,i-k] - A[i,i+k]| / sum(A[i,i-k] + A[i,i+k])``.
* :func:`monotonicity`, :func:`translation_invariance`, :func:`transpose_symmetry` -- properties of
  position-position matrices in the spirit of Wang et al. (ICLR 2021), see each docstring.

Undefined values are NaN, never an exception, so that they can be skipped when averaging; a
:class:`UndefinedScoreWarning` says why they occurred.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal, NamedTuple

import numpy as np
import torch

__all__ = [
    "AttentionInputWarning",
    "UndefinedScoreWarning",
    "locality",
    "symmetry",
    "symmetry_statistics",
    "SymmetryStatistics",
    "monotonicity",
    "Monotonicity",
    "translation_invariance",
    "transpose_symmetry",
]

SymmetryVariant = Literal["reference", "mass"]
SYMMETRY_VARIANTS: tuple[str, ...] = ("reference", "mass")

# Bytes of buffers per chunk of matrices in `symmetry_statistics` (a copy of the chunk plus the
# pair differences, half as big): they fit a typical 2 MiB L2 cache.
_CHUNK_BYTES = 3 * 2**19


class UndefinedScoreWarning(RuntimeWarning):
    """A score is undefined (division by zero) for some matrices; they were given NaN."""


class AttentionInputWarning(UserWarning):
    """The input is not attention probabilities (negative or non-finite entries, or rows not summing to 1)."""


# --------------------------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------------------------


def _as_attention(attention) -> tuple[torch.Tensor, bool]:
    """Validate ``[..., n, n]`` input; return it as a floating tensor and whether it was numpy."""
    was_numpy = isinstance(attention, np.ndarray)
    tensor = torch.from_numpy(np.ascontiguousarray(attention)) if was_numpy else attention
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"expected a torch.Tensor or numpy.ndarray, got {type(attention).__name__}")
    if tensor.dim() < 2 or tensor.shape[-1] != tensor.shape[-2]:
        raise ValueError(
            f"attention must have shape [..., n, n] (square in its last two dimensions), "
            f"got shape {tuple(tensor.shape)}"
        )
    tensor = tensor.detach()  # a measurement, not a loss: no autograd graph (and out= kernels need none)
    if not tensor.is_floating_point():
        tensor = tensor.to(torch.float64)
    elif tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.to(torch.float32)  # too little precision for sums over n**2 entries
    return tensor, was_numpy


def _input_dtype(attention) -> torch.dtype:
    """The dtype the input came in (before any upcast), as a torch dtype."""
    if isinstance(attention, np.ndarray):
        return torch.from_numpy(np.empty(0, dtype=attention.dtype)).dtype
    return getattr(attention, "dtype", torch.float64)


class InputCheck(NamedTuple):
    """What the input check needs of a ``[..., n, n]`` tensor: each row's sum and each matrix's smallest entry,
    gathered chunk by chunk while the metric reads the tensor (so the check adds reads of cached data only)."""

    row_sums: torch.Tensor  # [matrices, n]
    lowest: torch.Tensor  # [matrices]


def _gather_check(block: torch.Tensor, n: int, check: InputCheck, start: int, stop: int) -> None:
    """Row sums and minimum of a chunk of matrices ``block`` ([chunk, n*n], just read, still in cache)."""
    torch.sum(block.view(stop - start, n, n), -1, out=check.row_sums[start:stop])
    torch.amin(block, -1, out=check.lowest[start:stop])


def _new_check(num_matrices: int, n: int, dtype, device) -> InputCheck:
    return InputCheck(
        torch.empty(num_matrices, n, dtype=dtype, device=device), torch.empty(num_matrices, dtype=dtype, device=device)
    )


def _check_probabilities(check: InputCheck, input_dtype: torch.dtype, strict: bool, score: str) -> None:
    """Warn (or raise, if `strict`) unless every row is non-negative, finite and sums to 1 (module docstring), from
    the row sums (a NaN or infinite entry makes its row's sum non-finite) and the minima the metric gathered."""
    sums = check.row_sums
    if sums.numel() == 0:
        return
    eps = torch.finfo(input_dtype).eps if input_dtype.is_floating_point else 0.0
    tolerance = max(1e-2, 4 * eps)  # rounding: hand-written matrices, half precision
    problems = []
    finite = sums.isfinite()
    if not bool(finite.all()):
        problems.append(f"{int((~finite).sum())} rows with NaN or infinite entries")
    lowest = float(check.lowest.amin())  # NaN only if a row is already reported non-finite
    if lowest < 0:
        problems.append(f"negative entries (lowest {lowest:.4g})")
    deviation = (sums[finite] - 1).abs()
    if deviation.numel() and float(deviation.amax()) > tolerance:
        worst = float(sums[finite].flatten()[deviation.flatten().argmax()])
        problems.append(
            f"{int((deviation > tolerance).sum())} of {sums.numel()} rows not summing to 1 (one sums to {worst:.6g})"
        )
    if not problems:
        return
    message = (
        f"{score}: the input is not attention probabilities: {'; '.join(problems)}. Expected rows of "
        "non-negative, finite probabilities summing to 1 over the real tokens (softmax output, padding "
        "removed); the score of anything else has no meaning."
    )
    if strict:
        raise ValueError(message)
    warnings.warn(message + " Pass strict=True to make this an error.", AttentionInputWarning, stacklevel=3)


def _chunks(num_matrices: int, bytes_per_matrix: int):
    """(start, stop) ranges of matrices small enough to stay in the CPU cache while several kernels read them."""
    chunk = max(1, min(num_matrices, _CHUNK_BYTES // max(1, bytes_per_matrix)))
    return ((start, min(start + chunk, num_matrices)) for start in range(0, num_matrices, chunk))


def _output(values: torch.Tensor, was_numpy: bool):
    return values.numpy() if was_numpy else values


def _warn_undefined(count: int, total: int, why: str) -> None:
    warnings.warn(
        f"{count} of {total} matrices have an undefined score ({why}); they were given NaN.",
        UndefinedScoreWarning,
        stacklevel=3,
    )


# --------------------------------------------------------------------------------------------
# Locality
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _locality_weights(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``2**-|i-j| / n``, flattened to ``[n*n]`` so that locality is one matrix-vector product."""
    positions = torch.arange(n, device=device)
    distance = (positions[:, None] - positions[None, :]).abs()
    return (torch.pow(2.0, -distance.to(torch.float64)) / n).to(dtype).reshape(n * n)


def locality(attention, *, strict: bool = False):
    """Locality of attention matrices: ``1/n * sum_ij A[i,j] * 2**-|i-j|``.

    ``[..., n, n] -> [...]``. In ``[0, 1]`` for row-stochastic input; the identity scores 1 and
    uniform attention ``(1/n**2) * sum_ij 2**-|i-j|``. Computed as one matrix-vector product with
    cached weights, i.e. one streaming read of the input; the input check reads each chunk again while
    it is in cache. Input that is not attention probabilities warns, or raises ``ValueError`` with
    ``strict=True`` (module docstring). NaN (with a warning) for a matrix of no token. A tensor
    requiring grad is accepted; the result is detached.
    """
    tensor, was_numpy = _as_attention(attention)
    values, check = _locality(tensor, with_check=True)
    if check is not None:
        _check_probabilities(check, _input_dtype(attention), strict, "locality")
    elif values.numel():  # n = 0
        _warn_undefined(values.numel(), values.numel(), "n = 0: a matrix of no token")
    return _output(values, was_numpy)


def _locality(tensor: torch.Tensor, with_check: bool) -> tuple[torch.Tensor, InputCheck | None]:
    """Locality values (and the input check's row sums and minima, gathered from the same chunks)."""
    n = tensor.shape[-1]
    batch_shape = tensor.shape[:-2]
    if n == 0:  # no token: undefined (1/n)
        return torch.full(batch_shape, float("nan"), dtype=tensor.dtype), None
    weights = _locality_weights(n, tensor.dtype, tensor.device)
    matrices = tensor.reshape(batch_shape.numel(), n * n)
    if not with_check:
        return (matrices @ weights).reshape(batch_shape), None
    matrices = matrices.contiguous()
    values = torch.empty(matrices.shape[0], dtype=tensor.dtype, device=tensor.device)
    check = _new_check(matrices.shape[0], n, tensor.dtype, tensor.device)
    for start, stop in _chunks(matrices.shape[0], n * n * tensor.element_size()):
        block = matrices[start:stop]
        torch.mv(block, weights, out=values[start:stop])
        _gather_check(block, n, check, start, stop)
    return values.reshape(batch_shape), check


# --------------------------------------------------------------------------------------------
# Symmetry
# --------------------------------------------------------------------------------------------
#
# Row i pairs A[i, i-k] with A[i, i+k] for k = 1..m_i, m_i = min(i, n-1-i). Rows 0 and n-1 have no
# pair, so only rows 1..n-2 are looked at. In a contiguous [n, n] matrix A[i, i+k] sits at flat
# offset i*(n+1) + k and A[i, i-k] at i*(n+1) - k: both sides are strided *views* with row stride
# n+1 (no copy), over a fixed rectangle k = 1..W, W >= (n-1)//2. Entries with k > m_i read some
# other (in-bounds) entry of the same matrix and are masked out; the offsets stay inside the
# matrix because rows 0 and n-1 are excluded.


@functools.lru_cache(maxsize=64)
def _pair_layout(
    n: int, dtype: torch.dtype, device: torch.device
) -> tuple[int, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Layout of the pair rectangle for rows 1..n-2: ``(width, keep, excluded, pairs_per_row)``.

    ``width`` is K = (n-1)//2 rounded up to a multiple of 16 (row reductions over a multiple of
    the SIMD width are several times faster), capped at n+1 so that every view stays in bounds.
    ``keep`` is 1.0 on valid (row, k) pairs and 0.0 elsewhere; ``excluded`` is 0.0 / +inf; both are
    ``[n-2, width]`` so that masking is a fast in-place multiply or add (boolean masks are slow).
    """
    width = min(-(-((n - 1) // 2) // 16) * 16, n + 1)
    rows = torch.arange(1, n - 1, device=device)
    pairs_per_row = torch.minimum(rows, n - 1 - rows)
    k = torch.arange(1, width + 1, device=device)
    valid = k[None, :] <= pairs_per_row[:, None]
    keep = valid.to(dtype)
    excluded = torch.zeros_like(keep).masked_fill_(~valid, float("inf"))
    return width, keep, excluded, pairs_per_row.to(dtype)


@functools.lru_cache(maxsize=64)
def _pair_mass_weights(n: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Flattened ``[n*n]`` indicator of the entries that take part in a (left, right) pair."""
    positions = torch.arange(n, device=device)
    distance = (positions[None, :] - positions[:, None]).abs()
    pairs_per_row = torch.minimum(positions, n - 1 - positions)
    paired = (distance >= 1) & (distance <= pairs_per_row[:, None])
    return paired.to(dtype).reshape(n * n)


class SymmetryStatistics(NamedTuple):
    """Per-matrix sufficient statistics of both symmetry variants (all shaped ``[...]``).

    ``scaled_sum`` is the sum over rows of the min-max scaled pair differences (reference
    variant), ``abs_diff_sum`` the sum of ``|A[i,i-k] - A[i,i+k]|``, ``pair_mass`` the sum of
    ``A[i,i-k] + A[i,i+k]``, and ``num_pairs`` the number of (i, k) pairs (same for every matrix).
    """

    scaled_sum: torch.Tensor
    abs_diff_sum: torch.Tensor
    pair_mass: torch.Tensor
    num_pairs: int

    def reference(self) -> torch.Tensor:
        """Published symmetry: ``1 - mean of all scaled differences``; NaN when there is no pair."""
        if self.num_pairs == 0:
            return torch.full_like(self.scaled_sum, float("nan"))
        return 1.0 - self.scaled_sum / self.num_pairs

    def mass(self) -> torch.Tensor:
        """Mass symmetry ``1 - abs_diff_sum / pair_mass``; NaN where ``pair_mass`` is 0."""
        # Clamped: rounding can push a one-sided matrix a few ulps below 0 (NaN stays NaN).
        return (1.0 - self.abs_diff_sum / self.pair_mass).clamp(0.0, 1.0)


def symmetry_statistics(attention, reference: bool = True, check: InputCheck | None = None) -> SymmetryStatistics:
    """Sufficient statistics of both symmetry variants for a ``[..., n, n]`` tensor (no warnings).

    The reference min-max scales each row's differences ``d_k``: ``(d_k - min) / (max - min)``,
    and sums them; per row that is ``(sum_k d_k - m * min) / (max - min)``, so only the sum,
    min and max of each row's valid differences are needed. Like scikit-learn's ``MinMaxScaler``
    (which the published code uses) a range below ``10 * eps`` of the dtype is replaced by 1.
    ``reference=False`` skips the work only the reference variant needs (``scaled_sum`` is then 0).
    ``check``: an `InputCheck` to fill with the row sums and minima while the chunks are in cache.
    """
    tensor, _ = _as_attention(attention)
    batch_shape, n = tensor.shape[:-2], tensor.shape[-1]
    dtype, device = tensor.dtype, tensor.device
    if n <= 2:
        zeros = torch.zeros(batch_shape, dtype=dtype, device=device)
        return SymmetryStatistics(zeros, zeros.clone(), zeros.clone(), 0)

    matrices = tensor.reshape(batch_shape.numel(), n, n)
    num_matrices = matrices.shape[0]
    width, keep, excluded, pairs_per_row = _pair_layout(n, dtype, device)

    # Per-row sum / max / min of the valid |left - right| differences, for every matrix.
    row_sum = torch.empty(num_matrices, n - 2, dtype=dtype, device=device)
    row_max = torch.empty_like(row_sum)
    row_min = torch.empty_like(row_sum)
    pair_mass = torch.empty(num_matrices, dtype=dtype, device=device)
    abs_diff_total = torch.empty(num_matrices, dtype=dtype, device=device)
    mass_weights = _pair_mass_weights(n, dtype, device)
    # Work chunk by chunk of matrices (a Python loop over chunks, never over single matrices). The
    # pair views below are strided (row stride n+1), and strided reads from main memory are several
    # times slower than sequential ones: so each chunk is first read sequentially by a useful
    # kernel, the matrix-vector product giving the mass denominator, which leaves the chunk in the
    # CPU cache for the strided kernels. The loop body is a handful of in-place / out= kernels.
    source = matrices.contiguous()
    scratch_bytes = (n * n + (n - 2) * width) * tensor.element_size()
    chunk = max(1, min(num_matrices, _CHUNK_BYTES // scratch_bytes))
    for start in range(0, num_matrices, chunk):
        stop = min(start + chunk, num_matrices)
        block = source[start:stop]
        torch.mv(block.view(stop - start, n * n), mass_weights, out=pair_mass[start:stop])
        if check is not None:
            _gather_check(block.view(stop - start, n * n), n, check, start, stop)
        size, stride, base = (stop - start, n - 2, width), (n * n, n + 1, 1), block.storage_offset()
        right = block.as_strided(size, stride, base + (n + 1) + 1)  # right[b, r, k-1] = A[r+1, r+1+k]
        left_reversed = block.as_strided(size, stride, base + (n + 1) - width)  # [.., W-k] = A[r+1, r+1-k]
        diffs = left_reversed.flip(-1)  # diffs[b, r, k-1] = A[r+1, r+1-k]
        diffs.sub_(right).abs_()  # |left - right|
        if reference:
            diffs.mul_(keep)  # invalid pairs -> 0
            torch.sum(diffs, -1, out=row_sum[start:stop])
            torch.amax(diffs, -1, out=row_max[start:stop])
            torch.amin(diffs.add_(excluded), -1, out=row_min[start:stop])  # invalid pairs -> +inf
        else:  # the mass variant only needs each matrix's total: one dot product with the mask
            torch.mv(diffs.view(stop - start, -1), keep.view(-1), out=abs_diff_total[start:stop])

    abs_diff_sum = row_sum.sum(-1) if reference else abs_diff_total
    if reference:
        row_range = row_max - row_min
        near_constant = 10 * torch.finfo(dtype).eps
        row_range = torch.where(row_range < near_constant, 1.0, row_range)
        scaled_sum = ((row_sum - pairs_per_row * row_min) / row_range).sum(-1)
    else:
        scaled_sum = torch.zeros_like(abs_diff_sum)
    return SymmetryStatistics(
        scaled_sum.reshape(batch_shape),
        abs_diff_sum.reshape(batch_shape),
        pair_mass.reshape(batch_shape),
        int(pairs_per_row.sum().item()),  # identical for every matrix of size n
    )


def symmetry(attention, variant: SymmetryVariant = "reference", *, strict: bool = False):
    """Left-right symmetry of attention matrices around the diagonal, ``[..., n, n] -> [...]``.

    ``variant="reference"`` reproduces the published ``calculate.py`` (Chen et al. 2023) exactly:
    for each row with tokens on both sides, the differences ``|A[i,i-k] - A[i,i+k]|`` for
    ``k = 1..min(i, n-1-i)`` are min-max scaled *within the row*, all scaled values of all rows are
    pooled, and the score is ``1 - their mean`` (a mean over values, not of row means). It measures
    how a row's differences spread, not how large they are. Degeneracies: a row with one pair, or
    with equal differences, contributes 0, so every 3x3 and 4x4 matrix scores 1, every generic 5x5
    matrix 0.75 and every generic 6x6 matrix 2/3 (exactly: only the middle rows' two scaled
    differences, 0 and 1, count), and one-sided attention scores 1 only when each row is uniform over
    its side. Random one-sided (causal) attention does not: with rows drawn uniformly at random over
    the left context and normalised it scores 0.58 (n = 8), 0.55 (n = 10), 0.52 (n = 16), tending to
    0.5 for long sequences; the mass variant gives all of these 0. For ``n <= 2`` no row has both
    sides and the published code divides by zero: NaN (with a warning).

    Computed in the input's dtype (half precision is upcast to float32). Like the published code
    (scikit-learn's ``MinMaxScaler``), a row whose differences span less than ``10 * eps`` of that
    dtype counts as constant and contributes 0: score attention in the dtype it was produced in,
    since upcasting float32 attention to float64 would let min-max scaling blow float32 rounding
    noise (e.g. of exactly symmetric ALiBi rows) up to the full ``[0, 1]`` range.

    ``variant="mass"``: ``1 - sum|A[i,i-k] - A[i,i+k]| / sum(A[i,i-k] + A[i,i+k])`` over the same
    pairs: 1 for mirror-symmetric rows, 0 for one-sided attention; NaN (with a warning) where the
    denominator is 0 (``n <= 2``, or no mass off the diagonal within the paired window).

    Input that is not attention probabilities warns, or raises ``ValueError`` with ``strict=True``
    (module docstring); the row sums and minima it needs are gathered while the statistics read each chunk. A
    tensor requiring grad is accepted; the result is detached.
    """
    if variant not in SYMMETRY_VARIANTS:
        raise ValueError(f"unknown symmetry variant {variant!r}; choose one of {SYMMETRY_VARIANTS}")
    tensor, was_numpy = _as_attention(attention)
    n = tensor.shape[-1]
    matrices = tensor.shape[:-2].numel()
    check = _new_check(matrices, n, tensor.dtype, tensor.device)
    stats = symmetry_statistics(tensor, reference=variant == "reference", check=check if n > 2 else None)
    if 0 < n <= 2:  # the statistics read nothing: the check reads the few entries itself
        _gather_check(tensor.reshape(matrices, n * n), n, check, 0, matrices)
    _check_probabilities(check, _input_dtype(attention), strict, "symmetry")
    values = stats.reference() if variant == "reference" else stats.mass()
    if variant == "reference":
        undefined = values.numel() if stats.num_pairs == 0 else 0
    else:
        undefined = int((stats.pair_mass == 0).sum().item())
    if undefined > 0:
        why = (
            f"n = {tensor.shape[-1]} <= 2: no row has tokens on both sides"
            if stats.num_pairs == 0
            else "no attention mass on the paired off-diagonal entries"
        )
        _warn_undefined(undefined, values.numel(), why)
    return _output(values, was_numpy)


# --------------------------------------------------------------------------------------------
# Wang et al.'s properties of position-position matrices
# --------------------------------------------------------------------------------------------


class Monotonicity(NamedTuple):
    """Monotonicity towards the left (``A[i, i-k]``) and the right (``A[i, i+k]``), each ``[...]``."""

    left: torch.Tensor | np.ndarray
    right: torch.Tensor | np.ndarray


def _average_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks (1-based) along the last dimension, ties sharing their average rank (as Spearman's)."""
    length = values.shape[-1]
    sorted_values, order = values.sort(dim=-1)
    positions = torch.arange(length, device=values.device).expand_as(sorted_values)
    starts_group = torch.ones_like(sorted_values, dtype=torch.bool)
    starts_group[..., 1:] = sorted_values[..., 1:] != sorted_values[..., :-1]
    ends_group = torch.ones_like(starts_group)
    ends_group[..., :-1] = starts_group[..., 1:]
    first = torch.where(starts_group, positions, 0).cummax(-1).values
    last = (length - 1) - torch.where(ends_group, (length - 1) - positions, 0).flip(-1).cummax(-1).values.flip(-1)
    sorted_ranks = (first + last).to(values.dtype) / 2 + 1
    return torch.empty_like(sorted_ranks).scatter_(-1, order, sorted_ranks)


def _side_monotonicity(matrices: torch.Tensor, direction: int) -> torch.Tensor:
    """Mean over rows of ``-spearman(A[i, i + direction*k], k)`` for ``k >= 1``; ``[B, n, n] -> [B]``."""
    n = matrices.shape[-1]
    device = matrices.device
    rows = torch.arange(n, device=device)[:, None]
    k = torch.arange(1, n, device=device)[None, :]
    columns = rows + direction * k
    valid = (columns >= 0) & (columns < n)
    side = matrices.gather(-1, columns.clamp(0, n - 1).expand(matrices.shape[0], n, n - 1))
    side = side.masked_fill(~valid, float("inf"))  # sorts after every valid entry
    ranks = _average_ranks(side)
    weights = valid.to(matrices.dtype)
    count = weights.sum(-1)
    distance = k.to(matrices.dtype)
    mean_rank = (ranks * weights).nan_to_num(posinf=0.0).sum(-1) / count
    mean_distance = (distance * weights).sum(-1) / count
    centred_rank = torch.where(valid, ranks - mean_rank[..., None], 0.0)
    centred_distance = torch.where(valid, distance - mean_distance[..., None], 0.0)
    covariance = (centred_rank * centred_distance).sum(-1)
    spread = ((centred_rank**2).sum(-1) * (centred_distance**2).sum(-1)).sqrt()
    correlation = covariance / spread  # NaN for constant rows and rows with < 2 entries
    return torch.nanmean(-correlation, dim=-1)


def monotonicity(attention) -> Monotonicity:
    """Does attention fall with distance? Left and right of the query separately.

    For each row ``i`` and side, the Spearman rank correlation between the attention values
    ``A[i, i -/+ k]`` and the distance ``k`` is negated, so that 1 means strictly decreasing with
    distance and -1 strictly increasing; the score is the mean over rows (Wang et al. 2021 measure
    monotonicity as such a rank correlation). Rows with fewer than 2 entries on a side, or constant
    ones (e.g. uniform attention), have no correlation and are skipped; a matrix with no usable row
    gets NaN. Returns ``Monotonicity(left, right)``, each ``[...]``.
    """
    tensor, was_numpy = _as_attention(attention)
    n = tensor.shape[-1]
    matrices = tensor.reshape(tensor.shape[:-2].numel(), n, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-NaN rows -> NaN, by design
        left = _side_monotonicity(matrices, -1).reshape(tensor.shape[:-2])
        right = _side_monotonicity(matrices, +1).reshape(tensor.shape[:-2])
    return Monotonicity(_output(left, was_numpy), _output(right, was_numpy))


def translation_invariance(attention):
    """Does attention depend on the offset ``j - i`` only? ``[..., n, n] -> [...]``, in ``[0, 1]``.

    The share of the variance of the entries explained by their diagonal (an ANOVA eta-squared):
    ``1 - sum_ij (A[i,j] - mean of diagonal j-i)**2 / sum_ij (A[i,j] - mean)**2``. 1 for a
    Toeplitz matrix (no dispersion along diagonals), near 0 when diagonals explain nothing.
    A constant matrix is trivially translation invariant and scores 1.
    """
    tensor, was_numpy = _as_attention(attention)
    n = tensor.shape[-1]
    entries = tensor.reshape(tensor.shape[:-2].numel(), n * n)
    positions = torch.arange(n, device=tensor.device)
    diagonal_index = (positions[None, :] - positions[:, None] + n - 1).reshape(1, n * n)
    counts = (n - (torch.arange(2 * n - 1, device=tensor.device) - (n - 1)).abs()).to(tensor.dtype)
    diagonal_sums = torch.zeros(entries.shape[0], 2 * n - 1, dtype=tensor.dtype, device=tensor.device)
    diagonal_sums.scatter_add_(1, diagonal_index.expand_as(entries), entries)
    diagonal_means = (diagonal_sums / counts).gather(1, diagonal_index.expand_as(entries))
    within = ((entries - diagonal_means) ** 2).sum(-1)
    total = ((entries - entries.mean(-1, keepdim=True)) ** 2).sum(-1)
    # Below this, the "variance" is rounding noise of a constant matrix (e.g. 0.1 in float32).
    noise = n * n * (4 * torch.finfo(tensor.dtype).eps * entries.abs().amax(-1)) ** 2
    values = torch.where(total > noise, 1.0 - within / total.clamp_min(torch.finfo(tensor.dtype).tiny), 1.0)
    return _output(values.clamp(0.0, 1.0).reshape(tensor.shape[:-2]), was_numpy)


def transpose_symmetry(attention):
    """Is ``A[i, j] == A[j, i]``? ``1 - sum|A - A^T| / sum(A + A^T)``, ``[..., n, n] -> [...]``.

    The symmetry of a position-position matrix in Wang et al.'s sense (distinct from the row-wise
    left-right :func:`symmetry` of Chen et al.): 1 for a symmetric matrix, 0 when ``A`` and
    ``A^T`` have disjoint support (e.g. strictly causal attention). NaN for an all-zero matrix.
    """
    tensor, was_numpy = _as_attention(attention)
    transposed = tensor.transpose(-1, -2)
    difference = (tensor - transposed).abs().sum((-1, -2))
    mass = (tensor + transposed).sum((-1, -2))
    return _output(1.0 - difference / mass, was_numpy)

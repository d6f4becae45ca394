"""Metrics say when their input is not attention probabilities (a warning, or an error under strict=True), accept
tensors that require grad, and agree with their evaluate modules on both counts."""

import warnings

import evaluate
import numpy as np
import pytest
import torch

from pe_bert.analysis import AttentionInputWarning, locality, symmetry
from pe_bert.metrics import metric_path


def _softmax(*shape, seed=0, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64).softmax(-1).to(dtype)


BAD_INPUTS = {
    "twice_identity": (2 * torch.eye(4, dtype=torch.float64), "4 of 4 rows not summing to 1 (one sums to 2)"),
    "logits": (
        torch.randn(2, 5, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64),
        "negative entries",
    ),
    "nan": (
        _softmax(5, 5).index_put_(
            (torch.tensor([2]), torch.tensor([3])), torch.tensor(float("nan"), dtype=torch.float64)
        ),
        "1 rows with NaN or infinite entries",
    ),
    "inf": (
        _softmax(5, 5).index_put_(
            (torch.tensor([0]), torch.tensor([0])), torch.tensor(float("inf"), dtype=torch.float64)
        ),
        "1 rows with NaN or infinite entries",
    ),
    "padded_row": (
        torch.cat([_softmax(4, 5), torch.zeros(1, 5, dtype=torch.float64)]),
        "1 of 5 rows not summing to 1 (one sums to 0)",
    ),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
@pytest.mark.parametrize(
    "score",
    [locality, symmetry, lambda a, **kw: symmetry(a, variant="mass", **kw)],
    ids=["locality", "symmetry", "symmetry_mass"],
)
def test_bad_input_warns_by_default_and_raises_under_strict(name, score):
    matrix, problem = BAD_INPUTS[name]
    with pytest.warns(AttentionInputWarning, match="not attention probabilities") as caught:
        value = score(matrix)
    assert problem in str(caught[0].message) and "strict=True" in str(caught[0].message)
    assert value.shape == matrix.shape[:-2]  # still scored: the warning says what the number is worth
    with pytest.raises(ValueError, match=f"not attention probabilities: .*{problem[:20]}"):
        score(matrix, strict=True)


def test_the_warning_is_the_one_the_issue_reported_for_2I():
    with pytest.warns(AttentionInputWarning):
        assert locality(2 * torch.eye(6)).item() == pytest.approx(2.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_softmax_output_passes_in_every_precision(dtype):
    attention = _softmax(3, 4, 64, 64, seed=2).to(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentionInputWarning)
        locality(attention, strict=True)
        symmetry(attention, strict=True)
        locality(attention.float().numpy(), strict=True)  # numpy in, numpy out
    rounded = np.round(_softmax(8, 8, seed=3).numpy(), 3)  # a hand-written matrix, to 3 decimals
    locality(rounded, strict=True)


def test_inputs_that_require_grad_are_scored_without_autograd():
    logits = torch.randn(
        2, 3, 9, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True
    )
    attention = logits.softmax(-1)
    detached = attention.detach()
    for score in (locality, symmetry, lambda a: symmetry(a, variant="mass")):
        value = score(attention)
        assert not value.requires_grad and value.grad_fn is None
        assert torch.equal(value, score(detached))


@pytest.mark.parametrize("name, kwargs", [("locality", {}), ("symmetry", {}), ("symmetry", {"variant": "mass"})])
def test_evaluate_modules_warn_and_take_strict(name, kwargs):
    module = evaluate.load(metric_path(name))
    bad = (2 * np.eye(5)).tolist()
    with pytest.warns(AttentionInputWarning, match="rows not summing to 1"):
        module.compute(predictions=[bad], **kwargs)
    with pytest.raises(ValueError, match="not attention probabilities"):
        module.compute(predictions=[bad], strict=True, **kwargs)
    good = _softmax(5, 5).numpy().tolist()
    with warnings.catch_warnings():
        warnings.simplefilter("error", AttentionInputWarning)
        module.compute(predictions=[good], strict=True, **kwargs)

"""The evaluate metric modules load offline by path and agree with pe_bert.analysis."""

import math
import warnings

import evaluate
import numpy as np
import pytest
import torch

from pe_bert.analysis import UndefinedScoreWarning, locality, symmetry
from pe_bert.metrics import PAPER_CITATION, attention_matrix_features, available_metrics, metric_path


@pytest.fixture(scope="module")
def matrices():
    generator = torch.Generator().manual_seed(0)
    sizes = [2, 5, 5, 9, 16, 3]
    return [torch.softmax(torch.randn(n, n, generator=generator, dtype=torch.float64) * 2, -1).numpy() for n in sizes]


def test_metric_paths():
    assert {"locality", "symmetry"} <= set(available_metrics())
    assert metric_path("locality").endswith("metrics/locality")
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("nope")


@pytest.mark.parametrize("name", ["locality", "symmetry"])
def test_attention_metrics_cite_the_paper_and_take_matrices(name):
    module = evaluate.load(metric_path(name))
    assert module.citation == PAPER_CITATION and module.features == attention_matrix_features()
    assert module.reference_urls == ["https://arxiv.org/abs/2310.12864"] and name in module.description.lower()


def test_locality_module_agrees_with_function(matrices):
    module = evaluate.load(metric_path("locality"))
    result = module.compute(predictions=[m.tolist() for m in matrices], return_per_matrix=True)
    expected = [locality(torch.from_numpy(m)).item() for m in matrices]
    np.testing.assert_allclose(result["per_matrix"], expected, rtol=0, atol=1e-12)
    assert result["locality"] == pytest.approx(np.mean(expected)) and result["num_matrices"] == len(matrices)


@pytest.mark.parametrize("variant", ["reference", "mass"])
def test_symmetry_module_agrees_with_function(matrices, variant):
    module = evaluate.load(metric_path("symmetry"), config_name=variant)
    result = module.compute(predictions=matrices, return_per_matrix=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedScoreWarning)
        expected = [symmetry(torch.from_numpy(m), variant=variant).item() for m in matrices]
    assert result["num_undefined"] == 1 and result["per_matrix"][0] is None  # the 2x2 matrix
    np.testing.assert_allclose(result["per_matrix"][1:], expected[1:], rtol=0, atol=1e-12)
    assert result["symmetry"] == pytest.approx(np.nanmean(expected))


def test_symmetry_variant_keyword_and_errors(matrices):
    module = evaluate.load(metric_path("symmetry"))
    by_keyword = module.compute(predictions=matrices[1:3], variant="mass")
    by_config = evaluate.load(metric_path("symmetry"), config_name="mass").compute(predictions=matrices[1:3])
    assert by_keyword == by_config
    with pytest.raises(ValueError, match="square"):
        module.compute(predictions=[[[0.5, 0.5]]])
    only_undefined = module.compute(predictions=[[[1.0]]])
    assert math.isnan(only_undefined["symmetry"]) and only_undefined["num_undefined"] == 1

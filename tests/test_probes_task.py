"""Task-level probe: perturbed NLI sets follow the label rules; end to end on a tiny fine-tuned PE-BERT model,
agreeing with the `word_order` evaluate metric and the `pe-bert probe` CLI."""

import json

import evaluate
import numpy as np
import pytest
import transformers
from conftest import assert_results_close

from pe_bert.analysis.probes import (
    build_perturbed_sets,
    load_nli_examples,
    markdown_table,
    nli_probe,
    predict_pairs,
    split_words,
)
from pe_bert.analysis.probes.task import CONTRADICTION, ENTAILMENT
from pe_bert.cli import main as pe_bert_main
from pe_bert.metrics import metric_path

from helpers import TINY_SHAPE, load_example

BUILTIN = {"num_train": 600, "num_validation": 150, "num_test": 0}


@pytest.fixture(scope="module")
def validation():
    return load_nli_examples("builtin_nli", **BUILTIN)


def test_shuffle_sets_keep_every_example_and_its_label(validation):
    sets = build_perturbed_sets(validation, ["shuffle-3", "random"], seed=1)
    for perturbed in sets.values():
        assert perturbed.indices == list(range(len(validation)))
        assert perturbed.references == perturbed.original_references == [e.label for e in validation]
        assert perturbed.premises == [e.premise for e in validation]  # only the hypothesis moves by default
        assert perturbed.n_changed > 0.9 * len(validation)
        for example, hypothesis in zip(validation, perturbed.hypotheses):
            assert sorted(split_words(hypothesis)) == sorted(split_words(example.hypothesis))


def test_role_swap_set_turns_entailments_into_contradictions(validation):
    (swapped,) = build_perturbed_sets(validation, ["shuffle-sr"]).values()
    assert 0 < len(swapped.indices) <= sum(e.label == ENTAILMENT for e in validation)
    for i, hypothesis, reference in zip(swapped.indices, swapped.hypotheses, swapped.references):
        example = validation[i]
        assert example.label == ENTAILMENT and reference == CONTRADICTION
        agent = " ".join(example.hypothesis_sentence.role_words("agent"))
        patient = " ".join(example.hypothesis_sentence.role_words("patient"))
        assert hypothesis != example.hypothesis
        assert (
            hypothesis.index(patient) < hypothesis.index(agent)
            if example.hypothesis.index(agent) < example.hypothesis.index(patient)
            else hypothesis.index(agent) < hypothesis.index(patient)
        )
        assert not {"met", "meet"} & set(example.hypothesis_sentence.words)
    # Swapping both sides keeps the relation: the expected label stays entailment.
    (both,) = build_perturbed_sets(validation, ["shuffle-sr"], field="both").values()
    assert both.references == [ENTAILMENT] * len(both.indices)
    assert all(p != validation[i].premise for i, p in zip(both.indices, both.premises))
    with pytest.raises(ValueError, match="field"):
        build_perturbed_sets(validation, ["random"], field="neither")


# ---------------------------------------------------------------------------------------------------------------
# End to end on a tiny fine-tuned model
# ---------------------------------------------------------------------------------------------------------------


def fine_tune_tiny_nli(tokenizer, epochs: int = 3) -> transformers.PreTrainedModel:
    """A 2-layer, 32-wide RoPE PE-BERT trained for a few seconds on the built-in NLI task, by the plain loop of
    examples/run_probes.py's --demo (so the example's loop is tested too)."""
    run_probes = load_example("run_probes")
    return run_probes.fine_tune_demo_model("rope", tokenizer, epochs, shape=TINY_SHAPE, data=BUILTIN, max_lr=3e-3)


@pytest.fixture(scope="module")
def tiny_nli(minilm_path, tmp_path_factory):
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    model = fine_tune_tiny_nli(tokenizer)
    folder = tmp_path_factory.mktemp("tiny-nli")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return model, tokenizer, folder


@pytest.mark.slow
def test_nli_probe_end_to_end(tiny_nli, validation):
    model, tokenizer, _ = tiny_nli
    report = nli_probe(model, tokenizer, validation, n_resamples=300, model_name="tiny-rope")
    assert report.original["n"] == len(validation)
    assert report.original["accuracy"] > 0.45  # chance is 1/3: the few seconds of training did something
    assert list(report.results) == ["shuffle-3", "shuffle-4", "shuffle-5", "shuffle-6", "random", "shuffle-sr"]
    for name, entry in report.results.items():
        assert entry["delta"] == pytest.approx(entry["accuracy_perturbed"] - entry["accuracy_original"])
        assert entry["delta_ci"][0] <= entry["delta"] <= entry["delta_ci"][1]
        if name != "shuffle-sr":
            assert entry["accuracy_original"] == pytest.approx(report.original["accuracy"])
    assert report.results["shuffle-sr"]["n"] < len(validation)
    table = markdown_table([report])
    assert table.splitlines()[0] == (
        "| Model | Original | Shuffle-3 | Shuffle-4 | Shuffle-5 | Shuffle-6 | Random | Shuffle-SR |"
    )
    assert table.splitlines()[2].startswith("| tiny-rope | ")


@pytest.mark.slow
def test_word_order_metric_agrees_with_the_runner(tiny_nli, validation):
    model, tokenizer, _ = tiny_nli
    report = nli_probe(model, tokenizer, validation, perturbations=("shuffle-4", "shuffle-sr"), n_resamples=200, seed=3)
    metric = evaluate.load(str(metric_path("word_order")))
    original = predict_pairs(model, tokenizer, [e.premise for e in validation], [e.hypothesis for e in validation])
    for name, perturbed in build_perturbed_sets(validation, ["shuffle-4", "shuffle-sr"], seed=3).items():
        predictions = predict_pairs(model, tokenizer, perturbed.premises, perturbed.hypotheses)
        scores = metric.compute(
            predictions=predictions,
            references=perturbed.references,
            original_predictions=original[perturbed.indices],
            original_references=perturbed.original_references,
            n_resamples=200,
            seed=3,
        )
        expected = {k: v for k, v in report.results[name].items() if k != "n_changed"}
        assert_results_close(scores, expected)


@pytest.mark.slow
def test_cli_nli_writes_json_table_and_chart(tiny_nli, tmp_path):
    model, tokenizer, folder = tiny_nli
    out = tmp_path / "probe"
    code = pe_bert_main(
        [
            "probe",
            str(folder),
            "--task",
            "nli",
            "--num-train",
            str(BUILTIN["num_train"]),
            "--num-examples",
            "150",
            "--bootstrap",
            "200",
            "--quiet",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["kind"] == "nli" and set(results["results"]) >= {"shuffle-3", "random", "shuffle-sr"}
    # The CLI (model reloaded from disk, data regenerated as it does: default validation size, first 150 pairs)
    # gives the runner's numbers.
    examples = load_nli_examples("builtin_nli", num_train=BUILTIN["num_train"], num_test=0, num_examples=150)
    direct = nli_probe(model, tokenizer, examples, n_resamples=200)
    for name, entry in direct.results.items():
        assert results["results"][name]["delta"] == pytest.approx(entry["delta"])
        assert results["results"][name]["delta_ci"] == pytest.approx(entry["delta_ci"])
    png = (out / "deltas.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert (out / "table.md").read_text().startswith("| Model | Original |")
    assert np.isfinite(results["original"]["accuracy"])

"""`pe-bert probe --task zero-shot`, the word_order metric's preference config, bootstrap and reports."""

import json

import evaluate
import numpy as np
import pytest
import torch
import transformers
from conftest import assert_results_close

import pe_bert
from pe_bert.analysis.probes import (
    accuracy_shift,
    bootstrap_mean_ci,
    markdown_table,
    plot_deltas,
    pseudo_log_likelihood,
    zero_shot_probe,
)
from pe_bert.analysis.probes.registry import derive_seed, perturb
from pe_bert.cli import main as pe_bert_main
from pe_bert.data import generate_sentences
from pe_bert.metrics import metric_path

from helpers import TINY_SHAPE


def test_bootstrap_is_seeded_and_brackets_the_mean():
    values = np.random.default_rng(0).normal(0.3, 1.0, size=500)
    low, high = bootstrap_mean_ci(values, n_resamples=2000, seed=7)
    assert (low, high) == bootstrap_mean_ci(values, n_resamples=2000, seed=7)
    assert low < values.mean() < high
    # The interval has the width a normal approximation predicts (2 * 1.96 * sd / sqrt(n)).
    assert (high - low) == pytest.approx(2 * 1.96 * values.std() / np.sqrt(values.size), rel=0.15)
    narrow = bootstrap_mean_ci(np.tile(values, 16), n_resamples=500, seed=7)
    assert narrow[1] - narrow[0] < (high - low) / 2


def test_accuracy_shift_counts_flips_and_uses_separate_original_references():
    result = accuracy_shift([0, 1, 2, 0], [2, 1, 2, 2], references=[2, 2, 2, 2], original_references=[0, 0, 0, 0])
    assert result["accuracy_original"] == 0.5 and result["accuracy_perturbed"] == 0.75
    assert result["delta"] == 0.25 and result["flip_rate"] == 0.5 and result["n"] == 4
    with pytest.raises(ValueError, match="one entry per example"):
        accuracy_shift([0], [0, 1], [0, 1])


def test_word_order_metric_loads_offline_in_both_configs():
    metric = evaluate.load(str(metric_path("word_order")))
    assert metric.compute(predictions=[0, 1, 2, 2], references=[0, 1, 1, 2], original_predictions=[0, 1, 1, 2]) == {
        "accuracy_original": 1.0,
        "accuracy_perturbed": 0.75,
        "delta": -0.25,
        "flip_rate": 0.25,
        "n": 4,
    }
    preference = evaluate.load(str(metric_path("word_order")), config_name="preference")
    assert preference.compute(original_scores=[-1.0, -2.0, -3.0], perturbed_scores=[-2.0, -1.0, -4.0])[
        "preference"
    ] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="config_name"):
        evaluate.load(str(metric_path("word_order")), config_name="bleu")


def test_preference_metric_agrees_with_the_zero_shot_runner(minilm_path):
    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_path)
    torch.manual_seed(0)
    config = pe_bert.PEBertConfig(
        position_encoding="alibi",
        vocab_size=tokenizer.vocab_size,
        **TINY_SHAPE,
        max_position_embeddings=128,
    )
    model = transformers.AutoModelForMaskedLM.from_config(config).eval()
    sentences = generate_sentences(16, seed=2)
    report = zero_shot_probe(
        model, tokenizer, sentences, perturbations=("random",), metrics=("pll",), n_resamples=300, seed=5
    )
    perturbed = [perturb("random", s, derive_seed(5, i)) for i, s in enumerate(sentences)]
    kept = [i for i, p in enumerate(perturbed) if p.changed]
    original_scores = pseudo_log_likelihood(model, tokenizer, [sentences[i].text for i in kept])
    perturbed_scores = pseudo_log_likelihood(model, tokenizer, [perturbed[i].text for i in kept])
    metric = evaluate.load(str(metric_path("word_order")), config_name="preference")
    scores = metric.compute(original_scores=original_scores, perturbed_scores=perturbed_scores, n_resamples=300, seed=5)
    # the runner also keeps each pair's outcome and sentence (to combine the pairs of several models)
    runner = {k: v for k, v in report.results["random"]["pll"].items() if k not in ("outcomes", "sentences")}
    assert_results_close(scores, runner)


def _nli_report(model, accuracy, deltas):
    return {
        "kind": "nli",
        "model": model,
        "settings": {"field": "hypothesis"},
        "original": {"accuracy": accuracy, "n": 100},
        "results": {name: {"delta": d, "delta_ci": [d - 0.02, d + 0.01]} for name, d in deltas.items()},
    }


def test_nli_table_has_the_papers_layout_and_chart_is_written(tmp_path):
    deltas = {
        "shuffle-3": -0.004,
        "shuffle-4": -0.006,
        "shuffle-5": -0.003,
        "shuffle-6": -0.005,
        "random": -0.027,
        "shuffle-sr": -0.639,
    }
    table = markdown_table([_nli_report("BERT", 0.898, deltas), _nli_report("ALBERT", 0.88, deltas)])
    lines = table.splitlines()
    assert lines[0] == "| Model | Original | Shuffle-3 | Shuffle-4 | Shuffle-5 | Shuffle-6 | Random | Shuffle-SR |"
    assert lines[2].startswith("| BERT | 89.8 | -0.4 [-2.4, +0.6] |") and lines[2].endswith("| -63.9 [-65.9, -62.9] |")
    assert lines[3].startswith("| ALBERT | 88.0 |")
    path = plot_deltas(_nli_report("BERT", 0.898, deltas), tmp_path / "chart.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_cli_zero_shot_on_minilm_writes_json_and_png(minilm_path, tmp_path, capsys):
    out = tmp_path / "zero-shot"
    code = pe_bert_main(
        [
            "probe",
            str(minilm_path),
            "--task",
            "zero-shot",
            "--num-examples",
            "24",
            "--perturbations",
            "shuffle-3,random,shuffle-sr",
            "--bootstrap",
            "200",
            "--quiet",
            "--model-name",
            "all-MiniLM-L6-v2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["kind"] == "zero-shot" and results["settings"]["metrics"] == ["drift"]  # no trained MLM head
    assert set(results["results"]) == {"shuffle-3", "random", "shuffle-sr"}
    for entry in results["results"].values():
        assert entry["drift"]["mean"] > 0 and len(entry["drift"]["ci"]) == 2
    assert (out / "deltas.png").read_bytes()[:4] == b"\x89PNG"
    printed = capsys.readouterr().out
    assert "| all-MiniLM-L6-v2 | drift (1-cos) x100 |" in printed and "no trained MLM head" in printed

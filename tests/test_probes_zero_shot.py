"""Zero-shot probes: batched PLL equals the one-position-at-a-time definition; drift behaves on a real model."""

import math

import numpy as np
import pytest
import torch
import transformers

import pe_bert
from pe_bert.analysis.probes import (
    pseudo_log_likelihood,
    pseudo_log_likelihood_reference,
    representation_drift,
    zero_shot_probe,
)
from pe_bert.analysis.probes.cli import load_model
from pe_bert.data import generate_sentences

from helpers import MICRO_SHAPE, TINY_SHAPE


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return transformers.AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def tiny_mlm(tokenizer):
    torch.manual_seed(0)
    config = pe_bert.PEBertConfig(
        position_encoding="rope",
        vocab_size=tokenizer.vocab_size,
        **TINY_SHAPE,
        max_position_embeddings=128,
    )
    return transformers.AutoModelForMaskedLM.from_config(config).eval()


TEXTS = [
    "the dog chased the cat.",
    "hi",
    "unbelievably meticulous archaeologists catalogued hieroglyphs.",
    "a b c d e f g h i j k l m n o p",
]


@pytest.fixture(scope="module")
def brute_force_pll(tiny_mlm, tokenizer):
    """PLL by its definition: one forward per masked (non-special) position, summed log-probabilities."""
    scores = []
    for text in TEXTS:
        ids = tokenizer(text)["input_ids"]
        total = 0.0
        for position in range(1, len(ids) - 1):  # [CLS] and [SEP] are never masked
            masked = torch.tensor([ids])
            masked[0, position] = tokenizer.mask_token_id
            with torch.no_grad():
                logits = tiny_mlm(input_ids=masked).logits[0, position]
            total += torch.log_softmax(logits, -1)[ids[position]].item()
        scores.append(total)
    return np.array(scores)


def test_reference_pll_is_the_definition(tiny_mlm, tokenizer, brute_force_pll):
    np.testing.assert_allclose(pseudo_log_likelihood_reference(tiny_mlm, tokenizer, TEXTS), brute_force_pll, atol=1e-4)


@pytest.mark.parametrize("head_only", [None, False])
@pytest.mark.parametrize("max_tokens_per_batch", [1, 37, 100_000])
def test_batched_pll_equals_brute_force(tiny_mlm, tokenizer, brute_force_pll, head_only, max_tokens_per_batch):
    got = pseudo_log_likelihood(
        tiny_mlm, tokenizer, TEXTS, max_tokens_per_batch=max_tokens_per_batch, head_only=head_only
    )
    np.testing.assert_allclose(got, brute_force_pll, atol=1e-4)
    assert got.shape == (len(TEXTS),) and np.all(got < 0)


def test_pll_batches_many_sentences_into_few_forwards(tiny_mlm, tokenizer):
    calls = []
    handle = tiny_mlm.base_model.register_forward_hook(lambda module, args, output: calls.append(1))
    try:
        pseudo_log_likelihood(tiny_mlm, tokenizer, TEXTS * 5, max_tokens_per_batch=100_000)
    finally:
        handle.remove()
    masked_positions = sum(len(tokenizer(t)["input_ids"]) - 2 for t in TEXTS * 5)
    assert masked_positions > 100 and len(calls) == 1


def test_pll_needs_an_mlm_head(minilm_path, tokenizer):
    encoder = transformers.AutoModel.from_pretrained(minilm_path)
    with pytest.raises(ValueError, match="no MLM head"):
        zero_shot_probe(encoder, tokenizer, ["the dog ran."], metrics=("pll",))
    with pytest.raises(ValueError, match="head_only=True"):
        pseudo_log_likelihood(encoder, tokenizer, ["the dog ran."], head_only=True)


def test_drift_is_zero_for_identical_sentences_and_positive_otherwise(tiny_mlm, tokenizer):
    drift = representation_drift(
        tiny_mlm, tokenizer, ["the dog chased the cat.", "a b c"], ["the dog chased the cat.", "c a b"]
    )
    assert abs(drift[0]) < 1e-5 and drift[1] > 0


def test_zero_shot_probe_reports_pll_preference_and_drift(tiny_mlm, tokenizer):
    sentences = generate_sentences(12, seed=0)
    report = zero_shot_probe(tiny_mlm, tokenizer, sentences, perturbations=("shuffle-3", "shuffle-sr"), n_resamples=200)
    for entry in report.results.values():
        assert entry["n"] == 12 and 0 < entry["n_changed"] <= 12
        assert 0.0 <= entry["pll"]["preference"] <= 1.0
        low, high = entry["pll"]["preference_ci"]
        assert low <= entry["pll"]["preference"] <= high
        assert entry["drift"]["n"] == entry["n_changed"]
    # Shuffle-SR needs an agent and a patient: intransitive sentences are not counted.
    assert report.results["shuffle-sr"]["n_changed"] < 12
    assert report.to_dict()["kind"] == "zero-shot"


def test_raw_text_role_swap_without_spacy_is_skipped_not_fatal(tiny_mlm, tokenizer, monkeypatch):
    import sys

    from pe_bert.analysis.probes.roles import load_spacy

    load_spacy.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy", None)
    with pytest.warns(UserWarning, match="shuffle-sr skipped"):
        report = zero_shot_probe(
            tiny_mlm,
            tokenizer,
            ["the dog chased the cat.", "a cat saw the bird."],
            perturbations=("shuffle-sr", "random"),
            metrics=("drift",),
            n_resamples=0,
        )
    load_spacy.cache_clear()
    assert list(report.results) == ["shuffle-sr", "random"]
    assert "pe_bert[spacy]" in report.results["shuffle-sr"]["skipped"]
    assert report.results["random"]["n_changed"] == 2


def test_minilm_drifts_more_under_random_than_under_shuffle_3(minilm_path):
    """A real, stock BERT checkpoint: global shuffling moves its sentence representation more than local."""
    model, tokenizer, trained_head = load_model(str(minilm_path), "zero-shot")
    assert not trained_head  # all-MiniLM-L6-v2 ships no MLM head: drift only
    with pytest.warns(UserWarning, match="no trained MLM head"):
        zero_shot_probe(model, tokenizer, generate_sentences(2, seed=0), perturbations=("random",), n_resamples=0)
    sentences = generate_sentences(60, seed=0)
    report = zero_shot_probe(
        model, tokenizer, sentences, perturbations=("shuffle-3", "random"), metrics=("drift",), n_resamples=500
    )
    shuffle3, random = report.results["shuffle-3"]["drift"], report.results["random"]["drift"]
    assert 0 < shuffle3["mean"] < random["mean"]
    assert "pll" not in report.results["random"]


def test_a_perturbation_that_changes_no_sentence_measures_nothing(tmp_path):
    """Shuffle-SR of intransitive sentences changes none of them: an empty sample (NaN), not a crash."""
    from transformers import AutoModelForMaskedLM

    from pe_bert import PEBertConfig
    from pe_bert.data.compact import compact_language, compact_sentences
    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer(compact_language().vocabulary)
    model = AutoModelForMaskedLM.from_config(
        PEBertConfig(
            position_encoding="rope",
            vocab_size=len(tokenizer),
            **MICRO_SHAPE,
        )
    ).eval()
    report = zero_shot_probe(model, tokenizer, compact_sentences(2, 20000), seed=0)  # two intransitive sentences
    assert all(r["drift"]["n"] == r["pll"]["n"] == r["n_changed"] for r in report.results.values())
    swap = report.results["shuffle-sr"]  # no agent and patient to swap: nothing changed, nothing measured
    assert swap["n_changed"] == 0 and math.isnan(swap["drift"]["mean"]) and math.isnan(swap["pll"]["preference"])

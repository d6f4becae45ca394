"""Frozen-feature probing: the built-in probing tasks (balanced, disjoint, twins with one bag of words and opposite
labels, reversible roles, ungrammatical swaps) and the probe (features, logistic regression, exact ties)."""

import collections

import numpy as np
import pytest
import torch

from pe_bert import PEBertConfig
from pe_bert.analysis.probes.frozen import fit_probe, probe_features, run_probing_task, tied_twins
from pe_bert.data import lexicon
from pe_bert.data.compact import compact_language
from pe_bert.data.probing import NO_TWIN, PROBING_TASKS, SENTENCE, probing_task


@pytest.fixture(scope="module")
def tasks():
    return {name: probing_task(name, 120, 60, seed=5) for name in PROBING_TASKS}


def test_splits_are_deterministic_sized_and_disjoint(tasks):
    assert probing_task("roles", 120, 60, seed=5) == tasks["roles"]
    assert probing_task("roles", 120, 60, seed=6) != tasks["roles"]
    for name, splits in tasks.items():
        sentences = {split: {tuple(e["words"]) for e in examples} for split, examples in splits.items()}
        assert len(sentences["train"]) == 120 and len(sentences["test"]) == 60, name
        assert not sentences["train"] & sentences["test"], name


def test_topic_is_balanced_and_revealed_by_a_noun(tasks):
    for examples in tasks["topic"].values():
        counts = collections.Counter(e["label"] for e in examples)
        assert max(counts.values()) - min(counts.values()) <= 1 and len(counts) == len(lexicon.TOPICS)
        for e in examples:
            assert e["target"] == SENTENCE and e["twin"] == NO_TWIN
            assert any(lexicon.noun_topic(w) == lexicon.TOPICS[e["label"]] for w in e["words"])


@pytest.mark.parametrize("name", ["order", "roles"])
def test_every_example_has_a_twin_with_the_same_words_and_the_other_label(tasks, name):
    for examples in tasks[name].values():
        for i, e in enumerate(examples):
            twin = examples[e["twin"]]
            assert twin["twin"] == i and twin["label"] == 1 - e["label"]
            assert sorted(twin["words"]) == sorted(e["words"]) and twin["words"] != e["words"]
        assert collections.Counter(e["label"] for e in examples) == {0: len(examples) // 2, 1: len(examples) // 2}


def test_order_twins_are_an_adjacent_swap_outside_the_language(tasks):
    language = compact_language()
    for e in tasks["order"]["test"]:
        if e["label"] == 0:
            original = tasks["order"]["test"][e["twin"]]["words"]
            changed = [i for i, (a, b) in enumerate(zip(e["words"], original)) if a != b]
            assert len(changed) == 2 and changed[1] == changed[0] + 1 and e["words"][-1] == "."
            assert language.sentence_probability(e["words"]) == 0.0
            assert language.sentence_probability(original) > 0.0


def test_roles_have_an_animal_and_a_person_a_reversible_verb_and_alternate_voices(tasks):
    language = compact_language()
    examples = tasks["roles"]["test"]
    for e in examples:
        nouns = [
            lexicon.NOUN_TO_CLASS[w] for w in e["words"] if lexicon.NOUN_TO_CLASS.get(w) in lexicon.ANIMATE_CLASSES
        ]
        assert sorted(c == "animals" for c in nouns) == [False, True]
        assert language.sentence_probability(e["words"]) > 0  # both role assignments are sentences
    passive = ["was" in e["words"] for e in examples]
    assert sum(passive) == len(examples) // 2  # "the first noun is the agent" is right half the time
    # the label: is the animal the agent? In an active sentence the agent comes first, in a passive after "by".
    for e in examples:
        words = e["words"]
        animal_first = next(
            lexicon.NOUN_TO_CLASS.get(w) == "animals"
            for w in words
            if lexicon.NOUN_TO_CLASS.get(w) in lexicon.ANIMATE_CLASSES
        )
        assert e["label"] == int(animal_first != ("was" in words))


def test_unknown_task_and_bad_sizes_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown probing task 'syntax'; valid: topic, order, roles"):
        probing_task("syntax", 10, 10)
    with pytest.raises(ValueError, match="num_test must be at least 1"):
        probing_task("order", 10, 0)


# ------------------------------------------------------------------------------------------------ the probe


def test_logistic_probe_on_separable_and_on_uninformative_features():
    rng = np.random.default_rng(0)
    labels = np.arange(400) % 2
    features = rng.normal(size=(400, 8)) + 12 * labels[:, None] * np.eye(8)[0]
    result = fit_probe(features[:300], labels[:300], features[300:], labels[300:])
    assert result.accuracy == 1.0 and result.converged and result.tied == 0 and result.n_train == 300
    noise = fit_probe(rng.normal(size=(300, 8)), labels[:300], rng.normal(size=(100, 8)), labels[300:])
    assert 0.3 < noise.accuracy < 0.7


def test_tied_twins_score_one_half_each_whatever_the_classifier_says():
    rng = np.random.default_rng(1)
    train = rng.normal(size=(40, 4))
    train_labels = (train[:, 0] > 0).astype(int)
    test = rng.normal(size=(4, 4))
    test[1] = test[0] * (1 + 1e-7)  # a float32 reordering of the same sum: tied
    test[3] = test[2] + 0.5  # a different representation: not tied
    twins = [1, 0, 3, 2]
    assert tied_twins(test, np.array(twins)).tolist() == [True, True, False, False]
    result = fit_probe(train, train_labels, test, [1, 0, 1, 0], twins)
    assert result.tied == 2
    assert result.accuracy in (0.25, 0.5, 0.75)  # the tied pair contributes exactly 2 x 0.5


def _model(position_encoding):
    torch.manual_seed(0)
    from transformers import AutoModel

    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer(compact_language().vocabulary, model_max_length=32)
    config = PEBertConfig(
        position_encoding=position_encoding,
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
        initializer_range=0.5,
    )  # a large init: positions matter even untrained
    return AutoModel.from_config(config).eval(), tokenizer


@pytest.mark.parametrize("name", ["order", "roles"])
def test_a_model_without_positions_scores_exactly_one_half_on_twin_tasks(tasks, name):
    model, tokenizer = _model("none")
    result = run_probing_task(model, tokenizer, tasks[name])
    assert result.accuracy == 0.5 and result.tied == result.n_test == len(tasks[name]["test"])
    rope, tokenizer = _model("rope")
    assert run_probing_task(rope, tokenizer, tasks[name]).tied == 0  # positions: twins differ


def test_features_are_the_target_word_or_the_sentence_mean(tasks):
    model, tokenizer = _model("rope")
    example = {"words": ["the", "dog", "chased", "the", "cat", "."], "target": 1}
    sentence = {**example, "target": SENTENCE}
    features = probe_features(model, tokenizer, [example, sentence])
    encoded = tokenizer(example["words"], is_split_into_words=True, return_tensors="pt")
    with torch.no_grad():
        states = model(**encoded).last_hidden_state[0].double()
    np.testing.assert_allclose(features[0], states[2].numpy(), rtol=1e-5, atol=1e-6)  # [CLS] the dog
    np.testing.assert_allclose(features[1], states.mean(0).numpy(), rtol=1e-5, atol=1e-6)
    # batching and order do not change a feature
    batched = probe_features(model, tokenizer, tasks["order"]["test"][:10], batch_size=3)
    single = probe_features(model, tokenizer, tasks["order"]["test"][:10], batch_size=128)
    np.testing.assert_allclose(batched, single, rtol=1e-5, atol=1e-6)


def test_a_split_is_tokenized_once_per_tokenizer_content(tasks):
    """The study probes many models sharing one tokenizer: the split's encoding is remembered by the tokenizer's
    content (another object loaded from the same files hits it; another vocabulary does not), and the features are
    the same bits as from a fresh encoding."""
    from pe_bert.analysis.probes import frozen
    from pe_bert.training.tokenizer import word_level_tokenizer

    model, tokenizer = _model("rope")
    examples = tasks["order"]["test"][:40]
    sentences = list(dict.fromkeys(tuple(e["words"]) for e in examples))
    frozen._ENCODED.clear()
    first = frozen.encode_sentences(tokenizer, sentences, None)
    _, same_content = _model("rope")
    assert frozen.encode_sentences(same_content, sentences, None) is first
    assert frozen.encode_sentences(tokenizer, sentences, 8) is not first  # truncation is part of the key
    other = word_level_tokenizer(["aaaa", *compact_language().vocabulary], model_max_length=32)  # ids shifted
    assert not np.array_equal(frozen.encode_sentences(other, sentences, None).input_ids, first.input_ids)
    reference = tokenizer([list(s) for s in sentences], is_split_into_words=True)
    for i, ids in enumerate(reference["input_ids"]):
        assert first.input_ids[i, : first.lengths[i]].tolist() == ids
        assert (first.input_ids[i, first.lengths[i] :] == tokenizer.pad_token_id).all()
        assert list(first.word_ids[i]) == reference.word_ids(i)
    remembered = probe_features(model, tokenizer, examples)
    frozen._ENCODED.clear()
    assert np.array_equal(probe_features(model, tokenizer, examples), remembered)

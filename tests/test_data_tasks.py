"""Built-in GLUE-format tasks: columns, balance, determinism, genuine role-swap contradictions."""

from collections import Counter

import pytest

from pe_bert.data import BUILTIN_TASKS, NLI_LABELS, TOPICS, Sentence, lexicon, load_builtin_task

SIZES = dict(num_train=600, num_validation=90, num_test=60)


@pytest.fixture(scope="module")
def tasks():
    return {name: load_builtin_task(name, seed=0, **SIZES) for name in BUILTIN_TASKS}


def test_glue_columns_splits_and_test_labels(tasks):
    for name, dataset in tasks.items():
        info = BUILTIN_TASKS[name]
        assert set(dataset) == {"train", "validation", "test"}
        for split, size in (("train", 600), ("validation", 90), ("test", 60)):
            ds = dataset[split]
            assert ds.num_rows == size
            assert set(info.text_columns) | {"label", "idx"} <= set(ds.column_names)
            assert ds["idx"] == list(range(size))
            assert ds.features["label"].names == list(info.label_names)
        assert set(dataset["test"]["label"]) == {-1}


def test_labels_are_balanced(tasks):
    for name, dataset in tasks.items():
        for split in ("train", "validation"):
            counts = Counter(dataset[split]["label"])
            assert set(counts) == set(range(BUILTIN_TASKS[name].num_labels)), (name, split, counts)
            assert max(counts.values()) - min(counts.values()) <= 1, (name, split, counts)


def test_deterministic_per_seed(tasks):
    for name in BUILTIN_TASKS:
        again = load_builtin_task(name, seed=0, **SIZES)
        assert again["train"][:] == tasks[name]["train"][:]
        other = load_builtin_task(name, seed=1, **SIZES)
        assert other["train"]["idx"] == tasks[name]["train"]["idx"]
        assert (
            other["train"][BUILTIN_TASKS[name].text_columns[0]]
            != tasks[name]["train"][BUILTIN_TASKS[name].text_columns[0]]
        )


def test_no_example_repeats_within_or_across_splits(tasks):
    for name, dataset in tasks.items():
        columns = BUILTIN_TASKS[name].text_columns
        keys = [tuple(row[c] for c in columns) for split in dataset.values() for row in split]
        assert len(keys) == len(set(keys)), name


def _head(sentence: Sentence, role: str) -> str:
    return next(w for w in sentence.role_words(role) if w in lexicon.NOUN_TO_CLASS)


def test_nli_role_swap_contradictions_are_genuine_swaps(tasks):
    train = tasks["builtin_nli"]["train"]
    swaps = [row for row in train if row["pair_type"] == "role_swap"]
    assert len(swaps) >= len(train) // 10
    for row in swaps:
        assert row["label"] == NLI_LABELS.index("contradiction")
        premise = Sentence.from_dict(row["premise_annotation"])
        hypothesis = Sentence.from_dict(row["hypothesis_annotation"])
        assert premise.text == row["sentence1"] and hypothesis.text == row["sentence2"]
        assert _head(hypothesis, "agent") == _head(premise, "patient")
        assert _head(hypothesis, "patient") == _head(premise, "agent")
        assert _head(premise, "agent") != _head(premise, "patient")
        lemma = {form: v.base for v in lexicon.TRANSITIVE_VERBS for form in (v.past, v.participle)}
        assert lemma[hypothesis.role_words("predicate")[-1]] == lemma[premise.role_words("predicate")[-1]], "same verb"
        # nothing but the role exchange: outside the predicate, the hypothesis words come from the premise
        assert _content(hypothesis) <= _content(premise)


def _bag(text: str) -> set[str]:
    """Words of a sentence, with "an" read as "a" (the article follows the next word's sound)."""
    return {"a" if w == "an" else w for w in text[:-1].split()}


def _content(sentence: Sentence) -> set[str]:
    """Words outside the predicate (whose form changes with voice), minus the passive's "by"."""
    predicate = sentence.span("predicate")
    words = sentence.words[: predicate.start] + sentence.words[predicate.end :]
    return _bag(" ".join(words)) - {"by"}


def test_nli_pair_types_match_labels(tasks):
    expected = {
        "drop_modifiers": 0,
        "voice": 0,
        "dative": 0,
        "reorder": 0,
        "add_modifiers": 1,
        "role_swap": 2,
        "verb_change": 2,
        "object_change": 2,
    }
    rows = tasks["builtin_nli"]["train"]
    assert set(rows["pair_type"]) == set(expected)
    for row in rows:
        assert row["label"] == expected[row["pair_type"]] and row["sentence1"] != row["sentence2"]
        premise = _content(Sentence.from_dict(row["premise_annotation"]))
        hypothesis = _content(Sentence.from_dict(row["hypothesis_annotation"]))
        if row["pair_type"] == "drop_modifiers":  # the hypothesis is the premise minus some words
            assert hypothesis <= premise
        if row["pair_type"] == "add_modifiers":  # ... or plus some (possibly in the other voice)
            assert premise <= hypothesis
    for pair_type in expected:  # the annotations follow the structures
        row = next(r for r in rows if r["pair_type"] == pair_type)
        assert Sentence.from_dict(row["hypothesis_annotation"]).span("agent") is not None


def test_nli_many_swaps_keep_the_premise_word_multiset(tasks):
    """Swaps that reuse exactly the premise's words: a bag-of-words model cannot tell them from the premise."""
    rows = tasks["builtin_nli"]["train"]
    swaps = [r for r in rows if r["pair_type"] == "role_swap"]

    def bag(annotation):
        return Counter("a" if w == "an" else w for w in annotation["words"])

    same_bag = [r for r in swaps if bag(r["premise_annotation"]) == bag(r["hypothesis_annotation"])]
    assert len(same_bag) >= len(swaps) // 5
    # ... and entailments that reorder words without changing meaning keep it too
    reorders = [r for r in rows if r["pair_type"] == "reorder"]
    assert reorders and all(bag(r["premise_annotation"]) == bag(r["hypothesis_annotation"]) for r in reorders)


def test_order_task_negatives_are_perturbations(tasks):
    train = tasks["builtin_order"]["train"]
    assert set(train["perturbation"]) == {"none", "local_shuffle", "bigram_swap"}
    for row in train:
        assert (row["perturbation"] == "none") == (row["label"] == 1)
        assert row["sentence"].endswith(".")
        assert set(row["sentence"][:-1].split()) <= lexicon.vocabulary()


def test_topic_is_decided_by_words(tasks):
    train = tasks["builtin_topic"]["train"]
    for row in train:
        topics = {lexicon.noun_topic(w) for w in row["sentence"][:-1].split()} - {None}
        assert topics == {TOPICS[row["label"]]}, row


def test_unknown_task_and_bad_sizes():
    with pytest.raises(ValueError, match="valid: builtin_nli"):
        load_builtin_task("builtin_qa")
    with pytest.raises(ValueError, match="num_train"):
        load_builtin_task("builtin_nli", num_train=-1)

"""Word-order perturbations: multiset kept, windows respected, seeded, change when possible, report when not."""

import sys
import types
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pe_bert.analysis.probes import (
    Perturbation,
    UnchangedPerturbationError,
    build_perturbed_sets,
    join_words,
    load_nli_examples,
    perturb,
    perturb_tokenized,
    random_shuffle,
    shuffle_windows,
    split_words,
    swap_adjacent,
    swap_roles,
)
from pe_bert.analysis.probes.registry import (
    PERTURBATIONS,
    PerturbationSpec,
    display_name,
    find_perturbation,
    perturbation_order,
    register_perturbation,
    validate_perturbation_names,
    words_of,
)
from pe_bert.analysis.probes.roles import has_agent_and_patient, load_spacy
from pe_bert.data import generate_sentences

words_strategy = st.lists(st.sampled_from(["the", "dog", "cat", "saw", "a", "big", "red"]), min_size=0, max_size=20)


def windows(sequence, n):
    return [sequence[i : i + n] for i in range(0, len(sequence), n)]


@settings(max_examples=200, deadline=None)
@given(words=words_strategy, n=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_shuffle_windows_keeps_each_windows_multiset_and_changes_every_changeable_window(words, n, seed):
    result = shuffle_windows(words, n, seed, keep_final_punct=False)
    assert Counter(result.words) == Counter(words)
    for index, (before, after) in enumerate(zip(windows(words, n), windows(list(result.words), n))):
        assert Counter(before) == Counter(after), "a word left its window"
        if len(set(before)) >= 2:
            assert before != after, "a window that could change did not"
            most_common = max(Counter(before).values())
            if 2 * most_common <= len(before):  # a derangement exists: no word keeps its position
                assert all(a != b for a, b in zip(before, after))
        else:
            assert before == after and index in result.frozen_windows
    assert result.changed == (list(result.words) != words)


@settings(max_examples=100, deadline=None)
@given(words=words_strategy, n=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_perturbations_are_deterministic_per_seed(words, n, seed):
    assert shuffle_windows(words, n, seed) == shuffle_windows(words, n, seed)
    assert random_shuffle(words, seed) == random_shuffle(words, seed)
    assert swap_adjacent(words, seed) == swap_adjacent(words, seed)


def test_different_seeds_give_different_shuffles():
    words = "one two three four five six seven eight nine ten eleven twelve".split()
    assert len({shuffle_windows(words, 6, seed).words for seed in range(10)}) > 1
    assert len({random_shuffle(words, seed).words for seed in range(10)}) > 1


@settings(max_examples=100, deadline=None)
@given(words=words_strategy, seed=st.integers(0, 10_000))
def test_window_of_one_is_the_identity(words, seed):
    result = shuffle_windows(words, 1, seed)
    assert list(result.words) == words and not result.changed
    assert len(result.frozen_windows) == len(words) - (1 if words and words[-1] == "." else 0)


@settings(max_examples=100, deadline=None)
@given(words=words_strategy, seed=st.integers(0, 10_000))
def test_random_shuffle_keeps_multiset_and_changes_when_possible(words, seed):
    result = random_shuffle(words, seed)
    assert Counter(result.words) == Counter(words)
    assert result.changed == (len(set(words)) >= 2)


@settings(max_examples=100, deadline=None)
@given(words=words_strategy, seed=st.integers(0, 10_000))
def test_swap_adjacent_swaps_exactly_one_adjacent_pair(words, seed):
    result = swap_adjacent(words, seed, keep_final_punct=False)
    differing = [i for i, (a, b) in enumerate(zip(words, result.words)) if a != b]
    if len(set(words)) >= 2:
        assert len(differing) == 2 and differing[1] == differing[0] + 1
        i = differing[0]
        assert (result.words[i], result.words[i + 1]) == (words[i + 1], words[i])
    else:
        assert differing == [] and not result.changed


def test_unchangeable_input_is_reported_not_silently_returned():
    for make in (
        lambda **kw: shuffle_windows(["la"] * 6, 3, 0, **kw),
        lambda **kw: random_shuffle(["solo"], 0, **kw),
        lambda **kw: swap_adjacent(["a", "a"], 0, **kw),
    ):
        result = make()
        assert not result.changed and result.frozen_windows
        with pytest.warns(UserWarning, match="cannot change"):
            make(on_unchanged="warn")
        with pytest.raises(UnchangedPerturbationError, match="cannot change"):
            make(on_unchanged="raise")
    with pytest.raises(ValueError, match="on_unchanged"):
        shuffle_windows(["a", "b"], 2, on_unchanged="sometimes")


def test_final_punctuation_stays_in_place_by_default():
    words = split_words("the quick brown fox jumps over the lazy dog.")
    assert words[-2:] == ["dog", "."]
    for seed in range(20):
        assert shuffle_windows(words, 3, seed).words[-1] == "."
        assert random_shuffle(words, seed).words[-1] == "."
        assert swap_adjacent(words, seed).words[-1] == "."
    # Opting out lets the full stop move like any word.
    assert any(random_shuffle(words, seed, keep_final_punct=False).words[-1] != "." for seed in range(20))


def test_split_and_join_round_trip_builtin_sentences():
    for sentence in generate_sentences(50, seed=1):
        assert join_words(sentence.words) == sentence.text
        assert split_words("Hello there, world!") == ["Hello", "there,", "world", "!"]


def test_perturb_by_name_accepts_sentences_text_and_word_lists():
    sentence = generate_sentences(1, seed=3)[0]
    assert perturb("shuffle-3", sentence, 5) == perturb("shuffle-3", list(sentence.words), 5)
    assert perturb("random", sentence.text, 5) == perturb("random", list(sentence.words), 5)
    with pytest.raises(ValueError, match="Unknown perturbation"):
        perturb("shuffle", sentence)


# ---------------------------------------------------------------------------------------------------------------
# Semantic-role swap
# ---------------------------------------------------------------------------------------------------------------


def test_swap_roles_exchanges_exactly_the_agent_and_patient_spans():
    sentences = [s for s in generate_sentences(200, seed=0) if has_agent_and_patient(s)]
    assert len(sentences) > 50
    for sentence in sentences:
        agent, patient = sentence.span("agent"), sentence.span("patient")
        first, second = sorted([agent, patient], key=lambda span: span.start)
        w = sentence.words
        expected = (
            w[: first.start]
            + w[second.start : second.end]
            + w[first.end : second.start]
            + w[first.start : first.end]
            + w[second.end :]
        )
        result = swap_roles(sentence)
        assert result.words == expected and result.changed
        assert Counter(result.words) == Counter(w)
        swapped = result.meta["sentence"]
        assert swapped.role_words("agent") == sentence.role_words("patient")
        assert swapped.role_words("patient") == sentence.role_words("agent")


def test_swap_roles_without_agent_or_patient_is_unchanged():
    intransitive = next(s for s in generate_sentences(200, seed=0) if s.structure == "intransitive")
    result = swap_roles(intransitive)
    assert not result.changed and result.words == intransitive.words
    with pytest.raises(UnchangedPerturbationError):
        swap_roles(intransitive, on_unchanged="raise")


def test_swap_roles_on_raw_text_without_spacy_says_what_to_install(monkeypatch):
    load_spacy.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy", None)  # make `import spacy` fail even where it is installed
    with pytest.raises(ImportError, match=r"pe_bert\[spacy\].*spacy download en_core_web_sm"):
        swap_roles("the dog chased the cat.")
    load_spacy.cache_clear()


def test_swap_roles_with_spacy_but_no_english_pipeline_says_what_to_download(monkeypatch):
    def missing(name):
        raise OSError(f"[E050] Can't find model '{name}'.")

    load_spacy.cache_clear()
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=missing))
    with pytest.raises(OSError, match=r"python -m spacy download en_core_web_sm"):
        swap_roles("the dog chased the cat.")
    load_spacy.cache_clear()


class _Token:
    """The few spaCy Token attributes the parse-based swap reads."""

    def __init__(self, doc, i, text, idx, dep, head, pos="NOUN"):
        self.doc, self.i, self.text, self.idx, self.dep_, self._head, self.pos_ = doc, i, text, idx, dep, head, pos

    head = property(lambda self: self.doc[self._head])
    children = property(lambda self: [t for t in self.doc if t._head == self.i and t is not self])

    def _subtree(self):
        out = [self]
        for child in self.children:
            out += child._subtree()
        return out

    left_edge = property(lambda self: min(self._subtree(), key=lambda t: t.i))
    right_edge = property(lambda self: max(self._subtree(), key=lambda t: t.i))


def _fake_nlp(parses):
    """A stand-in for a spaCy pipeline: text -> tokens with (dep, head index) from a fixed table."""

    def nlp(text):
        doc, idx = [], 0
        for i, (word, dep, head) in enumerate(parses[text]):
            idx = text.index(word, idx)
            doc.append(_Token(doc, i, word, idx, dep, head, pos="VERB" if dep == "ROOT" else "NOUN"))
            idx += len(word)
        return doc

    return nlp


def test_swap_roles_on_parsed_text_swaps_subject_and_object_subtrees():
    text = "The big dog chased a small cat."
    parse = [
        ("The", "det", 2),
        ("big", "amod", 2),
        ("dog", "nsubj", 3),
        ("chased", "ROOT", 3),
        ("a", "det", 6),
        ("small", "amod", 6),
        ("cat", "dobj", 3),
        (".", "punct", 3),
    ]
    result = swap_roles(text, nlp=_fake_nlp({text: parse}))
    assert result.changed and result.text == "A small cat chased the big dog."
    intransitive = "The dog slept."
    unchanged = swap_roles(
        intransitive,
        nlp=_fake_nlp(
            {intransitive: [("The", "det", 1), ("dog", "nsubj", 2), ("slept", "ROOT", 2), (".", "punct", 2)]}
        ),
    )
    assert not unchanged.changed


# ---------------------------------------------------------------------------------------------------------------
# Sub-word pieces
# ---------------------------------------------------------------------------------------------------------------


def test_subword_pieces_stay_together_when_perturbing_tokenised_text(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    text = "unbelievably meticulous archaeologists catalogued extraordinary hieroglyphs yesterday ."
    encoding = tokenizer(text)
    tokens = encoding.tokens()
    word_ids = encoding.word_ids()
    groups = {}
    for token, word_id in zip(tokens, word_ids):
        if word_id is not None:
            groups.setdefault(word_id, []).append(token)
    assert any(len(pieces) > 1 for pieces in groups.values()), "the test text should contain multi-piece words"
    for seed in range(5):
        for perturbation in (lambda w, s=seed: shuffle_windows(w, 3, s), lambda w, s=seed: random_shuffle(w, s)):
            new_tokens, result = perturb_tokenized(tokens, word_ids, perturbation)
            assert result.changed
            assert new_tokens[0] == tokenizer.cls_token and new_tokens[-1] == tokenizer.sep_token
            assert Counter(new_tokens) == Counter(tokens)
            # Re-tokenising the perturbed text gives back exactly the perturbed pieces: no word was split.
            assert tokenizer(result.text).tokens() == new_tokens
            # Each word's pieces appear contiguously and in their original internal order.
            joined = " ".join(new_tokens)
            for pieces in groups.values():
                assert " ".join(pieces) in joined


# ---------------------------------------------------------------------------------------------------------------
# The registry
# ---------------------------------------------------------------------------------------------------------------


def _reverse(name, item, seed, **kwargs):
    words = words_of(item)
    body, tail = words[:-1], words[-1:]  # the final full stop stays
    reversed_words = tuple(reversed(body)) + tuple(tail)
    return Perturbation(name, reversed_words, reversed_words != tuple(words))


@pytest.fixture
def reverse():
    spec = register_perturbation(PerturbationSpec("reverse", _reverse, "every word in reverse order", "Reversed"))
    yield spec
    del PERTURBATIONS[spec.name]


def test_unknown_and_repeated_perturbations_are_clear_errors():
    with pytest.raises(
        ValueError, match=r"use one of: shuffle-N \(e.g. shuffle-3\), random, swap-adjacent, shuffle-sr"
    ):
        validate_perturbation_names(["reverse"])
    with pytest.raises(ValueError, match="'random' is already registered"):
        register_perturbation(find_perturbation("random"))
    assert find_perturbation("Shuffle-4").name == "shuffle-N" and find_perturbation("shuffle-sr").swaps_roles


def test_a_declared_perturbation_is_run_and_named_like_the_built_in_ones(reverse):
    sentence = generate_sentences(1, seed=3)[0]
    assert validate_perturbation_names([" Reverse"]) == ("reverse",)
    result = perturb("reverse", sentence, 0)
    assert result.changed and result.words[:-1] == tuple(reversed(sentence.words[:-1]))
    assert perturb("reverse", sentence.text, 0) == result  # any input kind, as the built-in ones
    assert display_name("reverse") == "Reversed" and display_name("shuffle-5") == "Shuffle-5"
    assert perturbation_order("reverse") > perturbation_order("shuffle-sr")
    # the NLI probe's perturbed sets take it by name, keeping every example and its label (no role swap)
    examples = load_nli_examples("builtin_nli", num_train=50, num_validation=20, num_test=0)
    (perturbed,) = build_perturbed_sets(examples, ["reverse"]).values()
    assert perturbed.indices == list(range(len(examples)))
    assert perturbed.references == [e.label for e in examples]

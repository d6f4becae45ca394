"""The finite-state language engine against brute force: a tiny grammar whose every sentence and every mask can be
enumerated, so the unigram entropy and the Bayes-optimal masked-token loss are checked exactly; and the compact
language's properties."""

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from pe_bert.data.automaton import FINAL, START, AutomatonBuilder, Context, Pool, bayes_masked_losses


def tiny_grammar():
    """Two topics, three structures, pools that overlap, an epsilon layer: small enough to enumerate.

    S -> (topic a | b) then  "the" N_t V .   |   N_t V N_t .   |   "the" ADJ N_t V .
    """
    b = AutomatonBuilder()
    nouns = {"a": Pool.weighted({"cat": 2, "dog": 1}), "b": Pool.weighted({"dog": 1, "car": 1, "bus": 1})}
    verbs = {"a": Pool.uniform(["ran", "slept"]), "b": Pool.weighted({"ran": 3, "stopped": 1})}
    for topic, p_topic in (("a", 0.6), ("b", 0.4)):
        for structure, p in (("short", 0.5), ("object", 0.3), ("adjective", 0.2)):
            context = Context(topic, structure)
            entry = b.state()
            b.epsilon(START, entry, p_topic * p)
            s1, s2, s3 = b.state(), b.state(), b.state()
            if structure == "short":
                b.emit(entry, s1, 1.0, Pool.uniform(["the"]), None, context)
                b.emit(s1, s2, 1.0, nouns[topic], "agent", context)
                b.emit(s2, s3, 1.0, verbs[topic], "predicate", context)
            elif structure == "object":
                b.emit(entry, s1, 1.0, nouns[topic], "agent", context)
                b.emit(s1, s2, 1.0, verbs[topic], "predicate", context)
                b.emit(s2, s3, 1.0, nouns[topic], "patient", context)
            else:
                s4 = b.state()
                b.emit(entry, s4, 1.0, Pool.uniform(["the"]), "agent", context)
                b.emit(s4, s1, 0.5, Pool.uniform(["big"]), "agent", context)
                b.emit(s4, s1, 0.5, Pool.uniform(["small", "red"]), "agent", context)
                b.emit(s1, s2, 1.0, nouns[topic], "agent", context)
                b.emit(s2, s3, 1.0, verbs[topic], "predicate", context)
            b.emit(s3, FINAL, 1.0, Pool.uniform(["."]), None, context)
    return b.build()


def enumerate_sentences(automaton) -> dict[tuple[str, ...], float]:
    """Every sentence with its probability, by walking every path (brute force, independent of forward-backward)."""
    sentences: Counter = Counter()

    def walk(state, words, prob):
        if state == FINAL:
            sentences[tuple(words)] += prob
            return
        for arc in np.flatnonzero(automaton.src == state):
            pool = automaton.pools[automaton.pool[arc]]
            for word, p in zip(pool.words, pool.probs):
                walk(automaton.dst[arc], words + [word], prob * automaton.prob[arc] * p)

    walk(START, [], 1.0)
    return dict(sentences)


@pytest.fixture(scope="module")
def tiny():
    automaton = tiny_grammar()
    return automaton, enumerate_sentences(automaton)


def test_tiny_grammar_is_a_distribution_and_sentence_probabilities_match(tiny):
    automaton, sentences = tiny
    assert sum(sentences.values()) == pytest.approx(1.0)
    for words, prob in sentences.items():
        assert automaton.sentence_probability(words) == pytest.approx(prob, rel=1e-12)
    assert automaton.sentence_probability(("the", "car", "slept", ".")) == 0.0  # slept is topic a, car topic b
    assert automaton.max_length() == 5


def test_accepts_is_exactly_a_positive_probability():
    """`accepts` decides membership on reachable-state sets; it must agree with the forward pass on sentences of the
    language and on near misses (adjacent words swapped, a word replaced, one dropped), most of which it rejects."""
    from pe_bert.data.compact import compact_language

    language = compact_language()
    rng = np.random.default_rng(0)
    candidates = []
    for sentence in language.sample(150, seed=3):
        words = list(sentence.words)
        candidates.append(words)
        i = int(rng.integers(len(words) - 1))
        candidates.append(words[:i] + [words[i + 1], words[i]] + words[i + 2 :])
        other = language.vocabulary[int(rng.integers(len(language.vocabulary)))]
        candidates.append(words[:i] + [other] + words[i + 1 :])
        candidates.append(words[:i] + words[i + 1 :])
    candidates += [[], ["not-a-word"]]
    verdicts = [language.accepts(words) for words in candidates]
    assert verdicts == [language.sentence_probability(words) > 0 for words in candidates]
    assert 150 <= sum(verdicts) < len(candidates) - 150


def test_unigram_distribution_and_entropy_are_exact(tiny):
    automaton, sentences = tiny
    counts: Counter = Counter()
    for words, prob in sentences.items():
        for word in words:
            counts[word] += prob
    total = sum(counts.values())
    assert automaton.expected_length() == pytest.approx(sum(len(w) * p for w, p in sentences.items()))
    expected = np.array([counts[w] / total for w in automaton.vocabulary])
    np.testing.assert_allclose(automaton.unigram_distribution(), expected, rtol=1e-12)
    assert automaton.unigram_entropy() == pytest.approx(-sum(p * math.log(p) for p in expected if p > 0))


def brute_force_posterior(sentences, visible, vocabulary, complete=True):
    """P(word at each masked position | visible words), summing over every consistent sentence (or prefix)."""
    posteriors = {i: Counter() for i, w in enumerate(visible) if w is None}
    for words, prob in sentences.items():
        if complete and len(words) != len(visible) or not complete and len(words) < len(visible):
            continue
        if all(v is None or v == w for v, w in zip(visible, words)):
            for i in posteriors:
                posteriors[i][words[i]] += prob
    return {i: np.array([c[w] for w in vocabulary]) / sum(c.values()) for i, c in posteriors.items()}


def test_masked_posteriors_match_brute_force_for_every_sentence_and_mask(tiny):
    automaton, sentences = tiny
    for words in sentences:
        for mask in itertools.product((False, True), repeat=len(words)):
            if not any(mask):
                continue
            visible = [None if m else w for w, m in zip(words, mask)]
            exact = automaton.masked_posteriors(visible)
            expected = brute_force_posterior(sentences, visible, automaton.vocabulary)
            assert exact.keys() == expected.keys()
            for i in exact:
                np.testing.assert_allclose(exact[i], expected[i], atol=1e-12)


def test_prefix_posteriors_marginalise_the_rest_of_the_sentence(tiny):
    automaton, sentences = tiny
    prefixes = {words[:k] for words in sentences for k in range(1, len(words) + 1)}
    for prefix in prefixes:
        for mask in itertools.product((False, True), repeat=len(prefix)):
            if not any(mask):
                continue
            visible = [None if m else w for w, m in zip(prefix, mask)]
            exact = automaton.masked_posteriors(visible, complete=False)
            expected = brute_force_posterior(sentences, visible, automaton.vocabulary, complete=False)
            for i in exact:
                np.testing.assert_allclose(exact[i], expected[i], atol=1e-12)


def test_bayes_masked_loss_at_a_masking_rate_equals_the_brute_force_expectation(tiny):
    """E over sentences and Bernoulli(rate) masks of -log P(masked word | visible words), per masked token."""
    automaton, sentences = tiny
    rate = 0.3
    loss_sum = masked = 0.0
    segments, weights = [], []
    for words, prob in sentences.items():
        for mask in itertools.product((False, True), repeat=len(words)):
            k = sum(mask)
            if not k:
                continue
            weight = prob * rate**k * (1 - rate) ** (len(words) - k)
            visible = [None if m else w for w, m in zip(words, mask)]
            posterior = brute_force_posterior(sentences, visible, automaton.vocabulary)
            loss_sum += weight * sum(-math.log(posterior[i][automaton.word_ids[words[i]]]) for i in posterior)
            masked += weight * k
            segments.append((visible, words, True))
            weights.append(weight)
    exact = bayes_masked_losses(automaton, segments)
    # the engine's per-token losses, weighted like the enumeration, give the same expectation
    per_segment, i = [], 0
    for visible, _, _ in segments:
        k = sum(v is None for v in visible)
        per_segment.append(sum(exact[i : i + k]))
        i += k
    assert np.dot(weights, per_segment) / masked == pytest.approx(loss_sum / masked, rel=1e-12)
    # and the floors are ordered: Bayes <= unigram entropy
    assert loss_sum / masked < automaton.unigram_entropy()


def test_sampling_follows_the_distribution(tiny):
    automaton, sentences = tiny
    drawn = Counter(s.words for s in automaton.sample(20000, seed=0))
    for words, prob in sentences.items():
        assert drawn[words] / 20000 == pytest.approx(prob, abs=4 * math.sqrt(prob * (1 - prob) / 20000) + 1e-4)
    sentence = automaton.sample(1, seed=3)[0]
    assert sentence.topic in ("a", "b") and sentence.structure in ("short", "object", "adjective")
    assert automaton.sample(5, seed=7) == automaton.sample(5, seed=7)
    conditioned = [
        automaton.sample_one(iter(np.random.default_rng(i).random(10)).__next__, topic="b") for i in range(200)
    ]
    assert {s.topic for s in conditioned} == {"b"}


def test_builder_rejects_non_distributions_and_impossible_inputs(tiny):
    b = AutomatonBuilder()
    b.emit(START, FINAL, 0.5, Pool.uniform(["x"]))
    with pytest.raises(ValueError, match="sum to"):
        b.build()
    automaton, _ = tiny
    with pytest.raises(ValueError, match="cannot produce"):
        automaton.masked_posteriors(["the", None, "stopped", "stopped", "."])
    with pytest.raises(ValueError, match="not in the automaton's vocabulary"):
        automaton.masked_posteriors(["the", None, "flew", "."])


# ------------------------------------------------------------------------------------------------ compact language


@pytest.fixture(scope="module")
def compact():
    from pe_bert.data.compact import compact_language

    return compact_language()


def test_compact_language_round_trips_through_plans(compact):
    from pe_bert.data.compact import compact_plan, compact_sentences
    from pe_bert.data.grammar import realize

    sentences = compact_sentences(2000, seed=5)
    assert {s.structure for s in sentences} == {"transitive", "passive", "intransitive", "prepositional"}
    for sentence in sentences:
        again = realize(compact_plan(sentence))
        assert again.words == sentence.words and again.spans == sentence.spans
        assert compact.sentence_probability(sentence.words) > 0


def test_compact_language_word_frequencies_match_its_exact_unigram_distribution(compact):
    from pe_bert.data.compact import compact_sentences

    counts = Counter(w for s in compact_sentences(20000, seed=9) for w in s.words)
    total = sum(counts.values())
    expected = compact.unigram_distribution()
    for word in (".", "the", "was", "by", "an", "a", "chased"):
        p = expected[compact.word_ids[word]]
        assert counts[word] / total == pytest.approx(p, abs=5 * math.sqrt(p / total) + 1e-4), word
    assert 4.0 < compact.unigram_entropy() < 6.0


def test_compact_language_knows_a_an_and_selectional_restrictions(compact):
    vocabulary = compact.word_ids
    posterior = compact.masked_posteriors(["the", "cook", "baked", "an", None, "."])
    likely = {compact.vocabulary[i] for i in np.flatnonzero(posterior[4] > 0)}
    assert likely and all(word[0] in "aeiou" for word in likely)  # "an" before a vowel
    assert "apple" in likely and "onion" in likely and "bread" not in likely
    posterior = compact.masked_posteriors([None, "rabbit", "was", "chased", "by", "the", "fox", "."])
    assert posterior[0][vocabulary["the"]] > 0 and posterior[0][vocabulary["an"]] == 0

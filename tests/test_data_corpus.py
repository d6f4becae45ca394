"""The built-in corpus generator: determinism, lexicon, structures, role annotations, swaps, speed."""

import time
from collections import Counter

import pytest

from pe_bert.data import (
    ROLES,
    STRUCTURES,
    TOPICS,
    RoleSpan,
    Sentence,
    builtin_corpus,
    generate_documents,
    generate_sentences,
    lexicon,
    swap_agent_patient,
    vocabulary,
)


@pytest.fixture(scope="module")
def sentences() -> list[Sentence]:
    return generate_sentences(3000, seed=0)


def test_deterministic_per_seed_and_different_across_seeds():
    assert generate_sentences(200, seed=3) == generate_sentences(200, seed=3)
    assert generate_sentences(200, seed=3) != generate_sentences(200, seed=4)
    # a longer corpus starts with the same sentences
    assert generate_sentences(5000, seed=3)[:200] == generate_sentences(200, seed=3)


def test_lexicon_size_and_categories():
    assert len(vocabulary()) >= 500
    classes = {c.name for c in lexicon.NOUN_CLASSES}
    for needed in ("animals", "people", "foods", "tools", "vehicles", "instruments"):
        assert needed in classes
    assert any(name in lexicon.PLACE_CLASSES for name in classes)
    assert any(c.animate and c.topic for c in lexicon.NOUN_CLASSES), "professions are animate"
    for verbs in (lexicon.TRANSITIVE_VERBS, lexicon.INTRANSITIVE_VERBS, lexicon.DITRANSITIVE_VERBS):
        assert len(verbs) >= 10
        for verb in verbs:
            assert verb.agents <= lexicon.ANIMATE_CLASSES, f"{verb.base}: agents must be animate"
    assert len({a for group in lexicon.ADJECTIVES.values() for a in group}) >= 50
    assert len(lexicon.ADVERBS) >= 20 and len(lexicon.LOCATION_PREPOSITIONS) >= 5 and len(set(lexicon.DETERMINERS)) >= 5


def test_generated_words_come_from_the_lexicon(sentences):
    vocab = vocabulary()
    used = {w for s in sentences for w in s.words}
    assert used <= vocab
    assert len(used) >= 400, "a few thousand sentences should already use most of the lexicon"


def test_every_structure_and_topic_occurs(sentences):
    assert set(Counter(s.structure for s in sentences)) == set(STRUCTURES)
    assert set(Counter(s.topic for s in sentences)) == set(TOPICS)


def test_text_detokenises_punctuation():
    for s in generate_sentences(50, seed=1):
        assert s.words[-1] == "." and s.text.endswith(".") and " ." not in s.text
        assert s.text.replace(".", " .").split() == list(s.words)


def _noun_of(s: Sentence, span: RoleSpan) -> str:
    """Head noun of a noun-phrase span: the first noun in it (relative clauses follow the head)."""
    return next(w for w in s.words[span.start : span.end] if w in lexicon.NOUN_TO_CLASS)


def test_spans_are_in_bounds_and_do_not_overlap_within_a_clause(sentences):
    for s in sentences:
        for span in s.spans:
            assert 0 <= span.start < span.end <= len(s.words) - 1, (s.text, span)  # final "." is never a role
            assert span.role in ROLES
        for clause in range(s.num_clauses):
            ordered = sorted((sp for sp in s.spans if sp.clause == clause), key=lambda sp: sp.start)
            assert ordered, f"clause {clause} has no role in {s.text!r}"
            for a, b in zip(ordered, ordered[1:]):
                assert a.end <= b.start, (s.text, a, b)
            assert {"agent", "predicate"} <= {sp.role for sp in ordered} or clause > 0


def test_role_annotation_matches_the_text(sentences):
    for s in sentences:
        agent, predicate, patient = s.span("agent"), s.span("predicate"), s.span("patient")
        assert agent is not None and predicate is not None
        assert lexicon.is_animate(_noun_of(s, agent)), f"agent must be animate: {s.text!r}"
        if s.structure == "passive":
            assert s.words[agent.start - 1] == "by" and s.words[predicate.start] == "was"
            assert patient.end == predicate.start and patient.start == 0
        else:
            assert agent.start == 0 and agent.end <= predicate.start, s.text
            if patient is not None:
                assert predicate.end <= patient.start
        if s.structure in ("intransitive",):
            assert patient is None
        if s.structure == "ditransitive":
            assert s.span("recipient") is not None and lexicon.is_animate(_noun_of(s, s.span("recipient")))
        if s.structure == "prepositional":
            pps = [sp for sp in s.spans if sp.role in ("location", "instrument")]
            assert pps and all(s.words[sp.start - 1] in lexicon.LOCATION_PREPOSITIONS + ("with",) for sp in pps)
        if s.structure == "relative_clause":
            rel = [sp for sp in s.spans if sp.clause == 1]
            assert rel and s.words[s.span("agent", 1).start] in ("who", "that")
            outer = s.span("agent") if s.span("agent").end >= rel[-1].end else s.span("patient")
            assert all(outer.start <= sp.start and sp.end <= outer.end for sp in rel), "relative clause inside its NP"
        if s.structure == "coordination":
            assert s.num_clauses == 2 and "and" in s.words and s.span("agent", 1) is not None
        for span in s.spans:  # verbs are verbs, nouns are nouns
            if span.role == "predicate":
                assert s.words[span.end - 1] in vocabulary()
            elif span.role in ("patient", "recipient", "location", "instrument") or (
                span.role == "agent" and len(span) > 1
            ):
                assert any(w in lexicon.NOUN_TO_CLASS for w in s.words[span.start : span.end]), (s.text, span)


def test_selectional_restrictions(sentences):
    verbs = {v.past: v for v in lexicon.TRANSITIVE_VERBS}
    for s in sentences:
        if s.structure == "transitive":
            verb = verbs[s.words[s.span("predicate").start]]
            assert lexicon.NOUN_TO_CLASS[_noun_of(s, s.span("patient"))] in verb.patients, s.text
            assert lexicon.NOUN_TO_CLASS[_noun_of(s, s.span("agent"))] in verb.agents, s.text


def test_nouns_respect_the_sentence_topic(sentences):
    for s in sentences:
        for w in s.words:
            assert lexicon.noun_topic(w) in (None, s.topic), (s.text, w)


def test_swap_agent_patient_exchanges_exactly_the_two_spans(sentences):
    swappable = [s for s in sentences if s.span("patient") is not None]
    assert {s.structure for s in swappable} == set(STRUCTURES) - {"intransitive"} or len(swappable) > 1000
    for s in swappable:
        swapped = swap_agent_patient(s)
        assert Counter(swapped.words) == Counter(s.words)
        assert swapped.role_words("agent") == s.role_words("patient")
        assert swapped.role_words("patient") == s.role_words("agent")
        for role in ("predicate", "recipient", "location", "instrument"):
            assert swapped.role_words(role) == s.role_words(role)
        # every other clause keeps its words, wherever it moved
        for clause in range(1, s.num_clauses):
            for role in ROLES:
                assert swapped.role_words(role, clause) == s.role_words(role, clause)
        assert swap_agent_patient(swapped) == s, "swapping twice restores the sentence"


def test_swap_example_and_passive():
    s = Sentence(
        tuple("the dog chased the cat .".split()),
        (RoleSpan("agent", 0, 2), RoleSpan("predicate", 2, 3), RoleSpan("patient", 3, 5)),
        "transitive",
        "animals",
    )
    assert swap_agent_patient(s).text == "the cat chased the dog."
    passive = next(x for x in generate_sentences(300, seed=2) if x.structure == "passive")
    swapped = swap_agent_patient(passive)
    assert swapped.words[swapped.span("agent").start - 1] == "by"


def test_swap_without_patient_is_a_clear_error():
    s = next(x for x in generate_sentences(100) if x.structure == "intransitive")
    with pytest.raises(ValueError, match="no patient"):
        swap_agent_patient(s)


def test_to_dict_round_trip(sentences):
    for s in sentences[:50]:
        d = s.to_dict()
        assert d["text"] == s.text and Sentence.from_dict(d) == s


def test_generation_filters_and_errors():
    only = generate_sentences(100, seed=0, structures=["passive"], topics=["music"] * 100)
    assert {s.structure for s in only} == {"passive"} and {s.topic for s in only} == {"music"}
    with pytest.raises(ValueError, match="valid structures"):
        generate_sentences(3, structures=["cleft"])
    with pytest.raises(ValueError, match="one topic per sentence"):
        generate_sentences(3, topics=["music"])


def test_documents_share_a_topic():
    docs = generate_documents(20, sentences_per_document=5, seed=0)
    assert len(docs) == 20 and all(len(d) == 5 and len({s.topic for s in d}) == 1 for d in docs)
    assert len({d[0].topic for d in docs}) > 1


def test_builtin_corpus_granularities():
    docs = builtin_corpus(num_sentences=400, seed=0, sentences_per_document=8)
    assert set(docs) == {"train", "validation"} and {"text", "topic"} <= set(docs["train"].column_names)
    assert docs["train"].num_rows + docs["validation"].num_rows == 50
    assert builtin_corpus(num_sentences=400, seed=0)["train"]["text"] == docs["train"]["text"]
    assert builtin_corpus(num_sentences=400, seed=1)["train"]["text"] != docs["train"]["text"]
    sents = builtin_corpus(num_sentences=400, seed=0, granularity="sentence")
    assert sents["train"].num_rows + sents["validation"].num_rows == 400
    row = sents["train"][0]
    assert Sentence.from_dict(row).text == row["text"]
    # no document is split across train and validation
    assert not set(sents["train"]["document_id"]) & set(sents["validation"]["document_id"])
    with pytest.raises(ValueError, match="granularity"):
        builtin_corpus(10, granularity="word")


def test_generation_speed():
    start = time.perf_counter()
    corpus = generate_sentences(100_000, seed=0)
    elapsed = time.perf_counter() - start
    print(f"\ngenerated {len(corpus)} sentences in {elapsed:.2f} s ({len(corpus) / elapsed:,.0f} sentences/s)")
    assert len(corpus) == 100_000
    assert elapsed < 60, "loose bound: a few seconds is expected, even on a slow CI machine"

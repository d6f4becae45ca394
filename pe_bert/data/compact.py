"""The compact language: single-clause sentences of the built-in lexicon, as an exact finite-state automaton.

It is what `pe-bert study` pretrains on by default, and what its `builtin_topic` and `builtin_order` tasks are made
of (``grammar="compact"``). It keeps what makes the built-in grammar informative about word order and topic — who
did what to whom (active and passive voice, reversible verbs with animate agents and patients), selectional
restrictions, topical nouns, adjectives, adverbs, location phrases, "a"/"an" — in four structures:

* transitive:    ``the hungry fox chased a rabbit quickly .``
* passive:       ``the rabbit was chased by the fox .``
* intransitive:  ``a tired owl slept .``
* prepositional: ``the cook baked the bread in the kitchen .``

Any agent or patient may carry a place phrase after it (``the fox near the old barn chased a rabbit .``, with
probability P_MODIFIER each): it puts words between a noun and its verb, so that who did what to whom is not always
written in adjacent words (the `roles_far` probing task, :mod:`pe_bert.data.probing`, is built on it).

Each word is drawn independently given its place in the sentence (the automaton's arc), with the probabilities of
the built-in grammar's sampler (same constants, same lexicon). Unlike that sampler it allows one adjective per noun
phrase and lets a reversible verb take the same noun twice ("the dog chased the dog", about 1 sentence in 40 of
those): both keep every word a function of its own arc, which is what makes inference exact
(:mod:`pe_bert.data.automaton`): the unigram entropy and the Bayes-optimal masked-token loss of this corpus are
computed, not estimated.
"""

from __future__ import annotations

from functools import cache, lru_cache
from typing import TYPE_CHECKING

from . import lexicon
from .automaton import FINAL, START, AutomatonBuilder, Context, Pool, SentenceAutomaton
from .grammar import SentenceSampler, _topic_tables
from .sentence import Sentence

if TYPE_CHECKING:
    from .grammar import NP, Plan

#: sentence structures of the compact language, with their sampling weights
STRUCTURE_WEIGHTS: dict[str, float] = {"transitive": 0.35, "passive": 0.2, "intransitive": 0.15, "prepositional": 0.3}
#: the built-in grammar's probabilities (one source of truth)
P_ADJECTIVE = SentenceSampler.P_ADJECTIVE
P_ADVERB = SentenceSampler.P_ADVERB
P_TOPICAL_ANIMATE = SentenceSampler.P_TOPICAL_ANIMATE
P_TOPICAL_VERB = SentenceSampler.P_TOPICAL_VERB
P_ADVERB_BEFORE_VERB = 0.5
P_PREPOSITIONAL_TRANSITIVE = 0.7  # a prepositional sentence's clause is transitive, else intransitive
P_MODIFIER = 0.3  # an agent or patient noun phrase is followed by a place phrase ("the dog near the barn")
_VOWELS = frozenset("aeiou")


def _determiner_weights() -> dict[str, float]:
    counts: dict[str, float] = {}
    for determiner in lexicon.DETERMINERS:
        counts[determiner] = counts.get(determiner, 0.0) + 1.0 / len(lexicon.DETERMINERS)
    return counts


def _adjectives(noun_class: lexicon.NounClass) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for group in noun_class.adjective_groups for a in lexicon.ADJECTIVES[group]))


def _class_choices(class_names, topic: str) -> list[tuple[float, lexicon.NounClass]]:
    """(probability, class) of the noun filling a role whose verb accepts `class_names`, in `topic`.

    As the built-in sampler: nouns of the topic's own classes with probability P_TOPICAL_ANIMATE when topic-free
    ones (people) are also possible, then a noun uniformly from the chosen pool, so a class by its size.
    """
    classes = [lexicon.NOUN_CLASS_BY_NAME[name] for name in sorted(class_names)]
    specific = [c for c in classes if c.topic == topic]
    general = [c for c in classes if c.topic is None]
    pools = (
        [(P_TOPICAL_ANIMATE, specific), (1 - P_TOPICAL_ANIMATE, general)]
        if specific and general
        else [(1.0, specific or general)]
    )
    choices = []
    for weight, pool in pools:
        size = sum(len(c.nouns) for c in pool)
        choices += [(weight * len(c.nouns) / size, c) for c in pool]
    return choices


class _Language:
    """Builds the automaton: one function per phrase, each wiring arcs from a state `src` to a state `dst`."""

    def __init__(self):
        self.builder = AutomatonBuilder()
        self.determiners = _determiner_weights()
        p_a = self.determiners.pop("a")
        self.p_article = p_a
        self.other_determiners = Pool.weighted(self.determiners)
        self.p_other_determiner = 1.0 - p_a

    def word(self, src: int, dst: int, prob: float, words, role, context) -> None:
        self.builder.emit(src, dst, prob, Pool.uniform(words) if not isinstance(words, Pool) else words, role, context)

    def noun_phrase(self, src: int, dst: int, choices, role: str, context: Context) -> None:
        """Determiner, an optional adjective, a noun of one of the `choices` classes."""
        for class_weight, noun_class in choices:
            adjectives = _adjectives(noun_class)
            for has_adjective, p_adjective in ((False, 1 - P_ADJECTIVE), (True, P_ADJECTIVE)):
                head = adjectives if has_adjective else noun_class.nouns  # the word after the determiner
                weight = class_weight * p_adjective
                # "a" is written "an" before a vowel: split the next word's pool by its first letter
                consonant = tuple(w for w in head if w[0] not in _VOWELS)
                vowel = tuple(w for w in head if w[0] in _VOWELS)
                for article_weight, determiner, heads in (
                    (self.p_other_determiner, self.other_determiners, head),
                    (self.p_article * len(consonant) / len(head), Pool.uniform(["a"]), consonant),
                    (self.p_article * len(vowel) / len(head), Pool.uniform(["an"]), vowel),
                ):
                    if article_weight <= 0:
                        continue
                    after_determiner = self.builder.state()
                    self.word(src, after_determiner, weight * article_weight, determiner, role, context)
                    if has_adjective:
                        after_adjective = self.builder.state()
                        self.word(after_determiner, after_adjective, 1.0, heads, role, context)
                        self.word(after_adjective, dst, 1.0, noun_class.nouns, role, context)
                    else:
                        self.word(after_determiner, dst, 1.0, heads, role, context)

    def sentence_end(self, src: int, context: Context) -> None:
        self.word(src, FINAL, 1.0, ["."], None, context)

    def place_phrase(self, src: int, dst: int, topic: str, role: str, context: Context) -> None:
        """A preposition and a place of the topic: the clause's location, or a noun phrase's modifier."""
        middle = self.builder.state()
        self.word(src, middle, 1.0, lexicon.LOCATION_PREPOSITIONS, None, context)
        places = [c for c in lexicon.NOUN_CLASSES if c.name in lexicon.PLACE_CLASSES and c.topic == topic]
        size = sum(len(c.nouns) for c in places)
        self.noun_phrase(middle, dst, [(len(c.nouns) / size, c) for c in places], role, context)

    def argument(self, src: int, dst: int, choices, role: str, topic: str, context: Context) -> None:
        """The agent or patient: a noun phrase, followed by a place phrase with probability P_MODIFIER."""
        head_end = self.builder.state()
        self.noun_phrase(src, head_end, choices, role, context)
        self.builder.epsilon(head_end, dst, 1 - P_MODIFIER)
        modifier = self.builder.state()
        self.builder.epsilon(head_end, modifier, P_MODIFIER)
        self.place_phrase(modifier, dst, topic, "modifier", context)

    def adverb(self, src: int, dst: int, context: Context) -> None:
        self.word(src, dst, 1.0, lexicon.ADVERBS, "manner", context)

    def clause(self, src: int, dst: int, verbs, kind: str, topic: str, context: Context) -> None:
        """A clause of one verb group (verbs sharing their admissible agents and patients), any adverb placement."""
        verb = verbs[0]
        agents = _class_choices(verb.agents, topic)
        patients = _class_choices(verb.patients, topic) if kind != "intransitive" else None
        passive = kind == "passive"
        # adverb: none, before the verb (active only), or after the clause's last phrase
        placements = [("none", 1 - P_ADVERB)]
        if passive:
            placements.append(("after", P_ADVERB))
        else:
            placements += [
                ("before", P_ADVERB * P_ADVERB_BEFORE_VERB),
                ("after", P_ADVERB * (1 - P_ADVERB_BEFORE_VERB)),
            ]
        for placement, p_placement in placements:
            start = self.builder.state()
            self.builder.epsilon(src, start, p_placement)
            subject_end = self.builder.state()
            if passive:
                self.argument(start, subject_end, patients, "patient", topic, context)
                was = self.builder.state()
                self.word(subject_end, was, 1.0, ["was"], "predicate", context)
                participle = self.builder.state()
                self.word(was, participle, 1.0, Pool.weighted(_form_weights(verbs, "participle")), "predicate", context)
                by = self.builder.state()
                self.word(participle, by, 1.0, ["by"], None, context)
                last = self.builder.state()
                self.argument(by, last, agents, "agent", topic, context)
            else:
                self.argument(start, subject_end, agents, "agent", topic, context)
                before_verb = subject_end
                if placement == "before":
                    before_verb = self.builder.state()
                    self.adverb(subject_end, before_verb, context)
                last = self.builder.state()
                past = Pool.weighted(_form_weights(verbs, "past"))
                if kind == "intransitive":
                    self.word(before_verb, last, 1.0, past, "predicate", context)
                else:
                    after_verb = self.builder.state()
                    self.word(before_verb, after_verb, 1.0, past, "predicate", context)
                    self.argument(after_verb, last, patients, "patient", topic, context)
            if placement == "after":
                after = self.builder.state()
                self.adverb(last, after, context)
                last = after
            self.builder.epsilon(last, dst, 1.0)

    def verb_groups(self, topic: str, kind: str) -> list[tuple[float, tuple[lexicon.Verb, ...]]]:
        """(probability, verbs) of the verb groups of `kind` in `topic`, as the built-in sampler draws verbs."""
        tables = _topic_tables(topic)
        if kind == "intransitive":
            categories = [(1.0, tables["intransitive"])]
        else:
            categories = [(P_TOPICAL_VERB, tables["topical"]), (1 - P_TOPICAL_VERB, tables["reversible"])]
        groups: dict[tuple, list] = {}
        for p_category, choices in categories:
            for choice in choices:
                key = (choice.agents, choice.patients)
                entry = groups.setdefault(key, [0.0, []])
                entry[0] += p_category / len(choices)
                entry[1].append(choice.verb)
        return [(weight, tuple(verbs)) for weight, verbs in groups.values()]

    def build(self) -> SentenceAutomaton:
        for topic in lexicon.TOPICS:
            for structure, p_structure in STRUCTURE_WEIGHTS.items():
                context = Context(topic, structure)
                entry = self.builder.state()
                self.builder.epsilon(START, entry, p_structure / len(lexicon.TOPICS))
                end = self.builder.state()
                if structure == "prepositional":
                    clause_end = self.builder.state()
                    kinds = [
                        ("transitive", P_PREPOSITIONAL_TRANSITIVE),
                        ("intransitive", 1 - P_PREPOSITIONAL_TRANSITIVE),
                    ]
                else:
                    clause_end = end
                    kinds = [(structure, 1.0)]
                for kind, p_kind in kinds:
                    for p_group, verbs in self.verb_groups(
                        topic, "intransitive" if kind == "intransitive" else "transitive"
                    ):
                        group_entry = self.builder.state()
                        self.builder.epsilon(entry, group_entry, p_kind * p_group)
                        self.clause(group_entry, clause_end, verbs, kind, topic, context)
                if structure == "prepositional":
                    # epsilon into the location phrase's first (emitting) state
                    location = self.builder.state()
                    self.builder.epsilon(clause_end, location, 1.0)
                    self.place_phrase(location, end, topic, "location", context)
                final = self.builder.state()
                self.builder.epsilon(end, final, 1.0)
                self.sentence_end(final, context)
        return self.builder.build()


def _form_weights(verbs, form: str) -> dict[str, float]:
    """A verb drawn uniformly from the group, written in `form` (forms shared by two verbs add up)."""
    weights: dict[str, float] = {}
    for verb in verbs:
        word = getattr(verb, form)
        weights[word] = weights.get(word, 0.0) + 1.0 / len(verbs)
    return weights


@lru_cache(maxsize=1)
def compact_language() -> SentenceAutomaton:
    """The compact language's automaton (built once per process)."""
    return _Language().build()


def compact_sentences(n: int, seed: int = 0) -> list[Sentence]:
    """`n` annotated sentences of the compact language, deterministically from `seed`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return compact_language().sample(n, seed)


def _noun_phrase(words: tuple[str, ...]) -> NP:
    from .grammar import NP

    determiner = "a" if words[0] in ("a", "an") else words[0]  # realize() writes "a" or "an" by the next word
    return NP(determiner, tuple(words[1:-1]), words[-1])


@cache
def _verbs_by_form(kind: str) -> dict[str, lexicon.Verb]:
    verbs = lexicon.INTRANSITIVE_VERBS if kind == "intransitive" else lexicon.TRANSITIVE_VERBS
    forms = {verb.past: verb for verb in verbs}
    forms.update({verb.participle: verb for verb in verbs})
    return forms


def compact_plan(sentence: Sentence) -> Plan:
    """The plan (:mod:`pe_bert.data.grammar`) of a compact-language sentence, so tasks can edit its meaning.

    `realize(compact_plan(s))` gives `s` back, words and spans.
    """
    from .grammar import PP, Clause, Plan

    span, words = sentence.span, sentence.words
    agent, patient, predicate = span("agent"), span("patient"), span("predicate")
    manner, location = span("manner"), span("location")
    if agent is None or predicate is None:
        raise ValueError(f"{sentence.text!r} has no agent or predicate annotation: not a compact-language sentence.")
    passive = predicate.end - predicate.start == 2 and words[predicate.start] == "was"
    kind = "transitive" if patient is not None else "intransitive"
    verb = _verbs_by_form(kind)[words[predicate.end - 1]]
    pps = (
        (PP("location", words[location.start - 1], _noun_phrase(words[location.start : location.end])),)
        if location is not None
        else ()
    )
    modifiers = {s.start - 1: s for s in sentence.spans if s.role == "modifier"}  # by the preposition's index

    def argument(phrase):
        """The noun phrase of an agent or patient span, with the place phrase that follows it, if any."""
        modifier = modifiers.get(phrase.end)
        pp = (
            None
            if modifier is None
            else PP("modifier", words[phrase.end], _noun_phrase(words[modifier.start : modifier.end]))
        )
        return _noun_phrase(words[phrase.start : phrase.end])._replace(modifier=pp)

    clause = Clause(
        kind,
        argument(agent),
        verb,
        argument(patient) if patient is not None else None,
        None,
        "passive" if passive else "active",
        words[manner.start] if manner is not None else None,
        manner is not None and manner.start < predicate.start,
        pps,
    )
    return Plan(sentence.structure, sentence.topic, (clause,))


__all__ = ["STRUCTURE_WEIGHTS", "compact_language", "compact_plan", "compact_sentences"]

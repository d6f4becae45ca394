"""A small generative grammar: sentence *plans* (noun phrases, clauses) and their realisation as words.

Generation has two steps so that tasks can edit meaning precisely before any word exists:

1. :class:`SentenceSampler` draws a :class:`Plan` (clauses made of :class:`NP` and :class:`PP` parts)
   respecting the lexicon's selectional restrictions and the document topic;
2. :func:`realize` turns a plan into a :class:`~pe_bert.data.sentence.Sentence` with role spans.

Tasks (``pe_bert.data.tasks``) edit plans — drop adjectives, switch voice, swap roles — and realise
again, so premise and hypothesis annotations are always exact.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from functools import cache
from typing import NamedTuple

from . import lexicon
from .sentence import RoleSpan, Sentence

#: every sentence structure, with its sampling weight
STRUCTURE_WEIGHTS: dict[str, float] = {
    "transitive": 0.20,
    "intransitive": 0.10,
    "ditransitive": 0.12,
    "passive": 0.14,
    "relative_clause": 0.14,
    "prepositional": 0.16,
    "coordination": 0.14,
}
STRUCTURES: tuple[str, ...] = tuple(STRUCTURE_WEIGHTS)

#: how many uniform numbers one sentence may consume (generous; the sampler wraps around if ever exceeded)
DRAWS_PER_SENTENCE = 64


# ---------------------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------------------
class NP(NamedTuple):
    """A noun phrase; ``relative`` is a subject relative clause whose agent is this phrase; ``modifier`` a place
    phrase after it ("the dog *near the barn*", the compact language's post-modifier)."""

    det: str
    adjectives: tuple[str, ...]
    noun: str
    relative: Clause | None = None
    modifier: PP | None = None


class PP(NamedTuple):
    """An adjunct prepositional phrase filling ``role`` ("location" or "instrument")."""

    role: str
    preposition: str
    np: NP


class Clause(NamedTuple):
    kind: str  # "transitive" | "intransitive" | "ditransitive"
    agent: NP
    verb: lexicon.Verb
    patient: NP | None = None
    recipient: NP | None = None
    voice: str = "active"  # "passive" is only valid for transitive clauses
    adverb: str | None = None
    adverb_before_verb: bool = False
    pps: tuple[PP, ...] = ()
    dative_to: bool = False  # ditransitive as "gave a book to the boy" instead of "gave the boy a book"


class Plan(NamedTuple):
    """A sentence before realisation: one clause, or two coordinated ones."""

    structure: str
    topic: str
    clauses: tuple[Clause, ...]


# ---------------------------------------------------------------------------------------------------
# realisation
# ---------------------------------------------------------------------------------------------------
class _Writer:
    """Accumulates words and spans; hands out clause numbers in order of appearance."""

    __slots__ = ("words", "spans", "next_clause")

    def __init__(self) -> None:
        self.words: list[str] = []
        self.spans: list[RoleSpan] = []
        self.next_clause = 0

    def np(self, np: NP, role: str, clause: int) -> None:
        start = len(self.words)
        det = np.det
        if det == "a":  # choose the article by the sound of the next word
            det = "an" if (np.adjectives[0] if np.adjectives else np.noun)[0] in "aeiou" else "a"
        self.words.append(det)
        self.words.extend(np.adjectives)
        self.words.append(np.noun)
        if np.relative is not None:
            human = lexicon.NOUN_TO_CLASS[np.noun] in lexicon.HUMAN_CLASSES
            self.clause(np.relative, relative_pronoun="who" if human else "that")
        self.spans.append(RoleSpan(role, start, len(self.words), clause))
        if np.modifier is not None:  # its own span, after the phrase's (as the compact automaton labels words)
            self.words.append(np.modifier.preposition)
            self.np(np.modifier.np, np.modifier.role, clause)

    def single(self, word: str, role: str, clause: int) -> None:
        self.spans.append(RoleSpan(role, len(self.words), len(self.words) + 1, clause))
        self.words.append(word)

    def clause(self, c: Clause, relative_pronoun: str | None = None) -> None:
        index = self.next_clause
        self.next_clause += 1
        words = self.words
        passive = c.voice == "passive"
        # subject
        if relative_pronoun is not None:
            self.single(relative_pronoun, "patient" if passive else "agent", index)
        elif passive:
            self.np(c.patient, "patient", index)
        else:
            self.np(c.agent, "agent", index)
        if c.adverb and c.adverb_before_verb and not passive:
            self.single(c.adverb, "manner", index)
        # predicate
        if passive:
            self.spans.append(RoleSpan("predicate", len(words), len(words) + 2, index))
            words.extend(("was", c.verb.participle))
            words.append("by")
            self.np(c.agent, "agent", index)
        else:
            self.single(c.verb.past, "predicate", index)
            if c.kind == "transitive":
                self.np(c.patient, "patient", index)
            elif c.kind == "ditransitive":
                if c.dative_to:
                    self.np(c.patient, "patient", index)
                    words.append("to")
                    self.np(c.recipient, "recipient", index)
                else:
                    self.np(c.recipient, "recipient", index)
                    self.np(c.patient, "patient", index)
        if c.adverb and (passive or not c.adverb_before_verb):
            self.single(c.adverb, "manner", index)
        for pp in c.pps:
            words.append(pp.preposition)
            self.np(pp.np, pp.role, index)


def realize(plan: Plan) -> Sentence:
    """Turn a plan into words and role spans (clause 0 first, relative clauses numbered as they appear)."""
    writer = _Writer()
    for i, clause in enumerate(plan.clauses):
        if i:
            writer.words.append("and")
        writer.clause(clause)
    writer.words.append(".")
    spans = sorted(writer.spans, key=lambda s: (s.start, -s.end))
    return Sentence(tuple(writer.words), tuple(spans), plan.structure, plan.topic)


# ---------------------------------------------------------------------------------------------------
# sampling
# ---------------------------------------------------------------------------------------------------
class Draws:
    """Hands out pre-drawn uniform numbers in [0, 1) (drawn in bulk with numpy for speed).

    The numbers are cycled if a sentence ever needs more than it was given (deterministic either way).
    """

    __slots__ = ("uniform",)

    def __init__(self, values: Sequence[float]) -> None:
        self.uniform = itertools.cycle(values).__next__  # C-level iteration: the hot path of generation

    def choice(self, seq: Sequence):
        return seq[int(self.uniform() * len(seq))]

    def chance(self, p: float) -> bool:
        return self.uniform() < p


def _nouns(classes, topic: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Nouns of ``classes`` usable in ``topic``, split into (topic-specific, topic-free)."""
    specific, general = [], []
    for name in sorted(classes):
        cls = lexicon.NOUN_CLASS_BY_NAME[name]
        if cls.topic == topic:
            specific.extend(cls.nouns)
        elif cls.topic is None:
            general.extend(cls.nouns)
    return tuple(specific), tuple(general)


class _VerbChoice(NamedTuple):
    verb: lexicon.Verb
    agents: tuple[tuple[str, ...], tuple[str, ...]]
    patients: tuple[tuple[str, ...], tuple[str, ...]]
    instruments: tuple[str, ...]


@cache
def _topic_tables(topic: str) -> dict[str, tuple[_VerbChoice, ...]]:
    """Verbs usable in ``topic`` with their admissible agents/patients/instruments, by kind."""
    tables: dict[str, list[_VerbChoice]] = {"topical": [], "reversible": [], "intransitive": [], "ditransitive": []}
    for kind, verbs in (
        ("transitive", lexicon.TRANSITIVE_VERBS),
        ("intransitive", lexicon.INTRANSITIVE_VERBS),
        ("ditransitive", lexicon.DITRANSITIVE_VERBS),
    ):
        for verb in verbs:
            agents = _nouns(verb.agents, topic)
            patients = _nouns(verb.patients, topic)
            instruments = sum(_nouns(verb.instruments, topic), ())
            if not any(agents) or (kind != "intransitive" and not any(patients)):
                continue
            choice = _VerbChoice(verb, agents, patients, instruments)
            if kind == "transitive":
                reversible = verb.patients <= lexicon.ANIMATE_CLASSES
                tables["reversible" if reversible else "topical"].append(choice)
            else:
                tables[kind].append(choice)
    return {k: tuple(v) for k, v in tables.items()}


@cache
def _places(topic: str) -> tuple[str, ...]:
    return tuple(
        n for c in lexicon.NOUN_CLASSES if c.name in lexicon.PLACE_CLASSES and c.topic == topic for n in c.nouns
    )


@cache
def _adjective_pool(class_name: str) -> tuple[str, ...]:
    groups = lexicon.NOUN_CLASS_BY_NAME[class_name].adjective_groups
    return tuple(dict.fromkeys(a for g in groups for a in lexicon.ADJECTIVES[g]))


class SentenceSampler:
    """Draws sentence plans for one topic from a stream of uniform numbers."""

    #: probability of 1 (and then of a 2nd) adjective on a noun phrase; of an adverb on a clause
    P_ADJECTIVE, P_SECOND_ADJECTIVE, P_ADVERB = 0.3, 0.25, 0.2
    #: probability that an animate noun comes from the topic's own classes rather than plain people
    P_TOPICAL_ANIMATE = 0.6
    #: probability that a transitive clause uses a topical verb (patient from the topic) rather than a reversible one
    P_TOPICAL_VERB = 0.55

    def __init__(self, draws: Draws | None, topic: str) -> None:
        self.d = draws  # replaceable: one sampler per topic serves a whole corpus
        self.topic = topic
        self.tables = _topic_tables(topic)
        transitive = self.tables["topical"] + self.tables["reversible"]
        self.instruments = {c.verb: c.instruments for c in transitive}
        self.patients = {c.verb: c.patients for c in transitive}
        self.recipients = _nouns(lexicon.ANIMATE_CLASSES, topic)
        self.places = _places(topic)

    # --- phrases -------------------------------------------------------------------------------
    def noun(self, pools: tuple[tuple[str, ...], tuple[str, ...]], avoid: str | None = None) -> str:
        specific, general = pools
        pool = specific if specific and (not general or self.d.chance(self.P_TOPICAL_ANIMATE)) else general
        noun = self.d.choice(pool)
        if noun == avoid and len(pool) > 1:  # never "the dog chased the dog"
            noun = pool[(pool.index(noun) + 1) % len(pool)]
        return noun

    def np(self, noun: str) -> NP:
        d = self.d
        adjectives: tuple[str, ...] = ()
        if d.chance(self.P_ADJECTIVE):
            pool = _adjective_pool(lexicon.NOUN_TO_CLASS[noun])
            first = d.choice(pool)
            adjectives = (first,)
            if d.chance(self.P_SECOND_ADJECTIVE):
                second = d.choice(pool)
                if second != first:
                    adjectives = (first, second)
        return NP(d.choice(lexicon.DETERMINERS), adjectives, noun)

    def adverb(self) -> tuple[str | None, bool]:
        if self.d.chance(self.P_ADVERB):
            return self.d.choice(lexicon.ADVERBS), self.d.chance(0.5)
        return None, False

    # --- clauses -------------------------------------------------------------------------------
    def transitive(self, reversible: bool | None = None, voice: str = "active") -> Clause:
        if reversible is None:
            reversible = not self.d.chance(self.P_TOPICAL_VERB)
        choice = self.d.choice(self.tables["reversible" if reversible else "topical"])
        agent = self.noun(choice.agents)
        patient = self.noun(choice.patients, avoid=agent)
        adverb, before = self.adverb()
        return Clause("transitive", self.np(agent), choice.verb, self.np(patient), None, voice, adverb, before)

    def intransitive(self) -> Clause:
        choice = self.d.choice(self.tables["intransitive"])
        adverb, before = self.adverb()
        return Clause(
            "intransitive", self.np(self.noun(choice.agents)), choice.verb, None, None, "active", adverb, before
        )

    def ditransitive(self) -> Clause:
        choice = self.d.choice(self.tables["ditransitive"])
        agent = self.noun(choice.agents)
        recipient = self.noun(self.recipients, avoid=agent)
        adverb, before = self.adverb()
        return Clause(
            "ditransitive",
            self.np(agent),
            choice.verb,
            self.np(self.noun(choice.patients)),
            self.np(recipient),
            "active",
            adverb,
            before,
            (),
            self.d.chance(0.3),
        )

    def with_pps(self, clause: Clause) -> Clause:
        """Add an instrument PP (when the verb takes one in this topic) and/or a location PP (at least one)."""
        d = self.d
        pps = []
        instruments = self.instruments.get(clause.verb) if clause.kind == "transitive" else None
        if instruments and d.chance(0.6):
            pps.append(PP("instrument", lexicon.INSTRUMENT_PREPOSITION, self.np(d.choice(instruments))))
        if not pps or d.chance(0.5):
            pps.append(PP("location", d.choice(lexicon.LOCATION_PREPOSITIONS), self.np(d.choice(self.places))))
        return clause._replace(pps=tuple(pps))

    def relative_for(self, head: NP) -> Clause:
        """A subject relative clause whose agent is ``head`` (its verb must accept that agent)."""
        head_class = lexicon.NOUN_TO_CLASS[head.noun]
        if self.d.chance(0.6):
            options = [c for c in self.tables["topical"] + self.tables["reversible"] if head_class in c.verb.agents]
            if options:
                choice = self.d.choice(options)
                patient = self.noun(choice.patients, avoid=head.noun)
                return Clause("transitive", head, choice.verb, self.np(patient))
        options = [c for c in self.tables["intransitive"] if head_class in c.verb.agents]
        return Clause("intransitive", head, self.d.choice(options).verb)

    # --- sentences -----------------------------------------------------------------------------
    def plan(self, structure: str) -> Plan:
        d = self.d
        if structure == "transitive":
            clauses = (self.transitive(),)
        elif structure == "intransitive":
            clauses = (self.intransitive(),)
        elif structure == "ditransitive":
            clauses = (self.ditransitive(),)
        elif structure == "passive":
            clauses = (self.transitive(voice="passive"),)
        elif structure == "prepositional":
            clauses = (self.with_pps(self.transitive() if d.chance(0.7) else self.intransitive()),)
        elif structure == "relative_clause":
            main = self.transitive()
            if lexicon.is_animate(main.patient.noun) and d.chance(0.5):
                main = main._replace(patient=main.patient._replace(relative=self.relative_for(main.patient)))
            else:
                main = main._replace(agent=main.agent._replace(relative=self.relative_for(main.agent)))
            clauses = (main,)
        elif structure == "coordination":
            clauses = tuple(self.transitive() if d.chance(0.6) else self.intransitive() for _ in range(2))
        else:
            raise ValueError(f"unknown structure {structure!r}; valid structures: {', '.join(STRUCTURES)}")
        return Plan(structure, self.topic, clauses)

    def structure(self, allowed: Sequence[str] | None = None) -> str:
        """Draw a structure by :data:`STRUCTURE_WEIGHTS` (restricted to ``allowed`` if given)."""
        names = tuple(allowed) if allowed else STRUCTURES
        weights = [STRUCTURE_WEIGHTS[n] for n in names]
        u = self.d.uniform() * sum(weights)
        for name, weight in zip(names, weights):
            u -= weight
            if u < 0:
                return name
        return names[-1]

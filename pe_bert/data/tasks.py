"""Built-in GLUE-format tasks generated from the grammar (offline, seeded, balanced).

* ``builtin_nli``   — 3-way NLI (entailment=0, neutral=1, contradiction=2 as in MNLI).  Half of the
  contradictions are agent/patient swaps built from the premise's own words, while entailed hypotheses
  are the premise minus modifiers or its passive/active paraphrase: a bag-of-words model cannot tell
  them apart, word order decides.
* ``builtin_order`` — acceptability: 1 = a generated sentence, 0 = a locally shuffled or bigram-swapped one.
* ``builtin_topic`` — the document topic of a sentence, decided by its nouns; order plays no role (control).

Every task has ``train``/``validation``/``test`` splits with GLUE columns (``sentence`` or
``sentence1``/``sentence2``, ``label``, ``idx``); test labels are -1 as in GLUE.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from . import lexicon
from .compact import compact_language, compact_plan
from .grammar import DRAWS_PER_SENTENCE, NP, PP, Clause, Draws, Plan, SentenceSampler, realize
from .sentence import Sentence

if TYPE_CHECKING:
    import datasets

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")
ORDER_LABELS: tuple[str, ...] = ("shuffled", "original")
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: languages the tasks can be generated in (see :func:`load_builtin_task`)
GRAMMARS: tuple[str, ...] = ("rich", "compact")


class BuiltinTask(NamedTuple):
    """Metadata of one built-in task (``pe_bert.data.glue`` merges it into the task registry)."""

    name: str
    description: str
    text_columns: tuple[str, ...]
    label_names: tuple[str, ...]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


BUILTIN_TASKS: dict[str, BuiltinTask] = {
    "builtin_nli": BuiltinTask(
        "builtin_nli",
        "3-way NLI on generated sentences; half the contradictions are agent/patient role swaps",
        ("sentence1", "sentence2"),
        NLI_LABELS,
    ),
    "builtin_order": BuiltinTask(
        "builtin_order",
        "binary acceptability: original sentence (1) vs locally shuffled or bigram-swapped (0)",
        ("sentence",),
        ORDER_LABELS,
    ),
    "builtin_topic": BuiltinTask(
        "builtin_topic",
        "topic of a generated sentence, decided by its nouns (a control: order does not matter)",
        ("sentence",),
        lexicon.TOPICS,
    ),
}


# ---------------------------------------------------------------------------------------------------
# seeded streams
# ---------------------------------------------------------------------------------------------------
_TASK_CODES = {"builtin_nli": 11, "builtin_order": 12, "builtin_topic": 13}


def _draws_stream(seed: int, task: str, split: str, block: int = 1024):
    """Endless :class:`Draws` for one (seed, task, split); splits use independent streams."""
    rng = np.random.default_rng([seed, _TASK_CODES[task], SPLITS.index(split)])
    while True:
        for row in rng.random((block, DRAWS_PER_SENTENCE)).tolist():
            yield Draws(row)


# ---------------------------------------------------------------------------------------------------
# plan edits (meaning-controlled rewrites)
# ---------------------------------------------------------------------------------------------------
def _bare_np(np_: NP) -> NP:
    return NP(np_.det, (), np_.noun, None)


def strip_modifiers(clause: Clause) -> Clause:
    """Drop adjectives, adverb, PPs and relative clauses: the result is entailed by the original."""
    return clause._replace(
        agent=_bare_np(clause.agent),
        patient=_bare_np(clause.patient) if clause.patient else None,
        recipient=_bare_np(clause.recipient) if clause.recipient else None,
        adverb=None,
        adverb_before_verb=False,
        pps=(),
    )


def has_modifiers(clause: Clause) -> bool:
    nps = [n for n in (clause.agent, clause.patient, clause.recipient) if n is not None]
    return bool(clause.adverb or clause.pps or any(n.adjectives or n.relative for n in nps))


def add_modifier(clause: Clause, sampler: SentenceSampler) -> Clause:
    """Add one piece of information (an adjective, an adverb or a location PP)."""
    d = sampler.d
    kind = d.choice(("adjective", "adjective", "adverb", "location"))
    if kind == "adverb" and not clause.adverb:
        return clause._replace(adverb=d.choice(lexicon.ADVERBS), adverb_before_verb=d.chance(0.5))
    if kind == "location" and not any(pp.role == "location" for pp in clause.pps):
        pp = PP(
            "location",
            d.choice(lexicon.LOCATION_PREPOSITIONS),
            sampler.np(d.choice(sampler.places))._replace(adjectives=()),
        )
        return clause._replace(pps=clause.pps + (pp,))
    field = "patient" if clause.patient is not None and d.chance(0.5) else "agent"
    target: NP = getattr(clause, field)
    pool = [a for a in _adjective_pool(target.noun) if a not in target.adjectives]
    return clause._replace(**{field: target._replace(adjectives=(d.choice(pool),) + target.adjectives)})


def _adjective_pool(noun: str) -> tuple[str, ...]:
    groups = lexicon.NOUN_CLASS_BY_NAME[lexicon.NOUN_TO_CLASS[noun]].adjective_groups
    return tuple(dict.fromkeys(a for g in groups for a in lexicon.ADJECTIVES[g]))


def swap_roles(clause: Clause) -> Clause:
    """Agent and patient phrases exchange places (relative clauses travel with their phrase)."""
    return clause._replace(agent=clause.patient, patient=clause.agent)


def _plan(clause: Clause, sampler: SentenceSampler, structure: str | None = None) -> Plan:
    if structure is None:
        if clause.voice == "passive":
            structure = "passive"
        elif clause.pps:
            structure = "prepositional"
        elif any(n is not None and n.relative for n in (clause.agent, clause.patient)):
            structure = "relative_clause"
        else:
            structure = clause.kind
    return Plan(structure, sampler.topic, (clause,))


# ---------------------------------------------------------------------------------------------------
# builtin_nli
# ---------------------------------------------------------------------------------------------------
def _rich_transitive(sampler: SentenceSampler, reversible: bool | None = None) -> Clause:
    """A transitive clause with at least one modifier (adjective, adverb, PP or relative clause)."""
    d = sampler.d
    clause = sampler.transitive(reversible=reversible)
    extra = d.uniform()
    if extra < 0.3:
        clause = sampler.with_pps(clause)
    elif extra < 0.5:
        clause = clause._replace(agent=clause.agent._replace(relative=sampler.relative_for(clause.agent)))
    if not has_modifiers(clause):
        clause = add_modifier(clause, sampler)
    return clause


def _voice(clause: Clause, passive: bool) -> Clause:
    return clause._replace(voice="passive" if passive else "active")


def _nli_pair(label: int, sampler: SentenceSampler) -> tuple[Plan, Plan, str]:
    d = sampler.d
    passive = d.chance(0.3)  # premise voice
    if label == 0:  # entailment
        kind = d.choice(("drop_modifiers", "drop_modifiers", "voice", "voice", "reorder", "reorder", "dative"))
        if kind == "dative":
            clause = sampler.ditransitive()
            premise = clause
            hypothesis = clause._replace(dative_to=not clause.dative_to)
            if d.chance(0.5):
                hypothesis = strip_modifiers(hypothesis)
            return _plan(premise, sampler, "ditransitive"), _plan(hypothesis, sampler, "ditransitive"), kind
        if kind == "reorder":
            return (*_meaning_preserving_reorder(sampler), kind)
        # mostly reversible verbs (animate patients), as in role swaps: the verb must not give the label away
        clause = _voice(_rich_transitive(sampler, reversible=d.chance(0.8)), passive)
        if kind == "drop_modifiers":
            hypothesis = strip_modifiers(clause)
        else:  # active <-> passive paraphrase, sometimes also dropping modifiers
            hypothesis = _voice(clause, not passive)
            if d.chance(0.5):
                hypothesis = strip_modifiers(hypothesis)
        return _plan(clause, sampler), _plan(hypothesis, sampler), kind
    if label == 1:  # neutral: the hypothesis adds information the premise does not give
        clause = _voice(strip_modifiers(sampler.transitive()), passive)
        hypothesis = add_modifier(clause, sampler)
        if d.chance(0.4):
            hypothesis = add_modifier(hypothesis, sampler)
        if d.chance(0.3):
            hypothesis = _voice(hypothesis, not passive)
        return _plan(clause, sampler), _plan(hypothesis, sampler), "add_modifiers"
    # contradiction
    kind = d.choice(("role_swap", "role_swap", "verb_change", "object_change"))
    if kind == "role_swap":
        clause = _voice(
            _rich_transitive(sampler, reversible=True) if d.chance(0.5) else sampler.transitive(reversible=True),
            passive,
        )
        hypothesis = swap_roles(clause)
        # mirror the entailment kinds (same words, fewer words, other voice) so that only order tells them apart
        if d.chance(0.4):
            hypothesis = strip_modifiers(hypothesis)
        if d.chance(0.4):
            hypothesis = _voice(hypothesis, not passive)
        return _plan(clause, sampler), _plan(hypothesis, sampler), kind
    clause = _voice(sampler.transitive(), passive)
    patient_class = lexicon.NOUN_TO_CLASS[clause.patient.noun]
    agent_class = lexicon.NOUN_TO_CLASS[clause.agent.noun]
    if kind == "verb_change":
        same_kind = [
            c.verb
            for c in sampler.tables["topical"] + sampler.tables["reversible"]
            if c.verb.past != clause.verb.past and patient_class in c.verb.patients and agent_class in c.verb.agents
        ]
        if same_kind:
            hypothesis = clause._replace(verb=d.choice(same_kind))
        else:
            kind = "object_change"
    if kind == "object_change":
        specific, general = sampler.patients[clause.verb]
        others = [n for n in specific + general if n != clause.patient.noun and n != clause.agent.noun]
        # prefer a noun of another class (a different kind of thing) when the verb accepts one
        other_class = [n for n in others if lexicon.NOUN_TO_CLASS[n] != patient_class]
        hypothesis = clause._replace(
            patient=clause.patient._replace(noun=d.choice(other_class or others), adjectives=())
        )
    if d.chance(0.5):
        hypothesis = strip_modifiers(hypothesis)
    return _plan(clause, sampler), _plan(hypothesis, sampler), kind


def _compact_other_verb_or_object(kind: str, clause, d: Draws, topic: str):
    """A contradiction of `clause` by another verb its agent and patient allow (`kind` "verb_change"), or another
    object its verb allows, of the topic ("object_change"); None when there is none."""
    agent_class, patient_class = lexicon.NOUN_TO_CLASS[clause.agent.noun], lexicon.NOUN_TO_CLASS[clause.patient.noun]
    if kind == "verb_change":
        verbs = [
            v
            for v in lexicon.TRANSITIVE_VERBS
            if v != clause.verb and agent_class in v.agents and patient_class in v.patients
        ]
        return clause._replace(verb=d.choice(verbs)) if verbs else None
    nouns = [
        n
        for c in sorted(clause.verb.patients)
        for n in lexicon.NOUN_CLASS_BY_NAME[c].nouns
        if lexicon.NOUN_CLASS_BY_NAME[c].topic in (None, topic) and n not in (clause.patient.noun, clause.agent.noun)
    ]
    other_class = [n for n in nouns if lexicon.NOUN_TO_CLASS[n] != patient_class]
    if not nouns:
        return None
    return clause._replace(patient=clause.patient._replace(noun=d.choice(other_class or nouns), adjectives=()))


def _compact_nli_pair(label: int, d: Draws, draws) -> tuple[Sentence, Sentence, str] | None:
    """A premise of the compact language and a hypothesis of the same language with the given label, or None when
    the drawn premise does not suit the drawn pair type (the caller draws again).

    The pair types mirror the rich grammar's: entailments drop modifiers, switch voice or move the adverb;
    neutral hypotheses add a modifier; contradictions swap agent and patient, or change the verb or the object.
    """
    automaton = compact_language()
    premise = automaton.sample_one(next(draws).uniform)
    plan = compact_plan(premise)
    clause = plan.clauses[0]
    if clause.patient is None:  # pairs are about who did what to whom
        return None
    reversible = clause.verb.patients <= lexicon.ANIMATE_CLASSES
    if reversible != d.chance(0.8):  # mostly reversible verbs in every label: the verb must not give the label away
        return None
    passive = clause.voice == "passive"
    if label == 0:
        kind = d.choice(("drop_modifiers", "voice", "voice", "reorder"))
        if kind == "drop_modifiers":
            if not has_modifiers(clause):
                return None
            hypothesis = strip_modifiers(clause)
        elif kind == "voice":
            hypothesis = _voice(clause, not passive)
            if d.chance(0.5):
                hypothesis = strip_modifiers(hypothesis)
        else:  # the adverb before or after the verb: same words, same meaning
            if clause.adverb is None or passive:
                return None
            hypothesis = clause._replace(adverb_before_verb=not clause.adverb_before_verb)
    elif label == 1:
        kind = "add_modifiers"
        hypothesis = _add_compact_modifier(clause, d, plan.topic)
        if hypothesis is None:
            return None
        if d.chance(0.3):
            hypothesis = _voice(hypothesis, not passive)
    else:
        kind = d.choice(("role_swap", "role_swap", "verb_change", "object_change"))
        if kind == "role_swap":
            if not reversible or clause.agent.noun == clause.patient.noun:
                return None
            hypothesis = swap_roles(clause)
            if d.chance(0.4):
                hypothesis = strip_modifiers(hypothesis)
            if d.chance(0.4):
                hypothesis = _voice(hypothesis, not passive)
        else:
            hypothesis = _compact_other_verb_or_object(kind, clause, d, plan.topic)
            if hypothesis is None:
                return None
            if d.chance(0.5):
                hypothesis = strip_modifiers(hypothesis)
    realized = realize(Plan(_structure(hypothesis), plan.topic, (hypothesis,)))
    if realized.words == premise.words or not automaton.accepts(realized.words):
        return None  # every hypothesis is a sentence of the language the model was pretrained on
    return premise, realized, kind


def _structure(clause: Clause) -> str:
    if clause.voice == "passive":
        return "passive"
    return "prepositional" if clause.pps else clause.kind


def _add_compact_modifier(clause: Clause, d: Draws, topic: str) -> Clause | None:
    """One more piece of information, within the compact language (at most one adjective per noun phrase)."""
    options = [
        field for field in ("agent", "patient") if getattr(clause, field) and not getattr(clause, field).adjectives
    ]
    if clause.adverb is None:
        options.append("adverb")
    if not clause.pps and clause.voice == "active":
        options.append("location")
    if not options:
        return None
    kind = d.choice(options)
    if kind == "adverb":
        return clause._replace(
            adverb=d.choice(lexicon.ADVERBS), adverb_before_verb=clause.voice == "active" and d.chance(0.5)
        )
    if kind == "location":
        places = [
            n for c in lexicon.NOUN_CLASSES if c.name in lexicon.PLACE_CLASSES and c.topic == topic for n in c.nouns
        ]
        place = NP(d.choice(lexicon.DETERMINERS), (), d.choice(places))
        return clause._replace(pps=(PP("location", d.choice(lexicon.LOCATION_PREPOSITIONS), place),))
    target: NP = getattr(clause, kind)
    return clause._replace(**{kind: target._replace(adjectives=(d.choice(_adjective_pool(target.noun)),))})


def _meaning_preserving_reorder(sampler: SentenceSampler) -> tuple[Plan, Plan]:
    """Same words, other order, same meaning: swapped conjuncts, a moved adverb, or swapped PPs.

    These entailments keep the premise's word multiset exactly, as half the role-swap contradictions do,
    so "same bag of words" is no shortcut to either label.
    """
    d = sampler.d
    way = d.choice(("conjuncts", "adverb", "pps"))
    if way == "conjuncts":
        clauses = tuple(
            strip_modifiers(sampler.transitive()) if d.chance(0.6) else sampler.intransitive() for _ in range(2)
        )
        return (Plan("coordination", sampler.topic, clauses), Plan("coordination", sampler.topic, clauses[::-1]))
    if way == "pps":
        clause = sampler.with_pps(sampler.transitive(reversible=d.chance(0.5)))
        if len(clause.pps) == 2:
            return _plan(clause, sampler), _plan(clause._replace(pps=clause.pps[::-1]), sampler)
    clause = sampler.transitive(reversible=d.chance(0.8))
    if clause.adverb is None:
        clause = clause._replace(adverb=d.choice(lexicon.ADVERBS), adverb_before_verb=d.chance(0.5))
    return _plan(clause, sampler), _plan(clause._replace(adverb_before_verb=not clause.adverb_before_verb), sampler)


def _annotation(sentence: Sentence) -> dict:
    d = sentence.to_dict()
    del d["text"]
    return d


def _nli_rows(n: int, draws, used: set[str], grammar: str = "rich") -> dict[str, list]:
    rows: dict[str, list] = {
        k: [] for k in ("sentence1", "sentence2", "label", "pair_type", "premise_annotation", "hypothesis_annotation")
    }
    samplers = {topic: SentenceSampler(None, topic) for topic in lexicon.TOPICS}
    i = 0
    while len(rows["label"]) < n:
        d = next(draws)
        label = i % 3  # exact balance; rows are shuffled afterwards
        if grammar == "compact":
            pair = _compact_nli_pair(label, d, draws)
            if pair is None:
                continue
            premise, hypothesis, pair_type = pair
        else:
            sampler = samplers[d.choice(lexicon.TOPICS)]
            sampler.d = d
            premise_plan, hypothesis_plan, pair_type = _nli_pair(label, sampler)
            premise, hypothesis = realize(premise_plan), realize(hypothesis_plan)
        key = premise.text + " || " + hypothesis.text
        if premise.text == hypothesis.text or key in used:
            continue  # a degenerate or repeated pair (possible in tiny topics): draw another
        used.add(key)
        i += 1
        for column, value in (
            ("sentence1", premise.text),
            ("sentence2", hypothesis.text),
            ("label", label),
            ("pair_type", pair_type),
            ("premise_annotation", _annotation(premise)),
            ("hypothesis_annotation", _annotation(hypothesis)),
        ):
            rows[column].append(value)
    return rows


# ---------------------------------------------------------------------------------------------------
# builtin_order
# ---------------------------------------------------------------------------------------------------
def _all_adjectives() -> frozenset[str]:
    return frozenset(a for group in lexicon.ADJECTIVES.values() for a in group)


def perturb_order(words: tuple[str, ...], d: Draws, kind: str) -> tuple[str, ...]:
    """Locally shuffle (windows of 3) or swap one adjacent pair; the final "." stays; the result differs."""
    body, end = list(words[:-1]), list(words[-1:])
    if kind == "bigram_swap":
        adjectives = _all_adjectives()
        # swapping two identical words changes nothing, and two adjectives ("big red") stay acceptable
        candidates = [
            i
            for i in range(len(body) - 1)
            if body[i] != body[i + 1] and not (body[i] in adjectives and body[i + 1] in adjectives)
        ]
        i = d.choice(candidates)
        body[i], body[i + 1] = body[i + 1], body[i]
        return tuple(body + end)
    for _ in range(10):
        shuffled = list(body)
        for start in range(0, len(body), 3):
            window = shuffled[start : start + 3]
            # Fisher-Yates with the pre-drawn uniforms
            for j in range(len(window) - 1, 0, -1):
                k = int(d.uniform() * (j + 1))
                window[j], window[k] = window[k], window[j]
            shuffled[start : start + 3] = window
        if shuffled != body:
            return tuple(shuffled + end)
    return perturb_order(words, d, "bigram_swap")  # pathological case: fall back to a swap


def _sentence(d: Draws, samplers: dict[str, SentenceSampler], topic: str | None = None) -> Sentence:
    sampler = samplers[topic or d.choice(lexicon.TOPICS)]
    sampler.d = d
    return realize(sampler.plan(sampler.structure()))


def _sentence_source(grammar: str) -> Callable[[Draws, str | None], Sentence]:
    """`source(draws, topic=None)`: one sentence of `grammar` from pre-drawn uniforms (of `topic` if given)."""
    if grammar == "compact":
        automaton = compact_language()
        return lambda d, topic=None: automaton.sample_one(d.uniform, topic)
    samplers = {topic: SentenceSampler(None, topic) for topic in lexicon.TOPICS}
    return lambda d, topic=None: _sentence(d, samplers, topic)


def _order_rows(n: int, draws, used: set[str], grammar: str = "rich") -> dict[str, list]:
    from .sentence import detokenize

    rows: dict[str, list] = {"sentence": [], "label": [], "perturbation": []}
    source = _sentence_source(grammar)
    while len(rows["label"]) < n:
        d = next(draws)
        sentence = source(d)
        if sentence.text in used or len(sentence.words) < 4:
            continue
        used.add(sentence.text)  # positives and negatives come from different sentences: no pairs to match
        label = len(rows["label"]) % 2
        if label == 1:
            text, perturbation = sentence.text, "none"
        else:
            perturbation = d.choice(("local_shuffle", "bigram_swap"))
            text = detokenize(perturb_order(sentence.words, d, perturbation))
        rows["sentence"].append(text)
        rows["label"].append(label)
        rows["perturbation"].append(perturbation)
    return rows


# ---------------------------------------------------------------------------------------------------
# builtin_topic
# ---------------------------------------------------------------------------------------------------
def _topic_rows(n: int, draws, used: set[str], grammar: str = "rich") -> dict[str, list]:
    rows: dict[str, list] = {"sentence": [], "label": []}
    source = _sentence_source(grammar)
    while len(rows["label"]) < n:
        label = len(rows["label"]) % len(lexicon.TOPICS)
        topic = lexicon.TOPICS[label]
        sentence = source(next(draws), topic)
        # keep only sentences whose words reveal the topic ("the man helped the woman" does not)
        if sentence.text in used or not any(lexicon.noun_topic(w) == topic for w in sentence.words):
            continue
        used.add(sentence.text)
        rows["sentence"].append(sentence.text)
        rows["label"].append(label)
    return rows


_ROW_BUILDERS: dict[str, Callable] = {
    "builtin_nli": _nli_rows,
    "builtin_order": _order_rows,
    "builtin_topic": _topic_rows,
}


# ---------------------------------------------------------------------------------------------------
# public loader
# ---------------------------------------------------------------------------------------------------
def _features(task: BuiltinTask, columns: list[str]) -> datasets.Features:
    import datasets

    string = datasets.Value("string")
    annotation = {
        "words": [string],
        "spans": [
            {
                "role": string,
                "start": datasets.Value("int32"),
                "end": datasets.Value("int32"),
                "clause": datasets.Value("int32"),
            }
        ],
        "structure": string,
        "topic": string,
    }
    known = {
        "sentence": string,
        "sentence1": string,
        "sentence2": string,
        "pair_type": string,
        "perturbation": string,
        "premise_annotation": annotation,
        "hypothesis_annotation": annotation,
        "label": datasets.ClassLabel(names=list(task.label_names)),
        "idx": datasets.Value("int32"),
    }
    return datasets.Features({c: known[c] for c in columns})


def load_builtin_task(
    name: str,
    seed: int = 0,
    num_train: int = 6000,
    num_validation: int = 600,
    num_test: int = 600,
    grammar: str = "rich",
) -> datasets.DatasetDict:
    """Generate built-in task ``name`` (one of :data:`BUILTIN_TASKS`) as a GLUE-format ``DatasetDict``.

    Deterministic per ``seed``; labels are balanced exactly (up to one example) in every split; no
    example (sentence or sentence pair) is repeated within or across splits; test labels are -1.
    ``grammar``: the sentences' language, ``"rich"`` (the built-in grammar, every structure) or ``"compact"``
    (:mod:`pe_bert.data.compact`, single clauses with exact floors: what ``pe-bert study`` pretrains on).
    """
    import datasets

    if name not in BUILTIN_TASKS:
        raise ValueError(f"unknown built-in task {name!r}; valid: {', '.join(BUILTIN_TASKS)}")
    if grammar not in GRAMMARS:
        raise ValueError(f"unknown grammar {grammar!r}; valid grammars: {', '.join(GRAMMARS)}")
    sizes = {"train": num_train, "validation": num_validation, "test": num_test}
    for split, size in sizes.items():
        if size < 0:
            raise ValueError(f"num_{split} must be >= 0, got {size}")
    task = BUILTIN_TASKS[name]
    used: set[str] = set()
    splits = {}
    for split, size in sizes.items():
        rows = _ROW_BUILDERS[name](size, _draws_stream(seed, name, split), used, grammar)
        order = np.random.default_rng([seed, _TASK_CODES[name], 99, SPLITS.index(split)]).permutation(size)
        rows = {column: [values[i] for i in order] for column, values in rows.items()}
        if split == "test":  # hidden, as in GLUE (and so are the columns that would reveal the label)
            rows["label"] = [-1] * size
            for column in ("pair_type", "perturbation"):
                if column in rows:
                    rows[column] = [""] * size
        rows["idx"] = list(range(size))
        columns = (
            list(task.text_columns)
            + ["label", "idx"]
            + [c for c in rows if c not in task.text_columns + ("label", "idx")]
        )
        splits[split] = datasets.Dataset.from_dict({c: rows[c] for c in columns}, features=_features(task, columns))
    return datasets.DatasetDict(splits)

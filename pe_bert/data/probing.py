"""Built-in frozen-feature probing tasks (SentEval-style) on the compact language, with exact order-blind chance.

A probing task is a fixed train/test split of labelled examples, each a sentence (as words) and optionally one
target word whose representation is probed. Every model is probed on the very same split (comparisons are paired);
a convex classifier on the frozen representations does the rest (:mod:`pe_bert.analysis.probes.frozen`).

* ``topic`` — the topic of a sentence (7 classes), decided by its nouns: order plays no role (a control that every
  model, with or without positions, should pass).
* ``order`` — original sentence (1) or the same sentence with two adjacent words swapped (0), as SentEval's BShift;
  the swapped twin is always outside the language, so the label follows from the words and the task's ceiling is 1.
* ``roles`` — who did what to whom: in a sentence about an animal and a person, is the animal the agent (1) or the
  patient (0)? Every sentence has a reversible verb whose role-swapped twin is also a sentence of the language
  (both role assignments are possible, so selectional restrictions do not give the answer away), and both are in
  the split with opposite labels: the same words decide nothing, their order (and voice) everything. Active and
  passive sentences alternate, so "the first noun is the agent" is right exactly half the time.
* ``roles_far`` — the same question when nothing next to either noun tells: both nouns have the same words before
  them (determiner, adjective) and after them (a place phrase with the same preposition), as in "that dog near the
  barn chased that man near a farm"; the twin swaps the two nouns only. Swapping two words with identical
  neighbours leaves the bag of words *and the bag of bigrams* unchanged, so a bag-of-n-grams classifier (n ≤ 2)
  scores exactly 0.5 by construction: only order read over longer spans decides. Every example records the
  dependency ``distance``, the number of words between the two nouns (5 to 10).

**Twins.** In ``order`` and ``roles`` every example has a twin: the same words in another order, with the other
label. A model without position information represents an example and its twin identically, so it scores exactly
0.5 on the twin pairs whatever its classifier: the control is an equality, not a failure to reject (the scorer
counts twins with indistinguishable representations as one right and one wrong).

**The local shortcut, measured.** :func:`ngram_features` gives every example's bag of n-grams (n ≤ 2, sentence
boundaries included); :mod:`pe_bert.analysis.probes.frozen` fits the same classifier on them, on the same split,
so that a task's score is read beside what counting words and adjacent pairs already achieves.

**Adding a task.** A task is one declaration: a `ProbingTask` (name, description, labels, whether it is
order-sensitive, the builder of its examples, its seed code, the topics it draws from) given to
`register_probing_task`. The study's settings (`--probing-tasks`, `--outcome-tasks`), its controls and design checks,
its plan and its report find it by name; a study imports the module that registers it with `--pe-module FILE` (in
every worker process too).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import lexicon
from .compact import compact_language
from .sentence import Sentence, swap_agent_patient

SPLITS = ("train", "test")
SENTENCE = -1  # `target` of an example about the whole sentence
NO_TWIN = -1


NGRAM_ORDER = 2  # the local shortcut every probing task is measured against: words and adjacent pairs
BOUNDARIES = ("<s>", "</s>")
ANIMALS = "animals"  # the noun class of the `roles` task's animals (sentences are drawn from that topic)


def _head(span) -> int:
    """Index of a noun phrase's head noun (its last word: determiner, adjective, noun)."""
    return span.end - 1


def make_example(words, target: int, label: int, twin: int = NO_TWIN, distance: int | None = None) -> dict:
    """One example of a probing task: its `words`, the `target` word probed (SENTENCE: the whole sentence), its
    `label`, its `twin` (the index of its twin within the builder's group, or NO_TWIN) and optionally the
    dependency `distance` it spans (words between the two it relates)."""
    example = {"words": list(words), "target": int(target), "label": int(label), "twin": int(twin)}
    if distance is not None:
        example["distance"] = int(distance)
    return example


def _one_animal_one_person(sentence: Sentence, agent, patient) -> list[bool] | None:
    """Per (agent, patient): is its head an animal? None unless one is an animal and the other a person."""
    animal = [lexicon.NOUN_TO_CLASS.get(sentence.words[_head(span)]) == ANIMALS for span in (agent, patient)]
    people = [
        lexicon.NOUN_TO_CLASS.get(sentence.words[_head(span)]) in lexicon.HUMAN_CLASSES for span in (agent, patient)
    ]
    return animal if sorted(animal) == [False, True] and sorted(people) == [False, True] else None


def _topic_examples(sentence: Sentence, rng: np.random.Generator, turn: int) -> list[dict] | None:
    label = lexicon.TOPICS.index(sentence.topic)
    if label != turn % len(lexicon.TOPICS) or not any(lexicon.noun_topic(w) == sentence.topic for w in sentence.words):
        return None  # "the man helped the woman" does not reveal its topic
    return [make_example(sentence.words, SENTENCE, label)]


def _order_examples(sentence: Sentence, rng: np.random.Generator, turn: int) -> list[dict] | None:
    automaton = compact_language()
    body = sentence.words[:-1]  # the final "." stays
    candidates = [i for i in range(len(body) - 1) if body[i] != body[i + 1]]
    rng.shuffle(candidates)
    for i in candidates:
        swapped = list(sentence.words)
        swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
        if not automaton.accepts(swapped):  # outside the language: the label is certain
            return [make_example(sentence.words, SENTENCE, 1, 1), make_example(swapped, SENTENCE, 0, 0)]
    return None


def _roles_examples(sentence: Sentence, rng: np.random.Generator, turn: int) -> list[dict] | None:
    agent, patient = sentence.span("agent"), sentence.span("patient")
    if agent is None or patient is None or (sentence.structure == "passive") != bool(turn % 2):
        return None  # active and passive in turn: "the first noun is the agent" is right half the time
    animal = _one_animal_one_person(sentence, agent, patient)
    if animal is None:
        return None  # one animal and one person: "who did it?" has two possible answers
    if not _reversible(sentence, agent, patient):
        return None  # not reversible: selectional restrictions would give the roles away
    swapped = swap_agent_patient(sentence)
    if not compact_language().accepts(swapped.words):
        raise AssertionError(f"a reversible sentence's role swap must be a sentence of the language: {swapped.text}")
    label = int(animal[0])  # 1: the animal is the agent
    distance = abs(_head(agent) - _head(patient)) - 1
    return [
        make_example(sentence.words, SENTENCE, label, 1, distance),
        make_example(swapped.words, SENTENCE, 1 - label, 0, distance),
    ]


def _reversible(sentence: Sentence, agent, patient) -> bool:
    """Does the sentence's verb accept each of its two nouns' classes as agent and as patient (so that the
    role-swapped sentence is one of the language)?"""
    from .compact import compact_plan

    verb = compact_plan(sentence).clauses[0].verb
    classes = [lexicon.NOUN_TO_CLASS[sentence.words[_head(span)]] for span in (agent, patient)]
    return all(c in verb.agents and c in verb.patients for c in classes)


def _twin_contexts(sentence: Sentence, rng: np.random.Generator) -> Sentence | None:
    """`sentence` rewritten so that its agent and patient nouns have identical neighbours: one determiner (never
    "a"/"an", whose form would follow the noun), one adjective or none, and a place phrase with one preposition
    after each. None when the rewritten sentence is not in the language."""
    from .compact import compact_plan
    from .grammar import NP, PP, realize

    plan = compact_plan(sentence)
    clause = plan.clauses[0]
    classes = [lexicon.NOUN_CLASS_BY_NAME[lexicon.NOUN_TO_CLASS[np.noun]] for np in (clause.agent, clause.patient)]
    shared = sorted(set.intersection(*(set(_adjectives_of(c)) for c in classes)))
    adjectives = (str(rng.choice(shared)),) if shared and rng.random() < 0.5 else ()
    determiner = str(rng.choice([d for d in dict.fromkeys(lexicon.DETERMINERS) if d != "a"]))
    preposition = str(rng.choice(lexicon.LOCATION_PREPOSITIONS))
    places = [
        n for c in lexicon.NOUN_CLASSES if c.name in lexicon.PLACE_CLASSES and c.topic == plan.topic for n in c.nouns
    ]

    def place() -> NP:
        noun = str(rng.choice(places))
        place_adjectives = _adjectives_of(lexicon.NOUN_CLASS_BY_NAME[lexicon.NOUN_TO_CLASS[noun]])
        adjective = (str(rng.choice(place_adjectives)),) if rng.random() < 0.5 else ()
        return NP(str(rng.choice(lexicon.DETERMINERS)), adjective, noun)

    def argument(np: NP) -> NP:
        return np._replace(det=determiner, adjectives=adjectives, modifier=PP("modifier", preposition, place()))

    rewritten = realize(
        plan._replace(clauses=(clause._replace(agent=argument(clause.agent), patient=argument(clause.patient)),))
    )
    return rewritten if compact_language().accepts(rewritten.words) else None


def _adjectives_of(noun_class: lexicon.NounClass) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a for group in noun_class.adjective_groups for a in lexicon.ADJECTIVES[group]))


def _roles_far_examples(sentence: Sentence, rng: np.random.Generator, turn: int) -> list[dict] | None:
    agent, patient = sentence.span("agent"), sentence.span("patient")
    if agent is None or patient is None or (sentence.structure == "passive") != bool(turn % 2):
        return None  # voices in turn, as in `roles`
    if sentence.structure not in ("transitive", "passive") or _one_animal_one_person(sentence, agent, patient) is None:
        return None
    if not _reversible(sentence, agent, patient):
        return None  # not reversible: selectional restrictions would give the roles away
    sentence = _twin_contexts(sentence, rng)
    if sentence is None:
        return None
    agent, patient = sentence.span("agent"), sentence.span("patient")
    animal = _one_animal_one_person(sentence, agent, patient)
    words, twin = list(sentence.words), list(sentence.words)
    first, second = _head(agent), _head(patient)
    twin[first], twin[second] = words[second], words[first]
    if not compact_language().accepts(twin):
        raise AssertionError(f"a roles_far twin must be a sentence of the language: {' '.join(twin)}")
    if Counter(ngrams(words)) != Counter(ngrams(twin)):
        raise AssertionError(f"roles_far twins must share their n-grams: {words} / {twin}")
    label = int(animal[0])
    distance = abs(first - second) - 1
    return [make_example(words, SENTENCE, label, 1, distance), make_example(twin, SENTENCE, 1 - label, 0, distance)]


def ngrams(words, order: int = NGRAM_ORDER) -> list[tuple[str, ...]]:
    """Every n-gram of the sentence for n = 1..order, with boundary markers (so a first or last word counts)."""
    padded = (BOUNDARIES[0], *words, BOUNDARIES[1])
    return [
        tuple(padded[i : i + n])
        for n in range(1, order + 1)
        for i in range(len(padded) - n + 1)
        if padded[i : i + n] not in ((BOUNDARIES[0],), (BOUNDARIES[1],))
    ]


def ngram_features(train: list[dict], test: list[dict], order: int = NGRAM_ORDER) -> tuple[np.ndarray, np.ndarray]:
    """Bag-of-n-grams count features `[examples, n-grams]` of both splits, over the n-grams of the training split
    (a test n-gram never seen in training carries no weight, as in any bag-of-words model)."""
    counts = [[Counter(ngrams(e["words"], order)) for e in split] for split in (train, test)]
    vocabulary = {g: i for i, g in enumerate(sorted({g for c in counts[0] for g in c}))}
    features = []
    for split in counts:
        matrix = np.zeros((len(split), len(vocabulary)))
        for row, c in enumerate(split):
            for g, k in c.items():
                if g in vocabulary:
                    matrix[row, vocabulary[g]] = k
        features.append(matrix)
    return features[0], features[1]


# ------------------------------------------------------------------------------------------------ the registry

# A task's builder: (sentence, rng, turn) -> the examples made from that sentence, or None to draw another; `turn`
# counts the groups kept so far, so that a builder can balance its split exactly (topics in turn, voices in turn).
Builder = Callable[[Sentence, np.random.Generator, int], "list[dict] | None"]


def _any_topic(turn: int) -> str | None:
    return None


@dataclass(frozen=True)
class ProbingTask:
    """One frozen-feature probing task, declared once: what it asks, its labels, how its examples are built and
    whether it is order-sensitive. Register it with `register_probing_task`; the study's settings, checks,
    statistics, plan and report find it by `name`."""

    name: str
    description: str
    label_names: tuple[str, ...]
    # True: every example has a twin with the same words in another order and the other label, so an order-blind
    # model scores exactly 0.5 (a twin task); its builder returns twin pairs (`make_example(..., twin=...)`).
    order_sensitive: bool
    build: Builder
    # Seeds the task's sentence draws (with the split's seed): distinct per task, and fixed once a split was drawn
    # with it (another code draws other sentences).
    code: int
    # The topic to draw the next sentence from, given `turn` (None: any topic).
    topic: Callable[[int], str | None] = _any_topic

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


PROBING_TASKS: dict[str, ProbingTask] = {}  # name -> task, in the order they were registered


def register_probing_task(task: ProbingTask) -> ProbingTask:
    """Add `task` to the probing tasks a study can run (`--probing-tasks`); returns it. Its name and code must be
    new."""
    if task.name in PROBING_TASKS:
        raise ValueError(f"A probing task named {task.name!r} is already registered.")
    taken = {other.code: other.name for other in PROBING_TASKS.values()}
    if task.code in taken:
        raise ValueError(f"Probing task {task.name!r}: code {task.code} is already {taken[task.code]!r}'s.")
    PROBING_TASKS[task.name] = task
    return task


def get_probing_task(name: str) -> ProbingTask:
    """The registered probing task `name`; a ValueError listing the valid names otherwise."""
    if name not in PROBING_TASKS:
        raise ValueError(f"Unknown probing task {name!r}; valid: {', '.join(PROBING_TASKS)}.")
    return PROBING_TASKS[name]


def _in_turn(topics: tuple[str, ...]) -> Callable[[int], str]:
    """Draw from each of `topics` in turn (a split balanced over them)."""
    return lambda turn: topics[turn % len(topics)]


def _always(topic: str) -> Callable[[int], str]:
    return lambda turn: topic


register_probing_task(
    ProbingTask(
        "topic",
        "topic of a sentence, decided by its nouns (control: order plays no role)",
        lexicon.TOPICS,
        False,
        _topic_examples,
        code=31,
        topic=_in_turn(lexicon.TOPICS),
    )
)
register_probing_task(
    ProbingTask(
        "order",
        "original sentence or two adjacent words swapped (BShift); twins are paired",
        ("swapped", "original"),
        True,
        _order_examples,
        code=32,
    )
)
register_probing_task(
    ProbingTask(
        "roles",
        "who did it, the animal or the person? reversible verbs, role-swapped twins",
        ("person is the agent", "animal is the agent"),
        True,
        _roles_examples,
        code=33,
        topic=_always(ANIMALS),
    )
)
register_probing_task(
    ProbingTask(
        "roles_far",
        "who did it, when both nouns have identical neighbours: twins share their bag of bigrams",
        ("person is the agent", "animal is the agent"),
        True,
        _roles_far_examples,
        code=34,
        topic=_always(ANIMALS),
    )
)


def _texts(group: list[dict]) -> set[tuple[str, ...]]:
    return {tuple(e["words"]) for e in group}


def probing_task(name: str, num_train: int, num_test: int, seed: int = 0) -> dict[str, list[dict]]:
    """The train and test examples of probing task `name`, deterministically from `seed`.

    `num_train`, `num_test`: sentences per split (twin tasks: twin pairs count as two sentences, so the numbers are
    rounded up to even). No sentence occurs in both splits, nor twice in one. `topic` is balanced over topics and
    twin tasks over labels by construction. Each example: `words`, `target` (word index, or -1 for the sentence),
    `label`, `twin` (index of its twin in the same split, or -1); the twin offsets are within the split.
    """
    task = get_probing_task(name)
    for split, size in (("num_train", num_train), ("num_test", num_test)):
        if size < 1:
            raise ValueError(f"{split} must be at least 1, got {size}.")
    automaton = compact_language()
    seen: set[tuple[str, ...]] = set()
    splits: dict[str, list[dict]] = {}
    for index, (split, size) in enumerate(zip(SPLITS, (num_train, num_test))):
        rng = np.random.default_rng([seed, task.code, index])
        groups: list[list[dict]] = []
        sentences = 0
        while sentences < size:
            sentence = automaton.sample_one(lambda draw=rng.random: float(draw()), task.topic(len(groups)))
            group = task.build(sentence, rng, len(groups))
            if group is None or _texts(group) & seen:
                continue
            seen |= _texts(group)
            groups.append(group)
            sentences += len(_texts(group))
        examples = []
        for group in groups:  # twin indices are relative to the group: make them indices into the split
            offset = len(examples)
            examples += [{**e, "twin": e["twin"] + offset if e["twin"] != NO_TWIN else NO_TWIN} for e in group]
        splits[split] = examples
    assert task.order_sensitive == any(e["twin"] != NO_TWIN for e in splits["train"])
    return splits


__all__ = [
    "NO_TWIN",
    "PROBING_TASKS",
    "SENTENCE",
    "Builder",
    "ProbingTask",
    "get_probing_task",
    "make_example",
    "ngram_features",
    "ngrams",
    "probing_task",
    "register_probing_task",
]

"""Seeded, offline corpus generation: annotated sentences, documents, and a ``datasets`` corpus."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

from .grammar import DRAWS_PER_SENTENCE, STRUCTURES, Draws, Plan, SentenceSampler, realize
from .lexicon import TOPICS
from .sentence import Sentence

if TYPE_CHECKING:  # datasets is imported lazily: generating sentences should not pay for it
    import datasets

_CHUNK = 4096  # rows of uniform numbers drawn at once (bounded memory for any n)


def _check_choices(values: Sequence[str] | None, valid: Sequence[str], what: str) -> None:
    if values is None:
        return
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ValueError(f"unknown {what} {unknown}; valid {what}s: {', '.join(valid)}")


def generate_plans(
    n: int,
    seed: int = 0,
    *,
    structures: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> Iterator[Plan]:
    """Yield ``n`` sentence plans (see :mod:`pe_bert.data.grammar`); same arguments as :func:`generate_sentences`."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _check_choices(structures, STRUCTURES, "structure")
    if topics is not None:
        _check_choices(topics, TOPICS, "topic")
        if len(topics) != n:
            raise ValueError(f"topics has {len(topics)} entries but n={n}; give one topic per sentence")
    rng = np.random.default_rng(seed)
    samplers = {topic: SentenceSampler(None, topic) for topic in TOPICS}
    for chunk_start in range(0, n, _CHUNK):
        rows = min(_CHUNK, n - chunk_start)
        # one row of uniforms per sentence: sentence i depends only on (seed, i), so a longer corpus
        # with the same seed starts with the same sentences
        uniforms = rng.random((rows, DRAWS_PER_SENTENCE)).tolist()
        for offset, row in enumerate(uniforms):
            draws = Draws(row)
            topic = topics[chunk_start + offset] if topics is not None else draws.choice(TOPICS)
            sampler = samplers[topic]
            sampler.d = draws
            yield sampler.plan(sampler.structure(structures))


def generate_sentences(
    n: int,
    seed: int = 0,
    *,
    structures: Sequence[str] | None = None,
    topics: Sequence[str] | None = None,
) -> list[Sentence]:
    """Generate ``n`` annotated sentences, deterministically from ``seed``.

    ``structures`` restricts the sentence structures drawn (default: all of
    :data:`~pe_bert.data.grammar.STRUCTURES`, by their weights); ``topics`` fixes the topic of each
    sentence (one entry per sentence; default: drawn uniformly from :data:`~pe_bert.data.lexicon.TOPICS`).
    The first k sentences do not depend on ``n``.
    """
    with _gc_paused():
        return [realize(plan) for plan in generate_plans(n, seed, structures=structures, topics=topics)]


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector: generation allocates millions of small acyclic objects,
    and repeated full collections over them would nearly double the run time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def generate_documents(
    num_documents: int,
    sentences_per_document: int = 8,
    seed: int = 0,
) -> list[list[Sentence]]:
    """``num_documents`` documents of ``sentences_per_document`` sentences sharing one topic each."""
    if sentences_per_document < 1:
        raise ValueError(f"sentences_per_document must be >= 1, got {sentences_per_document}")
    # topics come from their own stream so that they do not shift the sentence draws
    topic_ids = np.random.default_rng([seed, 1]).integers(len(TOPICS), size=num_documents)
    topics = [TOPICS[t] for t in topic_ids for _ in range(sentences_per_document)]
    flat = generate_sentences(num_documents * sentences_per_document, seed, topics=topics)
    k = sentences_per_document
    return [flat[i : i + k] for i in range(0, len(flat), k)]


def builtin_corpus(
    num_sentences: int = 20_000,
    seed: int = 0,
    sentences_per_document: int = 8,
    granularity: str = "document",
    validation_fraction: float = 0.05,
) -> datasets.DatasetDict:
    """The built-in pretraining corpus as a ``DatasetDict`` with ``train`` and ``validation`` splits.

    ``granularity="document"``: one row per document, ``text`` = its sentences joined by spaces,
    plus ``topic`` and ``document_id``.  ``granularity="sentence"``: one row per sentence with
    ``text``, ``words``, ``spans``, ``structure``, ``topic``, ``document_id``.  Splits are made by
    document (no document is split across train and validation); deterministic per ``seed``.
    """
    import datasets

    if granularity not in ("document", "sentence"):
        raise ValueError(f"granularity must be 'document' or 'sentence', got {granularity!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction}")
    num_documents = max(2, -(-num_sentences // sentences_per_document))
    documents = generate_documents(num_documents, sentences_per_document, seed)
    num_validation = max(1, round(num_documents * validation_fraction))
    splits = {
        "train": range(num_documents - num_validation),
        "validation": range(num_documents - num_validation, num_documents),
    }

    span_feature = [
        {
            "role": datasets.Value("string"),
            "start": datasets.Value("int32"),
            "end": datasets.Value("int32"),
            "clause": datasets.Value("int32"),
        }
    ]
    result = {}
    for split, doc_ids in splits.items():
        if granularity == "document":
            rows = {
                "text": [" ".join(s.text for s in documents[i]) for i in doc_ids],
                "topic": [documents[i][0].topic for i in doc_ids],
                "document_id": list(doc_ids),
            }
            features = datasets.Features(
                {
                    "text": datasets.Value("string"),
                    "topic": datasets.Value("string"),
                    "document_id": datasets.Value("int32"),
                }
            )
        else:
            sentences = [(i, s) for i in doc_ids for s in documents[i]]
            rows = {
                "text": [s.text for _, s in sentences],
                "words": [list(s.words) for _, s in sentences],
                "spans": [
                    [{"role": r.role, "start": r.start, "end": r.end, "clause": r.clause} for r in s.spans]
                    for _, s in sentences
                ],
                "structure": [s.structure for _, s in sentences],
                "topic": [s.topic for _, s in sentences],
                "document_id": [i for i, _ in sentences],
            }
            features = datasets.Features(
                {
                    "text": datasets.Value("string"),
                    "words": [datasets.Value("string")],
                    "spans": span_feature,
                    "structure": datasets.Value("string"),
                    "topic": datasets.Value("string"),
                    "document_id": datasets.Value("int32"),
                }
            )
        result[split] = datasets.Dataset.from_dict(rows, features=features)
    return datasets.DatasetDict(result)

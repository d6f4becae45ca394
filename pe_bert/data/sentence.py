"""Annotated sentences: words plus semantic-role spans, and the exact agent/patient swap.

A :class:`Sentence` is the unit the corpus, the tasks and the word-order probes share.  Roles are
word spans (not token spans) so that every tokenizer can map them to its own sub-word pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: role names used in annotations.  "patient" is also used for the theme of ditransitives
#: ("the teacher gave the boy *a book*"), so that every transitive-like clause has one.
ROLES: tuple[str, ...] = (
    "agent",
    "predicate",
    "patient",
    "recipient",
    "location",
    "instrument",
    "manner",
    "modifier",  # a place phrase after a noun phrase ("the dog near *the barn*"), its own span after the phrase's
)

_PUNCTUATION = frozenset({".", ",", "!", "?", ";", ":"})


def detokenize(words: tuple[str, ...] | list[str]) -> str:
    """Join words with spaces, attaching punctuation to the previous word ("the dog ran.")."""
    out: list[str] = []
    for word in words:
        if word in _PUNCTUATION and out:
            out[-1] += word
        else:
            out.append(word)
    return " ".join(out)


@dataclass(frozen=True, slots=True)
class RoleSpan:
    """``words[start:end]`` (end exclusive) fills ``role`` in clause ``clause`` (0 = main clause)."""

    role: str
    start: int
    end: int
    clause: int = 0

    def __len__(self) -> int:
        return self.end - self.start

    def shifted(self, offset: int) -> RoleSpan:
        return RoleSpan(self.role, self.start + offset, self.end + offset, self.clause)


@dataclass(frozen=True, slots=True)
class Sentence:
    """One generated sentence.

    ``words`` are lower-case tokens with punctuation as separate words and a final ".".
    ``spans`` annotate semantic roles; a noun-phrase span covers the whole phrase including its
    determiner, adjectives and any relative clause, whose own roles are annotated with a higher
    clause number and therefore lie *inside* the noun-phrase span.  Within one clause spans never overlap.
    """

    words: tuple[str, ...]
    spans: tuple[RoleSpan, ...]
    structure: str
    topic: str

    @property
    def text(self) -> str:
        return detokenize(self.words)

    def span(self, role: str, clause: int = 0) -> RoleSpan | None:
        """The span of ``role`` in ``clause``, or None when the clause has no such role."""
        for span in self.spans:
            if span.role == role and span.clause == clause:
                return span
        return None

    def role_words(self, role: str, clause: int = 0) -> tuple[str, ...]:
        """The words filling ``role`` in ``clause`` (empty tuple when absent)."""
        span = self.span(role, clause)
        return () if span is None else self.words[span.start : span.end]

    @property
    def num_clauses(self) -> int:
        return 1 + max((s.clause for s in self.spans), default=0)

    def to_dict(self) -> dict[str, Any]:
        """Plain-python form (what ``datasets`` stores); :meth:`from_dict` inverts it."""
        return {
            "text": self.text,
            "words": list(self.words),
            "spans": [{"role": s.role, "start": s.start, "end": s.end, "clause": s.clause} for s in self.spans],
            "structure": self.structure,
            "topic": self.topic,
        }

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> Sentence:
        spans = tuple(RoleSpan(s["role"], int(s["start"]), int(s["end"]), int(s["clause"])) for s in row["spans"])
        return cls(tuple(row["words"]), spans, row["structure"], row["topic"])


def swap_spans(sentence: Sentence, first: RoleSpan, second: RoleSpan, structure: str | None = None) -> Sentence:
    """Exchange the words of two non-overlapping spans; every annotation moves with its words.

    Spans nested inside ``first``/``second`` (e.g. a relative clause in the agent phrase) travel with
    them; spans between them shift by the length difference; the two swapped role labels stay at
    their *positions* (the phrase now in subject position becomes the agent).
    """
    if first.start > second.start:
        first, second = second, first
    if first.end > second.start:
        raise ValueError(f"cannot swap overlapping spans {first} and {second} in {sentence.text!r}")
    words = sentence.words
    a, b = words[first.start : first.end], words[second.start : second.end]
    new_words = words[: first.start] + b + words[first.end : second.start] + a + words[second.end :]
    delta = len(b) - len(a)  # how far everything between the two spans moves

    def inside(span: RoleSpan, outer: RoleSpan) -> bool:
        return outer.start <= span.start and span.end <= outer.end

    new_spans = []
    for span in sentence.spans:
        if span == first:
            new_spans.append(RoleSpan(span.role, first.start, first.start + len(b), span.clause))
        elif span == second:
            new_spans.append(RoleSpan(span.role, second.start + delta, second.end, span.clause))
        elif inside(span, first):  # moves to where `second` was
            new_spans.append(span.shifted(second.start + delta - first.start))
        elif inside(span, second):  # moves to where `first` was
            new_spans.append(span.shifted(first.start - second.start))
        elif span.start >= first.end and span.end <= second.start:
            new_spans.append(span.shifted(delta))
        elif span.end <= first.start or span.start >= second.end:
            new_spans.append(span)
        else:
            raise ValueError(f"span {span} straddles a swapped span in {sentence.text!r}; cannot swap exactly")
    new_spans.sort(key=lambda s: (s.start, -s.end))
    return Sentence(new_words, tuple(new_spans), structure or sentence.structure, sentence.topic)


def swap_agent_patient(sentence: Sentence, clause: int = 0) -> Sentence:
    """Swap the agent and patient phrases of ``clause`` (default: the main clause).

    "the dog chased the cat." -> "the cat chased the dog."; "the cat was chased by the dog." ->
    "the dog was chased by the cat.".  The word multiset is unchanged and the annotation is updated.
    Raises ValueError when the clause has no agent or no patient (intransitive sentences).
    """
    agent, patient = sentence.span("agent", clause), sentence.span("patient", clause)
    missing = [name for name, span in (("agent", agent), ("patient", patient)) if span is None]
    if missing:
        raise ValueError(
            f"cannot swap agent and patient: clause {clause} of {sentence.text!r} "
            f"(structure {sentence.structure!r}) has no {' and no '.join(missing)}; "
            "use a transitive, passive, ditransitive, prepositional, relative_clause or coordination sentence"
        )
    return swap_spans(sentence, agent, patient)

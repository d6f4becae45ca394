"""Shuffle-SR: swap the agent and the patient ("the dog chased the cat" -> "the cat chased the dog").

Two routes, both returning a `Perturbation`:

- **Annotated sentences** (`pe_bert.data.Sentence`, the built-in corpus): exact, using the corpus's role spans
  through `pe_bert.data.swap_agent_patient` (clause-0 agent and patient exchanged, nothing else moves).
- **Raw text** (a string or a word list, e.g. SNLI): through a spaCy dependency parse, swapping the subtrees of the
  first verb's active subject (`nsubj`) and direct object (`dobj`/`obj`). Passives, clauses without an object and
  overlapping subtrees are left unchanged (`changed=False`). Needs the optional extra `pip install "pe_bert[spacy]"`
  plus an English pipeline (`python -m spacy download en_core_web_sm`), or any `nlp` callable passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

from .perturbations import Perturbation, _finish, join_words, split_words

SUBJECT_DEPS = ("nsubj",)
OBJECT_DEPS = ("dobj", "obj")
DEFAULT_SPACY_MODEL = "en_core_web_sm"


def is_annotated(item: Any) -> bool:
    """True for built-in corpus sentences (they carry words and role spans)."""
    return hasattr(item, "spans") and hasattr(item, "words")


def has_agent_and_patient(sentence: Any) -> bool:
    """Whether an annotated sentence has a clause-0 agent and patient whose words differ (so a swap changes it)."""
    spans = {span.role: span for span in sentence.spans if getattr(span, "clause", 0) == 0}
    agent, patient = spans.get("agent"), spans.get("patient")
    if agent is None or patient is None:
        return False
    words = sentence.words
    return tuple(words[agent.start : agent.end]) != tuple(words[patient.start : patient.end])


@lru_cache(maxsize=4)
def load_spacy(model: str = DEFAULT_SPACY_MODEL):
    """Load a spaCy pipeline, with errors that say exactly what to install."""
    try:
        import spacy
    except ImportError as error:
        raise ImportError(
            "swap_roles on raw text needs spaCy, which is not installed. Install the optional extra "
            f'`pip install "pe_bert[spacy]"` and an English pipeline `python -m spacy download {model}`, '
            "or use the built-in annotated corpus (pe_bert.data.generate_sentences), whose role spans make the "
            "swap exact without spaCy."
        ) from error
    try:
        return spacy.load(model)
    except OSError as error:
        raise OSError(
            f"spaCy is installed but its English pipeline {model!r} is not. Install it with "
            f"`python -m spacy download {model}` (needs internet once), or pass `spacy_model=` / `nlp=` with a "
            "pipeline you have."
        ) from error


def _swap_annotated(sentence: Any, on_unchanged: str) -> Perturbation:
    from pe_bert.data import swap_agent_patient

    if not has_agent_and_patient(sentence):
        return _finish("shuffle-sr", sentence.words, list(sentence.words), [0], on_unchanged)
    swapped = swap_agent_patient(sentence)
    return _finish("shuffle-sr", sentence.words, list(swapped.words), [], on_unchanged, {"sentence": swapped})


def _subtree_span(token) -> tuple[int, int]:
    """Character span [start, end) of a token's subtree (contiguous for projective parses)."""
    left, right = token.left_edge, token.right_edge
    return left.idx, right.idx + len(right.text)


def _swap_parsed(text: str, nlp: Callable, on_unchanged: str) -> Perturbation:
    doc = nlp(text)
    original = split_words(text)
    for verb in doc:
        children = list(getattr(verb, "children", ())) or [t for t in doc if t.head is verb and t is not verb]
        subjects = [t for t in children if t.dep_ in SUBJECT_DEPS]
        objects = [t for t in children if t.dep_ in OBJECT_DEPS]
        if not subjects or not objects:
            continue
        (s_start, s_end), (o_start, o_end) = _subtree_span(subjects[0]), _subtree_span(objects[0])
        if not (s_end <= o_start or o_end <= s_start):  # overlapping subtrees: no clean swap
            continue
        (a_start, a_end), (b_start, b_end) = sorted([(s_start, s_end), (o_start, o_end)])
        first, second = text[a_start:a_end], text[b_start:b_end]
        # Sentence-initial capitals belong to the position, not the phrase (unless it is a proper noun).
        if a_start == 0 and first[:1].isupper() and doc[0].pos_ != "PROPN":
            first, second = first[0].lower() + first[1:], second[:1].upper() + second[1:]
        new_text = text[:a_start] + second + text[a_end:b_start] + first + text[b_end:]
        meta = {"subject": text[s_start:s_end], "object": text[o_start:o_end]}
        return _finish("shuffle-sr", original, split_words(new_text), [], on_unchanged, meta)
    return _finish("shuffle-sr", original, original, [0], on_unchanged)


def swap_roles(
    item: Any, *, nlp: Callable | None = None, spacy_model: str = DEFAULT_SPACY_MODEL, on_unchanged: str = "flag"
) -> Perturbation:
    """Swap agent and patient of an annotated `Sentence` (exact) or of raw text / words (spaCy parse).

    For annotated input, `meta["sentence"]` holds the swapped `Sentence` (with updated spans). Input without an
    agent-patient pair (or where both are the same words) comes back unchanged with `changed=False`.
    """
    if is_annotated(item):
        return _swap_annotated(item, on_unchanged)
    text = item if isinstance(item, str) else join_words(item)
    return _swap_parsed(text, nlp if nlp is not None else load_spacy(spacy_model), on_unchanged)

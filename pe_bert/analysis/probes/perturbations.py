"""Word-order perturbations: pure, seeded functions on word lists.

Every perturbation takes a sequence of *words* and returns a `Perturbation` (the new words plus whether anything
changed). A "word" is any hashable unit: a string, or a tuple of sub-word pieces (see `perturb_tokenized`), so a
word's pieces always move together. Nothing here touches raw strings except `split_words`/`join_words`.

Conventions (documented once, used everywhere):

- **Final punctuation stays in place** by default (`keep_final_punct=True`): a last word made only of punctuation
  ("." "?!") is held at the end and the rest is perturbed. Moving the full stop into the middle of a sentence adds a
  second, trivially detectable signal that the probes are not about.
- **Every window that can change, changes.** Inside each window the words are *deranged* (no word keeps its
  position) whenever the window's multiset allows it; otherwise (too many repeats) the window gets a seeded
  permutation that at least differs from the original. A window that cannot change at all (one word, or identical
  words) is left as is and reported in `Perturbation.frozen_windows`; if the whole output equals the input,
  `changed` is False and `on_unchanged` decides whether to also warn or raise.
- **Determinism**: the same words and seed always give the same output (`random.Random(seed)`, no global state).
"""

from __future__ import annotations

import random
import string
import unicodedata
import warnings
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

Word = Hashable  # a str, or a tuple of sub-word pieces that must stay together

FINAL_PUNCTUATION = ".!?"
ON_UNCHANGED = ("flag", "warn", "raise")
# Rejection sampling finds a derangement in ~e tries for distinct words; the cap only matters for windows with many
# repeated words, where we fall back to "any permutation that differs".
_MAX_DERANGEMENT_TRIES = 200


class UnchangedPerturbationError(ValueError):
    """Raised with `on_unchanged="raise"` when a perturbation cannot change its input."""


@dataclass(frozen=True)
class Perturbation:
    """The result of perturbing a word sequence.

    `words`: the perturbed words. `changed`: whether they differ from the input. `frozen_windows`: indices of the
    windows that could not change (single word or identical words). `meta`: perturbation-specific details (e.g. the
    swapped positions).
    """

    name: str
    words: tuple
    changed: bool
    frozen_windows: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def text(self) -> str:
        """The perturbed words joined back into a string (see `join_words`)."""
        return join_words(self.words)


# --------------------------------------------------------------------------------------------------------------
# Words <-> text
# --------------------------------------------------------------------------------------------------------------


def _is_punctuation(word: Word) -> bool:
    text = "".join(word) if isinstance(word, tuple) else str(word)
    text = text.replace("##", "")  # WordPiece continuation marker, if the pieces are raw tokens
    return bool(text) and all(unicodedata.category(ch).startswith("P") or ch in string.punctuation for ch in text)


def split_words(text: str) -> list[str]:
    """Split raw text into words on whitespace, detaching sentence-final punctuation ("cat." -> "cat", ".").

    Internal punctuation stays attached to its word ("dog," moves with "dog"), so commas are not shuffled on their own.
    """
    words = text.split()
    if words:
        last = words[-1]
        stripped = last.rstrip(FINAL_PUNCTUATION)
        if stripped and stripped != last:
            words[-1:] = [stripped, last[len(stripped) :]]
    return words


def join_words(words: Sequence[Word]) -> str:
    """Join words into text: punctuation-only words attach to the previous word ("the dog ran."), as the built-in
    corpus's `Sentence.text` does; tuples of pieces are glued (WordPiece '##' markers removed)."""
    out: list[str] = []
    for word in words:
        text = (
            "".join(p.removeprefix("##") if i else p for i, p in enumerate(word))
            if isinstance(word, tuple)
            else str(word)
        )
        if out and _is_punctuation(text):
            out[-1] += text
        else:
            out.append(text)
    return " ".join(out)


# --------------------------------------------------------------------------------------------------------------
# Core permutation helpers
# --------------------------------------------------------------------------------------------------------------


def _split_final_punct(words: Sequence[Word], keep_final_punct: bool) -> tuple[list, list]:
    words = list(words)
    if keep_final_punct and len(words) >= 2 and _is_punctuation(words[-1]):
        return words[:-1], words[-1:]
    return words, []


def _can_change(window: Sequence[Word]) -> bool:
    return len(set(window)) >= 2


def _derange(window: Sequence[Word], rng: random.Random) -> list:
    """A seeded permutation of `window` in which no position keeps its word, if one exists; else one that differs."""
    window = list(window)
    most_common = max(window.count(w) for w in set(window))
    if 2 * most_common <= len(window):  # Hall's condition: a value-derangement exists
        for _ in range(_MAX_DERANGEMENT_TRIES):
            candidate = window[:]
            rng.shuffle(candidate)
            if all(a != b for a, b in zip(candidate, window)):
                return candidate
    while True:  # terminates: at least one of the len(window)! orders differs when the window has 2+ distinct words
        candidate = window[:]
        rng.shuffle(candidate)
        if candidate != window:
            return candidate


def _finish(
    name: str, original: Sequence[Word], new: list, frozen: list[int], on_unchanged: str, meta: dict | None = None
) -> Perturbation:
    if on_unchanged not in ON_UNCHANGED:
        raise ValueError(f"on_unchanged={on_unchanged!r} is not valid; choose one of {ON_UNCHANGED}.")
    changed = list(new) != list(original)
    if not changed:
        message = (
            f"{name}: cannot change {list(original)!r} (too few distinct words to reorder); "
            "the output equals the input."
        )
        if on_unchanged == "raise":
            raise UnchangedPerturbationError(message)
        if on_unchanged == "warn":
            warnings.warn(message, stacklevel=3)
    return Perturbation(name=name, words=tuple(new), changed=changed, frozen_windows=tuple(frozen), meta=meta or {})


# --------------------------------------------------------------------------------------------------------------
# Perturbations
# --------------------------------------------------------------------------------------------------------------


def shuffle_windows(
    words: Sequence[Word], n: int, seed: int = 0, *, keep_final_punct: bool = True, on_unchanged: str = "flag"
) -> Perturbation:
    """Shuffle-n: derange the words inside consecutive, non-overlapping windows of `n` words.

    Windows are [0, n), [n, 2n), ...; the last one may be shorter. Words never leave their window. `n = 1` is the
    identity (every window is frozen). n = 3..6 are the paper's Shuffle-3..6.
    """
    if n < 1:
        raise ValueError(f"shuffle_windows: window size n must be >= 1, got {n}.")
    rng = random.Random(seed)
    body, tail = _split_final_punct(words, keep_final_punct)
    new, frozen = [], []
    for index, start in enumerate(range(0, len(body), n)):
        window = body[start : start + n]
        if _can_change(window):
            new.extend(_derange(window, rng))
        else:
            new.extend(window)
            frozen.append(index)
    return _finish(f"shuffle-{n}", words, new + tail, frozen, on_unchanged, {"n": n})


def random_shuffle(
    words: Sequence[Word], seed: int = 0, *, keep_final_punct: bool = True, on_unchanged: str = "flag"
) -> Perturbation:
    """Random: derange the whole sentence (one window spanning every word but the final punctuation)."""
    body, tail = _split_final_punct(words, keep_final_punct)
    result = shuffle_windows(body, max(len(body), 1), seed, keep_final_punct=False, on_unchanged="flag")
    return _finish("random", words, list(result.words) + tail, list(result.frozen_windows), on_unchanged)


def swap_adjacent(
    words: Sequence[Word], seed: int = 0, *, keep_final_punct: bool = True, on_unchanged: str = "flag"
) -> Perturbation:
    """BShift (SentEval): swap one seeded, randomly chosen pair of adjacent, different words."""
    rng = random.Random(seed)
    body, tail = _split_final_punct(words, keep_final_punct)
    candidates = [i for i in range(len(body) - 1) if body[i] != body[i + 1]]
    meta = {}
    if candidates:
        i = rng.choice(candidates)
        body[i], body[i + 1] = body[i + 1], body[i]
        meta = {"position": i}
    return _finish("swap-adjacent", words, body + tail, [] if candidates else [0], on_unchanged, meta)


# --------------------------------------------------------------------------------------------------------------
# Sub-word aware perturbation of tokenised text
# --------------------------------------------------------------------------------------------------------------


def group_pieces(tokens: Sequence[str], word_ids: Sequence[int | None]) -> list:
    """Group tokens into units: consecutive tokens with the same word id form one tuple; special tokens
    (word id None) become the string itself and are held in place by `perturb_tokenized`."""
    units: list = []
    previous = object()
    for token, word_id in zip(tokens, word_ids, strict=True):
        if word_id is None:
            units.append(token)
        elif word_id == previous:
            units[-1] = units[-1] + (token,)
        else:
            units.append((token,))
        previous = word_id
    return units


def perturb_tokenized(
    tokens: Sequence[str], word_ids: Sequence[int | None], perturb: Callable[[Sequence[Word]], Perturbation]
) -> tuple[list[str], Perturbation]:
    """Apply a word perturbation to tokenised text without splitting any word's sub-word pieces.

    `word_ids` is what a fast tokenizer's `encoding.word_ids()` returns (None for special tokens). Special tokens
    stay at their positions; each run of words between them (e.g. the two segments of a pair) is perturbed on its
    own. Returns the new token list and a `Perturbation` summarising all segments, whose `words` are the perturbed
    words as tuples of pieces (special tokens left out), so `.text` is the perturbed text.
    """
    units = group_pieces(tokens, word_ids)
    out: list[str] = []
    segment: list = []
    perturbed_words: list = []
    changed, names, frozen = False, set(), []

    def flush():
        nonlocal changed
        if segment:
            result = perturb(segment)
            changed |= result.changed
            names.add(result.name)
            frozen.extend(result.frozen_windows)
            perturbed_words.extend(result.words)
            for unit in result.words:
                out.extend(unit)
            segment.clear()

    for unit in units:
        if isinstance(unit, tuple):
            segment.append(unit)
        else:
            flush()
            out.append(unit)
    flush()
    name = names.pop() if len(names) == 1 else "+".join(sorted(names))
    return out, Perturbation(name=name, words=tuple(perturbed_words), changed=changed, frozen_windows=tuple(frozen))

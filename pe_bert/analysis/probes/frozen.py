"""Frozen-feature probing (SentEval-style): a convex classifier on a model's frozen representations.

`probe_features` reads, for each example, the last hidden state of its target word (mean over the word's sub-word
pieces) or of the whole sentence (mean over its tokens, special tokens included, padding excluded), with one
forward pass per distinct sentence. `fit_probe` standardises the training features, fits an L2 logistic regression
(convex: one optimum, which L-BFGS reaches; non-convergence is reported, not hidden) and scores the test examples.

**Ties are ties.** An example whose twin (the same words in another order, with the other label) has the same
representation up to float32 rounding cannot be told from it by any classifier: the two are scored as one right
and one wrong (0.5 each), whatever the classifier outputs for them. A model without position information thus
scores exactly 0.5 on a twin task, by construction, and the number of tied twins is reported. The tolerance is
absolute and at float32 noise (TWIN_TIE_ATOL: every coordinate of the two mean-pooled vectors within 1e-6), so
that it cannot swallow a real, small difference; every result also reports the smallest distance between twins
(the largest coordinate difference), which shows how far from the tolerance a model's twins are.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain

import numpy as np
import torch
from torch import nn

from ...data.probing import NGRAM_ORDER, NO_TWIN, SENTENCE, ngram_features

REGULARISATION_C = 1.0  # on standardised features
# Twins of an order-blind model differ only by float32 summation order: about 1e-7 on hidden states of order 1.
TWIN_TIE_ATOL = 1e-6
MAX_ITERATIONS = 5000


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@dataclass(frozen=True)
class EncodedSentences:
    """Sentences given as words, tokenized once: `input_ids` `[n, longest]` padded with the pad id, each row's
    `lengths`, and each token's word (`word_ids`, None for special tokens)."""

    input_ids: np.ndarray
    lengths: np.ndarray
    word_ids: tuple[tuple[int | None, ...], ...]


# A study probes dozens of models that share one tokenizer on the same splits, in one process: each split is
# tokenized once (a third of a probing stage's time), keyed by the tokenizer's content, not its object.
_ENCODED: OrderedDict[tuple, EncodedSentences] = OrderedDict()
_ENCODED_KEPT = 16


def _tokenizer_key(tokenizer) -> tuple | None:
    """What decides a fast tokenizer's output (its serialised pipeline and its pad id); None for a slow one (not
    memoised)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        return None
    digest = hashlib.sha256(backend.to_str().encode()).hexdigest()
    return type(tokenizer).__name__, digest, tokenizer.pad_token_id


def encode_sentences(tokenizer, sentences: Sequence[tuple[str, ...]], max_length: int | None) -> EncodedSentences:
    """`sentences` (each a tuple of words) tokenized as pre-split words (truncated to `max_length` when given),
    padded into one array; remembered for the same tokenizer content and sentences."""
    key = _tokenizer_key(tokenizer)
    if key is not None:
        key = (*key, max_length, tuple(sentences))
        if key in _ENCODED:
            _ENCODED.move_to_end(key)
            return _ENCODED[key]
    encoded = tokenizer(
        [list(s) for s in sentences], is_split_into_words=True, truncation=max_length is not None, max_length=max_length
    )
    rows = encoded["input_ids"]
    lengths = np.array([len(row) for row in rows], dtype=np.int64)
    input_ids = np.full((len(rows), int(lengths.max(initial=0))), tokenizer.pad_token_id or 0, dtype=np.int64)
    input_ids[np.arange(input_ids.shape[1]) < lengths[:, None]] = np.fromiter(chain.from_iterable(rows), np.int64)
    result = EncodedSentences(input_ids, lengths, tuple(tuple(encoded.word_ids(i)) for i in range(len(rows))))
    if key is not None:
        _ENCODED[key] = result
        while len(_ENCODED) > _ENCODED_KEPT:
            _ENCODED.popitem(last=False)
    return result


@torch.no_grad()
def probe_features(
    model: nn.Module, tokenizer, examples: Sequence[dict], *, batch_size: int = 128, max_length: int | None = None
) -> np.ndarray:
    """`[len(examples), hidden]` float64 features: the last hidden state of each example's target word, or the
    mean over the sentence's tokens (`target` = -1). Examples are dicts with `words` and `target`."""
    encoder = getattr(model, "base_model", model)
    encoder.eval()
    device = _device_of(model)
    sentences = list(dict.fromkeys(tuple(e["words"]) for e in examples))
    index = {words: i for i, words in enumerate(sentences)}
    encoded = encode_sentences(tokenizer, sentences, max_length)
    hidden_states: list[np.ndarray | None] = [None] * len(sentences)
    order = np.argsort(encoded.lengths, kind="stable")  # batches of similar lengths: little padding
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        lengths = encoded.lengths[batch]
        length = int(lengths.max())
        ids = torch.from_numpy(encoded.input_ids[batch, :length])
        mask = torch.from_numpy((np.arange(length) < lengths[:, None]).astype(np.int64))
        outputs = encoder(input_ids=ids.to(device), attention_mask=mask.to(device))
        states = (outputs.last_hidden_state if hasattr(outputs, "last_hidden_state") else outputs[0]).double().cpu()
        for row, i in enumerate(batch.tolist()):
            hidden_states[i] = states[row, : lengths[row]].numpy()
    features = np.empty((len(examples), hidden_states[0].shape[-1] if hidden_states else 0))
    for k, example in enumerate(examples):
        i = index[tuple(example["words"])]
        states = hidden_states[i]
        if example["target"] == SENTENCE:
            features[k] = states.mean(axis=0)
            continue
        pieces = [t for t, w in enumerate(encoded.word_ids[i]) if w == example["target"]]
        if not pieces:
            raise ValueError(
                f"Target word {example['target']} of {' '.join(example['words'])!r} was truncated away "
                f"(max_length {max_length}): raise max_length."
            )
        features[k] = states[pieces].mean(axis=0)
    return features


def twin_distances(features: np.ndarray, twins: np.ndarray) -> np.ndarray:
    """Per example, the largest coordinate difference between its features and its twin's (NaN without a twin)."""
    has_twin = twins != NO_TWIN
    distances = np.full(len(features), np.nan)
    if has_twin.any():
        distances[has_twin] = np.abs(features[has_twin] - features[twins[has_twin]]).max(axis=1)
    return distances


def tied_twins(features: np.ndarray, twins: np.ndarray) -> np.ndarray:
    """Boolean per example: its twin exists and has the same representation up to float32 rounding (every
    coordinate within TWIN_TIE_ATOL)."""
    return twin_distances(features, twins) <= TWIN_TIE_ATOL  # NaN (no twin) compares False


@dataclass
class ProbeResult:
    accuracy: float  # share of test examples right, tied twins counting 0.5 each
    n_test: int
    n_train: int
    tied: int  # test examples whose twin has the same representation
    converged: bool
    iterations: int
    min_twin_distance: float | None = None  # smallest twin distance over the test split (None: no twins)
    # accuracy of the twin examples by dependency distance (words between the two nouns), where examples have one
    by_distance: dict[str, dict] | None = None

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "n_test": self.n_test,
            "n_train": self.n_train,
            "tied": self.tied,
            "converged": self.converged,
            "iterations": self.iterations,
            "min_twin_distance": self.min_twin_distance,
            "by_distance": self.by_distance,
        }


def fit_probe(
    train_features: np.ndarray,
    train_labels: Sequence[int],
    test_features: np.ndarray,
    test_labels: Sequence[int],
    test_twins: Sequence[int] | None = None,
    *,
    c: float = REGULARISATION_C,
    test_distances: Sequence[int | None] | None = None,
) -> ProbeResult:
    """Standardise, fit an L2 logistic regression on the training features, score the test examples (tied twins
    0.5 each; see the module docstring). `test_distances`: each test example's dependency distance, for the
    accuracy by distance."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train_labels, test_labels = np.asarray(train_labels), np.asarray(test_labels)
    twins = np.full(len(test_labels), NO_TWIN) if test_twins is None else np.asarray(test_twins)
    scaler = StandardScaler().fit(train_features)
    classifier = LogisticRegression(C=c, max_iter=MAX_ITERATIONS, tol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported as `converged`
        classifier.fit(scaler.transform(train_features), train_labels)
    iterations = int(np.max(classifier.n_iter_))
    correct = (classifier.predict(scaler.transform(test_features)) == test_labels).astype(np.float64)
    distances = twin_distances(test_features, twins)
    tied = distances <= TWIN_TIE_ATOL
    correct[tied] = 0.5
    by_distance = None
    if test_distances is not None and any(d is not None for d in test_distances):
        known = np.array([-1 if d is None else d for d in test_distances])
        by_distance = {
            str(d): {"accuracy": float(correct[known == d].mean()), "n": int((known == d).sum())}
            for d in sorted(set(known.tolist()) - {-1})
        }
    return ProbeResult(
        accuracy=float(correct.mean()),
        n_test=len(test_labels),
        n_train=len(train_labels),
        tied=int(tied.sum()),
        converged=iterations < MAX_ITERATIONS,
        iterations=iterations,
        min_twin_distance=float(np.nanmin(distances)) if np.isfinite(distances).any() else None,
        by_distance=by_distance,
    )


def ngram_baseline(splits: dict[str, list[dict]], order: int = NGRAM_ORDER) -> ProbeResult:
    """The local shortcut on one probing task: the same classifier (`fit_probe`) on each example's bag of n-grams
    (n ≤ `order`, sentence boundaries included) instead of a model's features, on the same split. Twins with the
    same bag tie, as a model's twins do."""
    train, test = splits["train"], splits["test"]
    train_features, test_features = ngram_features(train, test, order)
    return fit_probe(
        train_features,
        [e["label"] for e in train],
        test_features,
        [e["label"] for e in test],
        [e["twin"] for e in test],
        test_distances=[e.get("distance") for e in test],
    )


def run_probing_task(
    model: nn.Module, tokenizer, splits: dict[str, list[dict]], *, batch_size: int = 128, max_length: int | None = None
) -> ProbeResult:
    """Features of both splits of one probing task (`pe_bert.data.probing.probing_task`) and the fitted probe."""
    train, test = splits["train"], splits["test"]
    train_features = probe_features(model, tokenizer, train, batch_size=batch_size, max_length=max_length)
    test_features = probe_features(model, tokenizer, test, batch_size=batch_size, max_length=max_length)
    return fit_probe(
        train_features,
        [e["label"] for e in train],
        test_features,
        [e["label"] for e in test],
        [e["twin"] for e in test],
        test_distances=[e.get("distance") for e in test],
    )


__all__ = [
    "TWIN_TIE_ATOL",
    "EncodedSentences",
    "ProbeResult",
    "encode_sentences",
    "fit_probe",
    "ngram_baseline",
    "probe_features",
    "run_probing_task",
    "tied_twins",
    "twin_distances",
]

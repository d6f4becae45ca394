"""Masked-token evaluation on fixed blocks, placed between the corpus's two floors.

The study evaluates every pretrained model on the same masked blocks: held-out sentences packed as in pretraining
(`[CLS] sentence [SEP] [CLS] sentence [SEP] ...`, the last sentence cut by the end of the block), 15 % of the word
tokens replaced by `[MASK]` (seeded). On these very tokens it computes, for a built-in language whose distribution
is known (:mod:`pe_bert.data.compact`):

* the **unigram loss**: −log of each token's exact unigram probability (in expectation, the unigram entropy): what a
  model that ignores the context achieves at best;
* the **Bayes loss**: −log of the exact posterior of each masked token given every visible token of its block — the
  floor no model can beat. Sentences are drawn independently, so a masked word depends only on the visible words of
  its own sentence (`[CLS]`/`[SEP]` are never masked, so sentence boundaries are always visible); the cut sentence at
  the end of a block is handled as a prefix.

A model's masked-token loss M on the same tokens is reported with its **share of the learnable signal captured**:
(unigram − M) / (unigram − Bayes): 0 for a context-free model, 1 for a Bayes-optimal one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IGNORE = -100


@dataclass
class MaskedBlocks:
    """Blocks of token ids with `[MASK]` at the masked positions, their labels, and the floors per masked token.

    `labels` is -100 except at masked positions. The per-token arrays follow the masked positions in row-major order.
    """

    input_ids: np.ndarray  # [blocks, length] int64
    attention_mask: np.ndarray  # [blocks, length] int64
    labels: np.ndarray  # [blocks, length] int64
    unigram_loss: np.ndarray  # [masked tokens] float64, NaN when the language is unknown
    bayes_loss: np.ndarray  # [masked tokens] float64, NaN when the language is unknown

    @property
    def length(self) -> int:
        return self.input_ids.shape[1]

    @property
    def num_masked(self) -> int:
        return int((self.labels != IGNORE).sum())

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            input_ids=self.input_ids,
            attention_mask=self.attention_mask,
            labels=self.labels,
            unigram_loss=self.unigram_loss,
            bayes_loss=self.bayes_loss,
        )

    @classmethod
    def load(cls, path: str | Path) -> MaskedBlocks:
        with np.load(path) as data:
            return cls(**{name: data[name] for name in data.files})

    def floors(self) -> dict:
        """Mean unigram and Bayes losses over the masked tokens, with standard errors (None if unknown)."""
        return {
            "unigram_loss": _mean(self.unigram_loss),
            "bayes_loss": _mean(self.bayes_loss),
            "unigram_loss_se": _standard_error(self.unigram_loss),
            "bayes_loss_se": _standard_error(self.bayes_loss),
            "masked_tokens": self.num_masked,
            "blocks": int(self.input_ids.shape[0]),
            "length": self.length,
        }


def _mean(values: np.ndarray) -> float | None:
    return float(values.mean()) if values.size and np.isfinite(values).all() else None


def _standard_error(values: np.ndarray) -> float | None:
    if values.size < 2 or not np.isfinite(values).all():
        return None
    return float(values.std(ddof=1) / math.sqrt(values.size))


def pack_blocks(
    sentences: list[list[str]], tokenizer, length: int, mask_rate: float, seed: int, automaton=None
) -> MaskedBlocks:
    """Pack `sentences` (word lists) into blocks of `length` tokens, mask `mask_rate` of the words, compute floors.

    Every block starts at a sentence boundary; a sentence that does not fit is cut at the end of the block (and its
    rest dropped). With an `automaton` (the language the sentences come from) the floors are computed exactly;
    without one they are NaN.
    """
    if length < 3:
        raise ValueError(f"Blocks of {length} tokens cannot hold a sentence; use at least 3.")
    cls_id, sep_id, pad_id, mask_id = (
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.pad_token_id,
        tokenizer.mask_token_id,
    )
    vocab = tokenizer.get_vocab()
    unknown = sorted({w for words in sentences for w in words if w not in vocab})
    if unknown:
        raise ValueError(
            f"Words {unknown[:5]} are not single tokens of the tokenizer; the masked evaluation needs a "
            "word-level vocabulary that covers the sentences."
        )
    rng = np.random.default_rng(seed)
    blocks, segments = [], []  # segments: (block index, start column, words, complete)
    current: list[int] = []
    for words in sentences:
        room = length - len(current)
        if room == 0:
            blocks.append(current)
            current, room = [], length
        piece = [cls_id, *(vocab[w] for w in words), sep_id]
        kept = piece[:room]
        complete = len(kept) == len(piece)
        segments.append((len(blocks), len(current) + 1, list(words[: max(0, len(kept) - 1)]), complete))
        current += kept
    if current:
        blocks.append(current)
    input_ids = np.full((len(blocks), length), pad_id, dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, block in enumerate(blocks):
        input_ids[row, : len(block)] = block
        attention_mask[row, : len(block)] = 1
    labels = np.full_like(input_ids, IGNORE)
    unigram_distribution = automaton.unigram_distribution() if automaton is not None else None
    # Segments come in row-major order and do not overlap, so the floors are appended in the row-major order of the
    # masked positions, as masked_token_losses returns the model's losses.
    unigram, bayes = [], []
    for row, start, words, complete in segments:
        if not words:
            continue
        masked = rng.random(len(words)) < mask_rate
        indices = np.flatnonzero(masked)
        if not indices.size:
            continue
        columns = start + indices
        labels[row, columns] = input_ids[row, columns]
        input_ids[row, columns] = mask_id
        if automaton is None:
            unigram += [math.nan] * indices.size
            bayes += [math.nan] * indices.size
            continue
        posteriors = automaton.masked_posteriors([None if m else w for w, m in zip(words, masked)], complete=complete)
        for i in indices:
            word_id = automaton.word_ids[words[i]]
            unigram.append(-math.log(unigram_distribution[word_id]))
            bayes.append(-math.log(posteriors[i][word_id]))
    return MaskedBlocks(input_ids, attention_mask, labels, np.array(unigram), np.array(bayes))


def masked_token_losses(model, blocks: MaskedBlocks, batch_size: int = 64) -> np.ndarray:
    """Cross-entropy (nats) of `model` on every masked token of `blocks`, in row-major order of the positions."""
    import torch

    losses = []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(blocks.input_ids), batch_size):
            ids = torch.from_numpy(blocks.input_ids[start : start + batch_size])
            mask = torch.from_numpy(blocks.attention_mask[start : start + batch_size])
            labels = torch.from_numpy(blocks.labels[start : start + batch_size])
            logits = model(input_ids=ids, attention_mask=mask).logits
            selected = labels != IGNORE
            losses.append(
                torch.nn.functional.cross_entropy(logits[selected].double(), labels[selected], reduction="none").numpy()
            )
    return np.concatenate(losses) if losses else np.zeros(0)


def share_captured(model_loss: float | None, unigram_loss: float | None, bayes_loss: float | None) -> float | None:
    """(unigram − model) / (unigram − Bayes): 0 = no use of context, 1 = Bayes-optimal (None if undefined)."""
    if None in (model_loss, unigram_loss, bayes_loss) or unigram_loss - bayes_loss <= 0:
        return None
    return (unigram_loss - model_loss) / (unigram_loss - bayes_loss)


__all__ = ["MaskedBlocks", "masked_token_losses", "pack_blocks", "share_captured"]

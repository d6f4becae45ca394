"""Score the attention of any transformers encoder on real text, streaming over batches.

:func:`score_attention` runs the model with eager attention (the only implementation that returns
attention probabilities), scores every sentence's own attention block with :func:`locality` and
both :func:`symmetry` variants, and keeps only running sums per ``[layer, head]``: memory is
bounded by one batch whatever the number of sentences.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..jsonable import jsonable
from .properties import locality, symmetry_statistics

__all__ = ["AttentionScores", "score_attention", "eager_attention", "ATTENTION_SCORES"]

ATTENTION_SCORES: tuple[str, ...] = ("locality", "symmetry", "symmetry_mass")
METRIC_TITLES = {
    "locality": "Locality",
    "symmetry": "Symmetry (reference)",
    "symmetry_mass": "Symmetry (mass)",
}


# --------------------------------------------------------------------------------------------
# Eager attention for the duration of a pass
# --------------------------------------------------------------------------------------------


def _set_attn_implementation(model, implementation: str) -> None:
    if hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(implementation)
    else:  # older or custom models: the config attribute is what the layers read
        model.config._attn_implementation = implementation


@contextlib.contextmanager
def eager_attention(model) -> Iterator[None]:
    """Put ``model`` in eval mode with eager attention; restore both afterwards, also on error.

    sdpa / flash attention never materialise the probabilities, so ``output_attentions=True``
    needs the eager implementation (transformers 5: ``model.set_attn_implementation``).
    """
    previous = getattr(model.config, "_attn_implementation", None)
    was_training = model.training
    switch = previous is not None and previous != "eager"
    if switch:
        _set_attn_implementation(model, "eager")
    model.eval()
    try:
        yield
    finally:
        if switch:
            _set_attn_implementation(model, previous)
        model.train(was_training)


def _forward_attentions(model, inputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
    """All layers' attention probabilities ``[batch, heads, seq, seq]`` for one batch."""
    outputs = model(**inputs, output_attentions=True, return_dict=True)
    attentions = getattr(outputs, "attentions", None)
    if not attentions or attentions[0] is None:
        raise RuntimeError(
            f"{type(model).__name__} returned no attention probabilities with output_attentions=True "
            f"(attn_implementation={model.config._attn_implementation!r})."
        )
    return attentions


def _model_input_names(model) -> set[str]:
    return set(inspect.signature(model.forward).parameters)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


def effective_max_length(model, max_length: int | None) -> int | None:
    """The length sentences are truncated to: `max_length`, lowered to the model's position table when positions
    come from one (pe_bert's absolute PEs, stock BERT) or when the architecture is not known; pe_bert's relative
    PEs take any length. What is used is what `AttentionScores.options["max_length"]` records."""
    from ..configuration import config_position_encoding, position_table_limit

    bound = position_table_limit(model.config)
    if bound is None and config_position_encoding(model.config) is None:  # unknown architecture: be careful
        table = getattr(model.config, "max_position_embeddings", None)
        bound = (table, None) if table else None
    if max_length is not None and bound is not None and max_length > bound[0]:
        return bound[0]
    return max_length


@dataclass
class AttentionScores:
    """Mean locality / symmetry of each ``[layer, head]`` over the scored sentences.

    ``locality``, ``symmetry`` (the published definition) and ``symmetry_mass`` are float64
    tensors ``[layers, heads]`` of means over the sentences where the score is defined;
    ``counts[name]`` says over how many. ``layers`` are the model's layer indices of the rows.
    """

    locality: torch.Tensor
    symmetry: torch.Tensor
    symmetry_mass: torch.Tensor
    counts: dict[str, torch.Tensor]
    layers: list[int]
    num_sentences: int
    num_empty: int = 0
    num_degenerate: int = 0
    options: dict = field(default_factory=dict)

    @property
    def num_matrices(self) -> int:
        """Attention matrices scored: sentences x layers x heads."""
        return int(self.counts["locality"].sum().item())

    def overall(self, name: str) -> float:
        """Mean of a metric over every scored matrix of every layer and head (NaN if none)."""
        means, counts = getattr(self, name), self.counts[name].to(torch.float64)
        total = counts.sum()
        if total == 0:
            return float("nan")
        return float((means.nan_to_num(0.0) * counts).sum() / total)

    @property
    def mean_locality(self) -> float:
        return self.overall("locality")

    @property
    def mean_symmetry(self) -> float:
        return self.overall("symmetry")

    @property
    def mean_symmetry_mass(self) -> float:
        return self.overall("symmetry_mass")

    def to_dict(self) -> dict:
        """JSON-ready: per-head lists (``null`` where undefined), overall means, counts, options."""
        return {
            "layers": list(self.layers),
            "num_heads": int(self.locality.shape[1]),
            "num_sentences": self.num_sentences,
            "num_matrices": self.num_matrices,
            "num_empty": self.num_empty,
            "num_degenerate": self.num_degenerate,
            "overall": {name: jsonable(self.overall(name)) for name in ATTENTION_SCORES},
            "per_head": {name: jsonable(getattr(self, name).tolist()) for name in ATTENTION_SCORES},
            "counts": {name: self.counts[name].tolist() for name in ATTENTION_SCORES},
            "options": dict(self.options),
        }

    def to_json(self, path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    def plot(self, path, title: str | None = None) -> Path:
        """Save layer x head heatmaps of the three metrics side by side (PNG)."""
        from .plots import score_heatmaps

        return score_heatmaps(
            {METRIC_TITLES[name]: getattr(self, name) for name in ATTENTION_SCORES},
            self.layers,
            path,
            title=title or f"Attention scores over {self.num_sentences} sentences",
        )

    def __repr__(self) -> str:
        shape = tuple(self.locality.shape)
        means = ", ".join(f"{name}={self.overall(name):.4f}" for name in ATTENTION_SCORES)
        return f"AttentionScores(layers x heads={shape}, sentences={self.num_sentences}, {means})"


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


class _Accumulator:
    """Running sums and counts per ``[layer, head]`` of scores that may be NaN (skipped), and the counts of the
    sentences scored."""

    def __init__(self, num_layers: int, num_heads: int):
        self.sums = {name: torch.zeros(num_layers, num_heads, dtype=torch.float64) for name in ATTENTION_SCORES}
        self.counts = {name: torch.zeros(num_layers, num_heads, dtype=torch.int64) for name in ATTENTION_SCORES}
        self.num_sentences = self.num_empty = self.num_degenerate = self.longest = 0

    def add_batch(self, attentions: torch.Tensor, keep: torch.Tensor, special: torch.Tensor | None) -> None:
        """Score a batch: ``attentions`` ``[layers, batch, heads, seq, seq]``, ``keep`` ``[batch, seq]`` its real
        tokens; ``special`` marks the special tokens to drop (each row then renormalised), None to keep them."""
        self.longest = max(self.longest, int(keep.sum(-1).max()))  # the length scored, special tokens included
        if special is not None:
            keep = keep & ~special
        sizes = keep.sum(-1)
        self.num_sentences += len(keep)
        self.num_empty += int((sizes == 0).sum())
        self.num_degenerate += int(((sizes > 0) & (sizes <= 2)).sum())
        for _, block in _sentence_blocks(attentions, keep, renormalize=special is not None):
            self.add("locality", locality(block))
            stats = symmetry_statistics(block)
            self.add("symmetry", stats.reference())
            self.add("symmetry_mass", stats.mass())

    def add(self, name: str, scores: torch.Tensor) -> None:
        """``scores``: ``[layers, sentences, heads]``."""
        defined = ~torch.isnan(scores)
        self.sums[name] += scores.nan_to_num(0.0).sum(1, dtype=torch.float64)
        self.counts[name] += defined.sum(1)

    def means(self) -> dict[str, torch.Tensor]:
        return {name: self.sums[name] / self.counts[name] for name in ATTENTION_SCORES}  # 0/0 -> NaN


def _batches(texts: Iterable[str], batch_size: int) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, batch_size)):
        yield batch


def _sentence_blocks(
    attentions: torch.Tensor, keep: torch.Tensor, renormalize: bool
) -> Iterator[tuple[int, torch.Tensor]]:
    """Each sentence's own attention block, grouped by size: yields ``(n, [layers, m, heads, n, n])``.

    ``attentions``: ``[layers, batch, heads, seq, seq]``; ``keep``: ``[batch, seq]`` positions to
    score (real tokens, minus special tokens if dropped). Sentences of equal size are scored
    together, so the Python loop runs over distinct sizes, not sentences.
    """
    sizes = keep.sum(-1)
    seq_len = keep.shape[-1]
    positions = torch.arange(seq_len).expand_as(keep)
    # Kept positions first, in order: a stable sort of "not kept" puts them at the front.
    order = torch.sort((~keep).to(torch.int8), dim=-1, stable=True).indices
    for n in sizes.unique().tolist():
        if n == 0:
            continue
        members = (sizes == n).nonzero().squeeze(-1)
        index = order[members, :n]
        if torch.equal(index, positions[members, :n]):  # right padding, nothing dropped: a slice
            block = attentions[:, members, :, :n, :n].contiguous()
        else:
            layers, _, heads = attentions.shape[:3]
            rows = attentions[:, members].gather(
                -2, index[None, :, None, :, None].expand(layers, -1, heads, n, seq_len)
            )
            block = rows.gather(-1, index[None, :, None, None, :].expand(layers, -1, heads, n, n))
        if renormalize:  # dropped special tokens took some of each row's mass
            block = block / block.sum(-1, keepdim=True).clamp_min(torch.finfo(block.dtype).tiny)
        yield n, block


def _encode(tokenizer, batch: list[str], max_length: int | None):
    """The batch tokenized as padded tensors (truncated to ``max_length`` unless None), and its special-token mask."""
    encoded = tokenizer(
        batch,
        padding=True,
        truncation=max_length is not None,
        max_length=max_length,
        return_tensors="pt",
        return_special_tokens_mask=True,
    )
    return encoded, encoded.pop("special_tokens_mask").to(torch.bool)


@torch.no_grad()
def score_attention(
    model,
    tokenizer,
    texts: Iterable[str],
    batch_size: int = 32,
    max_length: int | None = 128,
    drop_special_tokens: bool = False,
    layers: Sequence[int] | None = None,
    progress: bool = True,
) -> AttentionScores:
    """Mean locality and symmetry (both variants) of every ``[layer, head]`` of ``model`` on ``texts``.

    Works with any transformers encoder (or model with an encoder returning ``attentions``): the
    model runs with eager attention for the pass and its attention implementation and train/eval
    mode are restored afterwards, also on error. Each sentence is scored on its own ``n x n``
    block: padding removed; special tokens ([CLS], [SEP], ...) kept, or dropped with
    ``drop_special_tokens=True``, in which case each row is renormalised to sum to 1 over the
    remaining tokens. Texts stream in batches of ``batch_size`` (any iterable, even a generator);
    only sums per ``[layer, head]`` are kept. Sentences of ``n <= 2`` tokens have no symmetry (the
    published definition divides by zero there): they count in ``num_degenerate`` and are left out
    of the symmetry means, not of locality. ``layers`` selects layer indices (default: all).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(texts, str):  # one sentence, not an iterable of characters
        texts = [texts]
    from tqdm.auto import tqdm

    max_length = effective_max_length(model, max_length)
    accepted = _model_input_names(model)
    total = len(texts) if hasattr(texts, "__len__") else None
    accumulator: _Accumulator | None = None
    layer_index: list[int] = []

    with (
        eager_attention(model),
        tqdm(total=total, desc="Scoring attention", unit="sentence", disable=not progress) as bar,
    ):
        device = next(model.parameters()).device
        for batch in _batches(texts, batch_size):
            encoded, special = _encode(tokenizer, batch, max_length)
            inputs = {key: value.to(device) for key, value in encoded.items() if key in accepted}
            attentions = _forward_attentions(model, inputs)
            if accumulator is None:
                layer_index = list(range(len(attentions))) if layers is None else [int(i) for i in layers]
                accumulator = _Accumulator(len(layer_index), attentions[0].shape[1])
            # [layers, batch, heads, seq, seq]; float32 at least, on the CPU (the scores are cheap)
            stacked = torch.stack([attentions[i] for i in layer_index]).float().cpu()
            del attentions
            keep = encoded["attention_mask"].to(torch.bool)
            accumulator.add_batch(stacked, keep, special if drop_special_tokens else None)
            bar.update(len(batch))

    if accumulator is None:
        raise ValueError("no texts to score")
    means = accumulator.means()
    return AttentionScores(
        locality=means["locality"],
        symmetry=means["symmetry"],
        symmetry_mass=means["symmetry_mass"],
        counts=accumulator.counts,
        layers=layer_index,
        num_sentences=accumulator.num_sentences,
        num_empty=accumulator.num_empty,
        num_degenerate=accumulator.num_degenerate,
        options={
            "model": getattr(model.config, "_name_or_path", "") or type(model).__name__,
            "batch_size": batch_size,
            "max_length": max_length,
            "longest": accumulator.longest,
            "drop_special_tokens": drop_special_tokens,
        },
    )

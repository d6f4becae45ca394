"""Zero-shot word-order probes for any masked LM or encoder, no fine-tuning.

- **Pseudo-log-likelihood** (Salazar et al., 2020, "Masked Language Model Scoring"): PLL(s) = sum over positions t
  (special tokens excluded) of log P(s_t | s with only t masked). All masked copies of many sentences are packed
  into large, length-sorted batches under a token budget: one forward per batch, never one per token.
  When the model exposes its MLM head (`cls` / `lm_head`), the vocabulary projection runs only at the masked
  position of each row, which halves the work of a small model (the head is as costly as the encoder there).
- **Representation drift**: 1 - cosine between attention-mask-weighted mean-pooled last hidden states of the
  original and the perturbed sentence.
- `zero_shot_probe` runs both over named perturbations and aggregates with bootstrap intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import stats
from .perturbations import join_words
from .registry import (
    DEFAULT_ZERO_SHOT_PERTURBATIONS,
    derive_seed,
    find_perturbation,
    perturb,
    validate_perturbation_names,
    words_of,
)

_HEAD_NAMES = ("cls", "lm_head")


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def _encode(tokenizer, texts: Sequence[str], max_length: int | None) -> dict[str, list[list[int]]]:
    if not texts:
        return {"input_ids": []}
    return tokenizer(
        list(texts),
        add_special_tokens=True,
        truncation=max_length is not None,
        max_length=max_length,
        return_special_tokens_mask=True,
        return_attention_mask=False,
    )


def _mlm_head(model: nn.Module) -> nn.Module | None:
    """The MLM head module if the model is `base_model` + head (BERT: `cls`, RoBERTa-like: `lm_head`), else None."""
    base = getattr(model, "base_model", None)
    if base is None or base is model:
        return None
    for name in _HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    return None


def _pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(len(r) for r in rows)
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def _require_mask_token(tokenizer) -> int:
    if tokenizer.mask_token_id is None:
        raise ValueError("pseudo_log_likelihood needs a tokenizer with a mask token (a masked-LM tokenizer).")
    return tokenizer.mask_token_id


def default_token_budget(device: torch.device) -> int:
    """Tokens (rows x padded length) per PLL forward. On CPU, modest batches stay in cache and were fastest in
    benchmarks/bench_probes.py (512-1024 beat 4096-16384 by 1.5x on MiniLM); a GPU wants large ones."""
    return 32768 if device.type == "cuda" else 1024


@torch.no_grad()
def pseudo_log_likelihood(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    max_tokens_per_batch: int | None = None,
    max_length: int | None = 512,
    head_only: bool | None = None,
    progress: bool = False,
) -> np.ndarray:
    """PLL of each text under a masked LM: every non-special position masked once, all copies batched.

    `max_tokens_per_batch` bounds rows x padded length of each forward (memory-bounded chunks; default:
    `default_token_budget`). `head_only` (default: auto) applies the MLM head only at the masked positions; set
    False to use the model's own logits. Returns float64 PLLs in nats, one per text.
    """
    mask_id = _require_mask_token(tokenizer)
    encoded = _encode(tokenizer, texts, max_length)
    head = _mlm_head(model) if head_only in (None, True) else None
    if head_only and head is None:
        raise ValueError(f"head_only=True but {type(model).__name__} exposes no MLM head ({'/'.join(_HEAD_NAMES)}).")
    device = _device_of(model)
    max_tokens_per_batch = max_tokens_per_batch or default_token_budget(device)
    model.eval()

    # One row per (sentence, maskable position); sorting by length keeps padding near zero.
    rows = [
        (s, p)
        for s, specials in enumerate(encoded.get("special_tokens_mask", []))
        for p, special in enumerate(specials)
        if not special
    ]
    rows.sort(key=lambda row: len(encoded["input_ids"][row[0]]))

    def row_length(k: int) -> int:  # rows are sorted, so the last row of a chunk sets its padded length
        return len(encoded["input_ids"][rows[k][0]])

    scores = np.zeros(len(texts), dtype=np.float64)
    bar = tqdm(total=len(rows), desc="PLL", unit="masked copy", disable=not progress)
    start = 0
    while start < len(rows):
        stop = start
        while stop < len(rows) and (stop - start + 1) * row_length(stop) <= max_tokens_per_batch:
            stop += 1
        stop = max(stop, start + 1)  # always progress, even when one row exceeds the budget
        chunk = rows[start:stop]
        sentence_index = torch.tensor([s for s, _ in chunk])
        positions = torch.tensor([p for _, p in chunk])
        ids, attention = _pad([encoded["input_ids"][s] for s, _ in chunk], tokenizer.pad_token_id or 0)
        targets = ids[torch.arange(len(chunk)), positions].clone()
        ids[torch.arange(len(chunk)), positions] = mask_id
        ids, attention = ids.to(device), attention.to(device)
        positions, targets = positions.to(device), targets.to(device)
        rows_index = torch.arange(len(chunk), device=device)
        if head is not None:
            hidden = model.base_model(input_ids=ids, attention_mask=attention)[0]
            logits = head(hidden[rows_index, positions].unsqueeze(1)).squeeze(1)
        else:
            logits = model(input_ids=ids, attention_mask=attention).logits[rows_index, positions]
        log_probs = torch.log_softmax(logits.float(), dim=-1)[rows_index, targets]
        np.add.at(scores, sentence_index.numpy(), log_probs.double().cpu().numpy())
        bar.update(len(chunk))
        start = stop
    bar.close()
    return scores


@torch.no_grad()
def pseudo_log_likelihood_reference(
    model: nn.Module, tokenizer, texts: Sequence[str], *, max_length: int | None = 512
) -> np.ndarray:
    """The naive PLL: one forward per masked position per sentence, full model logits. Slow; for tests/benchmarks."""
    mask_id = _require_mask_token(tokenizer)
    encoded = _encode(tokenizer, texts, max_length)
    device = _device_of(model)
    model.eval()
    scores = np.zeros(len(texts), dtype=np.float64)
    for s, (ids, specials) in enumerate(zip(encoded["input_ids"], encoded.get("special_tokens_mask", []))):
        for p, special in enumerate(specials):
            if special:
                continue
            masked = torch.tensor([ids], device=device)
            masked[0, p] = mask_id
            logits = model(input_ids=masked).logits[0, p]
            scores[s] += float(torch.log_softmax(logits.float(), dim=-1)[ids[p]])
    return scores


@torch.no_grad()
def sentence_embeddings(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int | None = 512,
    progress: bool = False,
) -> torch.Tensor:
    """Attention-mask-weighted mean of the last hidden states, [len(texts), hidden], for any HF encoder or MLM."""
    encoder = getattr(model, "base_model", model)
    device = _device_of(model)
    model.eval()
    encoded = _encode(tokenizer, texts, max_length)
    order = sorted(range(len(texts)), key=lambda i: len(encoded["input_ids"][i]))
    out: list[torch.Tensor | None] = [None] * len(texts)
    for start in tqdm(range(0, len(order), batch_size), desc="embed", disable=not progress):
        batch = order[start : start + batch_size]
        ids, attention = _pad([encoded["input_ids"][i] for i in batch], tokenizer.pad_token_id or 0)
        outputs = encoder(input_ids=ids.to(device), attention_mask=attention.to(device))
        hidden = outputs.last_hidden_state if hasattr(outputs, "last_hidden_state") else outputs[0]
        weights = attention.to(device).unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        for i, vector in zip(batch, pooled.float().cpu()):
            out[i] = vector
    return torch.stack(out) if out else torch.empty(0)


def representation_drift(
    model: nn.Module,
    tokenizer,
    originals: Sequence[str],
    perturbed: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int | None = 512,
    progress: bool = False,
) -> np.ndarray:
    """1 - cosine(mean-pooled original, mean-pooled perturbed), one value per pair (0 = unchanged representation)."""
    if len(originals) != len(perturbed):
        raise ValueError("representation_drift: originals and perturbed must be paired (same length and order).")
    embeddings = sentence_embeddings(
        model,
        tokenizer,
        list(originals) + list(perturbed),
        batch_size=batch_size,
        max_length=max_length,
        progress=progress,
    )
    a, b = embeddings[: len(originals)], embeddings[len(originals) :]
    return np.atleast_1d((1.0 - torch.nn.functional.cosine_similarity(a, b, dim=-1)).double().numpy())


@dataclass
class ZeroShotReport:
    """Per-perturbation zero-shot results. `results[name]` holds n, n_changed, pll (preference stats), drift."""

    model: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"kind": "zero-shot", "model": self.model, "settings": self.settings, "results": self.results}


def has_trained_mlm_head(model: nn.Module) -> bool:
    """False when the model's MLM head was randomly initialised on load (an encoder-only checkpoint such as
    all-MiniLM-L6-v2), as recorded by `load_model` from transformers' loading info; True when unknown."""
    info = getattr(model, "_pe_bert_loading_info", None) or {}
    return not any(key.startswith(("cls.", "lm_head")) and "decoder" not in key for key in info.get("missing_keys", ()))


def _check_metrics(model: nn.Module, metrics: Sequence[str]) -> None:
    """The metrics are known, and PLL has an MLM head to read (a warning when that head was never trained)."""
    unknown = set(metrics) - {"pll", "drift"}
    if unknown:
        raise ValueError(f"Unknown zero-shot metric(s) {sorted(unknown)}; use 'pll' and/or 'drift'.")
    output_embeddings = getattr(model, "get_output_embeddings", lambda: None)
    if "pll" in metrics and output_embeddings() is None:
        raise ValueError(
            f"{type(model).__name__} has no MLM head, so PLL is undefined: load it with "
            "AutoModelForMaskedLM, or use metrics=('drift',)."
        )
    if "pll" in metrics and not has_trained_mlm_head(model):
        warnings.warn(
            "This checkpoint has no trained MLM head (it was randomly initialised on load), so PLL "
            "preferences are meaningless; use metrics=('drift',) for such encoders.",
            stacklevel=3,
        )


def _perturbed_pairs(
    sentences: Sequence[Any], perturbations: Sequence[str], seed: int, report: ZeroShotReport, perturb_kwargs: dict
) -> dict[str, tuple[list[int], list[str]]]:
    """Per perturbation, the indices of the sentences it changed and their perturbed texts. A perturbation that
    cannot run here (raw-text Shuffle-SR without spaCy) is skipped with a warning and recorded in `report`."""
    pairs: dict[str, tuple[list[int], list[str]]] = {}
    for name in perturbations:
        kept, texts = [], []
        swaps_roles = find_perturbation(name).swaps_roles
        try:
            for i, sentence in enumerate(sentences):
                result = perturb(name, sentence, derive_seed(seed, i), **(perturb_kwargs if swaps_roles else {}))
                if result.changed:
                    kept.append(i)
                    texts.append(result.text)
        except (ImportError, OSError) as error:  # raw-text Shuffle-SR without spaCy or its English pipeline
            warnings.warn(f"{name} skipped: {error}", stacklevel=3)
            report.results[name] = {"skipped": str(error)}
            continue
        pairs[name] = (kept, texts)
    return pairs


def zero_shot_probe(
    model: nn.Module,
    tokenizer,
    sentences: Sequence[Any],
    *,
    perturbations: Sequence[str] = DEFAULT_ZERO_SHOT_PERTURBATIONS,
    metrics: Sequence[str] = ("pll", "drift"),
    seed: int = 0,
    n_resamples: int = stats.DEFAULT_RESAMPLES,
    batch_size: int = 64,
    max_tokens_per_batch: int | None = None,
    model_name: str | None = None,
    progress: bool = False,
    **perturb_kwargs,
) -> ZeroShotReport:
    """Perturb each sentence with each named perturbation and score original vs perturbed.

    `sentences`: built-in `Sentence` objects (Shuffle-SR exact), raw strings (Shuffle-SR via spaCy) or word lists.
    Only pairs whose perturbation changed the sentence are scored (the count is reported as n_changed).
    `metrics`: "pll" (needs an MLM head: preference = share of originals with higher PLL) and/or "drift".
    """
    if not sentences:
        raise ValueError("zero_shot_probe needs at least one sentence; got none.")
    perturbations = validate_perturbation_names(perturbations)
    _check_metrics(model, metrics)
    originals = [join_words(words_of(s)) for s in sentences]
    report = ZeroShotReport(
        model=model_name or getattr(model.config, "_name_or_path", "") or type(model).__name__,
        settings={
            "perturbations": list(perturbations),
            "metrics": list(metrics),
            "seed": seed,
            "n_sentences": len(sentences),
            "n_resamples": n_resamples,
        },
    )
    pairs = _perturbed_pairs(sentences, perturbations, seed, report, perturb_kwargs)
    pll_original = None
    if "pll" in metrics:
        pll_original = pseudo_log_likelihood(
            model, tokenizer, originals, max_tokens_per_batch=max_tokens_per_batch, progress=progress
        )
    for name, (kept, texts) in pairs.items():
        entry: dict[str, Any] = {"n": len(sentences), "n_changed": len(kept)}
        if "pll" in metrics:
            pll_perturbed = (
                pseudo_log_likelihood(
                    model, tokenizer, texts, max_tokens_per_batch=max_tokens_per_batch, progress=progress
                )
                if kept
                else np.empty(0)
            )
            entry["pll"] = stats.preference(
                pll_original[kept], pll_perturbed, n_resamples=n_resamples, seed=seed, per_pair=True
            )
            entry["pll"]["sentences"] = kept  # which sentence each outcome is about
        if "drift" in metrics:  # no changed pair (e.g. Shuffle-SR on intransitive sentences): an empty sample
            drift = (
                representation_drift(
                    model, tokenizer, [originals[i] for i in kept], texts, batch_size=batch_size, progress=progress
                )
                if kept
                else np.empty(0)
            )
            entry["drift"] = stats.mean_with_ci(drift, n_resamples=n_resamples, seed=seed)
        report.results[name] = entry
    report.results = {name: report.results[name] for name in perturbations}  # skipped ones were added first
    return report

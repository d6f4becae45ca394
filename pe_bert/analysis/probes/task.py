"""Task-level word-order probe (the paper's table): accuracy of a fine-tuned NLI model on perturbed test sets.

For each perturbation a perturbed copy of the evaluation set is built, the model predicts on the original and every
copy in length-sorted batches, and the report gives accuracy on the original, on each copy, and the paired
difference (delta, with a bootstrap interval).

Label rules
-----------
- **Shuffle-n / Random / swap-adjacent**: every example is kept and keeps its gold label (the paper's protocol:
  a model that understands order should be hurt, so a *small* delta means order-insensitivity). Examples the
  perturbation could not change (e.g. a one-word hypothesis) are still evaluated; `n_changed` says how many changed.
- **Shuffle-SR** (agent <-> patient): only *entailment* pairs whose perturbed side has an agent and a patient
  (different words, and a non-symmetric predicate such as "chase", not "meet") are used.
  `field="hypothesis"` or `"premise"`: one side is swapped, so "the dog chased the cat" / "the cat chased the dog"
  describe incompatible events and the expected label becomes **contradiction** (SNLI's same-event convention).
  `field="both"`: both sides are swapped, the relation is unchanged and the expected label stays **entailment**
  (a consistency control). Delta is taken against the model's accuracy on the *same* original pairs.
  Annotated built-in sentences are swapped exactly; raw text (SNLI/MNLI) goes through spaCy (`pe_bert[spacy]`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from . import stats
from .registry import PAPER_PERTURBATIONS, derive_seed, find_perturbation, perturb, validate_perturbation_names
from .roles import is_annotated

FIELDS = ("hypothesis", "premise", "both")
ENTAILMENT, NEUTRAL, CONTRADICTION = 0, 1, 2  # GLUE / SNLI / MNLI convention
# Swapping the arguments of a symmetric predicate keeps the meaning, so such pairs are not Shuffle-SR evidence.
SYMMETRIC_PREDICATES = frozenset(
    {
        "meet",
        "met",
        "meets",
        "marry",
        "married",
        "marries",
        "resemble",
        "resembled",
        "resembles",
        "hug",
        "hugged",
        "hugs",
        "kiss",
        "kissed",
        "kisses",
        "touch",
        "touched",
        "touches",
        "fought",
        "fight",
        "fights",
    }
)


@dataclass
class NLIExample:
    """One premise/hypothesis pair. `*_sentence` are optional role-annotated `pe_bert.data.Sentence` objects."""

    premise: str
    hypothesis: str
    label: int
    premise_sentence: Any = None
    hypothesis_sentence: Any = None

    def side(self, which: str) -> Any:
        """The annotated sentence of `which` side if there is one, else its text."""
        annotated = getattr(self, f"{which}_sentence")
        return annotated if annotated is not None else getattr(self, which)


@dataclass
class PerturbedSet:
    """A perturbed evaluation set, aligned with the original examples it came from (`indices`)."""

    name: str
    indices: list[int]
    premises: list[str]
    hypotheses: list[str]
    references: list[int]
    original_references: list[int]
    n_changed: int


# --------------------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------------------


NLI_LABEL_NAMES = ("entailment", "neutral", "contradiction")


def _label_id(value: Any) -> int:
    if isinstance(value, str) and not value.lstrip("-").isdigit():
        if value.lower() not in NLI_LABEL_NAMES:
            raise ValueError(f"Unknown NLI label {value!r}; use ids 0/1/2 or names {NLI_LABEL_NAMES}.")
        return NLI_LABEL_NAMES.index(value.lower())
    return int(value)


def _rows_to_examples(rows: Sequence[dict]) -> list[NLIExample]:
    examples = []
    for row in rows:
        premise = row.get("premise", row.get("sentence1"))
        hypothesis = row.get("hypothesis", row.get("sentence2"))
        if premise is None or hypothesis is None or "label" not in row:
            raise ValueError(
                "NLI rows need premise/hypothesis (or sentence1/sentence2) and label columns; "
                f"got columns {sorted(row)}."
            )
        label = _label_id(row["label"])
        if label < 0:  # SNLI marks pairs without annotator agreement with -1; GLUE test labels are hidden
            continue
        annotated = {}
        for side in ("premise", "hypothesis"):  # the built-in task ships role annotations for both sides
            value = row.get(f"{side}_annotation") or row.get(f"{side}_sentence")
            if isinstance(value, dict):
                from pe_bert.data import Sentence

                value = Sentence.from_dict(value)
            annotated[f"{side}_sentence"] = value
        examples.append(NLIExample(premise, hypothesis, label, **annotated))
    return examples


def load_nli_examples(
    dataset: str = "builtin_nli",
    *,
    split: str | None = None,
    num_examples: int | None = None,
    seed: int = 0,
    **builtin_options,
) -> list[NLIExample]:
    """Evaluation pairs from the built-in task (`builtin_nli`), the Hub (`snli`, `mnli`) or a local file.

    Local files: .jsonl/.json/.csv/.tsv with premise/hypothesis (or sentence1/sentence2) and label (ids or names)
    columns. The default split is the evaluation split (validation; validation_matched for MNLI). For
    `builtin_nli`, pass the same `builtin_options` (num_train, num_validation, ...) as for fine-tuning: the task
    removes pairs seen in train from validation, so the sizes decide which pairs validation holds.
    """
    path = Path(dataset)
    if path.suffix in (".jsonl", ".json", ".csv", ".tsv") and path.exists():
        import datasets

        kind = {".jsonl": "json", ".json": "json", ".csv": "csv", ".tsv": "csv"}[path.suffix]
        extra = {"delimiter": "\t"} if path.suffix == ".tsv" else {}
        table = datasets.load_dataset(kind, data_files=str(path), split="train", **extra)
    elif dataset in ("builtin_nli", "snli", "mnli"):
        from pe_bert.data import load_task

        if dataset == "builtin_nli":
            builtin_options = {"seed": seed, **builtin_options}
        splits = load_task(dataset, **builtin_options)
        default_split = "validation_matched" if dataset == "mnli" else "validation"
        table = splits[split or default_split]
    else:
        raise ValueError(f"Unknown NLI dataset {dataset!r}: use builtin_nli, snli, mnli or a .jsonl/.csv/.tsv path.")
    if num_examples is not None:
        table = table.select(range(min(num_examples, len(table))))
    return _rows_to_examples(list(table))


# --------------------------------------------------------------------------------------------------------------
# Perturbed sets
# --------------------------------------------------------------------------------------------------------------


def _role_swap_allowed(item: Any) -> bool:
    """Annotated sentences: skip symmetric predicates (for raw text the parser decides; see roles.py)."""
    if not is_annotated(item):
        return True
    return not (set(item.role_words("predicate")) & SYMMETRIC_PREDICATES)


def build_perturbed_sets(
    examples: Sequence[NLIExample],
    perturbations: Sequence[str] = PAPER_PERTURBATIONS,
    *,
    field: str = "hypothesis",
    seed: int = 0,
    entailment_label: int = ENTAILMENT,
    contradiction_label: int = CONTRADICTION,
    **perturb_kwargs,
) -> dict[str, PerturbedSet]:
    """Build one perturbed copy of `examples` per perturbation (see the module docstring for the label rules).

    `field`: which side to perturb, "hypothesis" (paper default), "premise" or "both". `perturb_kwargs` reach
    the role swap (e.g. `nlp=` a spaCy pipeline for raw text).
    """
    if field not in FIELDS:
        raise ValueError(f"field={field!r} is not valid; choose one of {FIELDS}.")
    sides = ("premise", "hypothesis") if field == "both" else (field,)
    sets = {}
    for name in validate_perturbation_names(perturbations):
        role_swap = find_perturbation(name).swaps_roles
        kept, premises, hypotheses, references, original_references, n_changed = [], [], [], [], [], 0
        for i, example in enumerate(examples):
            if role_swap and example.label != entailment_label:
                continue
            texts = {"premise": example.premise, "hypothesis": example.hypothesis}
            changed = []
            for side in sides:
                item = example.side(side)
                if role_swap and not _role_swap_allowed(item):
                    changed.append(False)
                    continue
                result = perturb(name, item, derive_seed(seed, i), **(perturb_kwargs if role_swap else {}))
                texts[side] = result.text
                changed.append(result.changed)
            if role_swap and not all(changed):
                continue  # Shuffle-SR's expected label is only defined when every requested side was swapped
            n_changed += any(changed)
            kept.append(i)
            premises.append(texts["premise"])
            hypotheses.append(texts["hypothesis"])
            original_references.append(example.label)
            references.append(example.label if not role_swap or field == "both" else contradiction_label)
        sets[name] = PerturbedSet(name, kept, premises, hypotheses, references, original_references, n_changed)
    return sets


# --------------------------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def predict_pairs(
    model: nn.Module,
    tokenizer,
    premises: Sequence[str],
    hypotheses: Sequence[str],
    *,
    batch_size: int = 64,
    max_length: int = 128,
    progress: bool = False,
) -> np.ndarray:
    """Predicted label ids for sentence pairs, batched (length-sorted to minimise padding), in input order."""
    model.eval()
    device = next(model.parameters()).device
    encoded = tokenizer(list(premises), list(hypotheses), truncation=True, max_length=max_length)
    order = np.argsort([len(ids) for ids in encoded["input_ids"]], kind="stable")
    predictions = np.empty(len(premises), dtype=np.int64)
    for start in tqdm(range(0, len(order), batch_size), desc="predict", disable=not progress):
        batch_index = order[start : start + batch_size]
        features = [{key: encoded[key][i] for key in encoded.keys()} for i in batch_index]
        batch = tokenizer.pad(features, return_tensors="pt")
        logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
        predictions[batch_index] = logits.argmax(-1).cpu().numpy()
    return predictions


# --------------------------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ProbeReport:
    """Results of the task-level probe: `original` (accuracy on all examples) and, per perturbation, the
    `stats.accuracy_shift` dictionary plus n_changed."""

    model: str
    original: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "kind": "nli",
            "model": self.model,
            "settings": self.settings,
            "original": self.original,
            "results": self.results,
        }


def _label_ids(model: nn.Module, entailment_label: int | None, contradiction_label: int | None) -> tuple[int, int]:
    """Use the model's own label names when it has them, else the GLUE convention (0 entailment, 2 contradiction)."""
    label2id = {str(k).lower(): int(v) for k, v in (getattr(model.config, "label2id", None) or {}).items()}
    if entailment_label is None:
        entailment_label = label2id.get("entailment", ENTAILMENT)
    if contradiction_label is None:
        contradiction_label = label2id.get("contradiction", CONTRADICTION)
    return entailment_label, contradiction_label


def _perturbed_set(examples: Sequence[NLIExample], name: str, report: ProbeReport, **kwargs) -> PerturbedSet | None:
    """`build_perturbed_sets` for one perturbation; None (recorded in `report`, with a warning) when it cannot run
    here (spaCy or its English pipeline missing for raw-text Shuffle-SR)."""
    try:
        (perturbed,) = build_perturbed_sets(examples, [name], **kwargs).values()
    except (ImportError, OSError) as error:
        warnings.warn(f"{name} skipped: {error}", stacklevel=3)
        report.results[name] = {"skipped": str(error)}
        return None
    return perturbed


def nli_probe(
    model: nn.Module,
    tokenizer,
    examples: Sequence[NLIExample],
    *,
    perturbations: Sequence[str] = PAPER_PERTURBATIONS,
    field: str = "hypothesis",
    seed: int = 0,
    n_resamples: int = stats.DEFAULT_RESAMPLES,
    batch_size: int = 64,
    max_length: int = 128,
    entailment_label: int | None = None,
    contradiction_label: int | None = None,
    model_name: str | None = None,
    progress: bool = False,
    **perturb_kwargs,
) -> ProbeReport:
    """Run the paper's probe: accuracy on the original and on each perturbed set, delta and bootstrap interval.

    Dataset labels must use the model's label ids; by default entailment/contradiction ids come from
    `model.config.label2id` when it names them, else 0/2 (GLUE). Shuffle-SR on raw text needs spaCy; if it is
    missing, Shuffle-SR is skipped with a warning and reported as `{"skipped": reason}`.
    """
    if not examples:
        raise ValueError("nli_probe needs at least one example; got none.")
    entailment_label, contradiction_label = _label_ids(model, entailment_label, contradiction_label)
    perturbations = validate_perturbation_names(perturbations)
    original_predictions = predict_pairs(
        model,
        tokenizer,
        [e.premise for e in examples],
        [e.hypothesis for e in examples],
        batch_size=batch_size,
        max_length=max_length,
        progress=progress,
    )
    labels = np.array([e.label for e in examples])
    report = ProbeReport(
        model=model_name or getattr(model.config, "_name_or_path", "") or type(model).__name__,
        original={
            "accuracy": float((original_predictions == labels).mean()) if len(labels) else float("nan"),
            "n": len(labels),
        },
        settings={
            "perturbations": list(perturbations),
            "field": field,
            "seed": seed,
            "n_resamples": n_resamples,
            "entailment_label": entailment_label,
            "contradiction_label": contradiction_label,
        },
    )
    label_kwargs = {"entailment_label": entailment_label, "contradiction_label": contradiction_label}
    for name in perturbations:
        perturbed = _perturbed_set(examples, name, report, field=field, seed=seed, **label_kwargs, **perturb_kwargs)
        if perturbed is None:
            continue
        predictions = predict_pairs(
            model,
            tokenizer,
            perturbed.premises,
            perturbed.hypotheses,
            batch_size=batch_size,
            max_length=max_length,
            progress=progress,
        )
        entry = stats.accuracy_shift(
            original_predictions[perturbed.indices],
            predictions,
            perturbed.references,
            perturbed.original_references,
            n_resamples=n_resamples,
            seed=seed,
        )
        entry["n_changed"] = perturbed.n_changed
        report.results[name] = entry
    return report


def perturbation_examples(
    examples: Sequence[NLIExample],
    perturbations: Sequence[str],
    *,
    field: str = "hypothesis",
    seed: int = 0,
    limit: int = 3,
    **perturb_kwargs,
) -> dict[str, list[dict[str, str]]]:
    """A few original -> perturbed pairs per perturbation, for reports and eyeballing."""
    out = {}
    for name, perturbed in build_perturbed_sets(
        examples, perturbations, field=field, seed=seed, **perturb_kwargs
    ).items():
        out[name] = [
            {"premise": p, "hypothesis": h, "original_hypothesis": examples[i].hypothesis}
            for i, p, h in list(zip(perturbed.indices, perturbed.premises, perturbed.hypotheses))[:limit]
        ]
    return out


__all__ = [
    "NLIExample",
    "PerturbedSet",
    "ProbeReport",
    "build_perturbed_sets",
    "load_nli_examples",
    "nli_probe",
    "predict_pairs",
    "perturbation_examples",
]

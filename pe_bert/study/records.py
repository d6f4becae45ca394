"""The numbers of a study's runs: one record per (variant, seed) from its stage results (`RunRecord`), and their
summaries over seeds per variant (`VariantSummary`); the record types are in `record_types.py`. Collecting only: the
tests are in `hypotheses.py`, the writing in `report.py`.

Units: probe accuracies and the word-order score are in points (percent, the paper's unit), as are probe effects;
fine-tuned task scores are fractions as run_glue reports them; locality and symmetry are fractions in [0, 1];
losses are in nats per masked token. Every summary over seeds has mean, sample std, n and a 95 % t interval.
"""

from __future__ import annotations

from ..analysis.capture import ATTENTION_SCORES
from ..analysis.probes.registry import perturbation_order
from . import statistics
from .record_types import (
    BudgetNumbers,
    NliProbe,
    PretrainLosses,
    RunRecord,
    TaskScore,
    VariantBudget,
    VariantSummary,
    ZeroShotProbe,
)
from .stages.budgets import budget_name, budget_stage

POINTS = 100.0

UNITS = {
    "probing, outcome": "accuracy points (percent) on the probing tasks' shared test split; word-order score = mean "
    "of the outcome tasks' probes (50 = order-blind, exactly; 100 = ceiling)",
    "budgets": "pretraining steps: every run's numbers at each budget (`budgets`), the final budget's at the top level",
    "design": "identical-token locality and symmetry (fractions) of each grid cell's PE, before pretraining",
    "probing_baselines": "accuracy points of a bag of words and bigrams on the same split, with the same classifier",
    "tasks": "fine-tuned task's main metric as a fraction (accuracy for the built-in tasks)",
    "locality, symmetry, symmetry_mass": "fraction in [0, 1]",
    "mlm_loss, unigram_loss, bayes_loss": "nats per masked token",
    "mlm_share": "share of the learnable signal captured: (unigram - model) / (unigram - Bayes)",
    "probe_nli_original, probe_nli_deltas": "accuracy points (percent); Δ = perturbed - original",
    "zero_shot_pll_preference": "percentage points: share of pairs whose original has the higher PLL, a tie counting "
    "half (50 = chance)",
    "zero_shot_drift": "1 - cosine similarity of mean-pooled states (fraction)",
    "ci95": "95 % Student-t interval of the mean over seeds",
}


def _points(value):
    return None if value is None else POINTS * value


def _probing(stage) -> dict:
    """A probing stage's results per task (`ProbeAccuracies`, None where not run), accuracies in points (also by
    dependency distance)."""
    tasks = {}
    for task, entry in (stage.tasks if stage is not None else {}).items():
        by_distance = entry.get("by_distance")
        tasks[task] = {
            **entry,
            "accuracy": _points(entry["accuracy"]),
            "by_distance": None
            if by_distance is None
            else {d: {**e, "accuracy": _points(e["accuracy"])} for d, e in by_distance.items()},
        }
    return tasks


def budget_numbers(stages: dict, steps: int, final: int, outcome_tasks) -> BudgetNumbers:
    """What a run measured of its model at one budget (`stages`: its typed stage results by name): masked-token loss,
    probes, the outcome, and (for pretrained models) the properties of its attention on sentences and on identical
    tokens."""
    probing = _probing(stages.get(budget_stage("probing", steps, final)))
    model = _scored_model(stages, steps)
    mlm = stages.get(budget_stage("mlm", steps, final))
    return BudgetNumbers(
        mlm=mlm.lengths if mlm is not None else {},
        probing=probing,
        outcome=outcome(probing, outcome_tasks),
        pretrained_scores={k: model.attention_score(k) if model is not None else None for k in ATTENTION_SCORES},
        position=_position(model).get("overall", {}),
    )


def _scored_model(stages: dict, steps: int):
    """The score stage's numbers of the model at `steps` (None where not scored)."""
    score = stages.get("score")
    return score.models.get(budget_name(steps)) if score is not None else None


def _position(model) -> dict:
    return (model.position if model is not None else None) or {}


def outcome(probing: dict, outcome_tasks) -> float | None:
    """The primary outcome of one run from its probe accuracies (points): their mean over the outcome tasks."""
    values = [(probing.get(task) or {}).get("accuracy") for task in outcome_tasks]
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def run_record(result, outcome_tasks) -> RunRecord:
    """The numbers of one (variant, seed) from its stage results: per budget in `budgets` (steps -> numbers),
    and the final budget's at the top level (what the exploratory tables, cards and plots read)."""
    stages = result.stages
    pretrain = stages.get("pretrain")
    metrics = (pretrain.metrics if pretrain is not None else None) or {}
    first = stages.get("pretrain") or stages.get("init")
    steps = sorted(int(k) for k in (first.checkpoints if first is not None else {}))
    budgets = {str(b): budget_numbers(stages, b, steps[-1], outcome_tasks) for b in steps}
    final = budgets[str(steps[-1])] if steps else budget_numbers({}, 0, 0, outcome_tasks)
    # the identical-token matrix the plots draw: the final model's, kept once per run (at the top level only)
    matrix = _position(_scored_model(stages, steps[-1])).get("mean_matrix") if steps else None
    tasks = {
        name.split(":", 1)[1]: TaskScore(metric=r.metric, score=r.score)
        for name, r in stages.items()
        if name.startswith("finetune:")
    }
    score = stages.get("score")
    probe = stages.get("probe")
    return RunRecord(
        variant=result.variant,
        position_encoding=result.position_encoding,
        overrides=result.overrides,
        seed=result.seed,
        trained=result.trained,
        failure=result.failure,
        pretrain=PretrainLosses(train_loss=metrics.get("train_loss"), eval_loss=metrics.get("eval_loss")),
        budgets=budgets,
        **final.shallow_fields(),
        position_matrix=matrix,
        tasks=tasks,
        finetuned_scores={
            task: {k: scores.attention_score(k) for k in ATTENTION_SCORES}
            for task, scores in (score.models if score is not None else {}).items()
            if task in tasks
        },
        probe_nli=_nli_probe((probe.nli if probe is not None else None) or {}),
        probe_zero_shot=_zero_shot_probes(probe.zero_shot if probe is not None else {}),
    )


def _nli_probe(nli: dict) -> NliProbe:
    """The NLI probe's accuracy on the original pairs and its changes per perturbation, in points."""
    results = {n: r for n, r in nli.get("results", {}).items() if "delta" in r}
    return NliProbe(
        original=_points(nli.get("original", {}).get("accuracy")),
        deltas={n: _points(r["delta"]) for n, r in results.items()},
        delta_ci={n: [_points(v) for v in r["delta_ci"]] if r.get("delta_ci") else None for n, r in results.items()},
    )


def _zero_shot_probes(zero_shot: dict) -> dict[str, ZeroShotProbe]:
    """The zero-shot probe per perturbation that ran, preferences in points."""
    probes = {}
    for name, result in zero_shot.get("results", {}).items():
        if "skipped" in result:
            continue
        pll = result.get("pll", {})
        probes[name] = ZeroShotProbe(
            pll_preference=_points(pll.get("preference")),
            pll_preference_ci=[_points(v) for v in pll["preference_ci"]] if pll.get("preference_ci") else None,
            wins=pll.get("wins"),
            losses=pll.get("losses"),
            ties=pll.get("ties"),
            outcomes=pll.get("outcomes"),
            sentences=pll.get("sentences"),
            drift=result.get("drift", {}).get("mean"),
            n_changed=result.get("n_changed"),
        )
    return probes


def _first_share(numbers: BudgetNumbers) -> float | None:
    """The masked-token share of the learnable signal at the pretraining length (None where not measured)."""
    first = next(iter(numbers.mlm or {}), None)
    return None if first is None else numbers.mlm[first].get("share")


def _mlm_summary(rows: list[RunRecord]) -> dict[str, dict]:
    """Per masked-token length: its loss and share over seeds where every seed measured it, else why not."""
    mlm = {}
    for m in sorted({m for r in rows for m in r.mlm}, key=int):
        entries = [r.mlm.get(m, {}) for r in rows]
        applicable = all(e.get("applicable", False) for e in entries)
        mlm[m] = {"length": next((e["length"] for e in entries if "length" in e), None), "applicable": applicable}
        if applicable:
            mlm[m]["loss"] = statistics.summarize([e.get("loss") for e in entries])
            mlm[m]["share"] = statistics.summarize([e.get("share") for e in entries])
        else:
            mlm[m]["reason"] = next((e.get("reason") for e in entries if e.get("reason")), "not measured")
    return mlm


def _accuracy(numbers: BudgetNumbers | RunRecord, task: str) -> float | None:
    return (numbers.probing.get(task) or {}).get("accuracy")


def _budget_summary(rows: list[RunRecord], budget: str, probing: list[str]) -> VariantBudget:
    """A variant's outcome, probes and masked-token share at one budget over its seeds."""
    numbers = [r.at(budget) for r in rows]
    return VariantBudget(
        outcome=statistics.summarize([n.outcome for n in numbers]),
        probing={t: statistics.summarize([_accuracy(n, t) for n in numbers]) for t in probing},
        share=statistics.summarize([_first_share(n) for n in numbers]),
    )


def aggregate(records: list[RunRecord], tasks: list[str]) -> dict[str, VariantSummary]:
    """Per variant: every number summarised over its seeds (failed runs left out)."""
    variants: dict[str, VariantSummary] = {}
    for label in dict.fromkeys(r.variant for r in records):
        all_rows = [r for r in records if r.variant == label]
        rows = [r for r in all_rows if not r.failure]
        nli = sorted({p for r in rows for p in r.probe_nli.deltas}, key=perturbation_order)
        zero_shot = sorted({p for r in rows for p in r.probe_zero_shot}, key=perturbation_order)
        probing = list(dict.fromkeys(t for r in rows for t in r.probing))
        budgets = sorted({b for r in rows for b in r.budgets}, key=int)
        variants[label] = VariantSummary(
            position_encoding=all_rows[0].position_encoding,
            trained=all_rows[0].trained,
            budgets={b: _budget_summary(rows, b, probing) for b in budgets},
            overrides=all_rows[0].overrides,
            seeds=[r.seed for r in rows],
            mlm=_mlm_summary(rows),
            attention={k: statistics.summarize([r.pretrained_scores[k] for r in rows]) for k in ATTENTION_SCORES},
            position={k: statistics.summarize([r.position.get(k) for r in rows]) for k in ATTENTION_SCORES},
            probing={t: statistics.summarize([_accuracy(r, t) for r in rows]) for t in probing},
            outcome=statistics.summarize([r.outcome for r in rows]),
            tasks={t: statistics.summarize([_task_score(r, t) for r in rows]) for t in tasks},
            probe_nli_original=statistics.summarize([r.probe_nli.original for r in rows]),
            probe_nli_deltas={p: statistics.summarize([r.probe_nli.deltas.get(p) for r in rows]) for p in nli},
            zero_shot_pll_preference={
                p: statistics.summarize([_zero_shot(r, p, "pll_preference") for r in rows]) for p in zero_shot
            },
            zero_shot_drift={p: statistics.summarize([_zero_shot(r, p, "drift") for r in rows]) for p in zero_shot},
        )
    return variants


def _task_score(record: RunRecord, task: str) -> float | None:
    entry = record.tasks.get(task)
    return entry.score if entry is not None else None


def _zero_shot(record: RunRecord, perturbation: str, name: str) -> float | None:
    """One number of a run's zero-shot probe of `perturbation` (None where that probe did not run)."""
    probe = record.probe_zero_shot.get(perturbation)
    return getattr(probe, name) if probe is not None else None


__all__ = ["POINTS", "UNITS", "aggregate", "budget_numbers", "run_record"]

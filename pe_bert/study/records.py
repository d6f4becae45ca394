"""The numbers of a study's runs: one record per (variant, seed) from its stage results, and their summaries over
seeds per variant. Collecting only: the tests are in `hypotheses.py`, the writing in `report.py`.

Units: probe accuracies and the word-order score are in points (percent, the paper's unit), as are probe effects;
fine-tuned task scores are fractions as run_glue reports them; locality and symmetry are fractions in [0, 1];
losses are in nats per masked token. Every summary over seeds has mean, sample std, n and a 95 % t interval.
"""

from __future__ import annotations

from ..analysis.capture import ATTENTION_SCORES
from ..analysis.probes.registry import perturbation_order
from . import statistics
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


def budget_numbers(stages: dict, steps: int, final: int, outcome_tasks) -> dict:
    """What a run measured of its model at one budget (`stages`: its typed stage results by name): masked-token loss,
    probes, the outcome, and (for pretrained models) the properties of its attention on sentences and on identical
    tokens."""
    probing = _probing(stages.get(budget_stage("probing", steps, final)))
    score = stages.get("score")
    model = score.models.get(budget_name(steps)) if score is not None else None
    position = (model.position if model is not None else None) or {}
    mlm = stages.get(budget_stage("mlm", steps, final))
    numbers = {
        "mlm": mlm.lengths if mlm is not None else {},
        "probing": probing,
        "outcome": outcome(probing, outcome_tasks),
        "pretrained_scores": {k: model.attention_score(k) if model is not None else None for k in ATTENTION_SCORES},
        "position": position.get("overall", {}),
    }
    if steps == final:  # the identical-token matrix the plots draw: the final model's (kept once per run)
        numbers["position_matrix"] = position.get("mean_matrix")
    return numbers


def outcome(probing: dict, outcome_tasks) -> float | None:
    """The primary outcome of one run from its probe accuracies (points): their mean over the outcome tasks."""
    values = [(probing.get(task) or {}).get("accuracy") for task in outcome_tasks]
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def run_record(result, outcome_tasks) -> dict:
    """The numbers of one (variant, seed) from its stage results: per budget in `budgets` (steps -> numbers),
    and the final budget's at the top level (what the exploratory tables, cards and plots read)."""
    stages = result.stages
    record = {
        "variant": result.variant,
        "position_encoding": result.position_encoding,
        "overrides": result.overrides,
        "seed": result.seed,
        "trained": result.trained,
        "failure": result.failure,
    }
    pretrain = stages.get("pretrain")
    metrics = (pretrain.metrics if pretrain is not None else None) or {}
    record["pretrain"] = {"train_loss": metrics.get("train_loss"), "eval_loss": metrics.get("eval_loss")}
    first = stages.get("pretrain") or stages.get("init")
    steps = sorted(int(k) for k in (first.checkpoints if first is not None else {}))
    record["budgets"] = {str(b): budget_numbers(stages, b, steps[-1], outcome_tasks) for b in steps}
    final = record["budgets"][str(steps[-1])] if steps else budget_numbers({}, 0, 0, outcome_tasks)
    record.update(final)
    final.pop("position_matrix", None)  # at the top level only
    record["tasks"] = {
        name.split(":", 1)[1]: {"metric": r.metric, "score": r.score}
        for name, r in stages.items()
        if name.startswith("finetune:")
    }
    score = stages.get("score")
    record["finetuned_scores"] = {
        task: {k: scores.attention_score(k) for k in ATTENTION_SCORES}
        for task, scores in (score.models if score is not None else {}).items()
        if task in record["tasks"]
    }
    probe = stages.get("probe")
    nli = (probe.nli if probe is not None else None) or {}
    results = {n: r for n, r in nli.get("results", {}).items() if "delta" in r}
    record["probe_nli"] = {
        "original": _points(nli.get("original", {}).get("accuracy")),
        "deltas": {n: _points(r["delta"]) for n, r in results.items()},
        "delta_ci": {n: [_points(v) for v in r["delta_ci"]] if r.get("delta_ci") else None for n, r in results.items()},
    }
    zero_shot = probe.zero_shot if probe is not None else {}
    zero = {n: r for n, r in zero_shot.get("results", {}).items() if "skipped" not in r}
    record["probe_zero_shot"] = {
        n: {
            "pll_preference": _points(r.get("pll", {}).get("preference")),
            "pll_preference_ci": [_points(v) for v in r["pll"]["preference_ci"]]
            if r.get("pll", {}).get("preference_ci")
            else None,
            **{k: r.get("pll", {}).get(k) for k in ("wins", "losses", "ties")},
            # pair by pair (+1 the original wins, -1 it loses, 0 a tie) and which sentence each pair is
            "outcomes": r.get("pll", {}).get("outcomes"),
            "sentences": r.get("pll", {}).get("sentences"),
            "drift": r.get("drift", {}).get("mean"),
            "n_changed": r.get("n_changed"),
        }
        for n, r in zero.items()
    }
    return record


def _first_share(numbers: dict) -> float | None:
    """The masked-token share of the learnable signal at the pretraining length (None where not measured)."""
    first = next(iter(numbers.get("mlm") or {}), None)
    return None if first is None else numbers["mlm"][first].get("share")


def aggregate(records: list[dict], tasks: list[str]) -> dict:
    """Per variant: every number summarised over its seeds (failed runs left out)."""
    variants: dict[str, dict] = {}
    for label in dict.fromkeys(r["variant"] for r in records):
        all_rows = [r for r in records if r["variant"] == label]
        rows = [r for r in all_rows if not r["failure"]]
        multiples = sorted({m for r in rows for m in r["mlm"]}, key=int)
        nli = sorted({p for r in rows for p in r["probe_nli"]["deltas"]}, key=perturbation_order)
        zero_shot = sorted({p for r in rows for p in r["probe_zero_shot"]}, key=perturbation_order)
        probing = list(dict.fromkeys(t for r in rows for t in r["probing"]))
        mlm = {}
        for m in multiples:
            entries = [r["mlm"].get(m, {}) for r in rows]
            applicable = all(e.get("applicable", False) for e in entries)
            mlm[m] = {"length": next((e["length"] for e in entries if "length" in e), None), "applicable": applicable}
            if applicable:
                mlm[m]["loss"] = statistics.summarize([e.get("loss") for e in entries])
                mlm[m]["share"] = statistics.summarize([e.get("share") for e in entries])
            else:
                mlm[m]["reason"] = next((e.get("reason") for e in entries if e.get("reason")), "not measured")
        budgets = sorted({b for r in rows for b in r["budgets"]}, key=int)
        variants[label] = {
            "position_encoding": all_rows[0]["position_encoding"],
            "trained": all_rows[0]["trained"],
            "budgets": {
                b: {
                    "outcome": statistics.summarize([r["budgets"].get(b, {}).get("outcome") for r in rows]),
                    "probing": {
                        t: statistics.summarize(
                            [(r["budgets"].get(b, {}).get("probing", {}).get(t) or {}).get("accuracy") for r in rows]
                        )
                        for t in probing
                    },
                    "share": statistics.summarize([_first_share(r["budgets"].get(b, {})) for r in rows]),
                }
                for b in budgets
            },
            "overrides": all_rows[0]["overrides"],
            "seeds": [r["seed"] for r in rows],
            "mlm": mlm,
            **{k: statistics.summarize([r["pretrained_scores"][k] for r in rows]) for k in ATTENTION_SCORES},
            "position": {k: statistics.summarize([r["position"].get(k) for r in rows]) for k in ATTENTION_SCORES},
            "probing": {
                t: statistics.summarize([(r["probing"].get(t) or {}).get("accuracy") for r in rows]) for t in probing
            },
            "outcome": statistics.summarize([r["outcome"] for r in rows]),
            "tasks": {t: statistics.summarize([r["tasks"].get(t, {}).get("score") for r in rows]) for t in tasks},
            "probe_nli_original": statistics.summarize([r["probe_nli"]["original"] for r in rows]),
            "probe_nli_deltas": {p: statistics.summarize([r["probe_nli"]["deltas"].get(p) for r in rows]) for p in nli},
            "zero_shot_pll_preference": {
                p: statistics.summarize([r["probe_zero_shot"].get(p, {}).get("pll_preference") for r in rows])
                for p in zero_shot
            },
            "zero_shot_drift": {
                p: statistics.summarize([r["probe_zero_shot"].get(p, {}).get("drift") for r in rows]) for p in zero_shot
            },
        }
    return variants


__all__ = ["POINTS", "UNITS", "aggregate", "run_record"]

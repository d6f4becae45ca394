"""Model cards with the study's measured numbers for every pretrained checkpoint, and pushing them to the Hub.

Each pushed repo (`ORG/bert-<variant>`, plus `-seed<k>` when there are several seeds) holds the safetensors
weights, the tokenizer, the model code that `save_pretrained` wrote for `trust_remote_code`, and the card.
"""

from __future__ import annotations

from ..analysis.capture import ATTENTION_SCORES, METRIC_TITLES
from .record_types import RunRecord, runs_of
from .report import fmt

# Training by-products that do not belong in a published model repo.
UPLOAD_IGNORE = ["checkpoint-*", "steps-*", "*.pt", "*.bin", "runs/*", "result.json", "DONE.json"]


def repo_name(study, variant: str, seed: int) -> str:
    suffix = f"-seed{seed}" if len(study.config.seeds) > 1 else ""
    return f"bert-{variant}{suffix}"


def analysis_section(record: RunRecord) -> str:
    """Markdown with the measured positional properties, task scores and probes of one checkpoint."""
    fine_tuned = "; task scores from copies of it fine-tuned on each task" if record.tasks else ""
    lines = [
        "",
        "## Positional analysis (pe_bert study)",
        "",
        "Measured by `pe-bert study` on held-out built-in sentences (attention of this pretrained model, all "
        f"layers and heads, special tokens kept){fine_tuned}.",
        "",
        "| measure | value |",
        "|---|---|",
    ]
    for key in ATTENTION_SCORES:
        lines.append(f"| {METRIC_TITLES[key]} | {fmt(record.pretrained_scores[key])} |")
    for task, entry in record.probing.items():
        lines.append(f"| frozen-feature probe: {task} accuracy (%) | {fmt(entry['accuracy'], 1)} |")
    for entry in record.mlm.values():
        if entry.get("applicable"):
            lines.append(f"| masked-token loss at {entry['length']} tokens (nats) | {fmt(entry['loss'])} |")
    for task, score in record.tasks.items():
        lines.append(f"| {task} dev {score.metric} (fine-tuned) | {fmt(score.score)} |")
    if record.probe_nli.original is not None:
        lines.append(f"| NLI probe: original accuracy (%) | {fmt(record.probe_nli.original, 1)} |")
        for name, delta in record.probe_nli.deltas.items():
            lines.append(f"| NLI probe: Δ accuracy, {name} (points) | {fmt(delta, 1)} |")
    for name, probe in record.probe_zero_shot.items():
        lines.append(f"| zero-shot PLL preference for the original over {name} (%) | {fmt(probe.pll_preference, 1)} |")
    return "\n".join(lines) + "\n"


def write_model_cards(study, results, summary: dict) -> dict:
    """Write README.md (card + analysis) into every finished pretrained checkpoint (a step after the report)."""
    from transformers import AutoConfig

    from ..model_card import render_model_card

    cards = {}
    for result, record in zip(results, runs_of(summary)):
        if result.failure or "pretrain" not in result.stages:
            continue
        pretrained = result.stages["pretrain"]
        folder = study.store.resolve(pretrained.path)
        name = repo_name(study, record.variant, record.seed)
        repo_id = f"{study.config.hub_org}/{name}" if study.config.hub_org else name
        metrics = dict(pretrained.metrics or {})
        for task, score in record.tasks.items():
            if score.score is not None:
                metrics[f"eval_{task}_{score.metric}"] = score.score
        card = render_model_card(
            AutoConfig.from_pretrained(folder),
            task="fill-mask",
            metrics=metrics,
            dataset_name=study.config.dataset_name or "pe_bert built-in corpus",
            model_name=name,
            dataset_id=study.config.dataset_name,
            dataset_config=study.config.dataset_config_name,
            repo_id=repo_id,
            training={"pretrain_steps": study.config.pretrain_steps, "seed": record.seed},
        )
        card.text = card.text.rstrip() + "\n" + analysis_section(record)
        readme = folder / "README.md"
        if readme.is_symlink():  # the card is not checksummed (it is rewritten): never write through a link
            readme.unlink()
        card.save(readme)
        cards[name] = study.store.relative(folder / "README.md")
    return cards


def push_checkpoints(study, results, summary: dict) -> list[str]:
    """Create `ORG/bert-<variant>` repos and upload each checkpoint folder with its card (needs a Hub token): the
    study's last step, after the report and the model cards."""
    from huggingface_hub import HfApi

    api = HfApi()
    pushed = []
    for result, record in zip(results, runs_of(summary)):
        if result.failure or "pretrain" not in result.stages:
            continue
        repo_id = f"{study.config.hub_org}/{repo_name(study, record.variant, record.seed)}"
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(
            folder_path=str(study.store.resolve(result.stages["pretrain"].path)),
            repo_id=repo_id,
            commit_message=f"pe_bert study: {record.variant} (seed {record.seed})",
            ignore_patterns=UPLOAD_IGNORE,
        )
        pushed.append(repo_id)
    return pushed

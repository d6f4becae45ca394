"""`pe-bert study --dry-run`: what a study would compute, how big each stage is and what it would cost, before it
runs. Nothing is trained; stored stages are verified (checksums) as a real run would.

Estimates, stated as such: training costs 6 FLOPs per parameter per token (forward and backward) plus the attention
scores (12 x layers x hidden x sequence length per token); inference 2 per parameter per token plus a third of the
attention term. GPU-hours divide the FLOPs by the assumed throughput (`assumed_tflops`, TFLOP/s per GPU; 100 is about
a third of an A100's bf16 peak). Peak memory of a training job: fp32 weights, gradients and two Adam moments (16
bytes per parameter) plus the activations saved for the backward pass (about 4 x batch x sequence x layers x
(16 x hidden + 2 x heads x sequence) bytes in fp32).
"""

from __future__ import annotations

from functools import lru_cache

# Tokens an inference stage reads, per sentence or example (the built-in sentences average about 9 words).
TOKENS_PER_SENTENCE = 12


@lru_cache(maxsize=64)
def _parameters(config_items: tuple) -> tuple[int, int]:
    """(all parameters, those outside the embedding tables) of the masked LM a study builds, on the meta device."""
    import torch
    from transformers import AutoModelForMaskedLM

    from ..configuration import PEBertConfig

    with torch.device("meta"):
        model = AutoModelForMaskedLM.from_config(PEBertConfig(**dict(config_items)))
    embeddings = sum(p.numel() for name, p in model.named_parameters() if "word_embeddings" in name)
    total = sum(p.numel() for p in model.parameters())
    return total, total - embeddings


def _vocabulary_size(config) -> int:
    if config.builtin_corpus and not config.tokenizer_name:
        from ..training.tokenizer import SPECIAL_TOKENS

        return len(config.builtin_vocabulary()) + len(SPECIAL_TOKENS)
    return config.tokenizer_vocab_size


def _probe_sentences(config) -> int:
    """Sentences the probe stage reads: the zero-shot probe's originals and their perturbations, each read once per
    token (a pseudo-log-likelihood masks every token in turn), and the NLI probe's pairs, original and perturbed."""
    from ..analysis.probes.registry import DEFAULT_ZERO_SHOT_PERTURBATIONS, PAPER_PERTURBATIONS

    zero_shot = config.probe_zero_shot_sentences * (1 + len(DEFAULT_ZERO_SHOT_PERTURBATIONS)) * TOKENS_PER_SENTENCE
    return zero_shot + config.probe_examples * (1 + len(PAPER_PERTURBATIONS))


def _stage_size(config, stage: str, parameters: int) -> dict:
    """Steps, tokens and FLOPs of one stage of a unit."""
    layers, hidden = config.num_hidden_layers, config.hidden_size
    kind = stage.split(":", 1)[0]
    if kind == "pretrain":
        steps, length = config.budgets()[-1], config.max_seq_length
        tokens = steps * config.pretrain_batch_size * length
    elif kind == "finetune":
        steps, length = config.finetune_steps, config.max_position_embeddings
        tokens = steps * config.finetune_batch_size * length
    else:
        steps, length = 0, config.max_seq_length
        sentences = {
            "mlm": config.eval_sentences * len(config.length_multiples),
            "probing": len(config.probing_tasks) * (config.probing_train_sentences + config.probing_test_sentences),
            "score": config.analysis_sentences * (len(config.budgets()) + len(config.tasks)),
            "probe": _probe_sentences(config),
        }.get(kind, 0)
        tokens = sentences * TOKENS_PER_SENTENCE
    attention = 12 * layers * hidden * length
    flops = tokens * ((6 * parameters + attention) if steps else (2 * parameters + attention / 3))
    return {"steps": steps, "tokens": tokens, "flops": float(flops)}


def training_memory_bytes(config, parameters: int) -> int:
    """Estimated peak memory of the study's largest training job (module docstring)."""
    jobs = [(config.pretrain_batch_size, config.max_seq_length)]
    if config.tasks:
        jobs.append((config.finetune_batch_size, config.max_position_embeddings))
    activations = max(
        4
        * batch
        * length
        * config.num_hidden_layers
        * (16 * config.hidden_size + 2 * config.num_attention_heads * length)
        for batch, length in jobs
    )
    return 16 * parameters + activations


def describe(config, stages: list[dict]) -> dict:
    """Sizes and estimates for `stages` (dicts of unit, stage, stored and, for unit stages, the variant's spec)."""
    vocabulary = _vocabulary_size(config)
    rows, peak = [], 0
    for entry in stages:
        row = {"unit": entry["unit"], "stage": entry["stage"], "stored": entry["stored"]}
        spec = entry.get("spec")
        if spec is not None:
            total, _ = _parameters(
                tuple(sorted({**config.model_kwargs(), **spec.config_kwargs(), "vocab_size": vocabulary}.items()))
            )
            row.update(parameters=total, **_stage_size(config, entry["stage"], total))
            peak = max(peak, training_memory_bytes(config, total))
        rows.append(row)
    to_run = [r for r in rows if not r["stored"]]
    flops = sum(r.get("flops", 0.0) for r in to_run)
    return {
        "rows": rows,
        "to_run": len(to_run),
        "stored": len(rows) - len(to_run),
        "flops": flops,
        "gpu_hours": flops / (config.assumed_tflops * 1e12) / 3600,
        "assumed_tflops": config.assumed_tflops,
        "peak_memory_bytes": peak,
        "launcher": config.launcher,
    }


def _human(value: float, unit: str = "") -> str:
    for scale, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}{unit}"
    return f"{value:.3g}{unit}"


def render(plan: dict) -> str:
    """The plan as the console shows it: one line per stage, then the totals."""
    lines = [
        f"{'unit':<28} {'stage':<24} {'status':<7} {'params':>8} {'steps':>7} {'tokens':>8} {'FLOPs':>8} {'GPU-h':>9}"
    ]
    for row in plan["rows"]:
        status = "stored" if row["stored"] else "to run"
        if "parameters" not in row:
            lines.append(f"{row['unit']:<28} {row['stage']:<24} {status:<7}")
            continue
        hours = row["flops"] / (plan["assumed_tflops"] * 1e12) / 3600
        lines.append(
            f"{row['unit']:<28} {row['stage']:<24} {status:<7} {_human(row['parameters']):>8} "
            f"{row['steps'] or '-':>7} {_human(row['tokens']):>8} {_human(row['flops']):>8} {hours:>9.2g}"
        )
    lines.append(
        f"\nTo run: {plan['to_run']} stages ({plan['stored']} stored), {_human(plan['flops'])}FLOPs, "
        f"{plan['gpu_hours']:.3g} GPU-hours at {plan['assumed_tflops']:g} TFLOP/s per GPU (launcher: "
        f"{plan['launcher']}). Peak memory of a training job: about "
        f"{_human(plan['peak_memory_bytes'], 'B')} (estimated). Nothing was trained."
    )
    return "\n".join(lines)


__all__ = ["describe", "render", "training_memory_bytes"]

"""``pe-bert analyze``: locality and symmetry of a model's attention, written to a folder.

    pe-bert analyze MODEL (--text-file FILE | --builtin N) --out DIR [--drop-special-tokens] [--max-length L]

writes ``DIR/scores.json`` (per layer x head and overall scores, plus identical-token probing),
``DIR/heatmaps.png`` (layer x head heatmaps), ``DIR/position_attention.png`` (identical-token
attention matrices) and ``DIR/summary.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

from ..errors import InvalidInputError
from ..inputs import check_length, check_vocabulary, load_pretrained, non_negative_int, positive_int, read_lines

__all__ = ["load_encoder", "register", "run_analyze"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "analyze",
        help="locality & symmetry of a model's attention (per layer and head)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="model directory or Hub id (loaded with AutoModel / AutoTokenizer)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--text-file", type=Path, help="UTF-8 text file, one sentence per line (blank lines skipped)")
    source.add_argument(
        "--builtin", type=positive_int, metavar="N", help="use N sentences of pe_bert's built-in generated corpus"
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory (created if needed)")
    parser.add_argument(
        "--drop-special-tokens", action="store_true", help="score without [CLS]/[SEP] (rows renormalised)"
    )
    parser.add_argument(
        "--max-length", type=positive_int, default=128, help="truncate sentences to L tokens (default 128)"
    )
    parser.add_argument("--batch-size", type=positive_int, default=32)
    parser.add_argument("--seed", type=int, default=0, help="seed of the --builtin corpus")
    parser.add_argument(
        "--position-length",
        type=non_negative_int,
        default=32,
        help="length of the identical-token probe (0 to skip; default 32)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.set_defaults(func=run_analyze)


def _read_texts(args) -> list[str]:
    if args.text_file is not None:
        return read_lines(args.text_file, "--text-file")
    from pe_bert.data import generate_sentences

    return [sentence.text for sentence in generate_sentences(args.builtin, seed=args.seed)]


# What a pretraining checkpoint loaded as an encoder (AutoModel) does not use, and what it never had: its MLM head,
# and BERT's pooler (the analysis reads attention only). transformers reports them in a LOAD REPORT table on every
# load; only other differences are worth the user's attention.
EXPECTED_UNUSED = ("cls.",)
EXPECTED_MISSING = ("pooler.",)


class _HoldLoadReport(logging.Filter):
    """Keeps transformers' LOAD REPORT back, to be shown only when it reports more than the expected keys."""

    def __init__(self):
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if "LOAD REPORT" in record.getMessage():
            self.records.append(record)
            return False
        return True


def load_encoder(source: str):
    """`AutoModel.from_pretrained(source)` (a one-line error when it cannot be loaded), silent about the keys every
    pretraining checkpoint leaves unused or missing as an encoder (`EXPECTED_UNUSED`, `EXPECTED_MISSING`)."""
    from transformers import AutoModel

    report = logging.getLogger("transformers.modeling_utils")
    held = _HoldLoadReport()
    report.addFilter(held)
    try:
        model, info = load_pretrained(AutoModel.from_pretrained, source, "model", output_loading_info=True)
    finally:
        report.removeFilter(held)
    unexpected = [k for k in info.get("unexpected_keys", ()) if not k.startswith(EXPECTED_UNUSED)]
    missing = [k for k in info.get("missing_keys", ()) if not k.startswith(EXPECTED_MISSING)]
    if unexpected or missing or info.get("mismatched_keys"):
        for record in held.records:
            report.handle(record)
    return model


def _format(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def _summary(model_name: str, scores, probe, args) -> str:
    lines = [
        f"# Attention analysis: `{model_name}`",
        "",
        f"{scores.num_sentences} sentences ({'built-in corpus' if args.builtin else args.text_file}) of up to "
        f"{scores.options['longest']} tokens (truncated at {scores.options['max_length']}), special tokens "
        f"{'dropped' if args.drop_special_tokens else 'kept'}; "
        f"{scores.num_matrices} attention matrices ({len(scores.layers)} layers x {scores.locality.shape[1]} heads).",
        "",
        "| metric | mean | min head | max head |",
        "|---|---|---|---|",
    ]
    for name, label in (
        ("locality", "locality"),
        ("symmetry", "symmetry (published)"),
        ("symmetry_mass", "symmetry (mass)"),
    ):
        values = getattr(scores, name)
        finite = values[~values.isnan()]
        low = float(finite.min()) if finite.numel() else float("nan")
        high = float(finite.max()) if finite.numel() else float("nan")
        lines.append(f"| {label} | {_format(scores.overall(name))} | {_format(low)} | {_format(high)} |")
    if scores.num_degenerate or scores.num_empty:
        lines += [
            "",
            f"{scores.num_degenerate} sentences of <= 2 tokens have no symmetry and were left out of its means; "
            f"{scores.num_empty} empty sentences were skipped.",
        ]
    if probe is not None:
        lines += [
            "",
            f"## Identical-token probe (n = {probe.seq_len}, token id {probe.token_id})",
            "",
            "| property | mean over layers and heads |",
            "|---|---|",
        ]
        lines += [f"| {name} | {_format(probe.mean(name))} |" for name in probe.scores]
    lines += [
        "",
        "Files: `scores.json`, `heatmaps.png`" + (", `position_attention.png`" if probe is not None else "") + ".",
    ]
    return "\n".join(lines) + "\n"


def run_analyze(args) -> int:
    from transformers import AutoTokenizer

    import pe_bert  # noqa: F401  (registers pe_bert models with the Auto classes)

    from . import position_attention, score_attention

    texts = _read_texts(args)
    model = load_encoder(args.model)
    tokenizer = load_pretrained(AutoTokenizer.from_pretrained, args.model, "model")
    check_vocabulary(tokenizer, model, args.model)
    check_length(model, args.max_length, "--max-length")
    shortest = tokenizer.num_special_tokens_to_add() + 2
    if args.max_length < shortest:  # below it the tokenizer cannot truncate and would score whole sentences
        raise InvalidInputError(
            f"--max-length {args.max_length} leaves no room for two words beside the "
            f"{shortest - 2} special tokens: give --max-length {shortest} or more."
        )
    check_length(model, args.position_length, "--position-length")
    scores = score_attention(
        model,
        tokenizer,
        texts,
        batch_size=args.batch_size,
        max_length=args.max_length,
        drop_special_tokens=args.drop_special_tokens,
        progress=not args.no_progress,
    )
    probe = position_attention(model, args.position_length) if args.position_length > 0 else None

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    report = {"model": args.model, "attention": scores.to_dict()}
    if probe is not None:
        report["position_attention"] = probe.to_dict()
        probe.plot(out / "position_attention.png")
    (out / "scores.json").write_text(json.dumps(report, indent=2) + "\n")
    scores.plot(out / "heatmaps.png", title=f"{args.model}: attention over {scores.num_sentences} sentences")
    (out / "summary.md").write_text(_summary(args.model, scores, probe, args))
    print(
        f"locality {_format(scores.mean_locality)}, symmetry {_format(scores.mean_symmetry)} "
        f"(mass {_format(scores.mean_symmetry_mass)}) over {scores.num_sentences} sentences -> {out}"
    )
    return 0

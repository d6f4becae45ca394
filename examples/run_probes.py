#!/usr/bin/env python
"""Word-order probes for several models at once: the paper's table with one row per model, plus a chart each.

    # NLI classifiers (e.g. fine-tuned with examples/run_glue.py on builtin_nli, snli or mnli)
    python examples/run_probes.py out/nli-rope out/nli-learned --task nli --dataset builtin_nli --out probes

    # any masked LM or encoder, no fine-tuning
    python examples/run_probes.py out/mlm-rope path/to/all-MiniLM-L6-v2 --task zero-shot --out probes-zs

    # self-contained demo (offline, CPU, a few minutes): fine-tune small PE-BERT classifiers from scratch on the
    # built-in NLI task, one per positional encoding, then probe them
    python examples/run_probes.py --demo learned,rope,none --out probes-demo

Writes OUT/table.md, OUT/results.json (all reports) and OUT/<model>.png. For one model, `pe-bert probe` does the same.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402

import pe_bert  # noqa: E402
from pe_bert.analysis.probes import (  # noqa: E402
    load_nli_examples,
    markdown_table,
    nli_probe,
    plot_deltas,
    zero_shot_probe,
)
from pe_bert.analysis.probes.cli import load_model  # noqa: E402
from pe_bert.data import generate_sentences  # noqa: E402

DEMO_DATA = {"num_train": 6000, "num_validation": 600, "num_test": 0}


def demo_tokenizer() -> transformers.PreTrainedTokenizerBase:
    """A WordPiece tokenizer learned offline from the built-in corpus (pe_bert.training's trainer)."""
    from pe_bert.data import builtin_corpus
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    corpus = builtin_corpus(4000, seed=0)
    texts = [row["text"] for row in corpus["train"]]
    return train_wordpiece_tokenizer(texts, vocab_size=2000)


DEMO_SHAPE = {"hidden_size": 128, "num_hidden_layers": 4, "num_attention_heads": 4, "intermediate_size": 256}


def fine_tune_demo_model(
    position_encoding: str,
    tokenizer,
    epochs: int,
    seed: int = 0,
    *,
    shape: dict = DEMO_SHAPE,
    data: dict = DEMO_DATA,
    max_lr: float = 1e-3,
):
    """A PE-BERT (4 layers x 128 by default) trained from scratch on builtin_nli with a plain loop (CPU: a couple of
    minutes); the tests train a tiny one with the same code.

    For real checkpoints use examples/run_mlm.py (pretraining) and examples/run_glue.py (fine-tuning)."""
    torch.manual_seed(seed)
    config = pe_bert.PEBertConfig(
        position_encoding=position_encoding,
        vocab_size=tokenizer.vocab_size,
        max_position_embeddings=128,
        num_labels=3,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
        label2id={"entailment": 0, "neutral": 1, "contradiction": 2},
        **shape,
    )
    model = transformers.AutoModelForSequenceClassification.from_config(config)
    train = load_nli_examples("builtin_nli", split="train", seed=seed, **data)
    encoded = tokenizer([e.premise for e in train], [e.hypothesis for e in train], truncation=True, max_length=64)
    labels = torch.tensor([e.label for e in train])
    optimizer = torch.optim.AdamW(model.parameters(), lr=max_lr, weight_decay=0.01)
    steps = epochs * ((len(train) + 31) // 32)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        for batch_index in torch.randperm(len(train), generator=generator).split(32):
            batch = tokenizer.pad(
                [{k: encoded[k][i] for k in encoded.keys()} for i in batch_index.tolist()], return_tensors="pt"
            )
            model(**batch, labels=labels[batch_index]).loss.backward()
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*", help="model folders or Hub ids")
    parser.add_argument("--task", choices=("nli", "zero-shot"), default="nli")
    parser.add_argument("--dataset", default="builtin_nli", help="nli: builtin_nli, snli, mnli or a local file")
    parser.add_argument("--field", choices=("hypothesis", "premise", "both"), default="hypothesis")
    parser.add_argument("--num-examples", type=int, default=600)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--demo", default=None, help="comma-separated PEs to fine-tune from scratch and probe")
    parser.add_argument("--demo-epochs", type=int, default=4)
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (1 is much faster on a machine shared with other jobs)",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.models and not args.demo:
        parser.error("give model folders, or --demo learned,rope,none")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    candidates = []  # (name, model, tokenizer, trained MLM head)
    if args.demo:
        tokenizer = demo_tokenizer()
        for position_encoding in args.demo.split(","):
            start = time.perf_counter()
            model = fine_tune_demo_model(position_encoding, tokenizer, args.demo_epochs, args.seed)
            print(f"fine-tuned {position_encoding} in {time.perf_counter() - start:.0f}s")
            candidates.append((f"pe_bert-{position_encoding} (4x128)", model, tokenizer, False))
    for folder in args.models:
        model, tokenizer, trained_head = load_model(folder, args.task)
        candidates.append((Path(folder).name or folder, model, tokenizer, trained_head))

    reports = []
    if args.task == "nli":
        data = DEMO_DATA if args.demo and args.dataset == "builtin_nli" else {}
        examples = load_nli_examples(args.dataset, num_examples=args.num_examples, seed=args.seed, **data)
    else:
        sentences = generate_sentences(args.num_examples, seed=args.seed)
    for name, model, tokenizer, trained_head in candidates:
        if args.task == "nli":
            report = nli_probe(
                model,
                tokenizer,
                examples,
                field=args.field,
                seed=args.seed,
                n_resamples=args.bootstrap,
                model_name=name,
            )
        else:
            report = zero_shot_probe(
                model,
                tokenizer,
                sentences,
                metrics=("pll", "drift") if trained_head else ("drift",),
                seed=args.seed,
                n_resamples=args.bootstrap,
                model_name=name,
            )
        plot_deltas(report, out / f"{name.split(' ')[0].replace('/', '_')}.png")
        reports.append(report)
    table = markdown_table(reports)
    (out / "table.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps([r.to_dict() for r in reports], indent=2, default=str) + "\n")
    print(table)


if __name__ == "__main__":
    main()

#!/usr/bin/env python
"""Pretraining throughput of examples/run_mlm.py against what a user would run instead: transformers' stock MLM
recipe (Trainer + BertForMaskedLM + DataCollatorForLanguageModeling), on the same corpus, shape and steps.

Both sides go through the stock `Trainer` on the same tokenized blocks: run_mlm's side is `PEBertForMaskedLM`
(`learned`, BERT's PE) with run_mlm's collator (`MaskedOnlyHeadCollator`: the MLM head only at the masked
positions, its default), the stock side `BertForMaskedLM` with `DataCollatorForLanguageModeling` (the head at every
position). They alternate, `--repeats` times; tokens/s is measured over the steps after `--warmup_steps` and the
median of the paired ratios is reported. Then both train `--loss_steps` steps from `--seeds` seeds, and the final
training loss (mean of the last 10 logged steps) is compared with the spread between seeds: the same model and
the same loss, computed where it is needed.

    python benchmarks/bench_training.py                     # BERT-small: 4 x 512, 8 heads, vocab 30,522, seq 128
    python benchmarks/bench_training.py --hidden 256 --heads 4 --steps 10 --repeats 3 --loss_steps 0   # quicker
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import DataCollatorForLanguageModeling, Trainer, TrainerCallback, TrainingArguments  # noqa: E402

import pe_bert  # noqa: E402
from pe_bert.data import builtin_corpus  # noqa: E402
from pe_bert.training.arguments import MLMDataArguments  # noqa: E402
from pe_bert.training.pretrain import tokenize_datasets  # noqa: E402
from pe_bert.training.resume import MaskedOnlyHeadCollator  # noqa: E402
from pe_bert.training.tokenizer import train_wordpiece_tokenizer  # noqa: E402

OURS, STOCK = "run_mlm (pe_bert)", "stock BertForMaskedLM"


class StepClock(TrainerCallback):
    """Wall-clock time at the end of every optimisation step, and the logged losses."""

    def __init__(self):
        self.times, self.losses = [], []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and "loss" in logs:
            self.losses.append(logs["loss"])


def sides(args, tokenizer):
    """Each side: (model builder, collator)."""
    shape = dict(
        vocab_size=args.vocab_size,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=args.seq_len,
    )
    return {
        OURS: (
            lambda: pe_bert.PEBertForMaskedLM(pe_bert.PEBertConfig(position_encoding="learned", **shape)),
            MaskedOnlyHeadCollator(tokenizer=tokenizer, mlm_probability=0.15, mask_seed=0),
        ),
        STOCK: (
            lambda: transformers.BertForMaskedLM(transformers.BertConfig(**shape)),
            DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15),
        ),
    }


def train(build, collator, dataset, tokenizer, args, output_dir, steps, seed=0, logging_steps=0) -> StepClock:
    torch.manual_seed(seed)
    model = build()
    clock = StepClock()
    training_args = TrainingArguments(
        output_dir=output_dir,
        max_steps=steps,
        per_device_train_batch_size=args.batch_size,
        learning_rate=5e-4,
        warmup_steps=0.1,
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
        save_strategy="no",
        logging_strategy="steps" if logging_steps else "no",
        logging_steps=logging_steps or 500,
        dataloader_pin_memory=False,
        seed=seed,
        data_seed=seed,
    )
    Trainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[clock],
    ).train()
    return clock


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--vocab_size", type=int, default=30522, help="the model's vocabulary (BERT's by default)")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per run")
    parser.add_argument("--warmup_steps", type=int, default=3, help="steps run before timing starts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--loss_steps", type=int, default=150, help="steps of the loss comparison (0: skip it)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per side in the loss comparison")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()

    # run_mlm's data path: built-in corpus -> trained WordPiece tokenizer -> blocks of seq_len tokens.
    corpus = builtin_corpus(num_sentences=20000, seed=0)
    tokenizer = train_wordpiece_tokenizer(corpus["train"]["text"], vocab_size=8000)
    dataset = tokenize_datasets(corpus, tokenizer, "text", MLMDataArguments(max_seq_length=args.seq_len), args.seq_len)[
        "train"
    ]
    models = sides(args, tokenizer)

    speeds = {name: [] for name in models}
    with tempfile.TemporaryDirectory() as output_dir:
        for repeat in range(args.repeats):
            for name, (build, collator) in models.items():  # alternating: drifts in machine load hit both alike
                clock = train(build, collator, dataset, tokenizer, args, output_dir, args.steps + args.warmup_steps)
                measured = clock.times[args.warmup_steps - 1 :]
                speeds[name].append((len(measured) - 1) * args.batch_size * args.seq_len / (measured[-1] - measured[0]))
                print(f"  repeat {repeat + 1}/{args.repeats}  {name:<22} {speeds[name][-1]:>9.0f} tokens/s", flush=True)
        losses = {name: [] for name in models}
        for seed in range(args.seeds if args.loss_steps else 0):
            for name, (build, collator) in models.items():
                clock = train(build, collator, dataset, tokenizer, args, output_dir, args.loss_steps, seed, 10)
                losses[name].append(
                    statistics.fmean(clock.losses[-10:]) if len(clock.losses) >= 10 else clock.losses[-1]
                )
                print(f"  seed {seed}  {name:<22} final training loss {losses[name][-1]:.4f}", flush=True)

    print(
        f"\nPretraining, {args.layers} layers x {args.hidden} hidden, {args.heads} heads, vocabulary "
        f"{args.vocab_size:,}, sequence {args.seq_len}, batch {args.batch_size}, {args.steps} timed steps, median "
        f"of {args.repeats} (torch {torch.__version__}, {torch.get_num_threads()} threads, CPU)"
    )
    print(f"| {'loop':<22} | {'tokens/s':>9} | {'min':>7} | {'max':>7} |")
    print(f"|{'-' * 24}|{'-' * 11}|{'-' * 9}|{'-' * 9}|")
    for name, values in speeds.items():
        print(f"| {name:<22} | {statistics.median(values):>9.0f} | {min(values):>7.0f} | {max(values):>7.0f} |")
    paired = statistics.median(ours / stock for ours, stock in zip(speeds[OURS], speeds[STOCK]))
    print(
        f"\nrun_mlm / stock: median of paired ratios {paired:.2f} (target >= 2): "
        f"{'OK' if paired >= 2 else 'BELOW TARGET'}"
    )
    if all(len(v) >= 2 for v in losses.values()):
        means = {name: statistics.fmean(v) for name, v in losses.items()}
        spread = max(statistics.stdev(v) for v in losses.values())
        difference = means[OURS] - means[STOCK]
        print(
            f"final training loss after {args.loss_steps} steps: run_mlm {means[OURS]:.4f}, stock "
            f"{means[STOCK]:.4f}, difference {difference:+.4f}; seed std up to {spread:.4f}: "
            f"{'within seed noise' if abs(difference) <= 2 * spread else 'NOT within 2 seed std'}"
        )
    return paired


if __name__ == "__main__":
    main()

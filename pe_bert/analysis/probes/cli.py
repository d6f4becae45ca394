"""`pe-bert probe MODEL --out DIR`: word-order probes from the command line.

    pe-bert probe ./my-nli-model --task nli --dataset builtin_nli --out probe-nli
    pe-bert probe ./all-MiniLM-L6-v2 --task zero-shot --num-examples 200 --out probe-minilm

Writes DIR/results.json (everything, including settings and bootstrap intervals), DIR/table.md (the paper's table)
and DIR/deltas.png (per-perturbation effect with 95 % error bars), and prints the table.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

from ...errors import InvalidInputError, MissingInputError, UsageError, one_line
from ...inputs import (
    check_data_file_content,
    check_length,
    check_vocabulary,
    load_pretrained,
    positive_int,
    read_lines,
    read_utf8,
)
from .registry import DEFAULT_ZERO_SHOT_PERTURBATIONS, PAPER_PERTURBATIONS, validate_perturbation_names


def load_model(model: str, task: str):
    """(model, tokenizer, has_trained_mlm_head) for `task` ("nli": sequence classifier; "zero-shot": masked LM
    if the checkpoint can be one, else the bare encoder). Importing pe_bert registers the PE-BERT classes.

    For "nli" the classification head must come from the checkpoint: one initialised on load (an encoder such as
    all-MiniLM-L6-v2, or an MLM checkpoint) would make every accuracy a coin toss that changes from run to run."""
    import transformers

    import pe_bert  # noqa: F401  (Auto registration)

    from .zero_shot import has_trained_mlm_head

    auto = transformers.AutoModelForSequenceClassification if task == "nli" else transformers.AutoModelForMaskedLM
    # Newly initialised weights are reported by us (an error for nli, a one-line note for zero-shot, see `run`):
    # silence transformers' long load report about them.
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded, info = load_pretrained(auto.from_pretrained, model, "model", output_loading_info=True)
    finally:
        transformers.logging.set_verbosity(verbosity)
    tokenizer = load_pretrained(transformers.AutoTokenizer.from_pretrained, model, "model")
    check_vocabulary(tokenizer, loaded, model)
    loaded._pe_bert_loading_info = info
    if task == "nli":
        new = sorted(info.get("missing_keys", ()))
        if new:
            raise InvalidInputError(
                f"{model} has no trained classification head: {', '.join(new[:4])}{' ...' if len(new) > 4 else ''} "
                "were newly initialised on load, so its NLI predictions would be random. Fine-tune it on an NLI task "
                "first (examples/run_glue.py --task_name builtin_nli, snli or mnli), or use --task zero-shot."
            )
        return loaded, tokenizer, False
    return loaded, tokenizer, has_trained_mlm_head(loaded)


def _load_sentences(dataset: str, num_examples: int, seed: int) -> list:
    if dataset in ("builtin", "builtin_nli"):
        from pe_bert.data import generate_sentences

        return generate_sentences(num_examples, seed=seed)
    if not Path(dataset).exists():
        raise MissingInputError(
            f"--dataset {dataset!r} does not exist: use 'builtin' or a text file with one sentence per line."
        )
    return read_lines(dataset, "--dataset")[:num_examples]


def run(args: argparse.Namespace) -> int:
    from . import report as reporting
    from .task import load_nli_examples, nli_probe
    from .zero_shot import zero_shot_probe

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out} is a file: give a folder for results.json, table.md and deltas.png.")
    default = PAPER_PERTURBATIONS if args.task == "nli" else DEFAULT_ZERO_SHOT_PERTURBATIONS
    try:
        perturbations = validate_perturbation_names(args.perturbations.split(",") if args.perturbations else default)
    except ValueError as error:
        raise InvalidInputError(f"--perturbations: {error}") from error
    unknown_metrics = set(args.metrics.split(",") if args.metrics else ()) - {"pll", "drift"}
    if unknown_metrics:
        raise InvalidInputError(f"--metrics: unknown {sorted(unknown_metrics)}; use pll and/or drift.")
    model, tokenizer, trained_head = load_model(args.model, args.task)
    if args.task == "nli":
        check_length(model, args.max_length, "--max-length")
    common = dict(
        perturbations=perturbations,
        seed=args.seed,
        n_resamples=args.bootstrap,
        batch_size=args.batch_size,
        model_name=args.model_name or Path(args.model).name or args.model,
        progress=not args.quiet,
    )
    if args.task == "nli":
        dataset = args.dataset or "builtin_nli"
        # The built-in task drops validation pairs seen in train, so regenerate it with the fine-tuning sizes.
        builtin = {"num_train": args.num_train, "num_test": 0} if dataset == "builtin_nli" else {}
        local = dataset not in ("builtin_nli", "snli", "mnli")
        if local and not Path(dataset).is_file():
            raise MissingInputError(
                f"--dataset {dataset} does not exist: use builtin_nli, snli, mnli or a "
                ".jsonl/.csv/.tsv file of premise/hypothesis/label rows."
            )
        if local and not read_utf8(dataset, "--dataset").strip():
            raise InvalidInputError(f"--dataset {dataset} is empty: it needs premise/hypothesis/label rows.")
        try:
            examples = load_nli_examples(
                dataset, split=args.split, num_examples=args.num_examples, seed=args.data_seed, **builtin
            )
        except UsageError:
            raise
        except Exception as error:  # unreadable file, missing columns, unknown split
            if local:
                check_data_file_content(
                    dataset, "--dataset", "json" if dataset.endswith((".json", ".jsonl")) else "csv"
                )
            if local or isinstance(error, (ValueError, KeyError)):
                raise InvalidInputError(f"--dataset {dataset}: {one_line(error)}") from error
            raise
        if not examples:
            raise InvalidInputError(
                f"--dataset {dataset} has no example{' in split ' + args.split if args.split else ''}."
            )
        result = nli_probe(model, tokenizer, examples, field=args.field, max_length=args.max_length, **common)
    else:
        metrics = args.metrics.split(",") if args.metrics else (["pll", "drift"] if trained_head else ["drift"])
        if not trained_head:
            consequence = (
                "meaningful." if "pll" in metrics else "scored; showing drift only (--metrics pll,drift forces it)."
            )
            print(
                f"note: {args.model} has no trained MLM head (randomly initialised on load), so PLL is not "
                + consequence
            )
        sentences = _load_sentences(args.dataset or "builtin", args.num_examples, args.data_seed)
        result = zero_shot_probe(model, tokenizer, sentences, metrics=metrics, **common)
    out.mkdir(parents=True, exist_ok=True)
    reporting.save_json(result, out / "results.json")
    table = reporting.markdown_table([result])
    (out / "table.md").write_text(table + "\n")
    reporting.plot_deltas(result, out / "deltas.png")
    print(table)
    print(f"\nwrote {out / 'results.json'}, {out / 'table.md'}, {out / 'deltas.png'}")
    return 0


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "probe",
        help="word-order probes (Shuffle-n, Random, Shuffle-SR; NLI or zero-shot)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "model", help="model folder or Hub id (an NLI classifier for --task nli; any MLM/encoder for --task zero-shot)"
    )
    parser.add_argument("--task", choices=("nli", "zero-shot"), default="nli")
    parser.add_argument(
        "--dataset",
        default=None,
        help="nli: builtin_nli (default), snli, mnli or a .jsonl/.csv/.tsv file; "
        "zero-shot: builtin (default, annotated corpus) or a text file, one sentence per line",
    )
    parser.add_argument("--split", default=None, help="dataset split (default: the validation split)")
    parser.add_argument(
        "--perturbations",
        default=None,
        help="comma-separated, e.g. shuffle-3,shuffle-6,random,shuffle-sr,swap-adjacent "
        "(default: the paper's Shuffle-3..6, Random, Shuffle-SR; zero-shot adds swap-adjacent)",
    )
    parser.add_argument(
        "--field", choices=("hypothesis", "premise", "both"), default="hypothesis", help="nli: which side to perturb"
    )
    parser.add_argument(
        "--metrics",
        default=None,
        help="zero-shot: pll,drift (default: both if the model has a trained MLM head, else drift)",
    )
    parser.add_argument("--num-examples", type=positive_int, default=500)
    parser.add_argument(
        "--num-train",
        type=positive_int,
        default=6000,
        help="builtin_nli: the num_train the model was fine-tuned with (task default 6000)",
    )
    parser.add_argument("--batch-size", type=positive_int, default=64)
    parser.add_argument(
        "--max-length",
        type=positive_int,
        default=128,
        help="nli: truncate each pair to L tokens (default 128; at most the model's positions)",
    )
    parser.add_argument(
        "--bootstrap", type=positive_int, default=1000, help="bootstrap resamples for the 95%% intervals"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the perturbations and the bootstrap")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the built-in data (as used for training)")
    parser.add_argument("--model-name", default=None, help="row label in the table (default: the folder name)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--out", required=True, help="output folder for results.json, table.md, deltas.png")
    parser.set_defaults(func=run)

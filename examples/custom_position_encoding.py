"""Bring your own positional encoding, end to end, offline, in about a minute on a laptop CPU.

1. The PE lives in its own module, `decay_position_encoding.py` (next to this script): one class with
   `@pe_bert.register_position_encoding`, declaring its hyper-parameters. Importing it registers it.
2. A tiny BERT with that PE is pretrained with the stock `Trainer` on pe_bert's built-in corpus (MLM).
3. It is saved: `save_pretrained` writes the weights, the config and the model code, including the PE's module.
4. A fresh Python process in which pe_bert cannot be imported loads it with `trust_remote_code=True` (as a Hub
   user would) and must give the same hidden states.
5. The paper's locality and symmetry of its attention are measured with `pe_bert.analysis.score_attention`.

    python examples/custom_position_encoding.py [--out custom-pe] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent

REMOTE_CHECK = textwrap.dedent("""
    # Runs where pe_bert cannot be imported: the checkpoint must bring all the code it needs.
    import builtins, sys
    real_import = builtins.__import__
    def guarded(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] in ("pe_bert", "decay_position_encoding"):
            raise ImportError(f"{name} is blocked in this process")
        return real_import(name, globals, locals, fromlist, level)
    builtins.__import__ = guarded
    import torch
    from transformers import AutoModel
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    expected = torch.load(folder + "/expected_outputs.pt", weights_only=True)
    with torch.no_grad():
        hidden = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"]).last_hidden_state
    print(type(model).__module__, model.config.position_encoding, float((hidden - expected["hidden"]).abs().max()))
""")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="custom-pe", help="output folder (default: custom-pe)")
    parser.add_argument("--steps", type=int, default=300, help="pretraining steps (default: 300)")
    parser.add_argument("--slope", type=float, default=0.3, help="initial decay slope (default: 0.3)")
    args = parser.parse_args(argv)
    out = Path(args.out)

    import datasets
    from datasets import Dataset
    from transformers import (
        AutoModelForMaskedLM,
        DataCollatorForLanguageModeling,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    import pe_bert
    from pe_bert.data import generate_sentences
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    datasets.disable_progress_bars()

    # 1. Register the PE: importing its module is all it takes (`import decay_position_encoding` works too when the
    #    file is on the Python path).
    pe_bert.import_position_encoding_module(str(HERE / "decay_position_encoding.py"))
    print(pe_bert.describe_position_encoding("decay"))

    # 2. A tiny model with it, pretrained on the built-in corpus.
    set_seed(0)
    texts = [sentence.text for sentence in generate_sentences(4000, seed=0)]
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=1000, model_max_length=64)
    config = pe_bert.PEBertConfig(
        position_encoding="decay",
        decay_slope=args.slope,
        vocab_size=len(tokenizer),
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
        max_position_embeddings=64,
    )
    model = AutoModelForMaskedLM.from_config(config)
    dataset = Dataset.from_dict({"text": texts}).map(
        lambda batch: tokenizer(batch["text"], truncation=True, max_length=48), batched=True, remove_columns=["text"]
    )
    trainer = Trainer(
        model=model,
        args=TrainingArguments(
            output_dir=str(out / "trainer"),
            max_steps=args.steps,
            per_device_train_batch_size=32,
            learning_rate=2e-3,
            warmup_steps=args.steps // 10,
            logging_steps=max(1, args.steps // 5),
            save_strategy="no",
            report_to="none",
            seed=0,
            disable_tqdm=True,
        ),
        train_dataset=dataset,
        data_collator=DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, seed=0),
    )
    train_loss = trainer.train().training_loss
    slopes = torch.nn.functional.softplus(model.bert.position_encoding.raw_slopes.detach())
    print(f"trained {args.steps} steps: loss {train_loss:.3f}; learned slopes (left / right) per head:")
    print("  left  " + " ".join(f"{s:.3f}" for s in slopes[0].tolist()))
    print("  right " + " ".join(f"{s:.3f}" for s in slopes[-1].tolist()))

    # 3. Save: weights, config, model code and the PE's module.
    checkpoint = out / "bert-decay"
    model.save_pretrained(checkpoint)
    tokenizer.save_pretrained(checkpoint)
    print(f"saved to {checkpoint}: {', '.join(sorted(p.name for p in checkpoint.glob('*.py')))}")

    # 4. Reload where pe_bert cannot be imported, with trust_remote_code=True: same outputs.
    batch = tokenizer(texts[:8], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model.bert.eval()(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
        ).last_hidden_state
    torch.save(
        {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "hidden": hidden},
        checkpoint / "expected_outputs.pt",
    )
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    remote = subprocess.run(
        [sys.executable, "-c", REMOTE_CHECK, str(checkpoint.resolve())],
        capture_output=True,
        text=True,
        env=environment,
        cwd=out,
    )
    if remote.returncode != 0:
        raise RuntimeError(f"Loading with trust_remote_code failed:\n{remote.stderr[-3000:]}")
    module, position_encoding, difference = remote.stdout.split()
    print(f"reloaded without pe_bert as {module}.PEBertModel ({position_encoding}): max |difference| = {difference}")
    if float(difference) != 0.0:
        raise RuntimeError("The reloaded model does not reproduce the saved one.")

    # 5. What the PE does to attention, on held-out sentences.
    held_out = [sentence.text for sentence in generate_sentences(200, seed=1)]
    scores = pe_bert.analysis.score_attention(
        model.bert, tokenizer, held_out, batch_size=50, max_length=48, progress=False
    )
    summary = {
        "train_loss": train_loss,
        "locality": scores.mean_locality,
        "symmetry": scores.mean_symmetry,
        "symmetry_mass": scores.mean_symmetry_mass,
        "slopes_left": slopes[0].tolist(),
        "slopes_right": slopes[-1].tolist(),
        "remote_max_difference": float(difference),
    }
    print(
        f"locality {scores.mean_locality:.3f}, symmetry (published) {scores.mean_symmetry:.3f}, "
        f"symmetry (mass) {scores.mean_symmetry_mass:.3f}"
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()

"""End-to-end MLM pretraining in-process: loss goes down, checkpoints reload, resuming continues, local files work."""

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback

import pe_bert
from pe_bert.training import pretrain
from pe_bert.training.arguments import MLMDataArguments, ModelArguments
from pe_bert.training.common import parse_args

TINY = "hidden_size=32,num_hidden_layers=2,num_attention_heads=2,intermediate_size=64,max_position_embeddings=64"


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def mlm_args(output_dir, *extra):
    """Parse a tiny offline run's arguments exactly as the command line would."""
    return parse_args(
        MLMDataArguments,
        [
            "--output_dir",
            str(output_dir),
            "--config_overrides",
            TINY,
            "--max_seq_length",
            "32",
            "--builtin_num_sentences",
            "1500",
            "--tokenizer_vocab_size",
            "1000",
            "--per_device_train_batch_size",
            "16",
            "--per_device_eval_batch_size",
            "32",
            "--learning_rate",
            "2e-3",
            "--warmup_steps",
            "10",
            "--report_to",
            "none",
            "--disable_tqdm",
            "true",
            "--use_cpu",
            "true",
            "--logging_steps",
            "50",
            "--save_strategy",
            "no",
            "--seed",
            "0",
            "--dataloader_pin_memory",
            "false",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A tiny learned-PE model pretrained for 300 steps on the built-in corpus, and its untrained baseline."""
    root = tmp_path_factory.mktemp("mlm")
    before = pretrain.main(*mlm_args(root / "untrained", "--do_eval"))
    after = pretrain.main(*mlm_args(root / "trained", "--do_train", "--do_eval", "--max_steps", "300"))
    return root / "trained", before, after


@pytest.mark.slow
def test_pretraining_lowers_eval_loss(pretrained):
    output_dir, before, after = pretrained
    # Untrained: about log(vocab); trained: clearly lower, on the same validation blocks.
    assert before["eval_loss"] > 5.0
    assert after["eval_loss"] < before["eval_loss"] - 1.0
    assert after["perplexity"] == pytest.approx(math.exp(after["eval_loss"]))
    assert after["eval_accuracy"] > before["eval_accuracy"] + 0.08
    written = json.loads((output_dir / "all_results.json").read_text())
    assert written["eval_loss"] == pytest.approx(after["eval_loss"])
    assert json.loads((output_dir / "eval_results.json").read_text())["perplexity"] == pytest.approx(
        after["perplexity"]
    )


@pytest.mark.slow
def test_checkpoint_is_safetensors_and_reloads_through_auto_classes(pretrained):
    output_dir, _, _ = pretrained
    assert (output_dir / "model.safetensors").is_file()
    assert not (output_dir / "pytorch_model.bin").exists()
    state = load_file(output_dir / "model.safetensors")
    model = AutoModelForMaskedLM.from_pretrained(output_dir)
    assert isinstance(model, pe_bert.PEBertForMaskedLM)
    assert model.config.position_encoding == "learned"
    assert model.config.hidden_size == 32
    tokenizer = AutoTokenizer.from_pretrained(output_dir)
    assert len(tokenizer) == model.config.vocab_size
    assert any(t.shape == (model.config.vocab_size, 32) for t in state.values())  # the saved word embeddings
    # The trained tokenizer is BERT-style: lowercase, [CLS] ... [SEP], a [MASK] token the model can fill.
    encoded = tokenizer("The Farmer READS a book.")
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "farmer" in tokens
    assert tokenizer.pad_token_id == 0 and tokenizer.mask_token == "[MASK]"
    with torch.no_grad():
        logits = model(**tokenizer("the [MASK] reads a book .", return_tensors="pt")).logits
    assert logits.shape[-1] == model.config.vocab_size
    card = (output_dir / "README.md").read_text()
    assert "position_encoding" in card and "perplexity" in card.lower()


class FirstStep(TrainerCallback):
    """Records the global step of the first optimisation step a run performs."""

    first = None

    def on_step_end(self, args, state, control, **kwargs):
        if self.first is None:
            self.first = state.global_step


@pytest.mark.slow
def test_resume_continues_from_the_saved_step(tmp_path):
    output_dir = tmp_path / "run"
    args = ("--do_train", "--max_steps", "20", "--save_strategy", "steps", "--save_steps", "10", "--logging_steps", "5")
    first = FirstStep()
    pretrain.main(*mlm_args(output_dir, *args), callbacks=[first])
    assert first.first == 1
    uninterrupted = json.loads((output_dir / "checkpoint-20" / "trainer_state.json").read_text())["log_history"]

    # Simulate a run killed after step 10: only checkpoint-10 survives. The same command then resumes from it.
    shutil.rmtree(output_dir / "checkpoint-20")
    (output_dir / "model.safetensors").unlink()
    assert (output_dir / "checkpoint-10" / "optimizer.pt").is_file()
    resumed = FirstStep()
    metrics = pretrain.main(*mlm_args(output_dir, *args), callbacks=[resumed])
    assert resumed.first == 11, "training restarted instead of resuming"
    state = json.loads((output_dir / "checkpoint-20" / "trainer_state.json").read_text())
    assert state["global_step"] == 20
    assert [entry["step"] for entry in state["log_history"] if "loss" in entry] == [5, 10, 15, 20]
    # The optimizer state was restored, not re-created: Adam counted 20 steps though this run took only 10.
    optimizer = torch.load(output_dir / "checkpoint-20" / "optimizer.pt", weights_only=True)
    assert {float(s["step"]) for s in optimizer["state"].values()} == {20.0}
    assert metrics["train_loss"] > 0
    # Steps 1-10 were not re-run: their logged losses are the first run's, carried over in the checkpoint state.
    losses = {e["step"]: e["loss"] for e in state["log_history"] if "loss" in e}
    reference = {e["step"]: e["loss"] for e in uninterrupted if "loss" in e}
    assert losses[5] == reference[5] and losses[10] == reference[10]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["txt", "csv", "json"])
def test_local_files(tmp_path, fmt):
    from pe_bert.data import builtin_corpus

    corpus = builtin_corpus(num_sentences=400, seed=1)
    texts = {split: corpus[split]["text"] for split in ("train", "validation")}
    files = {}
    for split, rows in texts.items():
        path = tmp_path / f"{split}.{fmt}"
        if fmt == "txt":
            path.write_text("\n".join(rows) + "\n")
        elif fmt == "csv":
            path.write_text("id,body\n" + "".join(f'{i},"{t}"\n' for i, t in enumerate(rows)))
        else:
            path.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(rows)))
        files[split] = path
    extra = ["--train_file", str(files["train"]), "--validation_file", str(files["validation"])]
    if fmt == "csv":
        extra += ["--text_column_name", "body"]
    metrics = pretrain.main(*mlm_args(tmp_path / "out", "--max_steps", "3", *extra))
    assert metrics["eval_samples"] > 0 and metrics["train_samples"] > 0
    assert (tmp_path / "out" / "model.safetensors").is_file()


@pytest.mark.slow
def test_line_by_line_and_held_out_validation(tmp_path):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(f"the cat number {i} sat on the mat ." for i in range(60)) + "\n\n\n")
    metrics = pretrain.main(
        *mlm_args(
            tmp_path / "out",
            "--max_steps",
            "2",
            "--train_file",
            str(train),
            "--line_by_line",
            "--validation_split_percentage",
            "10",
        )
    )
    # 60 non-empty lines: 10 % held out for validation, the 3 empty lines skipped (and logged).
    assert metrics["train_samples"] + metrics["eval_samples"] == 60
    assert 6 <= metrics["eval_samples"] <= 7  # datasets rounds the 10 % up


def test_model_arguments_are_a_dataclass_with_every_pe_flag():
    args = ModelArguments()
    for names in pe_bert.PE_HYPERPARAMETERS.values():
        for name in names:
            assert getattr(args, name) is None  # None = keep the config's value


@pytest.mark.slow
def test_finetuning_the_pretrained_model_beats_the_majority_class(pretrained, tmp_path):
    from pe_bert.training import finetune
    from pe_bert.training.arguments import GlueDataArguments

    output_dir, _, _ = pretrained
    args = parse_args(
        GlueDataArguments,
        [
            "--model_name_or_path",
            str(output_dir),
            "--task_name",
            "builtin_nli",
            "--output_dir",
            str(tmp_path / "nli"),
            "--builtin_num_examples",
            "2000",
            "--max_seq_length",
            "64",
            "--max_eval_samples",
            "300",
            "--per_device_train_batch_size",
            "32",
            "--max_steps",
            "120",
            "--learning_rate_grid",
            "1e-3,3e-3",
            "--report_to",
            "none",
            "--disable_tqdm",
            "true",
            "--use_cpu",
            "true",
            "--save_strategy",
            "no",
            "--dataloader_pin_memory",
            "false",
            "--do_train",
            "--do_eval",
            "--do_predict",
        ],
    )
    metrics = finetune.main(*args)
    from pe_bert.data.glue import load_task

    labels = load_task("builtin_nli", seed=42, num_train=2000)["validation"]["label"][:300]
    majority = max(labels.count(label) for label in set(labels)) / len(labels)
    assert metrics["eval_accuracy"] > majority + 0.08
    # The grid: one run per learning rate, the best one reported and saved.
    grid = json.loads((tmp_path / "nli" / "grid_results.json").read_text())
    assert [run["learning_rate"] for run in grid["runs"]] == [1e-3, 3e-3]
    assert grid["best_score"] == max(run["eval_accuracy"] for run in grid["runs"]) == metrics["eval_accuracy"]
    assert (
        json.loads((tmp_path / "nli" / "all_results.json").read_text())["best_learning_rate"]
        == grid["best_learning_rate"]
    )
    assert json.loads((tmp_path / "nli" / "eval_results.json").read_text())["eval_accuracy"] == metrics["eval_accuracy"]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "nli")
    assert model.config.id2label == {0: "entailment", 1: "neutral", 2: "contradiction"}
    predictions = (tmp_path / "nli" / "predict_results_test.txt").read_text().splitlines()
    assert predictions[0] == "index\tprediction" and len(predictions) == 601
    assert set(line.split("\t")[1] for line in predictions[1:]) <= {"entailment", "neutral", "contradiction"}


@pytest.mark.slow
def test_gradient_accumulation_keeps_the_loss_a_mean(tmp_path):
    # The Trainer must average over accumulation steps (pe_bert heads return a mean loss per batch).
    metrics = pretrain.main(
        *mlm_args(
            tmp_path, "--do_train", "--max_steps", "2", "--gradient_accumulation_steps", "3", "--learning_rate", "1e-6"
        )
    )
    assert metrics["train_loss"] == pytest.approx(math.log(1000), abs=0.5)


class FakeHubApi:
    """Stands in for the Hub: records what each upload would send (README.md content included)."""

    def __init__(self):
        self.uploads = []

    def create_repo(self, repo_id, **kwargs):
        return type("RepoUrl", (), {"repo_id": repo_id})()

    def upload_folder(self, repo_id, folder_path, **kwargs):
        readme = Path(folder_path) / "README.md"
        self.uploads.append({"repo_id": repo_id, "readme": readme.read_text() if readme.is_file() else None})
        return type("Done", (), {"is_done": lambda self: True})()


@pytest.mark.slow
def test_push_to_hub_uploads_our_model_card(tmp_path, monkeypatch):
    import transformers.trainer

    hub = FakeHubApi()
    monkeypatch.setattr(transformers.trainer, "hf_api", lambda: hub)
    pretrain.main(*mlm_args(tmp_path / "run", "--max_steps", "2", "--push_to_hub", "--hub_model_id", "me/bert-tiny"))
    assert hub.uploads and hub.uploads[-1]["repo_id"] == "me/bert-tiny"
    # The last upload carries the card with the measured numbers, not the Trainer's generic one.
    final_card = hub.uploads[-1]["readme"]
    assert "tags:\n- pe_bert" in final_card and "| Perplexity |" in final_card
    assert 'AutoModelForMaskedLM.from_pretrained("me/bert-tiny")' in final_card


@pytest.mark.slow
def test_relative_pe_trains_beyond_the_position_table(tmp_path):
    # rope has no position table: a --max_seq_length above max_position_embeddings (32 here) is fine.
    small_table = TINY.replace("max_position_embeddings=64", "max_position_embeddings=32")
    model_args, data_args, training_args = mlm_args(
        tmp_path, "--max_steps", "1", "--position_encoding", "rope", "--rope_theta", "1000"
    )
    model_args.config_overrides, data_args.max_seq_length = small_table, 48
    metrics = pretrain.main(model_args, data_args, training_args)
    assert math.isfinite(metrics["eval_loss"])
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["position_encoding"], config["rope_theta"], config["max_position_embeddings"]) == ("rope", 1000, 32)
    assert "`rope_theta` | `1000`" in (tmp_path / "README.md").read_text()


@pytest.mark.slow
def test_dataset_name_path_without_validation_split(tmp_path):
    # --dataset_name goes through datasets.load_dataset like a Hub id; a local folder exercises it offline.
    from pe_bert.data import builtin_corpus

    folder = tmp_path / "my_corpus"
    folder.mkdir()
    rows = builtin_corpus(num_sentences=400, seed=2)["train"]["text"]
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    metrics = pretrain.main(
        *mlm_args(
            tmp_path / "out", "--max_steps", "1", "--dataset_name", str(folder), "--validation_split_percentage", "20"
        )
    )
    assert metrics["eval_samples"] > 0


def test_trained_wordpiece_tokenizer_is_the_same_in_every_process():
    """The `tokenizers` trainer numbers subword tokens in hash-map order (a new order per process); ours does not."""
    import subprocess
    import sys

    code = (
        "from pe_bert.training.tokenizer import train_wordpiece_tokenizer; from pe_bert.data import "
        "generate_sentences; import json; t = train_wordpiece_tokenizer([s.text for s in "
        "generate_sentences(1500, seed=0)], vocab_size=400); print(json.dumps(sorted(t.get_vocab().items())))"
    )
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(runs) == 1


def test_a_hub_dataset_is_loaded_at_its_pinned_revision(monkeypatch):
    # The Hub is unreachable here: record what run_mlm asks `datasets.load_dataset` for.
    import datasets

    calls = []

    def load_dataset(name, config=None, split=None, **kwargs):
        calls.append((name, config, split, kwargs["revision"]))
        rows = datasets.Dataset.from_dict({"text": [f"sentence {i} ." for i in range(20)]})
        return rows if split else datasets.DatasetDict(train=rows)

    monkeypatch.setattr(pretrain.datasets, "load_dataset", load_dataset)
    data_args = MLMDataArguments(dataset_name="org/corpus", dataset_config_name="en", dataset_revision="b08601e")
    raw, name = pretrain.load_raw_datasets(data_args, ModelArguments(), seed=0)
    assert name == "org/corpus" and set(raw) == {"train", "validation"}
    assert {revision for *_, revision in calls} == {"b08601e"}  # every split read at the pinned revision
    assert [split for _, _, split, _ in calls] == [None, "train[:5%]", "train[5%:]"]

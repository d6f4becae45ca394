"""Fine-tuning from a stock BERT checkpoint (all-MiniLM-L6-v2): through the Auto classes, or into pe_bert."""

import json
import shutil

import pytest
import torch
from huggingface_hub import ModelCard
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForSequenceClassification, BertForSequenceClassification

import pe_bert
from pe_bert.training import finetune
from pe_bert.training.arguments import GlueDataArguments
from pe_bert.training.common import parse_args

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run(tmp_path, minilm_path, *extra):
    argv = [
        "--model_name_or_path",
        str(minilm_path),
        "--task_name",
        "builtin_topic",
        "--output_dir",
        str(tmp_path),
        "--builtin_num_examples",
        "64",
        "--max_train_samples",
        "16",
        "--max_eval_samples",
        "16",
        "--max_seq_length",
        "32",
        "--per_device_train_batch_size",
        "8",
        "--max_steps",
        "2",
        "--report_to",
        "none",
        "--use_cpu",
        "true",
        "--disable_tqdm",
        "true",
        "--save_strategy",
        "no",
        "--dataloader_pin_memory",
        "false",
        *extra,
    ]
    return finetune.main(*parse_args(GlueDataArguments, argv))


@pytest.mark.slow
def test_stock_bert_checkpoint_through_the_auto_classes(tmp_path, minilm_path):
    metrics = run(tmp_path, minilm_path)
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(model) is BertForSequenceClassification  # left as the stock architecture
    assert json.loads((tmp_path / "all_results.json").read_text())["eval_samples"] == 16


def test_a_local_base_model_is_named_relative_to_the_card(tmp_path, minilm_path):
    # A study folder moves with its pretrained and fine-tuned checkpoints: the card must not keep the old path.
    base = tmp_path / "study" / "pretrain"
    shutil.copytree(minilm_path, base)
    run(tmp_path / "study" / "finetune", base, "--max_steps", "1")
    card = (tmp_path / "study" / "finetune" / "README.md").read_text()
    assert "by fine-tuning from `../pretrain`" in card and str(tmp_path) not in card
    assert ModelCard(card).data.base_model is None  # a local folder is no Hub id


@pytest.mark.slow
def test_stock_bert_checkpoint_into_pe_bert_with_position_encoding(tmp_path, minilm_path):
    metrics = run(
        tmp_path, minilm_path, "--position_encoding", "learned", "--max_steps", "1", "--learning_rate", "1e-9"
    )
    assert "eval_accuracy" in metrics
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert isinstance(model, pe_bert.PEBertForSequenceClassification)
    assert model.config.position_encoding == "learned" and model.config.model_type == "pe_bert"
    # The encoder weights are MiniLM's (a learning rate of 1e-9 barely moves them): the stock BERT was converted,
    # not re-initialised.
    stock = AutoModel.from_pretrained(minilm_path)
    ours = {name: tensor for name, tensor in load_file(tmp_path / "model.safetensors").items()}
    stock_word_embeddings = stock.embeddings.word_embeddings.weight
    matching = [t for t in ours.values() if t.shape == stock_word_embeddings.shape]
    assert matching and torch.allclose(matching[0], stock_word_embeddings, atol=1e-5)
    card = (tmp_path / "README.md").read_text()
    assert "builtin_topic" in card and "learned" in card


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory, minilm_path):
    """An untrained tiny pe_bert (t5 bias) checkpoint with MiniLM's tokenizer: fast to fine-tune."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("tiny")
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    config = pe_bert.PEBertConfig(
        position_encoding="t5",
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    pe_bert.PEBertForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def _write_csv(path, header, rows):
    path.write_text(header + "\n" + "".join(",".join(map(str, row)) + "\n" for row in rows))
    return str(path)


@pytest.mark.slow
@pytest.mark.parametrize(
    "task, header, rows, expected",
    [
        (
            "stsb",
            "sentence1,sentence2,label",
            [
                ("a cat sat", "a cat sits", 4.5),
                ("a dog", "the sky", 0.5),
                ("red car", "a red car", 4.0),
                ("tea", "a violin", 1.0),
            ],
            {"eval_pearson", "eval_spearmanr"},
        ),
        (
            "cola",
            "sentence,label",
            [("the cat sat .", 1), ("cat the sat .", 0), ("a dog ran .", 1), ("ran dog a", 0)],
            {"eval_matthews_correlation"},
        ),
        (
            "mrpc",
            "sentence1,sentence2,label",
            [("a b", "a b", "equivalent"), ("a b", "c d", "not_equivalent")] * 2,
            {"eval_accuracy", "eval_f1"},
        ),
        (
            "mnli",
            "premise,hypothesis,label",
            [
                ("a man runs", "a person moves", "entailment"),
                ("a man runs", "a man sleeps", "contradiction"),
                ("a man runs", "a man runs fast", "neutral"),
            ],
            {"eval_accuracy"},
        ),
    ],
)
def test_local_glue_files_are_scored_as_glue_does(tmp_path, tiny_checkpoint, task, header, rows, expected):
    train = _write_csv(tmp_path / "train.csv", header, rows)
    dev = _write_csv(tmp_path / "dev.csv", header, rows)
    metrics = run(
        tmp_path / "out",
        tiny_checkpoint,
        "--task_name",
        task,
        "--train_file",
        train,
        "--validation_file",
        dev,
        "--learning_rate_grid",
        "1e-4,1e-3",
    )
    assert expected <= set(metrics)
    grid = json.loads((tmp_path / "out" / "grid_results.json").read_text())
    main_metric = {"stsb": "eval_spearmanr", "cola": "eval_matthews_correlation"}.get(task, "eval_accuracy")
    assert grid["metric"] == main_metric and len(grid["runs"]) == 2
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert model.config.position_encoding == "t5"
    assert model.config.num_labels == {"stsb": 1, "mnli": 3}.get(task, 2)

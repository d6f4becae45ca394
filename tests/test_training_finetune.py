"""Fine-tuning from a stock BERT checkpoint (all-MiniLM-L6-v2): through the Auto classes, or into pe_bert."""

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoModelForSequenceClassification, BertForSequenceClassification

import pe_bert
from pe_bert.training import finetune
from pe_bert.training.arguments import GlueDataArguments
from pe_bert.training.common import parse_args


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def run(tmp_path, minilm_path, *extra):
    argv = [
        "--model_name_or_path", str(minilm_path), "--task_name", "builtin_topic", "--output_dir", str(tmp_path),
        "--builtin_num_examples", "64", "--max_train_samples", "16", "--max_eval_samples", "16",
        "--max_seq_length", "32", "--per_device_train_batch_size", "8", "--max_steps", "2",
        "--report_to", "none", "--use_cpu", "true", "--disable_tqdm", "true", "--save_strategy", "no",
        "--dataloader_pin_memory", "false", *extra,
    ]
    return finetune.main(*parse_args(GlueDataArguments, argv))


@pytest.mark.slow
def test_stock_bert_checkpoint_through_the_auto_classes(tmp_path, minilm_path):
    metrics = run(tmp_path, minilm_path)
    assert 0.0 <= metrics["eval_accuracy"] <= 1.0
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert type(model) is BertForSequenceClassification  # left as the stock architecture
    assert json.loads((tmp_path / "all_results.json").read_text())["eval_samples"] == 16


@pytest.mark.slow
def test_stock_bert_checkpoint_into_pe_bert_with_position_encoding(tmp_path, minilm_path):
    metrics = run(tmp_path, minilm_path, "--position_encoding", "learned", "--max_steps", "1", "--learning_rate", "1e-9")
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

"""The pieces the training scripts share (training/steps.py, loading.ModelLoader) and fine-tuning's grid record."""

import datasets
import pytest
import torch
from transformers import TrainingArguments

from pe_bert import PEBertConfig, PEBertForMaskedLM, PEBertForSequenceClassification
from pe_bert.errors import InvalidInputError
from pe_bert.training.arguments import ModelArguments
from pe_bert.training.finetune import GridOutcome
from pe_bert.training.loading import ModelLoader, check_tokenizer_length
from pe_bert.training.steps import limit_samples, start_run

from helpers import MICRO_SHAPE


def test_limit_samples_keeps_the_first_examples_or_all():
    dataset = datasets.Dataset.from_dict({"x": list(range(5))})
    assert limit_samples(dataset, None) is dataset
    assert limit_samples(dataset, 3)["x"] == [0, 1, 2]
    assert limit_samples(dataset, 10)["x"] == list(range(5))


def test_check_tokenizer_length_names_both_lengths():
    class Tokenizer:
        model_max_length = 16

    check_tokenizer_length(Tokenizer(), 16)
    with pytest.raises(
        InvalidInputError, match="--max_seq_length 17 is longer than the tokenizer's model_max_length 16"
    ):
        check_tokenizer_length(Tokenizer(), 17)


def test_model_loader_builds_from_the_config_or_loads_a_saved_model(tmp_path):
    config = PEBertConfig(**MICRO_SHAPE, vocab_size=50, max_position_embeddings=16, num_labels=3)
    fresh = ModelLoader(ModelArguments(), config, True, kind="sequence_classification").load()
    assert isinstance(fresh, PEBertForSequenceClassification) and fresh.config.num_labels == 3
    fresh.save_pretrained(tmp_path)
    loaded = ModelLoader(ModelArguments(), config, True, kind="sequence_classification").load(str(tmp_path))
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), loaded.state_dict().values()))
    assert isinstance(ModelLoader(ModelArguments(), config, True, kind="masked_lm").load(), PEBertForMaskedLM)


def test_start_run_checks_the_arguments_and_seeds(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=0, report_to="none", use_cpu=True)
    with pytest.raises(InvalidInputError, match="--max_steps 0"):
        start_run(args)
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, seed=7, report_to="none", use_cpu=True)
    assert start_run(args) is None
    assert args.do_train and args.do_eval  # neither asked for: both
    drawn = torch.rand(3)
    torch.manual_seed(7)
    assert torch.equal(drawn, torch.rand(3))


def test_grid_outcome_results_add_the_grid_only_with_one():
    runs = [{"learning_rate": 1e-4, "eval_accuracy": 0.5}, {"learning_rate": 3e-4, "eval_accuracy": 0.75}]
    single = GridOutcome(runs[:1], runs[0], grid=False, main_key="eval_accuracy")
    assert single.results() == runs[0] and single.results() is not runs[0]
    results = GridOutcome(runs, runs[1], grid=True, main_key="eval_accuracy").results()
    assert results["best_learning_rate"] == 3e-4
    assert results["learning_rate_grid"] == [
        {"learning_rate": 1e-4, "eval_accuracy": 0.5},
        {"learning_rate": 3e-4, "eval_accuracy": 0.75},
    ]

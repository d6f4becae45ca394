"""The example scripts as commands: `python examples/...` and a 2-process data-parallel `accelerate launch` on CPU."""

import json
import math
import sys

import pytest

import pe_bert

from helpers import GLUE_SCRIPT_FLAGS, SCRIPT_FLAGS, accelerate_launch, run_script

FAST = [*SCRIPT_FLAGS, "--logging_steps", "2"]


def test_help_lists_every_pe_hyperparameter():
    # The parser the scripts build (in-process: a subprocess per --help costs seconds of imports).
    from transformers import HfArgumentParser, TrainingArguments

    from pe_bert.training.arguments import GlueDataArguments, MLMDataArguments, ModelArguments

    output = HfArgumentParser((ModelArguments, MLMDataArguments, TrainingArguments)).format_help()
    for names in pe_bert.PE_HYPERPARAMETERS.values():
        for name in names:
            assert f"--{name}" in output, name
    for flag in (
        "--position_encoding",
        "--config_overrides",
        "--tokenizer_name",
        "--line_by_line",
        "--mlm_probability",
        "--validation_split_percentage",
        "--push_to_hub",
        "--resume_from_checkpoint",
        "--dataset_name",
        "--dataset_config_name",
        "--train_file",
        "--max_train_samples",
    ):
        assert flag in output
    glue_help = HfArgumentParser((ModelArguments, GlueDataArguments, TrainingArguments)).format_help()
    assert "--learning_rate_grid" in glue_help and "--task_name" in glue_help and "--rope_theta" in glue_help


def test_pe_flags_parse_to_config_types():
    from pe_bert.training.arguments import MLMDataArguments, pe_overrides
    from pe_bert.training.common import parse_args

    model_args, _, _ = parse_args(
        MLMDataArguments,
        [
            "--output_dir",
            "x",
            "--position_encoding",
            "rope",
            "--rope_theta",
            "500000",
            "--window_size",
            "16",
            "--shaw_mode",
            "key_query",
        ],
    )
    assert pe_overrides(model_args) == {
        "position_encoding": "rope",
        "rope_theta": 500000.0,
        "window_size": 16,
        "shaw_mode": "key_query",
    }
    assert isinstance(model_args.rope_theta, float) and isinstance(model_args.window_size, int)


@pytest.mark.slow
def test_scripts_run_as_python_commands(tmp_path):
    mlm_dir, nli_dir = tmp_path / "mlm", tmp_path / "nli"
    run_script(
        [
            sys.executable,
            "examples/run_mlm.py",
            "--output_dir",
            str(mlm_dir),
            "--position_encoding",
            "alibi",
            "--max_steps",
            "4",
            *FAST,
        ]
    )
    results = json.loads((mlm_dir / "all_results.json").read_text())
    assert {"eval_loss", "perplexity", "train_loss"} <= set(results)
    assert json.loads((mlm_dir / "config.json").read_text())["position_encoding"] == "alibi"
    run_script(
        [
            sys.executable,
            "examples/run_glue.py",
            "--model_name_or_path",
            str(mlm_dir),
            "--task_name",
            "builtin_order",
            "--output_dir",
            str(nli_dir),
            *GLUE_SCRIPT_FLAGS,
        ]
    )
    assert "eval_accuracy" in json.loads((nli_dir / "eval_results.json").read_text())


@pytest.mark.slow
def test_two_process_data_parallel_accelerate_launch_on_cpu(tmp_path):
    output_dir = tmp_path / "ddp"
    result = run_script(
        [
            *accelerate_launch(),
            "examples/run_mlm.py",
            "--output_dir",
            str(output_dir),
            "--max_steps",
            "4",
            "--save_steps",
            "4",
            *FAST,
        ]
    )
    log = result.stdout + result.stderr
    assert "world size 2" in log, log[-3000:]
    assert (output_dir / "model.safetensors").is_file() and (output_dir / "tokenizer.json").is_file()
    state = json.loads((output_dir / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    # Each step consumed a batch per process: the card records the data-parallel world size.
    assert "world_size | `2`" in (output_dir / "README.md").read_text()
    # The loss is a per-token mean, not multiplied by the number of processes (untrained: about log(vocab)).
    results = json.loads((output_dir / "all_results.json").read_text())
    assert results["train_loss"] < 1.2 * math.log(500) and results["eval_loss"] < 1.2 * math.log(500)

    # Fine-tuning that checkpoint the same way, with a 2-point learning-rate grid.
    glue_dir = tmp_path / "glue"
    run_script(
        [
            *accelerate_launch(),
            "examples/run_glue.py",
            "--model_name_or_path",
            str(output_dir),
            "--task_name",
            "builtin_topic",
            "--output_dir",
            str(glue_dir),
            *GLUE_SCRIPT_FLAGS,
            "--learning_rate_grid",
            "1e-4,1e-3",
            "--save_strategy",
            "no",
        ]
    )
    grid = json.loads((glue_dir / "grid_results.json").read_text())
    assert len(grid["runs"]) == 2 and all(run["eval_samples"] == 32 for run in grid["runs"])
    assert (glue_dir / "model.safetensors").is_file() and "world_size | `2`" in (glue_dir / "README.md").read_text()

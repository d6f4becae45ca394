"""What several test modules share: tiny model shapes, the training scripts' flags for a quick run (in this process
or as commands, alone or under `accelerate launch`), and the example scripts as modules."""

import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

from pe_bert.study.record_types import BudgetNumbers, NliProbe, PretrainLosses, RunRecord
from pe_bert.training import finetune, pretrain
from pe_bert.training.arguments import GlueDataArguments, MLMDataArguments
from pe_bert.training.common import parse_args

# --config_overrides of a model small enough for a test to train in seconds.
TINY = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64,max_position_embeddings=64"
# Model shapes for a config built in a test: TINY_SHAPE trains in seconds, MICRO_SHAPE is for models never trained.
TINY_SHAPE = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
MICRO_SHAPE = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
# The training scripts run in a test: no reporting, no progress bars, no pinned memory (CPU).
QUIET_FLAGS = ["--report_to", "none", "--disable_tqdm", "true", "--dataloader_pin_memory", "false"]
# ... and in this process, on the CPU.
IN_PROCESS_FLAGS = [*QUIET_FLAGS, "--use_cpu", "true"]
# Flags every in-process training run of the tests takes: offline, quiet, one step.
COMMON = [*IN_PROCESS_FLAGS, "--max_steps", "1"]


def stub_run(final: BudgetNumbers | None = None, **fields) -> RunRecord:
    """A study's run record with the given fields and final numbers (its last budget's, when it has budgets), every
    other field empty (not measured): what a test of the hypotheses or the report needs of a run."""
    budgets = fields.get("budgets") or {}
    final = final or (budgets[max(budgets, key=int)] if budgets else BudgetNumbers())
    empty = dict(variant="v", position_encoding="none", overrides={}, seed=0, trained=True, failure=None)
    empty |= dict(pretrain=PretrainLosses(), budgets={}, position_matrix=None, tasks={}, finetuned_scores={})
    empty |= dict(probe_nli=NliProbe(), probe_zero_shot={})
    return RunRecord(**(empty | final.shallow_fields() | fields))


def mlm(tmp_path, *argv):
    """examples/run_mlm.py's main, in this process, into tmp_path/out."""
    return pretrain.main(*parse_args(MLMDataArguments, ["--output_dir", str(tmp_path / "out"), *COMMON, *argv]))


def glue(tmp_path, *argv):
    """examples/run_glue.py's main, in this process, into tmp_path/out."""
    return finetune.main(*parse_args(GlueDataArguments, ["--output_dir", str(tmp_path / "out"), *COMMON, *argv]))


ROOT = Path(__file__).resolve().parents[1]
# A quick run of examples/run_mlm.py: tiny model, built-in corpus.
SCRIPT_FLAGS = [
    "--config_overrides",
    TINY,
    "--max_seq_length",
    "32",
    "--builtin_num_sentences",
    "300",
    "--tokenizer_vocab_size",
    "500",
    "--per_device_train_batch_size",
    "8",
    *QUIET_FLAGS,
]
# A quick run of examples/run_glue.py on a built-in task: 64 examples, 2 steps.
GLUE_SCRIPT_FLAGS = [
    "--builtin_num_examples",
    "64",
    "--max_eval_samples",
    "32",
    "--max_seq_length",
    "32",
    "--max_steps",
    "2",
    *QUIET_FLAGS,
]


def script_env() -> dict:
    """A script's environment: pe_bert from this checkout, offline, one thread per process (2-core CI)."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


def run_script(command, timeout=300) -> subprocess.CompletedProcess:
    """Runs a command from the repository root in script_env(); a failure shows the command and its output."""
    result = subprocess.run(command, cwd=ROOT, env=script_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(map(str, command))}\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accelerate_launch() -> list[str]:
    """The command prefix of a 2-process data-parallel `accelerate launch` on CPU (gloo), on a free port.

    accelerate 1.15: `--cpu` always runs ONE process (its simple launcher); `--multi_gpu --num_processes 2` starts two
    through torchrun, and on a machine without GPUs the script selects the CPU/gloo backend."""
    return [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "--main_process_port",
        str(free_port()),
    ]


def load_example(name: str):
    """examples/<name>.py as a module (the examples are scripts, not a package)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

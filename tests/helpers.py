"""What several test modules share: a tiny model shape for the training scripts, and running them in-process."""

from pe_bert.training import finetune, pretrain
from pe_bert.training.arguments import GlueDataArguments, MLMDataArguments
from pe_bert.training.common import parse_args

# --config_overrides of a model small enough for a test to train in seconds.
TINY = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64,max_position_embeddings=64"
# Flags every in-process training run of the tests takes: offline, quiet, one step.
COMMON = ["--report_to", "none", "--use_cpu", "true", "--disable_tqdm", "true", "--max_steps", "1"]


def mlm(tmp_path, *argv):
    """examples/run_mlm.py's main, in this process, into tmp_path/out."""
    return pretrain.main(*parse_args(MLMDataArguments, ["--output_dir", str(tmp_path / "out"), *COMMON, *argv]))


def glue(tmp_path, *argv):
    """examples/run_glue.py's main, in this process, into tmp_path/out."""
    return finetune.main(*parse_args(GlueDataArguments, ["--output_dir", str(tmp_path / "out"), *COMMON, *argv]))

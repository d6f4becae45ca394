#!/usr/bin/env python
"""Fine-tune a pe_bert (or stock BERT) checkpoint on GLUE, SNLI or a built-in task; report GLUE's dev metrics.

A thin command line over `pe_bert.training.finetune` in the style of transformers' examples/run_glue.py:

    python examples/run_glue.py --model_name_or_path out/mlm-rope --task_name builtin_nli \
        --output_dir out/nli-rope --num_train_epochs 3 --learning_rate_grid 1e-4,3e-4,1e-3

Tasks: cola, sst2, mrpc, qqp, stsb, mnli (matched + mismatched), qnli, rte, wnli, snli from the Hub, or local
files (--train_file/--validation_file/--test_file), or the offline builtin_nli / builtin_order / builtin_topic.
Writes all_results.json / eval_results.json (and grid_results.json with a grid). Works under `accelerate launch`.
"""

from pe_bert.training.finetune import cli

if __name__ == "__main__":
    cli()

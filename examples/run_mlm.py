#!/usr/bin/env python
"""Pretrain a BERT-style masked language model with a chosen positional encoding.

A thin command line over `pe_bert.training.pretrain` in the style of transformers' examples/run_mlm.py.
With no dataset arguments it trains offline on pe_bert's built-in corpus, with a WordPiece tokenizer it learns
from that text:

    python examples/run_mlm.py --position_encoding rope --output_dir out/mlm-rope \
        --config_overrides "hidden_size=64,num_hidden_layers=2,num_attention_heads=2,intermediate_size=256" \
        --max_steps 300 --per_device_train_batch_size 32 --learning_rate 1e-3

Works under `accelerate launch` (see README.md, "Several GPUs (or CPU processes) with accelerate launch").
`--help` lists every option, including one flag
per PE hyper-parameter.
"""

from pe_bert.training.pretrain import cli

if __name__ == "__main__":
    cli()

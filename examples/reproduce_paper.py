#!/usr/bin/env python
"""Reproduce the paper's study: the same code as `pe-bert study`, with the same flags.

python examples/reproduce_paper.py                       # embedded offline default (~15 min on 2 CPU cores)
python examples/reproduce_paper.py --config study.yaml   # e.g. wikitext + GLUE on GPUs (see README)
accelerate launch --multi_gpu --num_processes 8 examples/reproduce_paper.py --config study.yaml
"""

import sys

from pe_bert.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["study", *sys.argv[1:]]))

"""Training pipelines behind examples/run_mlm.py and examples/run_glue.py, importable for in-process use.

    from pe_bert.training import pretrain, finetune
    metrics = pretrain.main(model_args, data_args, training_args)   # dict of metrics, also in all_results.json

Modules: `arguments` (HfArgumentParser dataclasses), `tokenizer` (WordPiece training), `loading` (config/model
resolution and PE checks), `common` (logging, checkpoints, local data files, argument parsing), `steps` (what both
scripts do: open a run, build the Trainer, train), `pretrain` (MLM), `finetune` (GLUE/SNLI/built-in tasks).
Submodules are imported lazily so `import pe_bert.training` stays cheap.
"""

import importlib

__all__ = ["arguments", "common", "finetune", "loading", "pretrain", "steps", "tokenizer"]


def __getattr__(name):
    if name in __all__:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

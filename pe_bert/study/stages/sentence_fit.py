"""Once the shared stages made the tokenizer: the built-in sentences of the probing split and of the zero-shot probes
fit the absolute PEs' position table under it (`validation.check_sentences_fit`)."""

from __future__ import annotations

import json

from .builtin import PROBE_SENTENCES_SEED
from .state import SharedResults


def check_sentences_fit(engine, shared: SharedResults) -> None:
    """Raise (one line) when a probing or zero-shot sentence would not fit a variant's position table."""
    from transformers import AutoTokenizer

    from ..validation import check_sentences_fit as check

    config, store = engine.config, engine.store
    if config.tokenizer_name:
        source, path = f"--tokenizer-name {config.tokenizer_name}", config.tokenizer_name
    elif config.builtin_corpus:
        return  # the built-in vocabulary: one token per word, and the corpus's sentences fit by construction
    else:
        source, path = f"trained on {config.train_file or config.dataset_name}", store.resolve(shared.corpus.tokenizer)
    sentences = {}
    files = shared.probing_split.files if shared.probing_split is not None else {}
    for task, stored in files.items():
        splits = json.loads(store.resolve(stored).read_text())
        sentences[f"{task} probing sentences"] = [e["words"] for split in splits.values() for e in split]
    sentences["zero-shot probe sentences"] = [
        list(s.words) for s in config.builtin_sentences(config.probe_zero_shot_sentences, PROBE_SENTENCES_SEED)
    ]
    check(config, AutoTokenizer.from_pretrained(path), source, sentences)


__all__ = ["check_sentences_fit"]

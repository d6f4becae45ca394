"""The built-in language the study's stages draw sentences from, and the seeds of each use.

The seeds are far apart so that no two uses share sentences: the pretraining corpus, the masked-evaluation blocks
and their masks; attention scoring and the zero-shot probes add the run's seed to their offset, so each seed looks
at other held-out sentences."""

from __future__ import annotations

CORPUS_SEED = 0
EVAL_SENTENCES_SEED = 1
EVAL_MASK_SEED = 0
ANALYSIS_SEED_OFFSET = 10_000
# The zero-shot probes: the same held-out sentences and the same perturbations for every seed, so that a sentence's
# result can be averaged over seeds and tested over sentences (seeds are not independent samples of sentences).
PROBE_SENTENCES_SEED = 20_000
PROBE_PERTURBATION_SEED = 0


def builtin_language(config):
    """The automaton of the built-in language (None for the rich grammar: its floors are not computed)."""
    if not config.builtin_corpus or config.builtin_grammar != "compact":
        return None
    from ...data.compact import compact_language

    return compact_language()


def builtin_sentences(config, n: int, seed: int):
    """Annotated built-in sentences of the study's grammar."""
    if config.builtin_grammar == "compact":
        from ...data.compact import compact_sentences

        return compact_sentences(n, seed)
    from ...data import generate_sentences

    return generate_sentences(n, seed=seed)


def builtin_vocabulary(config) -> list[str]:
    """The words of the study's built-in grammar."""
    if config.builtin_grammar == "compact":
        return list(builtin_language(config).vocabulary)
    from ...data import vocabulary

    return sorted(vocabulary())


__all__ = [
    "ANALYSIS_SEED_OFFSET",
    "CORPUS_SEED",
    "EVAL_MASK_SEED",
    "EVAL_SENTENCES_SEED",
    "PROBE_PERTURBATION_SEED",
    "PROBE_SENTENCES_SEED",
    "builtin_language",
    "builtin_sentences",
    "builtin_vocabulary",
]

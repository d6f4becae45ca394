"""The seeds of each use of the built-in language's sentences (the grammar itself: `StudyConfig.builtin_sentences`,
`builtin_vocabulary`, `corpus_language`).

The seeds are far apart so that no two uses share sentences: the pretraining corpus, the masked-evaluation blocks
and their masks; attention scoring and the zero-shot probes add the run's seed to their offset, so each seed looks
at other held-out sentences."""

CORPUS_SEED = 0
EVAL_SENTENCES_SEED = 1
EVAL_MASK_SEED = 0
ANALYSIS_SEED_OFFSET = 10_000
# The zero-shot probes: the same held-out sentences and the same perturbations for every seed, so that a sentence's
# result can be averaged over seeds and tested over sentences (seeds are not independent samples of sentences).
PROBE_SENTENCES_SEED = 20_000
PROBE_PERTURBATION_SEED = 0


__all__ = [
    "ANALYSIS_SEED_OFFSET",
    "CORPUS_SEED",
    "EVAL_MASK_SEED",
    "EVAL_SENTENCES_SEED",
    "PROBE_PERTURBATION_SEED",
    "PROBE_SENTENCES_SEED",
]

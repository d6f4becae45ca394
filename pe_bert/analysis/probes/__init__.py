"""Word-order probes: Shuffle-n, Random, BShift and semantic-role swaps, task-level (NLI) and zero-shot runners.

Perturbations (pure, seeded, on word lists; a word's sub-word pieces always stay together)::

    shuffle_windows(words, n, seed)    # Shuffle-n: derange inside consecutive windows of n words
    random_shuffle(words, seed)        # Random: derange the whole sentence
    swap_adjacent(words, seed)         # BShift: swap one pair of adjacent words
    swap_roles(sentence_or_text)       # Shuffle-SR: agent <-> patient (exact on the built-in corpus; spaCy for text)
    perturb(name, item, seed)          # any of the above by name ("shuffle-3", "random", "swap-adjacent", "shuffle-sr")
    perturb_tokenized(tokens, word_ids, fn)

Runners::

    nli_probe(model, tokenizer, load_nli_examples("builtin_nli"))     # the paper's table (accuracy and deltas)
    zero_shot_probe(mlm, tokenizer, generate_sentences(200))          # PLL preference + representation drift
    pseudo_log_likelihood(mlm, tokenizer, texts), representation_drift(model, tokenizer, a, b)

Reports: `markdown_table([report, ...])`, `plot_deltas(report, "deltas.png")`, `save_json(report, path)`.
"""

from .perturbations import (
    Perturbation,
    UnchangedPerturbationError,
    join_words,
    perturb_tokenized,
    random_shuffle,
    shuffle_windows,
    split_words,
    swap_adjacent,
)
from .registry import DEFAULT_ZERO_SHOT_PERTURBATIONS, PAPER_PERTURBATIONS, derive_seed, perturb
from .report import markdown_table, plot_deltas, save_json
from .roles import load_spacy, swap_roles
from .stats import accuracy_shift, bootstrap_mean_ci, preference
from .task import NLIExample, ProbeReport, build_perturbed_sets, load_nli_examples, nli_probe, predict_pairs
from .zero_shot import (
    ZeroShotReport,
    pseudo_log_likelihood,
    pseudo_log_likelihood_reference,
    representation_drift,
    sentence_embeddings,
    zero_shot_probe,
)

__all__ = [
    "DEFAULT_ZERO_SHOT_PERTURBATIONS",
    "PAPER_PERTURBATIONS",
    "NLIExample",
    "Perturbation",
    "ProbeReport",
    "UnchangedPerturbationError",
    "ZeroShotReport",
    "accuracy_shift",
    "bootstrap_mean_ci",
    "build_perturbed_sets",
    "derive_seed",
    "join_words",
    "load_nli_examples",
    "load_spacy",
    "markdown_table",
    "nli_probe",
    "perturb",
    "perturb_tokenized",
    "plot_deltas",
    "predict_pairs",
    "preference",
    "pseudo_log_likelihood",
    "pseudo_log_likelihood_reference",
    "random_shuffle",
    "representation_drift",
    "save_json",
    "sentence_embeddings",
    "shuffle_windows",
    "split_words",
    "swap_adjacent",
    "swap_roles",
    "zero_shot_probe",
]

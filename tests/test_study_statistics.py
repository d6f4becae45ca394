"""The study's statistics and its masked-token evaluation blocks: intervals, Holm, permutation p-values, the
two-level bootstrap, packing and exact floors."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from pe_bert.study import statistics as st


def test_summary_is_mean_std_and_a_student_t_interval():
    entry = st.summarize([0.9, 0.92, 0.97, None, float("nan")])
    assert entry["n"] == 3 and entry["mean"] == pytest.approx(0.93)
    assert entry["std"] == pytest.approx(np.std([0.9, 0.92, 0.97], ddof=1))
    half = stats.t.ppf(0.975, 2) * entry["std"] / math.sqrt(3)
    assert entry["ci95"] == pytest.approx([0.93 - half, 0.93 + half])
    assert st.summarize([0.5], scale=100) == {"mean": 50.0, "std": None, "n": 1, "ci95": None}
    assert st.summarize([]) == {"mean": None, "std": None, "n": 0, "ci95": None}


def test_holm_matches_its_definition():
    p = [0.01, 0.04, None, 0.03, 0.2]
    adjusted = st.holm(p)
    # sorted 0.01, 0.03, 0.04, 0.2 with m = 4: 0.04, 0.09, max(0.09, 0.08) = 0.09, max(0.09, 0.2) = 0.2
    assert adjusted[2] is None and adjusted[0] == pytest.approx(0.04) and adjusted[1] == pytest.approx(0.09)
    assert adjusted[3] == pytest.approx(0.09) and adjusted[4] == pytest.approx(0.2)
    assert st.holm([0.5, 0.9]) == [1.0, 1.0]


def test_permutation_p_is_exact_for_few_points():
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    rho = stats.spearmanr(x, y).statistic
    count = sum(abs(stats.spearmanr(x, [y[i] for i in order]).statistic) >= abs(rho) - 1e-12
                for order in itertools.permutations(range(5)))
    assert st.permutation_p(x, y, "spearman") == pytest.approx(count / 120)
    assert st.correlation(x, y, "pearson") == pytest.approx(stats.pearsonr(x, y).statistic)
    assert st.permutation_p([1, 2, 3, 4], [5, 5, 5, 5], "pearson") is None  # constant side: undefined


def test_bootstrap_interval_covers_the_point_estimate_and_widens_with_seed_noise():
    rng = np.random.default_rng(0)
    truth = np.linspace(0, 1, 6)
    quiet = [[t + rng.normal(0, 0.01) for _ in range(3)] for t in truth]
    noisy = [[t + rng.normal(0, 0.4) for _ in range(3)] for t in truth]
    ys = [[2 * t] * 3 for t in truth]
    low_q, high_q = st.bootstrap_correlation_ci(quiet, ys, "pearson")
    low_n, high_n = st.bootstrap_correlation_ci(noisy, ys, "pearson")
    assert low_q <= st.correlation([np.mean(v) for v in quiet], truth, "pearson") <= high_q
    assert high_n - low_n > high_q - low_q
    assert st.bootstrap_correlation_ci(quiet, ys, "pearson") == [low_q, high_q]  # seeded
    assert st.bootstrap_correlation_ci(quiet[:2], ys[:2], "pearson") is None


def test_one_sample_t_test():
    assert st.one_sample_t_p([51.0, 52.0, 53.0], 50.0) == pytest.approx(stats.ttest_1samp([51, 52, 53], 50).pvalue)
    assert st.one_sample_t_p([50.0], 50.0) is None and st.one_sample_t_p([1.0, 1.0], 0.0) is None


# ------------------------------------------------------------------------------------------------ masked blocks


@pytest.fixture(scope="module")
def tokenizer():
    from pe_bert.data.compact import compact_language
    from pe_bert.training.tokenizer import word_level_tokenizer

    return word_level_tokenizer(compact_language().vocabulary, model_max_length=64)


def test_blocks_pack_sentences_mask_words_only_and_carry_exact_floors(tokenizer):
    from pe_bert.data.compact import compact_language, compact_sentences
    from pe_bert.study.mlm_eval import IGNORE, pack_blocks

    language = compact_language()
    sentences = [list(s.words) for s in compact_sentences(30, seed=4)]
    blocks = pack_blocks(sentences, tokenizer, 24, 0.2, seed=0, automaton=language)
    again = pack_blocks(sentences, tokenizer, 24, 0.2, seed=0, automaton=language)
    np.testing.assert_array_equal(blocks.input_ids, again.input_ids)
    assert blocks.input_ids.shape[1] == 24 and (blocks.input_ids[:, 0] == tokenizer.cls_token_id).all()
    masked = blocks.labels != IGNORE
    assert (blocks.input_ids[masked] == tokenizer.mask_token_id).all()
    special = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id}
    assert not set(blocks.labels[masked].tolist()) & special
    assert blocks.num_masked == len(blocks.bayes_loss) == len(blocks.unigram_loss) > 0
    # the first block's first sentence: its floors are the automaton's exact posteriors
    first = sentences[0]
    visible = [None if blocks.input_ids[0, 1 + i] == tokenizer.mask_token_id else w for i, w in enumerate(first)]
    posterior = language.masked_posteriors(visible)
    expected = [-math.log(posterior[i][language.word_ids[first[i]]]) for i in sorted(posterior)]
    np.testing.assert_allclose(blocks.bayes_loss[: len(expected)], expected)
    floors = blocks.floors()
    assert floors["bayes_loss"] < floors["unigram_loss"] and floors["length"] == 24


def test_model_loss_on_blocks_and_the_share_of_signal(tokenizer):
    import torch
    from transformers import AutoModelForMaskedLM

    from pe_bert import PEBertConfig
    from pe_bert.data.compact import compact_language, compact_sentences
    from pe_bert.study.mlm_eval import masked_token_losses, pack_blocks, share_captured

    torch.manual_seed(0)
    model = AutoModelForMaskedLM.from_config(PEBertConfig(
        position_encoding="rope", vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32, max_position_embeddings=32))
    blocks = pack_blocks([list(s.words) for s in compact_sentences(20, seed=2)], tokenizer, 16, 0.3, 1,
                         compact_language())
    losses = masked_token_losses(model, blocks, batch_size=4)
    assert losses.shape == (blocks.num_masked,) and np.isfinite(losses).all()
    assert losses.mean() == pytest.approx(math.log(len(tokenizer)), rel=0.2)  # an untrained model: ~uniform
    assert share_captured(2.0, 4.0, 2.0) == 1.0 and share_captured(4.0, 4.0, 2.0) == 0.0
    assert share_captured(None, 4.0, 2.0) is None

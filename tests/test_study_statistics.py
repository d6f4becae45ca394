"""The study's statistics and its masked-token evaluation blocks: intervals, Holm, permutation p-values, the sign
test, the two-way ANOVA and its Tukey bound, design power, the within-cell bootstrap, packing and exact floors."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from pe_bert.study import statistics

from helpers import MICRO_SHAPE


def test_summary_is_mean_std_and_a_student_t_interval():
    entry = statistics.summarize([0.9, 0.92, 0.97, None, float("nan")])
    assert entry["n"] == 3 and entry["mean"] == pytest.approx(0.93)
    assert entry["std"] == pytest.approx(np.std([0.9, 0.92, 0.97], ddof=1))
    half = stats.t.ppf(0.975, 2) * entry["std"] / math.sqrt(3)
    assert entry["ci95"] == pytest.approx([0.93 - half, 0.93 + half])
    assert statistics.summarize([0.5], scale=100) == {"mean": 50.0, "std": None, "n": 1, "ci95": None}
    assert statistics.summarize([]) == {"mean": None, "std": None, "n": 0, "ci95": None}


def test_holm_matches_its_definition():
    p = [0.01, 0.04, None, 0.03, 0.2]
    adjusted = statistics.holm(p)
    # sorted 0.01, 0.03, 0.04, 0.2 with m = 4: 0.04, 0.09, max(0.09, 0.08) = 0.09, max(0.09, 0.2) = 0.2
    assert adjusted[2] is None and adjusted[0] == pytest.approx(0.04) and adjusted[1] == pytest.approx(0.09)
    assert adjusted[3] == pytest.approx(0.09) and adjusted[4] == pytest.approx(0.2)
    assert statistics.holm([0.5, 0.9]) == [1.0, 1.0] and statistics.holm([None]) == [None]


def test_spearman_permutation_test_is_exact_for_few_points_and_never_zero_when_randomised():
    x, y = [1, 2, 3, 4, 5], [2, 1, 4, 3, 5]
    rho = stats.spearmanr(x, y).statistic
    count = sum(
        abs(stats.spearmanr(x, [y[i] for i in order]).statistic) >= abs(rho) - 1e-12
        for order in itertools.permutations(range(5))
    )
    exact = statistics.spearman_test(x, y)
    assert exact["exact"] and exact["rho"] == pytest.approx(rho) and exact["p"] == pytest.approx(count / 120)
    assert exact["smallest_p"] == pytest.approx(2 / 120)
    # 12 points: 12! pairings cannot be enumerated; a perfect correlation gets (b + 1) / (m + 1), doubled, not 0
    perfect = statistics.spearman_test(list(range(12)), list(range(12)))
    assert not perfect["exact"] and perfect["p"] == pytest.approx(2 / (statistics.PERMUTATIONS + 1))
    assert perfect["smallest_p"] == pytest.approx(2 / (statistics.PERMUTATIONS + 1))
    assert statistics.spearman_test([1, 2, 3, 4], [5, 5, 5, 5])["p"] is None  # constant side: undefined
    assert statistics.smallest_permutation_p(5) == {"p": 2 / 120, "exact": True}
    assert statistics.spearman_test(x, y, seed=3) == exact  # exact: no randomness


def test_sign_test_drops_ties_and_counts_them():
    result = statistics.sign_test(20, 0, 80)
    assert result["n"] == 20 and result["ties"] == 80
    assert result["p"] == pytest.approx(2 * 0.5**20) == pytest.approx(stats.binomtest(20, 20).pvalue)
    assert statistics.sign_test(0, 0, 100)["p"] is None  # only ties: nothing to test


def test_two_way_anova_matches_the_sums_of_squares_and_bounds_the_spread():
    rng = np.random.default_rng(0)
    ws, ss, seeds = ["a", "b", "c", "d"], ["x", "y", "z"], 2
    effect = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 3.0}
    y = {(w, s, k): effect[w] + rng.normal(0, 0.5) for w in ws for s in ss for k in range(seeds)}
    result = statistics.two_way_anova([(w, s, v) for (w, s, _), v in y.items()])
    values = np.array([[[y[w, s, k] for k in range(seeds)] for s in ss] for w in ws])  # [w, s, seed]
    grand, cell = values.mean(), values.mean(axis=2)
    ss_w = len(ss) * seeds * ((values.mean(axis=(1, 2)) - grand) ** 2).sum()
    ss_residual = ((values - cell[..., None]) ** 2).sum()
    df_residual = len(ws) * len(ss) * (seeds - 1)
    f_w = (ss_w / 3) / (ss_residual / df_residual)
    assert result["residual_df"] == df_residual == 12 and result["w"]["df"] == 3
    assert result["w"]["F"] == pytest.approx(f_w) and result["w"]["p"] == pytest.approx(stats.f.sf(f_w, 3, 12))
    means = values.mean(axis=(1, 2))
    assert result["w"]["spread"] == pytest.approx(means.max() - means.min()) and result["w"]["best"] == "d"
    half = stats.studentized_range.ppf(0.95, 4, 12) * math.sqrt(ss_residual / df_residual / (len(ss) * seeds))
    assert result["w"]["spread_ci95"] == pytest.approx([np.ptp(means) - half, np.ptp(means) + half])
    assert result["w"]["p"] < 1e-4 and result["s"]["p"] > 0.01  # the planted effect, and none on s
    assert statistics.two_way_anova([(w, s, 1.0) for w in ws for s in ss]) is None  # one seed: no residual df


def test_design_power_is_alpha_without_effect_and_grows_with_it():
    assert statistics.anova_power((4, 3), 2, 0.0, 1.0, alpha=0.05, simulations=4000) == pytest.approx(0.05, abs=0.015)
    assert (
        statistics.anova_power((4, 3), 2, 2.0, 1.0)
        < statistics.anova_power((4, 3), 2, 4.0, 1.0)
        < statistics.anova_power((4, 3), 3, 4.0, 1.0)
    )
    assert statistics.spearman_power(12, 0.0, alpha=0.05) == pytest.approx(0.05, abs=0.02)
    # 4 points: p >= 2/24 > 0.025 always, so the first Holm step of two tests can never pass; 5 points: only the
    # perfect order reaches 2/120
    assert statistics.spearman_power(4, 0.99) == 0.0 and 0 < statistics.spearman_power(5, 0.99) < 1
    assert statistics.spearman_power(12, 0.9) > 0.8


def test_two_way_anova_and_holm_equal_statsmodels_on_an_unbalanced_design():
    import pandas as pd
    from statsmodels.formula.api import ols
    from statsmodels.stats.anova import anova_lm
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(0)
    levels_a, levels_b = ("0.02", "0.1", "0.5", "2"), ("1", "0.5", "0.2")
    rows = [(a, b, rng.normal(2 * i + j, 1.0)) for i, a in enumerate(levels_a) for j, b in enumerate(levels_b)]
    rows = [row for row in rows for _ in range(3)][:-2]  # replicates, two runs missing: unbalanced
    rows = [(a, b, y + rng.normal(0, 0.5)) for a, b, y in rows]
    ours = statistics.two_way_anova(rows, ("w", "s"))
    table = anova_lm(ols("y ~ C(w) * C(s)", data=pd.DataFrame(rows, columns=["w", "s", "y"])).fit(), typ=2)
    for factor, term in (("w", "C(w)"), ("s", "C(s)"), ("interaction", "C(w):C(s)")):
        assert ours[factor]["F"] == pytest.approx(table.loc[term, "F"], rel=1e-9)
        assert ours[factor]["p"] == pytest.approx(table.loc[term, "PR(>F)"], rel=1e-9)
        assert ours[factor]["df"] == table.loc[term, "df"]
    assert ours["mse"] == pytest.approx(table.loc["Residual", "sum_sq"] / table.loc["Residual", "df"], rel=1e-9)
    p = list(rng.uniform(0, 0.2, 7)) + [None]
    expected = multipletests([v for v in p if v is not None], method="holm")[1]
    assert statistics.holm(p)[:-1] == pytest.approx(list(expected)) and statistics.holm(p)[-1] is None


@pytest.mark.parametrize("cells", [12, 15])  # the grid's cell means; every variant of the default study
@pytest.mark.parametrize("rho", [0.0, 0.5, 0.8, 0.95])
def test_the_correlation_interval_covers_the_true_rho_at_the_studys_sizes(cells, rho):
    """Simulated coverage of the Fisher-z interval (Bonett-Wright standard error) of Spearman's rho: at least 93 %
    for a nominal 95 %, at the sizes the study uses. (The within-cell bootstrap over 2 seeds it replaces covered
    about 75 %.)"""
    assert statistics.spearman_interval_coverage(cells, rho, simulations=3000) >= 0.93


def test_the_correlation_interval_is_fisher_z_with_the_bonett_wright_error():
    low, high = statistics.spearman_interval(0.6, 12)
    half = stats.norm.ppf(0.975) * math.sqrt((1 + 0.6**2 / 2) / 9)
    assert (low, high) == pytest.approx((math.tanh(math.atanh(0.6) - half), math.tanh(math.atanh(0.6) + half)))
    assert statistics.spearman_interval(None, 12) is None and statistics.spearman_interval(0.5, 3) is None
    assert statistics.spearman_interval(1.0, 12) == [1.0, 1.0]


def test_no_p_value_is_ever_exactly_zero():
    """scipy's binomtest returns 0.0 past about a thousand pairs; the sign test computes in log space and floors
    what a double cannot hold, marking it as a bound."""
    assert stats.binomtest(2000, 2000).pvalue == 0.0  # what the old sign test reported
    huge = statistics.sign_test(2000, 0)
    assert huge["p"] == statistics.P_FLOOR and huge["p_bound"]
    big = statistics.sign_test(700, 300)
    assert big["p"] == pytest.approx(stats.binomtest(700, 1000).pvalue, rel=1e-9) and not big["p_bound"]
    assert statistics.sign_test(5, 5)["p"] == 1.0
    assert statistics.binomial_greater_p(1000, 1000, 1 / 7)["p_bound"]
    rows = [(a, b, 100.0 * (a == "x") + 1e-3 * (k % 7)) for a in "xy" for b in "uv" for k in range(60)]
    anova = statistics.two_way_anova(rows, ("w", "s"))
    assert anova["w"]["p"] > 0 and anova["w"]["p_bound"]  # F is astronomically large: a bound, not 0
    assert statistics.bounded_p(math.log(0.03)) == {"p": pytest.approx(0.03), "p_bound": False}


def test_one_sample_t_test():
    assert statistics.one_sample_t_p([51.0, 52.0, 53.0], 50.0) == pytest.approx(
        stats.ttest_1samp([51, 52, 53], 50).pvalue
    )
    assert statistics.one_sample_t_p([50.0], 50.0) is None and statistics.one_sample_t_p([1.0, 1.0], 0.0) is None


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
    model = AutoModelForMaskedLM.from_config(
        PEBertConfig(
            position_encoding="rope",
            vocab_size=len(tokenizer),
            **MICRO_SHAPE,
            max_position_embeddings=32,
        )
    )
    blocks = pack_blocks(
        [list(s.words) for s in compact_sentences(20, seed=2)], tokenizer, 16, 0.3, 1, compact_language()
    )
    losses = masked_token_losses(model, blocks, batch_size=4)
    assert losses.shape == (blocks.num_masked,) and np.isfinite(losses).all()
    assert losses.mean() == pytest.approx(math.log(len(tokenizer)), rel=0.2)  # an untrained model: ~uniform
    assert share_captured(2.0, 4.0, 2.0) == 1.0 and share_captured(4.0, 4.0, 2.0) == 0.0
    assert share_captured(None, 4.0, 2.0) is None

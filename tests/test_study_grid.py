"""The study's facts stated once: the grid's knobs (grid.py) drive the variants, the hypotheses and the labels; the
config says which built-in grammar its corpus, tasks and plan use."""

from pe_bert.data import vocabulary
from pe_bert.data.compact import compact_language
from pe_bert.study import plan
from pe_bert.study.config import StudyConfig
from pe_bert.study.grid import ATTENUATED, FACTORS, KNOBS, knob_values, level, variant_label
from pe_bert.study.hypotheses import HYPOTHESES, cells
from pe_bert.training.tokenizer import SPECIAL_TOKENS

from helpers import stub_run


def test_the_grid_variants_hypotheses_and_cells_come_from_the_knobs():
    config = StudyConfig(variants=[ATTENUATED], attenuated_w=[0.5, 2], attenuated_s=[1.0], untrained_control="")
    specs = config.variant_specs()
    assert [spec.label for spec in specs] == ["attenuated-w0.5-s1", "attenuated-w2-s1"]
    assert [spec.label for spec in specs] == [variant_label(w, s) for w, s in config.attenuated_grid()]
    assert [knob_values(spec.overrides) for spec in specs] == [(0.5, 1.0), (2.0, 1.0)]
    assert knob_values({"locality_w": 1.0}) is None  # half a cell is no cell
    assert [h["factor"] for h in HYPOTHESES.values()] == list(FACTORS) == [k.factor for k in KNOBS]
    assert [h["property"] for h in HYPOTHESES.values()] == [k.property for k in KNOBS]
    assert level(2.0) == "2" and level(0.02) == "0.02"
    runs = [stub_run(position_encoding=spec.position_encoding, overrides=spec.overrides) for spec in specs]
    assert list(cells(runs)) == [(0.5, 1.0), (2.0, 1.0)]


def test_the_config_says_which_built_in_grammar_it_uses(tmp_path):
    compact = StudyConfig(variants=["none"])
    rich = StudyConfig(variants=["none"], builtin_grammar="rich")
    assert compact.corpus_language() is compact_language() and rich.corpus_language() is None
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the dog saw the cat .\n")
    assert StudyConfig(variants=["none"], train_file=str(corpus)).corpus_language() is None
    assert compact.builtin_vocabulary() == list(compact_language().vocabulary)
    assert rich.builtin_vocabulary() == sorted(vocabulary())
    assert [len(s.words) > 0 for s in rich.builtin_sentences(3, seed=1)] == [True] * 3
    # the dry-run plan sizes the word-level vocabulary of the study's grammar
    for config in (compact, rich):
        assert plan._vocabulary_size(config) == len(config.builtin_vocabulary()) + len(SPECIAL_TOKENS)

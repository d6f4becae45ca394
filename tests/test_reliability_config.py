"""Bad values in configs and model inputs: each one is a clear ValueError naming the field and the fix, never a
silent default, a NaN loss or a swapped positional encoding."""

import json
import math
import re

import pytest
import torch

import pe_bert
from pe_bert import PEBertConfig, PEBertForMaskedLM, PEBertModel

from test_models import tiny_config

FLOAT_HYPERPARAMETERS = [
    (pe, spec.name)
    for pe, cls in pe_bert.POSITION_ENCODING_CLASSES.items()
    for spec in cls.hyperparameters
    if spec.type is float
]


@pytest.mark.parametrize("variant, name", FLOAT_HYPERPARAMETERS)
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_hyperparameters_are_rejected_by_name(variant, name, value):
    with pytest.raises(ValueError, match=f"`{name}` must be a finite number, got {value}"):
        tiny_config(variant, **{name: value})


def test_non_finite_hyperparameter_in_a_saved_config_is_rejected(tmp_path):
    tiny_config("rope").save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"rope_theta": 10000.0', '"rope_theta": NaN'))
    with pytest.raises(ValueError, match="`rope_theta` must be a finite number"):
        PEBertConfig.from_pretrained(tmp_path)
    tiny_config("rope").save_pretrained(tmp_path / "valid")
    with pytest.raises(ValueError, match="`rope_theta` must be a finite number"):
        PEBertConfig.from_pretrained(tmp_path / "valid", rope_theta=float("inf"))  # an override on load


@pytest.mark.parametrize(
    "keyword, suggestion",
    [
        ("positon_encoding", "position_encoding"),
        ("rope_thta", "rope_theta"),
        ("num_hiden_layers", "num_hidden_layers"),
        ("hiden_size", "hidden_size"),
    ],
)
def test_misspelt_keywords_suggest_the_close_match(keyword, suggestion):
    with pytest.raises(ValueError, match=f"unknown keyword '{keyword}'; did you mean '{suggestion}'"):
        PEBertConfig(**{keyword: "rope" if "encoding" in keyword else 3})


def test_an_attribute_a_library_sets_saves_and_loads_again_with_a_warning(tmp_path, caplog):
    """transformers' own test utilities set `layer_norm_epsilon` on any config; a checkpoint saved with it must load
    (the misspelling guard errors only on keywords typed at construction)."""
    from transformers import AutoConfig, AutoModel

    config = tiny_config("rope")
    config.layer_norm_epsilon = 1.0
    config.my_library_flag = {"nested": [1, 2]}
    AutoModel.from_config(config).save_pretrained(tmp_path)
    with caplog.at_level("WARNING", logger="pe_bert.configuration"):
        loaded = AutoConfig.from_pretrained(tmp_path)
        AutoModel.from_pretrained(tmp_path)
    assert loaded.layer_norm_epsilon == 1.0 and loaded.my_library_flag == {"nested": [1, 2]}
    assert loaded.layer_norm_eps == config.layer_norm_eps  # kept apart, not mistaken for ours
    assert "unknown key 'layer_norm_epsilon'" in caplog.text and "'layer_norm_eps'" in caplog.text
    loaded.save_pretrained(tmp_path / "again")  # and round-trips
    assert json.loads((tmp_path / "again" / "config.json").read_text())["layer_norm_epsilon"] == 1.0


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(hidden_dropout_prob=math.nan), "`hidden_dropout_prob` must be a finite number, got nan"),
        (dict(hidden_dropout_prob=1.5), "`hidden_dropout_prob` must be >= 0 and < 1, got 1.5"),
        (dict(attention_probs_dropout_prob=-0.1), "`attention_probs_dropout_prob` must be >= 0 and < 1"),
        (dict(classifier_dropout=1.0), "`classifier_dropout` must be >= 0 and < 1"),
        (dict(layer_norm_eps=-1.0), "`layer_norm_eps` must be > 0 and <= 1, got -1.0"),
        (dict(initializer_range=math.nan), "`initializer_range` must be a finite number"),
        (dict(type_vocab_size=0), "`type_vocab_size` must be > 0 and <= 1024, got 0"),
        (dict(hidden_act="bogus"), "`hidden_act` 'bogus' is not an activation transformers knows; use one of .*gelu"),
        (dict(pad_token_id=100), "`pad_token_id` 100 is outside the vocabulary"),
    ],
)
def test_every_numeric_and_categorical_field_is_checked_at_creation(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config("rope", **overrides)


def test_weights_that_do_not_fit_the_configs_pe_are_refused_naming_both(tmp_path):
    from transformers import AutoModel, AutoModelForMaskedLM

    AutoModelForMaskedLM.from_config(tiny_config("learned")).save_pretrained(tmp_path)
    AutoModel.from_pretrained(tmp_path)  # fits: loads
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"position_encoding": "learned"', '"position_encoding": "rope"'))
    with pytest.raises(
        ValueError,
        match=r"says position_encoding='rope', but its weights hold positional weights "
        r"it does not use \(bert.embeddings.position_embeddings.weight\)",
    ):
        AutoModel.from_pretrained(tmp_path)
    path.write_text(path.read_text().replace('"position_encoding": "rope"', '"position_encoding": "t5"'))
    with pytest.raises(ValueError, match="none of the positional weights it needs"):
        AutoModelForMaskedLM.from_pretrained(tmp_path)


def test_unrelated_extra_keys_stay_accepted_like_transformers_configs():
    config = PEBertConfig(use_cache=False, my_project_note="kept", num_labels=3)
    assert config.my_project_note == "kept" and config.num_labels == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(num_attention_heads=0), "`num_attention_heads` must be > 0 and <= 4096, got 0"),
        (dict(hidden_size=0), "`hidden_size` must be > 0"),
        (dict(vocab_size=-5), "`vocab_size` must be > 0"),
        (dict(max_position_embeddings=0), "`max_position_embeddings` must be > 0"),
        (dict(hidden_size=30, num_attention_heads=4), r"hidden_size \(30\) must be a multiple of num_attention_heads"),
    ],
)
def test_bad_shapes_are_rejected_when_the_config_is_created(overrides, message):
    with pytest.raises(ValueError, match=message):
        tiny_config("learned", **overrides)


def test_empty_sequence_is_a_clear_error():
    model = PEBertModel(tiny_config("rope")).eval()
    with pytest.raises(ValueError, match="no tokens"):
        model(input_ids=torch.zeros(2, 0, dtype=torch.long))


def test_loading_a_checkpoint_as_another_pe_is_refused(tmp_path, minilm_path):
    with pytest.raises(ValueError, match="trained with position_encoding='learned'; loading it as 'rope'"):
        PEBertModel.from_pretrained(minilm_path, position_encoding="rope")
    PEBertForMaskedLM(tiny_config("alibi")).save_pretrained(tmp_path)
    from transformers import AutoModel

    with pytest.raises(ValueError, match="trained with position_encoding='alibi'; loading it as 'rope'"):
        AutoModel.from_pretrained(tmp_path, position_encoding="rope")
    # Asking for the PE it has is fine, and hyper-parameters may be changed on load (e.g. for extrapolation studies).
    PEBertForMaskedLM(tiny_config("rope")).save_pretrained(tmp_path / "rope")
    model = AutoModel.from_pretrained(tmp_path / "rope", position_encoding="rope", rope_theta=500.0)
    assert model.config.rope_theta == 500.0


def test_relative_key_bert_configs_are_refused_with_the_alternative(tmp_path):
    values = json.loads(PEBertConfig().to_json_string())
    values.update(model_type="bert", position_embedding_type="relative_key")
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'.*position_encoding='shaw'"):
        PEBertConfig(**{k: v for k, v in values.items() if k != "position_encoding"})


def test_changing_the_pe_after_creation_fills_and_drops_hyperparameters():
    config = tiny_config("learned")
    config.position_encoding = "rope"
    model = PEBertModel(config)  # the model checks the config it is given
    assert config.rope_theta == 10000.0 and model.position_encoding.name == "rope"
    config.position_encoding = "alibi"
    assert "rope_theta" not in config.to_dict()


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "attenuated",
            {
                "locality_w": 2.0,
                "symmetry_s": 0.25,
                "attenuated_bias": "log",
                "attenuated_learnable": "none",
                "attenuated_table": "signed",
                "attenuated_asymmetry": "exponent",  # new since: the published form, as the checkpoint was trained
            },
        ),
        ("rope", {"rope_theta": 500.0, "rope_fraction": 1.0}),
    ],
)
def test_config_json_of_the_previous_release_loads_unchanged(name, expected, tmp_path):
    """Configs written before PEs declared their own hyper-parameters stored every PE's fields: they load as the same
    model, and the other PEs' (default) values are dropped."""
    from pathlib import Path

    folder = tmp_path / name
    folder.mkdir()
    legacy = Path(__file__).parent / "data" / "legacy_configs" / f"{name}.json"
    (folder / "config.json").write_text(legacy.read_text())
    config = PEBertConfig.from_pretrained(folder)
    assert config.position_encoding == name and config.position_hyperparameters() == expected
    assert config.hidden_size == 64 and "window_size" not in config.to_dict()
    PEBertModel(config)  # builds


def test_config_errors_are_usage_errors_the_command_lines_print_as_one_line():
    from pe_bert.errors import InvalidInputError, UsageError

    with pytest.raises(InvalidInputError) as error:
        tiny_config("rope", rope_theta=float("nan"))
    assert isinstance(error.value, UsageError) and isinstance(error.value, ValueError)
    with pytest.raises(InvalidInputError, match="Unknown position_encoding 'rop'. Did you mean 'rope'"):
        tiny_config("rop")


# ----------------------------------------------------------------------------------------------- round 4


@pytest.mark.parametrize(
    "variant, overrides, message",
    [
        ("attenuated", dict(locality_w=1e39), "`locality_w` must be >= 0 and <= 10000, got 1e+39"),
        ("rope", dict(rope_theta=1e39), "`rope_theta` must be > 0 and <= 1e+12, got 1e+39"),
        ("pam", dict(pam_temperature_power=1e4), "`pam_temperature_power` must be > 0 and <= 8, got 10000.0"),
        ("dynamic", dict(dynamic_hidden_size=10**6), "`dynamic_hidden_size` must be > 0 and <= 4096, got 1000000"),
        ("learned", dict(max_position_embeddings=10**9), "`max_position_embeddings` must be > 0 and <= 1048576"),
        ("learned", dict(max_position_embeddings=10**20), "`max_position_embeddings` must be > 0 and <= 1048576"),
        ("learned", dict(initializer_range=1e39), "`initializer_range` must be >= 0 and <= 10, got 1e+39"),
        ("learned", dict(vocab_size=10**12), "`vocab_size` must be > 0 and <= 16777216"),
    ],
)
def test_huge_values_are_refused_at_creation_naming_the_bound(variant, overrides, message):
    """Values that would give NaN outputs, an allocation error or an overflow much later are refused here."""
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_config(variant, **overrides)


def test_every_numeric_hyperparameter_and_field_declares_an_upper_bound():
    from pe_bert.configuration import FIELD_BOUNDS

    declarations = [s for cls in pe_bert.POSITION_ENCODING_CLASSES.values() for s in cls.hyperparameters]
    unbounded = [s.name for s in [*declarations, *FIELD_BOUNDS.values()] if s.type in (int, float) and s.lt is s.le]
    assert unbounded == []  # `lt is le` only when both are None


@pytest.mark.parametrize("edited_to", ["alibi", "none"])
def test_a_config_edited_to_another_pe_is_refused_naming_the_one_it_was_saved_for(tmp_path, edited_to):
    """rope, alibi and none have no positional weights: the hyper-parameters a saved config holds are the evidence."""
    from transformers import AutoModel

    PEBertForMaskedLM(tiny_config("rope")).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"position_encoding": "rope"', f'"position_encoding": "{edited_to}"'))
    with pytest.raises(
        ValueError,
        match=rf"says position_encoding='{edited_to}' but holds the hyper-parameters of 'rope' \(rope_fraction, "
        r"rope_theta\).*Restore position_encoding to 'rope'",
    ):
        AutoModel.from_pretrained(tmp_path)


def test_pe_keywords_that_do_not_belong_to_the_checkpoints_pe_are_a_clear_error(tmp_path):
    from transformers import AutoModel

    PEBertForMaskedLM(tiny_config("rope")).save_pretrained(tmp_path)
    with pytest.raises(
        ValueError,
        match=r"`locality_w` is a hyper-parameter of 'attenuated', 'pam', not of this checkpoint's "
        r"position_encoding='rope', so it would have no effect\. Drop it; the checkpoint's own are: rope_theta",
    ):
        AutoModel.from_pretrained(tmp_path, locality_w=1.0)
    assert AutoModel.from_pretrained(tmp_path, rope_theta=500.0).config.rope_theta == 500.0  # its own: fine

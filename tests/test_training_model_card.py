"""Model cards: rendered from the config and the measured numbers, valid Hub metadata, template found anywhere."""

from importlib import resources
from pathlib import Path

import pytest
from huggingface_hub import ModelCard, ModelCardData
from huggingface_hub.repocard_data import model_index_to_eval_results

import pe_bert
from pe_bert import model_card


@pytest.fixture
def rope_config():
    return pe_bert.PEBertConfig(
        position_encoding="rope",
        rope_theta=500.0,
        rope_fraction=0.5,
        vocab_size=1000,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=128,
    )


METRICS = {
    "eval_loss": 2.5,
    "perplexity": 12.182494,
    "eval_accuracy": 0.4321,
    "eval_runtime": 1.2,
    "eval_samples_per_second": 100.0,
    "eval_samples": 50,
    "train_loss": 3.0,
    "epoch": 2.0,
}


def test_card_renders_config_pe_and_numbers_as_valid_hub_metadata(tmp_path, rope_config):
    card = model_card.write_model_card(
        tmp_path / "mlm-rope",
        rope_config,
        task="fill-mask",
        metrics=METRICS,
        dataset_name="wikitext",
        dataset_id="wikitext",
        dataset_config="wikitext-103-raw-v1",
        extra={"max_seq_length": 128},
    )
    text = (tmp_path / "mlm-rope" / "README.md").read_text()
    assert text == str(card) + "\n" or text.rstrip() == str(card).rstrip()
    # Body: the PE, its hyper-parameters, the architecture and the numbers.
    for expected in (
        "**rope**",
        "`rope_theta` | `500`",
        "`rope_fraction` | `0.5`",
        "`hidden_size` | `64`",
        "`num_hidden_layers` | `2`",
        "| Perplexity | 12.18 | validation |",
        "| Accuracy | 0.4321 |",
        "max_seq_length | `128`",
        "AutoModelForMaskedLM",
    ):
        assert expected in text, expected
    # Speed numbers and counts are not presented as results.
    assert "samples_per_second" not in text.split("## Training")[0]

    # Metadata: parses back through huggingface_hub, as the Hub would.
    parsed = ModelCard(text)
    data = parsed.data
    assert isinstance(data, ModelCardData)
    assert data.library_name == "transformers"
    assert data.pipeline_tag == "fill-mask"
    assert {"pe_bert", "positional-encoding", "rope"} <= set(data.tags)
    assert data.datasets == ["wikitext"]
    assert set(data.metrics) == {"accuracy", "loss", "perplexity"}
    model_name, results = model_index_to_eval_results(data.to_dict()["model-index"])
    assert model_name == "mlm-rope"
    values = {r.metric_type: r.metric_value for r in results}
    assert values == {"loss": 2.5, "accuracy": 0.4321, "perplexity": pytest.approx(12.182494)}
    assert {r.dataset_type for r in results} == {"wikitext"}
    assert {r.dataset_config for r in results} == {"wikitext-103-raw-v1"}
    assert {r.task_type for r in results} == {"fill-mask"}


def test_classification_card_with_grid_and_mnli_mismatched(tmp_path):
    config = pe_bert.PEBertConfig(
        position_encoding="attenuated",
        locality_w=0.5,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    card = model_card.render_model_card(
        config,
        task="text-classification",
        metrics={"eval_accuracy": 0.8, "eval_accuracy_mm": 0.79, "eval_loss": 0.5, "eval_loss_mm": 0.6},
        dataset_name="mnli",
        dataset_id="nyu-mll/glue",
        dataset_config="mnli",
        model_name="nli-attenuated",
        grid=[{"learning_rate": 1e-5, "value": 0.7}, {"learning_rate": 3e-5, "value": 0.8}],
        grid_metric="accuracy",
        base_model="org/bert-attenuated",
    )
    text = str(card)
    assert "`locality_w` | `0.5`" in text and "`attenuated_bias` | `prob`" in text
    assert "| 1e-05 | 0.7 |" in text and "| 3e-05 | 0.8 |" in text
    assert "validation_mismatched" in text and "AutoModelForSequenceClassification" in text
    data = ModelCard(text).data
    assert data.base_model == "org/bert-attenuated"
    _, results = model_index_to_eval_results(data.to_dict()["model-index"])
    splits = {(r.metric_type, r.dataset_split): r.metric_value for r in results}
    assert splits[("accuracy", "validation")] == 0.8 and splits[("accuracy", "validation_mismatched")] == 0.79


def test_non_finite_metrics_stay_out_of_the_metadata(rope_config):
    card = model_card.render_model_card(
        rope_config,
        task="fill-mask",
        metrics={"eval_loss": 800.0, "perplexity": float("inf")},
        dataset_name="pe_bert built-in corpus",
        model_name="m",
    )
    data = ModelCard(str(card)).data
    assert data.datasets is None  # the built-in corpus is not a Hub dataset
    _, results = model_index_to_eval_results(data.to_dict()["model-index"])
    assert [r.metric_type for r in results] == ["loss"]


def test_template_is_found_from_a_checkout_and_from_the_installed_package(monkeypatch, tmp_path):
    source = Path(pe_bert.__file__).resolve().parents[1] / "model_cards" / model_card.DEFAULT_TEMPLATE
    packaged = resources.files("pe_bert.training") / "templates" / model_card.DEFAULT_TEMPLATE
    # The packaged copy is what an installed pe_bert uses: it must be the same template.
    assert source.read_text() == packaged.read_text()
    assert model_card.find_template() == source

    # Installed (no model_cards/ next to the package): the packaged copy is used.
    fake_module = tmp_path / "site-packages" / "pe_bert" / "model_card.py"
    monkeypatch.setattr(model_card, "__file__", str(fake_module))
    assert model_card.find_template().read_text() == source.read_text()
    with pytest.raises(FileNotFoundError, match="no_such.md"):
        model_card.find_template("no_such.md")

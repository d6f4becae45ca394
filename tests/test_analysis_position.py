"""Identical-token probing on pe_bert models (none, alibi) and on stock BERT."""

import json

import pytest
import torch
from transformers import AutoModel

import pe_bert
from pe_bert.analysis import PositionAttention, neutral_token_id, position_attention

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SMALL = dict(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)


def _model(position_encoding):
    torch.manual_seed(0)
    return pe_bert.PEBertModel(pe_bert.PEBertConfig(position_encoding=position_encoding, **SMALL))


def test_no_positional_encoding_gives_uniform_rows():
    model = _model("none")
    before = model.config._attn_implementation
    result = position_attention(model, seq_len=10)
    assert model.config._attn_implementation == before
    assert isinstance(result, PositionAttention)
    assert result.attentions.shape == (2, 4, 10, 10)
    torch.testing.assert_close(result.attentions, torch.full((2, 4, 10, 10), 0.1), rtol=0, atol=1e-6)
    assert result.position_bias is None
    for name in ("symmetry", "symmetry_mass", "translation_invariance", "transpose_symmetry"):
        assert torch.allclose(result.scores[name], torch.ones(2, 4), atol=1e-5), name
    assert torch.isnan(result.monotonicity_right).all()  # constant rows have no rank correlation


def test_alibi_gives_symmetric_monotone_rows_and_exposes_its_bias():
    model = _model("alibi")
    result = position_attention(model, seq_len=12)
    attentions = result.attentions.double()
    torch.testing.assert_close(attentions, attentions.flip(-1).flip(-2), rtol=0, atol=1e-6)  # centro-symmetric
    for name in ("symmetry", "symmetry_mass"):
        assert torch.all(result.scores[name] > 1 - 1e-4), name
    assert torch.all(result.monotonicity_left > 0.99) and torch.all(result.monotonicity_right > 0.99)
    # rows fall off from the diagonal in both directions
    row = attentions[0, 0, 6]
    assert torch.all(row[:6].diff() > 0) and torch.all(row[6:].diff() < 0)
    assert result.position_bias is not None and result.position_bias.shape[-3:] == (4, 12, 12)
    assert torch.all(result.position_bias.diagonal(dim1=-2, dim2=-1) >= result.position_bias.amax(-1) - 1e-6)


def test_locality_grows_with_alibi_compared_to_no_encoding():
    assert position_attention(_model("alibi"), 16).mean("locality") > position_attention(_model("none"), 16).mean(
        "locality"
    )


def test_stock_bert_and_outputs(minilm_path, tmp_path):
    model = AutoModel.from_pretrained(minilm_path)
    assert neutral_token_id(model.config) == 1  # [PAD] = 0; 1 is an unused vocabulary slot
    result = position_attention(model, seq_len=8)
    assert model.config._attn_implementation == "sdpa"
    assert result.attentions.shape == (6, 12, 8, 8) and result.position_bias is None
    torch.testing.assert_close(result.attentions.sum(-1), torch.ones(6, 12, 8), rtol=0, atol=1e-5)
    assert set(result.scores) >= {
        "locality",
        "symmetry",
        "symmetry_mass",
        "monotonicity_left",
        "translation_invariance",
    }
    data = json.loads(result.to_json(tmp_path / "position.json").read_text())
    assert data["seq_len"] == 8 and len(data["per_head"]["locality"]) == 6
    image = result.plot(tmp_path / "position.png")
    assert image.read_bytes()[:4] == b"\x89PNG"
    assert result.plot_bias(tmp_path / "bias.png") is None


def test_bias_plot_and_explicit_token(tmp_path):
    result = position_attention(_model("alibi"), seq_len=6, token_id=42)
    assert result.token_id == 42
    assert result.plot_bias(tmp_path / "bias.png").read_bytes()[:4] == b"\x89PNG"


def test_invalid_length():
    with pytest.raises(ValueError, match="seq_len"):
        position_attention(_model("none"), seq_len=0)

"""score_attention on a real stock BERT checkpoint (all-MiniLM-L6-v2, loaded with its default sdpa)."""

import json
import math
import warnings

import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from pe_bert.analysis import AttentionScores, UndefinedScoreWarning, locality, score_attention, symmetry

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TEXTS = [
    "The cat sat on the mat.",
    "A dog barked at the mailman who was walking down the quiet street.",
    "ok",  # [CLS] ok [SEP]: 3 tokens
    "",  # [CLS] [SEP]: 2 tokens, symmetry undefined
    "Positional encodings tell attention where tokens are.",
    "She gave him the book yesterday.",
]


@pytest.fixture(scope="module")
def minilm(minilm_path):
    model = AutoModel.from_pretrained(minilm_path)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    return model, tokenizer


def _per_sentence_eager_means(model, tokenizer, texts, drop_special_tokens=False):
    """Ground truth: each sentence alone (no padding), eager attention, functions applied per matrix."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    sums = {"locality": 0.0, "symmetry": 0.0, "symmetry_mass": 0.0}
    counts = {"locality": 0, "symmetry": 0, "symmetry_mass": 0}
    try:
        with torch.no_grad():
            for text in texts:
                encoded = tokenizer(text, return_tensors="pt", return_special_tokens_mask=True)
                special = encoded.pop("special_tokens_mask")[0].bool()
                attentions = torch.stack(model(**encoded, output_attentions=True).attentions)[:, 0].double()
                if drop_special_tokens:
                    kept = (~special).nonzero().squeeze(-1)
                    if len(kept) == 0:
                        continue  # nothing left to score (score_attention counts it in num_empty)
                    attentions = attentions[..., kept, :][..., kept]
                    attentions = attentions / attentions.sum(-1, keepdim=True)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UndefinedScoreWarning)
                    scores = {
                        "locality": locality(attentions),
                        "symmetry": symmetry(attentions),
                        "symmetry_mass": symmetry(attentions, variant="mass"),
                    }
                for name, values in scores.items():
                    defined = ~torch.isnan(values)
                    sums[name] = sums[name] + values.nan_to_num(0.0)
                    counts[name] = counts[name] + defined.long()
    finally:
        model.set_attn_implementation(previous)
    return {name: sums[name] / counts[name] for name in sums}, counts


def test_scores_every_layer_and_head_and_restores_sdpa(minilm):
    model, tokenizer = minilm
    assert model.config._attn_implementation == "sdpa"
    model.train()  # restored afterwards too
    result = score_attention(model, tokenizer, TEXTS, batch_size=4, progress=False)
    assert model.config._attn_implementation == "sdpa" and model.training
    model.eval()
    assert isinstance(result, AttentionScores)
    for name in ("locality", "symmetry", "symmetry_mass"):
        assert getattr(result, name).shape == (6, 12)
    assert result.num_sentences == 6 and result.num_matrices == 6 * 6 * 12
    assert result.num_degenerate == 1  # the empty text: its symmetry is skipped, not averaged in
    assert torch.all(result.counts["symmetry"] == 5) and torch.all(result.counts["locality"] == 6)
    assert 0 < result.mean_locality < 1 and 0 < result.mean_symmetry < 1 and 0 < result.mean_symmetry_mass < 1


@pytest.mark.parametrize("drop_special_tokens", [False, True])
def test_matches_functions_applied_to_each_sentence_separately(minilm, drop_special_tokens):
    model, tokenizer = minilm
    result = score_attention(
        model, tokenizer, TEXTS, batch_size=3, progress=False, drop_special_tokens=drop_special_tokens
    )
    expected, counts = _per_sentence_eager_means(model, tokenizer, TEXTS, drop_special_tokens)
    generator = torch.Generator().manual_seed(0)
    sample = [
        (int(layer), int(head))
        for layer, head in zip(
            torch.randint(6, (10,), generator=generator), torch.randint(12, (10,), generator=generator)
        )
    ]
    for name in ("locality", "symmetry", "symmetry_mass"):
        assert torch.equal(result.counts[name], counts[name]), name
        for layer, head in sample:
            assert getattr(result, name)[layer, head].item() == pytest.approx(
                expected[name][layer, head].item(), abs=2e-5
            ), (name, layer, head)
    if drop_special_tokens:
        assert result.num_empty == 1  # "" has no token left


def test_scores_are_invariant_to_extra_padding(minilm):
    model, tokenizer = minilm
    short = TEXTS[:1] + TEXTS[2:4]  # includes a degenerate (2-token) sentence
    alone = score_attention(model, tokenizer, short, batch_size=1, progress=False)
    long_sentence = " ".join(["padding forces every other sentence in the batch to grow"] * 3)
    # Same sentences, each batched next to a much longer one: lots of padding, then the long one's scores.
    interleaved = [text for pair in zip(short, [long_sentence] * len(short)) for text in pair]
    padded = score_attention(model, tokenizer, interleaved, batch_size=2, progress=False)
    long_only = score_attention(model, tokenizer, [long_sentence] * len(short), batch_size=2, progress=False)
    for name in ("locality", "symmetry", "symmetry_mass"):
        count_alone, count_long = alone.counts[name], long_only.counts[name]
        combined = (getattr(alone, name) * count_alone + getattr(long_only, name) * count_long) / (
            count_alone + count_long
        )
        torch.testing.assert_close(getattr(padded, name), combined, rtol=0, atol=1e-5)


def test_sentence_blocks_are_found_wherever_the_padding_is():
    """Left padding or dropped special tokens: each sentence's block is gathered, not sliced."""
    from pe_bert.analysis.capture import _sentence_blocks

    generator = torch.Generator().manual_seed(0)
    blocks = [torch.softmax(torch.randn(2, 1, 3, n, n, generator=generator), -1) for n in (4, 2, 4)]
    seq = 6
    right = torch.zeros(2, 3, 3, seq, seq)
    left = torch.zeros(2, 3, 3, seq, seq)
    keep_right = torch.zeros(3, seq, dtype=torch.bool)
    keep_left = torch.zeros(3, seq, dtype=torch.bool)
    for b, block in enumerate(blocks):
        n = block.shape[-1]
        right[:, b : b + 1, :, :n, :n] = block
        left[:, b : b + 1, :, seq - n :, seq - n :] = block
        keep_right[b, :n] = True
        keep_left[b, seq - n :] = True
    for attentions, keep in ((right, keep_right), (left, keep_left)):
        found = dict(_sentence_blocks(attentions, keep, renormalize=False))
        assert sorted(found) == [2, 4]
        torch.testing.assert_close(found[2], blocks[1])
        torch.testing.assert_close(found[4], torch.cat([blocks[0], blocks[2]], dim=1))


def test_layer_selection_and_streaming_from_a_generator(minilm):
    model, tokenizer = minilm
    full = score_attention(model, tokenizer, TEXTS, batch_size=4, progress=False)
    streamed = score_attention(model, tokenizer, (t for t in TEXTS), batch_size=2, layers=[0, 5], progress=False)
    assert streamed.layers == [0, 5] and streamed.locality.shape == (2, 12)
    torch.testing.assert_close(streamed.locality, full.locality[[0, 5]], rtol=0, atol=1e-5)
    torch.testing.assert_close(streamed.symmetry, full.symmetry[[0, 5]], rtol=0, atol=1e-5)


def test_attention_implementation_restored_after_an_error(minilm):
    model, tokenizer = minilm

    def failing_texts():
        yield from TEXTS[:2]
        raise RuntimeError("corpus broke mid-way")

    with pytest.raises(RuntimeError, match="mid-way"):
        score_attention(model, tokenizer, failing_texts(), batch_size=2, progress=False)
    assert model.config._attn_implementation == "sdpa" and not model.training


def test_result_serialises_and_plots(minilm, tmp_path):
    model, tokenizer = minilm
    result = score_attention(model, tokenizer, TEXTS[:3], batch_size=8, progress=False, layers=[1, 2])
    saved = json.loads(result.to_json(tmp_path / "scores.json").read_text())
    assert saved["layers"] == [1, 2] and saved["num_sentences"] == 3
    assert len(saved["per_head"]["locality"]) == 2 and len(saved["per_head"]["locality"][0]) == 12
    assert saved["overall"]["locality"] == pytest.approx(result.mean_locality)
    image = result.plot(tmp_path / "heatmaps.png")
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 10_000
    assert "AttentionScores" in repr(result)


def test_undefined_everywhere_serialises_as_null():
    scores = AttentionScores(
        locality=torch.full((1, 2), 0.5, dtype=torch.float64),
        symmetry=torch.full((1, 2), math.nan, dtype=torch.float64),
        symmetry_mass=torch.full((1, 2), math.nan, dtype=torch.float64),
        counts={
            name: torch.tensor([[1, 1]]) if name == "locality" else torch.zeros(1, 2, dtype=torch.long)
            for name in ("locality", "symmetry", "symmetry_mass")
        },
        layers=[0],
        num_sentences=1,
    )
    data = json.loads(json.dumps(scores.to_dict()))
    assert data["overall"]["symmetry"] is None and data["per_head"]["symmetry"] == [[None, None]]
    assert data["overall"]["locality"] == 0.5


def test_rejects_bad_arguments(minilm):
    model, tokenizer = minilm
    with pytest.raises(ValueError, match="batch_size"):
        score_attention(model, tokenizer, TEXTS, batch_size=0)
    with pytest.raises(ValueError, match="no texts"):
        score_attention(model, tokenizer, [], progress=False)
    assert model.config._attn_implementation == "sdpa"

"""The model family: every variant's forward/backward, attention backends, padding, persistence and its defining
positional property."""

import json
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file
from transformers import (
    AutoConfig,
    AutoModel,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
)

import pe_bert
from pe_bert import PEBertConfig, PEBertForMaskedLM, PEBertModel

from helpers import TINY_SHAPE

VARIANTS = pe_bert.POSITION_ENCODINGS
# Variants whose attention bias does not depend on content (so it can be inspected alone).
BIAS_VARIANTS = ("alibi", "t5", "window", "dynamic", "attenuated", "kerple")


def tiny_config(position_encoding: str, **overrides) -> PEBertConfig:
    kwargs = dict(
        position_encoding=position_encoding,
        vocab_size=100,
        **TINY_SHAPE,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=0,
    )
    kwargs.update(overrides)
    return PEBertConfig(**kwargs)


def tiny_model(position_encoding: str, model_class=PEBertModel, attn_implementation="sdpa", **overrides):
    torch.manual_seed(0)
    model = model_class(tiny_config(position_encoding, **overrides))
    model.set_attn_implementation(attn_implementation)
    return model.eval()


def random_batch(batch=3, seq=12, vocab=100):
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, vocab, (batch, seq), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1:, seq - 4 :] = 0
    attention_mask[2:, seq - 7 :] = 0
    return input_ids.masked_fill(attention_mask == 0, 0), attention_mask


@pytest.mark.parametrize("variant", VARIANTS)
def test_forward_backward_finite(variant):
    model = tiny_model(variant, PEBertForMaskedLM).train()
    input_ids, attention_mask = random_batch()
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids)
    out.loss.backward()
    assert torch.isfinite(out.logits).all()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads if g is not None)
    # Every PE parameter receives gradient (nothing is silently disconnected).
    pe_params = [(n, p) for n, p in model.named_parameters() if "position" in n and p.requires_grad]
    for name, param in pe_params:
        assert param.grad is not None and param.grad.abs().sum() > 0, name


@pytest.mark.parametrize("variant", VARIANTS)
def test_sdpa_equals_eager(variant):
    input_ids, attention_mask = random_batch()
    sdpa = tiny_model(variant, attn_implementation="sdpa")
    eager = tiny_model(variant, attn_implementation="eager")
    with torch.no_grad():
        a = sdpa(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        b = eager(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    real = attention_mask.bool()
    torch.testing.assert_close(a[real], b[real], atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_right_padding_does_not_change_real_tokens(variant):
    model = tiny_model(variant)
    input_ids, _ = random_batch(batch=2, seq=9)
    padded = torch.cat([input_ids, torch.zeros(2, 7, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(2, 9, dtype=torch.long), torch.zeros(2, 7, dtype=torch.long)], dim=1)
    with torch.no_grad():
        plain = model(input_ids=input_ids).last_hidden_state
        with_padding = model(input_ids=padded, attention_mask=mask).last_hidden_state[:, :9]
    torch.testing.assert_close(plain, with_padding, atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_save_load_round_trip(variant, tmp_path):
    model = tiny_model(
        variant, PEBertForMaskedLM, attenuated_learnable="per_head" if variant == "attenuated" else "none"
    )
    input_ids, attention_mask = random_batch()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    assert json.loads((tmp_path / "config.json").read_text())["position_encoding"] == variant

    reloaded = AutoModelForMaskedLM.from_pretrained(tmp_path).eval()
    assert type(reloaded) is PEBertForMaskedLM and reloaded.config.position_encoding == variant
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits
        actual = reloaded(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(actual, expected, atol=0, rtol=0)
    # The base model loads from the same checkpoint with no extra arguments, same variant.
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base) is PEBertModel and base.config.position_encoding == variant


def test_remote_code_reload_without_pe_bert(tmp_path):
    """A Hub user without pe_bert: every variant loads with trust_remote_code and gives identical outputs."""
    input_ids, attention_mask = random_batch()
    for variant in VARIANTS:
        model = tiny_model(variant, PEBertForMaskedLM)
        model.save_pretrained(tmp_path / variant)
        with torch.no_grad():
            hidden = model.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        torch.save(
            {"input_ids": input_ids, "attention_mask": attention_mask, "hidden": hidden},
            tmp_path / variant / "expected.pt",
        )
    script = textwrap.dedent(
        f"""
        import builtins, sys
        sys.modules.pop("pe_bert", None)
        real_import = builtins.__import__
        def guarded(name, *args, **kwargs):
            if name == "pe_bert" or name.startswith("pe_bert."):
                raise ImportError("pe_bert is blocked in this process")
            return real_import(name, *args, **kwargs)
        builtins.__import__ = guarded
        import torch
        from transformers import AutoModel
        for variant in {list(VARIANTS)!r}:
            path = {str(tmp_path)!r} + "/" + variant
            model = AutoModel.from_pretrained(path, trust_remote_code=True).eval()
            assert "transformers_modules" in type(model).__module__, type(model).__module__
            expected = torch.load(path + "/expected.pt", weights_only=True)
            with torch.no_grad():
                output = model(input_ids=expected["input_ids"], attention_mask=expected["attention_mask"])
                hidden = output.last_hidden_state
            diff = (hidden - expected["hidden"]).abs().max().item()
            assert model.config.position_encoding == variant and diff == 0.0, (variant, diff)
            print("OK", variant)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**__import__("os").environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("OK") == len(VARIANTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_permutation_equivariance_only_without_positions(variant):
    model = tiny_model(variant)
    input_ids, _ = random_batch(batch=1, seq=10)
    permutation = torch.randperm(10, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        hidden = model(input_ids=input_ids).last_hidden_state
        permuted = model(input_ids=input_ids[:, permutation]).last_hidden_state
    equivariant = torch.allclose(hidden[:, permutation], permuted, atol=1e-5)
    assert equivariant == (variant == "none")


def test_rope_scores_invariant_to_position_shift():
    model = tiny_model("rope", attn_implementation="eager")
    input_ids, _ = random_batch(batch=1, seq=10)
    positions = torch.arange(10)[None]
    with torch.no_grad():
        base = model(input_ids=input_ids, position_ids=positions, output_attentions=True)
        shifted = model(input_ids=input_ids, position_ids=positions + 17, output_attentions=True)
    torch.testing.assert_close(base.last_hidden_state, shifted.last_hidden_state, atol=1e-5, rtol=0)
    for a, b in zip(base.attentions, shifted.attentions):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)


def test_partial_rope_leaves_other_dimensions_unrotated():
    model = tiny_model("rope", rope_fraction=0.5)
    query = torch.randn(1, 4, 6, 8)
    state = model.position_encoding.prepare(torch.arange(6)[None], torch.zeros(1, 1, 1, 6), False, True)
    attention = model.encoder.layer[0].attention.self
    rotated, _, _ = attention.position.adjust(attention, query, query, state)
    torch.testing.assert_close(rotated[..., 4:], query[..., 4:])
    assert not torch.allclose(rotated[..., :4], query[..., :4])


def _is_toeplitz(matrix: torch.Tensor) -> bool:
    """Every diagonal constant: bias[..., i, j] depends on j - i only."""
    return torch.allclose(matrix[..., 1:, 1:], matrix[..., :-1, :-1], atol=1e-6)


@pytest.mark.parametrize("variant", BIAS_VARIANTS)
def test_bias_variants_are_toeplitz(variant):
    overrides = {"attenuated_bias": "log"} if variant == "attenuated" else {}
    bias = tiny_model(variant, **overrides).position_bias(12)
    assert bias.shape[-3:] == (4, 12, 12)
    finite = torch.where(torch.isfinite(bias) & (bias > -1e30), bias, torch.full_like(bias, -1e30))
    assert _is_toeplitz(finite)


def test_alibi_is_symmetric_and_decreasing():
    bias = tiny_model("alibi").position_bias(10)[0]
    torch.testing.assert_close(bias, bias.transpose(-1, -2))
    slopes = -bias[:, 0, 1]
    assert (slopes > 0).all() and torch.allclose(slopes, torch.tensor([2**-2, 2**-4, 2**-6, 2**-8]))
    assert (bias[:, 0, 1:] < bias[:, 0, :-1]).all()


@pytest.mark.parametrize("mode", ["prob", "log"])
def test_attenuated_symmetry_follows_s(mode):
    symmetric = tiny_model("attenuated", symmetry_s=1.0, attenuated_bias=mode).position_bias(9)[0, 0]
    asymmetric = tiny_model("attenuated", symmetry_s=0.3, attenuated_bias=mode).position_bias(9)[0, 0]
    center = 4  # a row with 4 positions on each side
    torch.testing.assert_close(symmetric[center], symmetric[center].flip(0))
    assert not torch.allclose(asymmetric[center], asymmetric[center].flip(0))
    # s < 1 penalises the right side less: more bias to the right of the query than to the left.
    assert asymmetric[center, center + 2] > asymmetric[center, center - 2]


def test_attenuated_log_mode_is_the_gaussian_exponent():
    bias = tiny_model("attenuated", locality_w=0.5, symmetry_s=2.0, attenuated_bias="log").position_bias(5)[0, 0]
    d = torch.arange(5)[None] - torch.arange(5)[:, None]
    expected = torch.where(d < 0, -0.5 * d.float() ** 2, -2.0 * 0.5 * d.float() ** 2)
    torch.testing.assert_close(bias, expected)


def test_balanced_asymmetry_moves_symmetry_alone_and_keeps_both_sides_informative():
    """The study's knob: s is the right/left weight ratio at equal distance, each pair keeping the symmetric prior's
    weight. On identical tokens (the PE alone) mass symmetry is exactly 2s/(1+s) at every w, locality moves by
    less than 0.05 with s at every w, and both sides of the query still decay with distance."""
    from pe_bert.analysis import position_attention

    scores = {}
    for w in (0.02, 0.1, 0.5, 2.0):
        for s in (1.0, 0.5, 0.2):
            model = tiny_model(
                "attenuated", locality_w=w, symmetry_s=s, attenuated_asymmetry="balanced", attenuated_bias="log"
            )
            probe = position_attention(model, 24)
            scores[w, s] = probe.mean("locality"), probe.mean("symmetry_mass")
            assert scores[w, s][1] == pytest.approx(2 * s / (1 + s), abs=1e-5)
            bias = model.position_bias(24)[0, 0, 12]  # the middle row: 12 keys left, 11 right
            assert (bias[:12].diff() > 0).all() and (bias[13:].diff() < 0).all()  # both sides carry position
            # the pair at each distance keeps the symmetric prior's weight
            pair = bias[1:12].flip(0).exp() + bias[13:24].exp()
            torch.testing.assert_close(pair, 2 * torch.exp(-w * torch.arange(1, 12).float() ** 2))
    for w in (0.02, 0.1, 0.5, 2.0):
        localities = [scores[w, s][0] for s in (1.0, 0.5, 0.2)]
        assert max(localities) - min(localities) < 0.05
    assert scores[2.0, 1.0][0] > scores[0.5, 1.0][0] + 0.1 > scores[0.02, 1.0][0] + 0.2  # w moves locality


def test_balanced_asymmetry_refuses_a_one_sided_prior():
    with pytest.raises(ValueError, match="must be > 0"):
        PEBertConfig(position_encoding="attenuated", symmetry_s=0.0, attenuated_asymmetry="balanced")


def test_attenuated_prob_mode_rows_are_probabilities():
    bias = tiny_model("attenuated", attenuated_bias="prob").position_bias(7)[0, 0]
    torch.testing.assert_close(bias.sum(-1), torch.ones(7))


@pytest.mark.parametrize("learnable", ["per_head", "shared"])
def test_learnable_attenuation_starts_at_the_gaussian_and_learns(learnable):
    fixed = tiny_model("attenuated", attenuated_bias="log").position_bias(8)
    model = tiny_model("attenuated", PEBertForMaskedLM, attenuated_bias="log", attenuated_learnable=learnable)
    learned = model.bert.position_bias(8)
    assert learned.shape == (2, 4, 8, 8)
    torch.testing.assert_close(learned, fixed.expand_as(learned))
    table = model.bert.embeddings.position_embeddings.distance_bias
    assert table.shape == (2, 4 if learnable == "per_head" else 1, 2 * 64 - 1)
    input_ids, attention_mask = random_batch()
    model.train()(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids).loss.backward()
    assert table.grad is not None and table.grad.abs().sum() > 0


def test_window_gives_zero_probability_outside_the_window():
    model = tiny_model("window", attn_implementation="eager", window_size=4)
    input_ids, attention_mask = random_batch(batch=2, seq=11)
    with torch.no_grad():
        attentions = model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True).attentions
    distance = (torch.arange(11)[None] - torch.arange(11)[:, None]).abs()
    real_queries = attention_mask.bool()[:, None, :, None]  # padded query rows are never read
    for layer in attentions:
        assert (layer.masked_fill(~real_queries, 0)[..., distance > 2] == 0).all()
        assert (layer[0][..., distance <= 2] > 0).all()


def test_pam_kernel_window_weights():
    """PAM's position_bias is log-weights, like every PE's logits: their exp is the kernel the branch applies."""
    kernel = torch.exp(tiny_model("pam", pam_kernel="window").position_bias(5)[0, 0])
    expected = (torch.arange(5)[None] - torch.arange(5)[:, None]).abs().le(1).float() / 3
    torch.testing.assert_close(kernel, expected)
    for name in ("gaussian", "sinusoidal"):
        rows = torch.exp(tiny_model("pam", pam_kernel=name).position_bias(6)[0, 0]).sum(-1)
        torch.testing.assert_close(rows, torch.ones(6))


def test_t5_buckets_share_one_table_across_layers():
    model = tiny_model("t5", t5_num_buckets=8, t5_max_distance=20)
    names = [n for n, _ in model.named_parameters() if "relative_attention_bias" in n]
    assert names == ["embeddings.position_embeddings.relative_attention_bias.weight"]
    from pe_bert.pe_bias import t5_relative_bucket

    table = model.embeddings.position_embeddings.relative_attention_bias.weight
    assert abs(float(table.detach().std()) - 32**-0.5) < 0.05  # T5's N(0, 1/sqrt(d)) init, not BERT's 0.02
    buckets = t5_relative_bucket(torch.tensor([-30, -3, -1, 0, 1, 2, 3, 30]), 8, 20)
    assert buckets.tolist() == [3, 2, 1, 0, 5, 6, 6, 7]


@pytest.mark.parametrize("variant", ["learned", "sinusoidal"])
def test_absolute_variants_reject_inputs_longer_than_their_table(variant):
    model = tiny_model(variant)
    with pytest.raises(ValueError, match=r"Input length 65 exceeds the 64 positions"):
        model(input_ids=torch.ones(1, 65, dtype=torch.long))


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in ("learned", "sinusoidal")])
def test_relative_variants_run_beyond_max_position_embeddings(variant):
    model = tiny_model(variant, attenuated_learnable="per_head" if variant == "attenuated" else "none")
    with torch.no_grad():
        hidden = model(input_ids=torch.randint(1, 100, (1, 256))).last_hidden_state
    assert hidden.shape == (1, 256, 32) and torch.isfinite(hidden).all()


def test_unknown_position_encoding_lists_valid_names():
    with pytest.raises(ValueError) as error:
        tiny_config("rotary")
    message = str(error.value)
    assert "'rotary'" in message and all(name in message for name in VARIANTS)


@pytest.mark.parametrize(
    "variant, overrides, fragment",
    [
        ("shaw", dict(shaw_mode="value"), "`shaw_mode`='value' is not valid; choose one of 'key', 'key_query'"),
        ("attenuated", dict(attenuated_bias="exp"), "attenuated_bias"),
        ("attenuated", dict(attenuated_learnable="per_layer"), "attenuated_learnable"),
        ("pam", dict(pam_kernel="box"), "pam_kernel"),
        ("rope", dict(rope_fraction=1.5), r"`rope_fraction` must be > 0 and <= 1, got 1.5"),
        ("rope", dict(rope_fraction=0.1), "rotates no dimension"),
        ("window", dict(window_size=0), "`window_size` must be > 0"),
        ("window", dict(window_size=2.5), "`window_size` must be of type int"),
        ("attenuated", dict(locality_w=-1.0), "locality_w"),
        ("t5", dict(t5_num_buckets=2), "t5_num_buckets"),
        ("t5", dict(t5_num_buckets=32, t5_max_distance=8), "must exceed the 8 exactly-bucketed distances"),
        ("disentangled", dict(disentangled_max_relative_positions=0), "or -1 for max_position_embeddings"),
        ("rope", dict(hidden_size=30), "multiple of num_attention_heads"),
        ("rope", dict(num_attention_heads=0), "`num_attention_heads` must be > 0"),
    ],
)
def test_bad_hyperparameters_give_clear_errors(variant, overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        tiny_config(variant, **overrides)


def test_config_round_trip_and_hyperparameters(tmp_path):
    config = tiny_config("attenuated", locality_w=0.3, symmetry_s=0.5)
    config.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, PEBertConfig) and loaded.model_type == "pe_bert"
    assert loaded.position_hyperparameters() == {
        "locality_w": 0.3,
        "symmetry_s": 0.5,
        "attenuated_bias": "prob",
        "attenuated_learnable": "none",
        "attenuated_table": "signed",
        "attenuated_asymmetry": "exponent",
    }
    assert set(pe_bert.PE_HYPERPARAMETERS) == set(VARIANTS)


def test_stock_bert_checkpoint_loads_as_learned_variant(minilm_path):
    """all-MiniLM-L6-v2: all encoder weights load, and hidden states equal transformers' BertModel."""
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    reference = BertModel.from_pretrained(minilm_path).eval()
    model, info = PEBertModel.from_pretrained(minilm_path, output_loading_info=True)
    assert model.config.position_encoding == "learned" and model.config.model_type == "pe_bert"
    assert not info["missing_keys"] and not info["mismatched_keys"]
    batch = tokenizer(
        ["The dog chased the cat across the yard.", "Positions matter."], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        expected = reference(**batch).last_hidden_state
        actual = model.eval()(**batch).last_hidden_state
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=0)

    mlm, info = PEBertForMaskedLM.from_pretrained(minilm_path, output_loading_info=True)
    assert all(key.startswith("cls.") for key in info["missing_keys"])  # only the (absent) MLM head is new
    torch.testing.assert_close(
        mlm.bert.embeddings.position_embeddings.weight, reference.embeddings.position_embeddings.weight
    )


def test_masked_lm_ties_embeddings(tmp_path):
    model = tiny_model("alibi", PEBertForMaskedLM)
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    model.save_pretrained(tmp_path)
    saved = load_file(tmp_path / "model.safetensors")
    assert "cls.predictions.decoder.weight" not in saved  # stored once, tied on load


def test_sequence_classification_problem_types():
    input_ids, attention_mask = random_batch()
    regression = tiny_model("rope", pe_bert.PEBertForSequenceClassification, num_labels=1)
    out = regression(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0.5, 1.0, 2.0]))
    assert regression.config.problem_type == "regression" and out.logits.shape == (3, 1) and out.loss > 0

    single = tiny_model("rope", pe_bert.PEBertForSequenceClassification, num_labels=3)
    out = single(input_ids=input_ids, attention_mask=attention_mask, labels=torch.tensor([0, 2, 1]))
    expected = torch.nn.functional.cross_entropy(out.logits, torch.tensor([0, 2, 1]))
    torch.testing.assert_close(out.loss, expected)

    multi = tiny_model("rope", pe_bert.PEBertForSequenceClassification, num_labels=3)
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    out = multi(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    assert multi.config.problem_type == "multi_label_classification"
    torch.testing.assert_close(out.loss, torch.nn.functional.binary_cross_entropy_with_logits(out.logits, labels))


def test_token_classification_and_auto_classes():
    config = tiny_config("t5", num_labels=5)
    model = AutoModelForTokenClassification.from_config(config).eval()
    assert type(model) is pe_bert.PEBertForTokenClassification
    input_ids, attention_mask = random_batch()
    labels = torch.randint(0, 5, input_ids.shape).masked_fill(attention_mask == 0, -100)
    out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
    assert out.logits.shape == (3, 12, 5) and torch.isfinite(out.loss)
    assert type(AutoModelForSequenceClassification.from_config(config)) is pe_bert.PEBertForSequenceClassification
    assert type(AutoModelForMaskedLM.from_config(config)) is PEBertForMaskedLM
    assert type(AutoModel.from_config(config)) is PEBertModel


def test_outputs_attentions_and_hidden_states():
    model = tiny_model("shaw", attn_implementation="eager")
    input_ids, attention_mask = random_batch()
    out = model(input_ids=input_ids, attention_mask=attention_mask, output_attentions=True, output_hidden_states=True)
    assert len(out.attentions) == 2 and out.attentions[0].shape == (3, 4, 12, 12)
    torch.testing.assert_close(out.attentions[0].sum(-1), torch.ones(3, 4, 12))
    assert len(out.hidden_states) == 3  # embeddings + one per layer
    assert out.pooler_output.shape == (3, 32)
    assert model(input_ids=input_ids, return_dict=False)[0].shape == (3, 12, 32)


@pytest.mark.parametrize("variant", ["disentangled", "pam", "attenuated"])
def test_gradient_checkpointing_gives_the_same_gradients(variant):
    input_ids, attention_mask = random_batch()
    grads = []
    for checkpointing in (False, True):
        model = tiny_model(variant, PEBertForMaskedLM).train()
        if checkpointing:
            model.gradient_checkpointing_enable()
        model(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids).loss.backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("variant", VARIANTS)
def test_init_weights_covers_every_parameter(variant):
    """Weights are initialised through `_init_weights`: no matrix is left at torch's default (kaiming-uniform,
    std ~ 1/sqrt(3 fan_in)) or uninitialised (`torch.empty` garbage)."""
    config = tiny_config(variant, attenuated_learnable="shared" if variant == "attenuated" else "none")
    model = PEBertForMaskedLM(config)
    for name, param in model.named_parameters():
        assert torch.isfinite(param).all(), name
        # Excluded on purpose: tables and MLPs with their own init (init_position_weights: T5's 1/sqrt(d), the
        # Gaussian tables, fan-in MLPs), and KERPLE's per-(layer, head) kernel parameters (reparametrised scalars).
        excluded = ("LayerNorm", "distance_bias", ".mlp.", "relative_attention", ".raw_r")
        if param.dim() == 2 and not any(k in name for k in excluded):
            # normal(0, initializer_range): small spread, not torch's kaiming-uniform default
            assert param.std() < 0.03, (name, float(param.std()))


def test_readme_documents_every_position_encoding():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for name in VARIANTS:
        assert f"| `{name}` |" in readme, f"README's PE table lacks {name}"


def test_trainer_averages_the_loss_itself(tmp_path):
    """Heads compute a mean loss: the Trainer must not treat them as normalising by num_items_in_batch."""
    from transformers import Trainer, TrainingArguments

    trainer = Trainer(
        model=tiny_model("rope", PEBertForMaskedLM),
        args=TrainingArguments(output_dir=str(tmp_path), report_to="none", use_cpu=True),
    )
    assert trainer.model_accepts_loss_kwargs is False


def test_subpackages_load_lazily_from_the_top_level():
    import subprocess
    import sys

    code = (
        "import sys, pe_bert; assert 'pe_bert.analysis' not in sys.modules; "
        "assert callable(pe_bert.analysis.score_attention); assert callable(pe_bert.study.run_study)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_sparse_prediction_gives_the_same_loss_and_gradients():
    input_ids, attention_mask = random_batch()
    labels = input_ids.masked_fill(torch.rand(input_ids.shape, generator=torch.Generator().manual_seed(5)) > 0.3, -100)
    losses, grads = [], []
    for sparse in (False, True):
        model = tiny_model("alibi", PEBertForMaskedLM, sparse_prediction=sparse).train()
        out = model(input_ids=input_ids, attention_mask=attention_mask, labels=labels)
        out.loss.backward()
        losses.append(out.loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        if sparse:
            assert out.logits.shape == (int((labels != -100).sum()), 100)
            with torch.no_grad():  # eval keeps full logits
                assert model.eval()(input_ids=input_ids, labels=labels).logits.shape == (3, 12, 100)
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_the_masked_only_head_collator_covers_every_label_in_one_width():
    from pe_bert.training.resume import MaskedOnlyHeadCollator
    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer([chr(97 + i // 26) + chr(97 + i % 26) for i in range(30)])
    collator = MaskedOnlyHeadCollator(tokenizer=tokenizer, mlm_probability=0.3, mask_seed=1)
    rows = [{"input_ids": [tokenizer.cls_token_id, *range(5, 5 + n), tokenizer.sep_token_id]} for n in (20, 13, 20)]
    batch = collator(rows)
    labelled = batch["labels"] != -100
    positions = batch["masked_positions"]
    assert positions.shape[0] == 3 and positions.shape[1] % 8 == 0 and positions.shape[1] >= 2 * 0.3 * 22
    for row in range(3):
        chosen = positions[row].tolist()
        assert len(set(chosen)) == len(chosen)  # no position twice: no label counted twice
        assert set(labelled[row].nonzero().flatten().tolist()) <= set(chosen)
    crowded = MaskedOnlyHeadCollator(tokenizer=tokenizer, mlm_probability=0.9, mask_seed=1, capacity=1)(rows)
    assert crowded["masked_positions"].shape[1] >= int((crowded["labels"] != -100).sum(-1).max())  # exact fallback


def test_the_collators_fast_path_gives_the_tokenizers_padding_path_batch():
    """Blocks of one length are stacked directly (through numpy); the batch is the one the stock path (tokenizer
    padding) makes, tensor for tensor, dtype included, masks included."""
    from transformers import DataCollatorForLanguageModeling

    from pe_bert.training.resume import ResumableMaskingCollator
    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer([chr(97 + i // 26) + chr(97 + i % 26) for i in range(95)])
    collator = ResumableMaskingCollator(tokenizer=tokenizer, mlm_probability=0.3, mask_seed=5)
    rows = [
        {
            "input_ids": [2, *range(5 + i, 15 + i), 3],
            "token_type_ids": [0] * 12,
            "attention_mask": [1] * 12,
            "special_tokens_mask": [1, *[0] * 10, 1],
        }
        for i in range(6)
    ]
    fast = collator(rows)
    stock = DataCollatorForLanguageModeling.torch_call(collator, [dict(row) for row in rows])
    assert fast.keys() == stock.keys() and (fast["labels"] != -100).any()
    for key in fast:
        assert fast[key].dtype == stock[key].dtype and torch.equal(fast[key], stock[key]), key


def test_the_collators_special_token_mask_is_the_stock_one_when_the_rows_have_none():
    """What pretraining feeds (the Trainer drops the dataset's special_tokens_mask column): the fast path tests the
    ids against the tokenizer's special ids at once, the stock collator row by row; special ids anywhere in a row
    (an [UNK] or a [MASK] inside the text) are never masked either way, and the batches are equal."""
    from transformers import DataCollatorForLanguageModeling

    from pe_bert.training.resume import ResumableMaskingCollator
    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer([chr(97 + i // 26) + chr(97 + i % 26) for i in range(95)])
    special = sorted(set(tokenizer.all_special_ids))
    collator = ResumableMaskingCollator(tokenizer=tokenizer, mlm_probability=0.9, mask_seed=2)
    rows = [
        {"input_ids": [special[i % len(special)], *range(5 + i, 15 + i), *special], "attention_mask": [1] * 16}
        for i in range(8)
    ]
    fast = collator(rows)
    stock = DataCollatorForLanguageModeling.torch_call(collator, [dict(row) for row in rows])
    assert fast.keys() == stock.keys()
    for key in fast:
        assert fast[key].dtype == stock[key].dtype and torch.equal(fast[key], stock[key]), key
    ids = torch.tensor([row["input_ids"] for row in rows])
    assert (fast["labels"][torch.isin(ids, torch.tensor(special))] == -100).all()
    assert (fast["labels"] != -100).sum() > ids.numel() // 2  # the other tokens are masked (p = 0.9)


def test_the_masked_only_head_gives_the_same_loss_and_gradients_as_every_position():
    from pe_bert.training.resume import MaskedOnlyHeadCollator
    from pe_bert.training.tokenizer import word_level_tokenizer

    tokenizer = word_level_tokenizer([chr(97 + i // 26) + chr(97 + i % 26) for i in range(95)])
    collator = MaskedOnlyHeadCollator(tokenizer=tokenizer, mlm_probability=0.2, mask_seed=3)
    batch = collator([{"input_ids": [2, *range(5 + i, 15 + i), 3]} for i in range(4)])
    losses, grads = [], []
    for masked_only in (False, True):
        model = tiny_model("rope", PEBertForMaskedLM).train()
        inputs = {k: v for k, v in batch.items() if masked_only or k != "masked_positions"}
        out = model(**inputs)
        out.loss.backward()
        losses.append(out.loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
        if masked_only:
            assert out.logits.shape == (*batch["masked_positions"].shape, 100)
            with torch.no_grad():  # eval keeps full logits
                assert model.eval()(**inputs).logits.shape == (4, 12, 100)
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=0)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_published_learnable_attenuation_is_symmetric_and_starts_at_the_published_values():
    """attenuated_table="absolute": the published code's table over |i - j|, initialised to softmax over d >= 0 of
    -w d^2 and added to the logits as is (so it stays symmetric whatever it learns)."""
    model = tiny_model(
        "attenuated", PEBertForMaskedLM, attenuated_learnable="per_head", attenuated_table="absolute", locality_w=0.5
    )
    table = model.bert.embeddings.position_embeddings.distance_bias
    assert table.shape == (2, 4, 64)
    d = torch.arange(64).float()
    torch.testing.assert_close(table[0, 0], torch.softmax(-0.5 * d**2, dim=0))
    with torch.no_grad():
        table.add_(torch.randn(table.shape, generator=torch.Generator().manual_seed(0)))
    bias = model.bert.position_bias(9)
    torch.testing.assert_close(bias, bias.transpose(-1, -2))
    torch.testing.assert_close(bias[1, 2, 3, 5], table[1, 2, 2])  # added as is, indexed by |i - j|


def test_pam_temperature_power_reproduces_the_published_kernel():
    from pe_bert.pe_base import sinusoidal_table

    table = sinusoidal_table(torch.arange(7), 32)
    for power in (0.5, 0.25):
        logits = tiny_model("pam", pam_kernel="sinusoidal", pam_temperature_power=power).position_bias(7)[0, 0]
        torch.testing.assert_close(torch.exp(logits), torch.softmax(table @ table.T / 32**power, dim=-1))

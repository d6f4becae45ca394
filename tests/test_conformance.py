"""What transformers expects of its own models, for every PE: torch.export (static and dynamic shapes), ONNX
(dynamo) export run by onnxruntime, torch.compile with fullgraph=True for a training step, reentrant and non-reentrant
gradient checkpointing, and typed `forward` signatures."""

import inspect
import typing

import pytest
import torch
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs

import pe_bert
from pe_bert import (
    PEBertForMaskedLM,
    PEBertForSequenceClassification,
    PEBertForTokenClassification,
    PEBertModel,
)

from test_models import tiny_config

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VARIANTS = pe_bert.POSITION_ENCODINGS
HEADS = (PEBertModel, PEBertForMaskedLM, PEBertForSequenceClassification, PEBertForTokenClassification)
# Non-default settings that exercise extra code paths (learnable tables, published forms).
EXTRA_CONFIGS = {
    "attenuated-learnable": ("attenuated", dict(attenuated_learnable="per_head")),
    "attenuated-published": ("attenuated", dict(attenuated_learnable="shared", attenuated_table="absolute")),
    "pam-sinusoidal": ("pam", dict(pam_kernel="sinusoidal")),
    "shaw-key-query": ("shaw", dict(shaw_mode="key_query")),
    "rope-partial": ("rope", dict(rope_fraction=0.5)),
    "kerple-power": ("kerple", dict(kerple_kernel="power")),
    # A threshold the test inputs exceed, so the divisor follows each query's extents (not the constant psi(L)).
    "fire-interpolating": ("fire", dict(fire_init_L=3.0)),
}
CONFIGS = {**{v: (v, {}) for v in VARIANTS}, **EXTRA_CONFIGS}


def build(name: str, model_class=PEBertModel, **overrides):
    variant, extra = CONFIGS[name]
    torch.manual_seed(0)
    return model_class(tiny_config(variant, **extra, **overrides))


def padded_batch(batch: int, seq: int, seed: int = 1):
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, 100, (batch, seq), generator=generator)
    attention_mask = torch.ones_like(input_ids)
    attention_mask[0, seq - 3 :] = 0
    return input_ids.masked_fill(attention_mask == 0, 0), attention_mask


def first_output(output) -> torch.Tensor:
    return output.logits if hasattr(output, "logits") else output.last_hidden_state


# ------------------------------------------------------------------------------------------------- torch.export


def _export(model, input_ids, attention_mask, dynamic: bool):
    dynamic_shapes = None
    if dynamic:
        # Absolute tables bound the sequence length; every other PE takes any length.
        batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=64)
        dynamic_shapes = {"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}
    return torch.export.export(
        model,
        (),
        kwargs=dict(input_ids=input_ids, attention_mask=attention_mask),
        dynamic_shapes=dynamic_shapes,
        strict=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("index, name", list(enumerate(CONFIGS)))
def test_torch_export_with_dynamic_shapes_matches_eager(index, name):
    """Every PE (and every head, in turn) exports with dynamic batch and sequence dimensions; the program matches
    eager on a batch of another shape, with padding."""
    model_class = HEADS[index % len(HEADS)]
    model = build(name, model_class, num_labels=3).eval()
    program = _export(model, *padded_batch(2, 7), dynamic=True)
    input_ids, attention_mask = padded_batch(3, 13, seed=2)
    with torch.no_grad():
        expected = first_output(model(input_ids=input_ids, attention_mask=attention_mask))
        actual = first_output(program.module()(input_ids=input_ids, attention_mask=attention_mask))
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["learned", "t5", "dynamic", "attenuated-learnable"])
def test_torch_export_with_static_shapes_matches_eager(name):
    model = build(name, PEBertForMaskedLM).eval()
    input_ids, attention_mask = padded_batch(2, 9)
    program = _export(model, input_ids, attention_mask, dynamic=False)
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask).logits
        actual = program.module()(input_ids=input_ids, attention_mask=attention_mask).logits
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=0)


def test_dynamic_bias_with_explicit_positions_matches_the_table_path():
    """The dynamic PE sizes its distance table from the sequence length when positions are the default 0..n-1, and
    evaluates the MLP on the distance matrix when the caller gives positions: both give the same bias."""
    model = build("dynamic").eval()
    input_ids, attention_mask = padded_batch(2, 11)
    with torch.no_grad():
        default = model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        explicit = model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=torch.arange(11)[None]
        ).last_hidden_state
        # Gaps between positions: distances beyond n - 1 still get their own MLP value (no clamping).
        gapped = model(input_ids=input_ids, attention_mask=attention_mask, position_ids=3 * torch.arange(11)[None])
    torch.testing.assert_close(explicit, default, atol=1e-6, rtol=0)
    assert not torch.allclose(gapped.last_hidden_state, default, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["learned", "rope"])
def test_onnx_dynamo_export_runs_in_onnxruntime(name, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    model = build(name).eval()
    batch, seq = torch.export.Dim("batch", min=1, max=64), torch.export.Dim("seq", min=2, max=64)
    path = tmp_path / f"{name}.onnx"
    torch.onnx.export(
        model,
        (),
        str(path),
        kwargs=dict(zip(("input_ids", "attention_mask"), padded_batch(2, 7))),
        input_names=["input_ids", "attention_mask"],
        output_names=["last_hidden_state", "pooler_output"],
        dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
        dynamo=True,
        verbose=False,
    )
    input_ids, attention_mask = padded_batch(3, 12, seed=3)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    hidden, pooled = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": attention_mask.numpy()})
    with torch.no_grad():
        expected = model(input_ids=input_ids, attention_mask=attention_mask)
    torch.testing.assert_close(torch.from_numpy(hidden), expected.last_hidden_state, atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.from_numpy(pooled), expected.pooler_output, atol=1e-4, rtol=0)


# ------------------------------------------------------------------------------------------------- torch.compile


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CONFIGS))
def test_compiled_training_step_has_no_graph_break(name):
    """fullgraph=True raises on any graph break. The aot_eager backend traces forward and backward (AOTAutograd)
    without C++ code generation, so this checks the graph, fast; benchmarks/bench_models.py --compile times the
    inductor backend."""
    torch._dynamo.reset()
    input_ids, attention_mask = padded_batch(2, 9)
    losses, grads = [], []
    for compiled in (False, True):
        model = build(name, PEBertForMaskedLM).train()
        run = torch.compile(model, fullgraph=True, backend="aot_eager") if compiled else model
        loss = run(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_the_masked_only_head_compiles_with_no_graph_break_and_the_same_loss():
    """The static-shape masked-only head (`masked_positions`) under fullgraph=True: no graph break, same loss and
    gradients as eager (the data-dependent `sparse_prediction` form cannot be compiled without one)."""
    torch._dynamo.reset()
    input_ids, attention_mask = padded_batch(2, 9)
    labels = input_ids.masked_fill(torch.arange(9) % 3 != 1, -100)
    positions = torch.tensor([[1, 4, 7, 0], [1, 4, 7, 2]])
    losses, grads = [], []
    for compiled in (False, True):
        model = build("rope", PEBertForMaskedLM).train()
        run = torch.compile(model, fullgraph=True, backend="aot_eager") if compiled else model
        loss = run(input_ids=input_ids, attention_mask=attention_mask, labels=labels, masked_positions=positions).loss
        loss.backward()
        losses.append(loss.detach())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    torch.testing.assert_close(losses[1], losses[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------------------ gradient checkpointing


@pytest.mark.parametrize("name", list(CONFIGS))
def test_both_gradient_checkpointing_modes_give_the_same_gradients(name):
    input_ids, attention_mask = padded_batch(3, 10)
    grads = {}
    for mode in ("none", "non_reentrant", "reentrant"):
        model = build(name, PEBertForMaskedLM).train()
        if mode != "none":
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": mode == "reentrant"})
        model(input_ids=input_ids, attention_mask=attention_mask, labels=input_ids).loss.backward()
        grads[mode] = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    assert set(grads["reentrant"]) == set(grads["none"]), "a parameter lost its gradient under checkpointing"
    for mode in ("non_reentrant", "reentrant"):
        for parameter, grad in grads["none"].items():
            torch.testing.assert_close(grads[mode][parameter], grad, atol=1e-6, rtol=1e-5, msg=f"{mode}: {parameter}")


# --------------------------------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("model_class", HEADS)
def test_forward_signatures_follow_transformers_conventions(model_class):
    """Typed `**kwargs: Unpack[TransformersKwargs]` tells generic transformers tooling which keyword arguments
    (output_attentions, output_hidden_states, ...) the model supports; every tensor argument is annotated."""
    signature = inspect.signature(model_class.forward)
    var_keyword = [p for p in signature.parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
    assert len(var_keyword) == 1
    hints = typing.get_type_hints(model_class.forward, include_extras=True)
    assert hints[var_keyword[0].name] == Unpack[TransformersKwargs]
    assert {"output_attentions", "output_hidden_states"} <= TransformersKwargs.__optional_keys__
    for name in ("input_ids", "attention_mask", "token_type_ids", "position_ids", "inputs_embeds"):
        assert name in hints, f"{model_class.__name__}.forward does not annotate {name}"
    assert "return" in hints


def test_typed_kwargs_reach_the_attention_of_every_head():
    """output_attentions / output_hidden_states given to any head come back (eager attention)."""
    input_ids, attention_mask = padded_batch(2, 8)
    for model_class in HEADS:
        model = build("rope", model_class, num_labels=3).eval()
        model.set_attn_implementation("eager")
        out = model(
            input_ids=input_ids, attention_mask=attention_mask, output_attentions=True, output_hidden_states=True
        )
        assert len(out.attentions) == 2 and out.attentions[0].shape == (2, 4, 8, 8)
        assert len(out.hidden_states) == 3

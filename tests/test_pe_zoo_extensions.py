"""The PEs written through the public authoring API: KERPLE, FIRE and CoPE. Each one's defining formula against a
slow, loop-by-loop computation on small inputs, the properties it claims (and what holds where a property does not),
its behaviour beyond the training length, padding, and sdpa == eager there. The generic checks (gradients, export,
compile, checkpointing, save/load, trust_remote_code) run for them in test_models.py and test_conformance.py."""

import math

import pytest
import torch

from pe_bert import PEBertModel, PositionState
from pe_bert.pe_cope import contextual_positions
from pe_bert.pe_fire import NORMALISER_EPS, farthest_distances

from test_models import tiny_config, tiny_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def state_for(position_ids: torch.Tensor, attention_mask: torch.Tensor) -> PositionState:
    """A base position state as the model builds it: 0 on tokens, dtype-min on padding."""
    key_padding = torch.zeros(attention_mask.shape, dtype=torch.float32)
    key_padding = key_padding.masked_fill(attention_mask == 0, torch.finfo(torch.float32).min)[:, None, None, :]
    return PositionState(None, key_padding, position_ids, True)


def _is_toeplitz(matrix: torch.Tensor) -> bool:
    return torch.allclose(matrix[..., 1:, 1:], matrix[..., :-1, :-1], atol=1e-6)


@pytest.mark.parametrize(
    "variant, overrides",
    [
        ("kerple", {}),
        ("kerple", dict(kerple_kernel="power")),
        ("fire", dict(fire_init_L=4.0)),  # a threshold the input exceeds: the divisor follows the extents
        ("cope", {}),
    ],
)
def test_beyond_the_training_length_sdpa_equals_eager_with_padding(variant, overrides):
    """At 4x max_position_embeddings, with padding: finite, and both attention backends agree."""
    input_ids = torch.randint(1, 100, (2, 256), generator=torch.Generator().manual_seed(4))
    attention_mask = torch.ones_like(input_ids)
    attention_mask[1, 200:] = 0
    outputs = []
    for implementation in ("sdpa", "eager"):
        model = tiny_model(variant, attn_implementation=implementation, **overrides)
        with torch.no_grad():
            outputs.append(model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state)
    real = attention_mask.bool()
    assert torch.isfinite(outputs[0][real]).all()
    torch.testing.assert_close(outputs[0][real], outputs[1][real], atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "variant, overrides",
    [
        ("kerple", {}),  # shift-invariant
        ("fire", dict(fire_init_L=3.0)),  # shift-invariant, and its extents are measured over real tokens
        ("cope", dict(cope_max_positions=4)),  # counts only tokens between query and key
    ],
)
def test_left_and_right_padding_do_not_change_real_tokens(variant, overrides):
    """Padding before the tokens shifts their positions; padding on either side must not change the result."""
    model = tiny_model(variant, **overrides)
    input_ids = torch.randint(1, 100, (1, 9), generator=torch.Generator().manual_seed(5))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), input_ids, torch.zeros(1, 2, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.zeros(1, 3), torch.ones(1, 9), torch.zeros(1, 2)], dim=1).long()
    with torch.no_grad():
        plain = model(input_ids=input_ids).last_hidden_state
        with_padding = model(input_ids=padded, attention_mask=mask).last_hidden_state[:, 3:12]
    torch.testing.assert_close(with_padding, plain, atol=1e-5, rtol=0)


@pytest.mark.parametrize("variant", ["kerple", "fire", "cope"])
def test_bfloat16_model_runs_beyond_the_training_length(variant):
    model = tiny_model(variant, fire_init_L=4.0) if variant == "fire" else tiny_model(variant)
    model = model.to(torch.bfloat16)
    input_ids = torch.randint(1, 100, (1, 300), generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        hidden = model(input_ids=input_ids).last_hidden_state
    assert hidden.dtype == torch.bfloat16 and torch.isfinite(hidden).all()


@pytest.mark.parametrize(
    "variant, overrides, fragment",
    [
        ("kerple", dict(kerple_kernel="exp"), "choose one of 'log', 'power'"),
        ("fire", dict(fire_init_L=0.0), "`fire_init_L` must be > 0"),
        ("fire", dict(fire_hidden_size=0), "`fire_hidden_size` must be > 0"),
        ("fire", dict(fire_init_c=float("nan")), "must be a finite number"),
        ("cope", dict(cope_max_positions=0), "`cope_max_positions` must be > 0"),
    ],
)
def test_hyperparameters_are_validated(variant, overrides, fragment):
    with pytest.raises(ValueError, match=fragment):
        tiny_config(variant, **overrides)


@pytest.mark.parametrize(
    "variant, reference",
    [
        ("kerple", "Chi et al. 2022"),
        ("fire", "Li et al. 2023"),
        ("cope", "Golovneva et al. 2024"),
    ],
)
def test_registered_with_description_and_reference(variant, reference):
    encoding = PEBertModel(tiny_config(variant)).position_encoding
    assert reference in encoding.reference and encoding.description


# ------------------------------------------------------------------------------------------------------- KERPLE


@pytest.mark.parametrize("kernel", ["log", "power"])
def test_kerple_bias_is_the_kernel_of_every_layer_and_head(kernel):
    pe = tiny_model("kerple", kerple_kernel=kernel).position_encoding
    r1, r2 = (t.detach() for t in pe.kernel_parameters())
    bias = pe.position_bias(6)
    assert bias.shape == (2, 4, 6, 6)
    expected = torch.empty_like(bias)
    for layer in range(2):
        for head in range(4):
            a, b = float(r1[layer, head]), float(r2[layer, head])
            for i in range(6):
                for j in range(6):
                    d = abs(i - j)
                    expected[layer, head, i, j] = -a * math.log(1 + b * d) if kernel == "log" else -a * d**b
    torch.testing.assert_close(bias, expected, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(bias[0], bias[1])  # each layer has its own kernel


@pytest.mark.parametrize("kernel", ["log", "power"])
def test_kerple_is_toeplitz_symmetric_and_non_increasing_in_distance_also_beyond_training(kernel):
    pe = tiny_model("kerple", kerple_kernel=kernel).position_encoding
    for length in (10, 4 * 64):  # and at 4x max_position_embeddings
        bias = pe.position_bias(length)
        assert torch.isfinite(bias).all() and _is_toeplitz(bias)
        torch.testing.assert_close(bias, bias.transpose(-1, -2))
        row = bias[..., 0, :]  # bias of distance 0, 1, ..., n - 1
        assert (row[..., 0] == 0).all() and (row[..., 1:] < row[..., :-1]).all()


def test_kerple_distances_stay_exact_in_bfloat16():
    """bfloat16 holds integers exactly only up to 256: a bfloat16 model evaluates its kernels on exact distances
    (the bias is rounded to bfloat16 once, at the end)."""
    pe = tiny_model("kerple").to(torch.bfloat16).position_encoding
    key_padding = torch.zeros(1, 1, 1, 300, dtype=torch.bfloat16)
    state = pe.prepare(torch.arange(300)[None], key_padding, False, True)
    assert state.distance[0, 0].tolist() == list(range(300))


def test_kerple_parameters_start_as_published_and_stay_in_range():
    for kernel in ("log", "power"):
        pe = tiny_model("kerple", kerple_kernel=kernel).position_encoding
        r1, r2 = pe.kernel_parameters()
        assert (r1 >= 0.01 - 1e-6).all() and (r1 <= 2).all() and (r2 >= 0.01 - 1e-6).all() and (r2 <= 1).all()
        with torch.no_grad():  # wherever training takes the raw values, r1 > 0 and r2 in (0, 2]
            pe.raw_r1.fill_(-30.0)
            pe.raw_r2.copy_(torch.linspace(-30, 30, 8).view(2, 4))
        r1, r2 = pe.kernel_parameters()
        assert (r1 > 0).all() and (r2 > 0).all()
        if kernel == "power":
            assert (r2 <= 2).all()
    pe.raw_r1.grad = pe.raw_r2.grad = None
    pe.position_bias(5).sum().backward()  # the power kernel at d = 0 has a finite gradient in r2
    assert torch.isfinite(pe.raw_r2.grad).all() and torch.isfinite(pe.raw_r1.grad).all()


def test_kerple_layers_add_their_own_bias_to_the_padding_mask():
    model = tiny_model("kerple")
    pe = model.position_encoding
    attention_mask = torch.tensor([[1] * 7, [1] * 4 + [0] * 3])
    state = pe.prepare(torch.arange(7)[None], state_for(torch.arange(7)[None], attention_mask).key_padding, True, True)
    bias = pe.position_bias(7)
    for index, layer in enumerate(model.encoder.layer):
        attention = layer.attention.self
        query = torch.zeros(2, 4, 7, 8)
        _, _, mask = attention.position.adjust(attention, query, query, state)
        torch.testing.assert_close(mask[0], bias[index])
        torch.testing.assert_close(mask[1, :, :, :4], bias[index, :, :, :4])
        assert (mask[1, :, :, 4:] == torch.finfo(torch.float32).min).all()


# --------------------------------------------------------------------------------------------------------- FIRE


def slow_fire_bias(fire, position_ids, attention_mask):
    """b[b, h, i, j] = mlp(sign(j - i) psi(|j - i|) / psi(max(L, e))), e the query's farthest real distance on the
    key's side, one token pair at a time."""
    c, threshold = float(fire.c), abs(float(fire.threshold_scale) * fire.init_threshold)
    psi = lambda x: math.log(abs(c * x) + 1)  # noqa: E731
    batch, n = attention_mask.shape
    out = torch.empty(batch, fire.mlp[2].out_features, n, n)
    for b in range(batch):
        positions = position_ids[min(b, len(position_ids) - 1)].tolist()
        real = [p for p, keep in zip(positions, attention_mask[b].tolist()) if keep]
        for i in range(n):
            for j in range(n):
                d = positions[j] - positions[i]
                extent = positions[i] - min(real) if d < 0 else max(real) - positions[i]
                x = (d > 0) - (d < 0)
                x = x * psi(abs(d)) / (psi(max(threshold, max(extent, 0))) + NORMALISER_EPS)
                out[b, :, i, j] = fire.mlp(torch.tensor([[x]]))[0]
    return out


@pytest.mark.parametrize("threshold", [3.0, 512.0])
def test_fire_bias_is_the_mlp_of_the_normalised_signed_log_distance(threshold):
    pe = tiny_model("fire", fire_init_L=threshold).position_encoding
    with torch.no_grad():
        pe.fire.c.fill_(0.7)  # away from its initial value, so a mix-up of c and L would show
        pe.fire.threshold_scale.fill_(1.5)
    position_ids = torch.arange(9)[None]
    attention_mask = torch.tensor([[1] * 9, [1] * 6 + [0] * 3])
    with torch.no_grad():
        bias = pe.shared_bias(state_for(position_ids, attention_mask))
        expected = slow_fire_bias(pe.fire, position_ids, attention_mask)
    assert bias.shape == (2, 4, 9, 9)
    torch.testing.assert_close(bias[0], expected[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(bias[1, :, :6, :6], expected[1, :, :6, :6], atol=1e-5, rtol=1e-5)


def test_fire_extents_count_real_tokens_on_each_side():
    attention_mask = torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 0]])
    left, right = farthest_distances(
        torch.arange(5)[None], state_for(torch.arange(5)[None], attention_mask).key_padding
    )
    assert left.tolist() == [[0, 1, 2, 3, 4], [0, 0, 1, 2, 3]]
    assert right.tolist() == [[4, 3, 2, 1, 0], [3, 2, 1, 0, 0]]


def test_fire_extents_stay_exact_in_bfloat16():
    attention_mask = torch.ones(1, 300, dtype=torch.long)
    key_padding = state_for(torch.arange(300)[None], attention_mask).key_padding.to(torch.bfloat16)
    left, right = farthest_distances(torch.arange(300)[None], key_padding)
    assert left[0].tolist() == list(range(300)) and right[0].tolist() == list(range(299, -1, -1))


def test_fire_is_toeplitz_below_its_threshold_and_interpolates_beyond():
    """Below L every query divides by psi(L): a plain relative (Toeplitz) bias. Beyond, not Toeplitz; what holds
    instead: inputs stay in [-1, 1], the farthest key on either side maps to -1 / +1 at any length, and reversing the
    sequence mirrors the inputs."""
    assert _is_toeplitz(tiny_model("fire").position_bias(12))  # L = 512
    pe = tiny_model("fire", fire_init_L=4.0).position_encoding
    assert not _is_toeplitz(pe.position_bias(12))
    for n in (12, 4 * 64):
        position_ids = torch.arange(n)[None]
        state = state_for(position_ids, torch.ones(1, n, dtype=torch.long))
        with torch.no_grad():
            x = pe.fire.inputs(
                torch.arange(n)[None] - torch.arange(n)[:, None], *farthest_distances(position_ids, state.key_padding)
            )[0]
        assert x.abs().max() <= 1.0
        far = torch.arange(n) >= 4  # queries with at least L keys on the left
        torch.testing.assert_close(x[far, 0], torch.full((int(far.sum()),), -1.0), atol=1e-5, rtol=0)
        torch.testing.assert_close(x, -x.flip(0).flip(1), atol=1e-6, rtol=0)


def test_fire_bias_ignores_padding_on_either_side_and_shifts_of_positions():
    pe = tiny_model("fire", fire_init_L=3.0).position_encoding
    with torch.no_grad():
        plain = pe.shared_bias(state_for(torch.arange(7)[None], torch.ones(1, 7, dtype=torch.long)))
        padded_mask = torch.tensor([[0, 0] + [1] * 7 + [0]])
        padded = pe.shared_bias(state_for(torch.arange(10)[None], padded_mask))[..., 2:9, 2:9]
        shifted = pe.shared_bias(state_for(torch.arange(7)[None] + 40, torch.ones(1, 7, dtype=torch.long)))
    torch.testing.assert_close(padded, plain, atol=1e-6, rtol=0)
    torch.testing.assert_close(shifted, plain, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------------------------------------- CoPE


def test_cope_positions_with_every_gate_open_are_the_relative_positions():
    n = 7
    relative = (torch.arange(n)[None] - torch.arange(n)[:, None]).float()
    torch.testing.assert_close(contextual_positions(torch.ones(2, 3, n, n)), relative.expand(2, 3, n, n))


def test_cope_positions_count_only_gated_tokens_between_query_and_key():
    gates = (torch.rand(2, 9, 9, generator=torch.Generator().manual_seed(2)) > 0.5).float()
    positions = contextual_positions(gates)
    for b in range(2):
        for i in range(9):
            for j in range(9):
                if j > i:
                    expected = sum(gates[b, i, t] for t in range(i + 1, j + 1))
                elif j < i:
                    expected = -sum(gates[b, i, t] for t in range(j, i))
                else:
                    expected = 0.0
                assert positions[b, i, j] == expected, (b, i, j)


def slow_cope_bias(layer, query, key, attention_mask, scaling):
    """The CoPE logits bias (plus padding) one (batch, head, query, key) at a time."""
    batch, heads, n, _ = query.shape
    table, big = layer.contextual_embeddings, layer.max_position
    out = torch.full((batch, heads, n, n), torch.finfo(torch.float32).min)
    for b in range(batch):
        for h in range(heads):
            for i in range(n):
                gates = [
                    float(torch.sigmoid(query[b, h, i] @ key[b, h, t] * scaling)) * int(attention_mask[b, t])
                    for t in range(n)
                ]
                for j in range(n):
                    if not attention_mask[b, j]:
                        continue
                    p = sum(gates[i + 1 : j + 1]) if j > i else -sum(gates[j:i])
                    p = min(max(p, -big), big)
                    low, high = math.floor(p), math.ceil(p)
                    embedding = (p - low) * table[high + big] + (1 - p + low) * table[low + big]
                    out[b, h, i, j] = float(query[b, h, i] @ embedding) * scaling
    return out


def cope_layer(**overrides):
    model = tiny_model("cope", **overrides)
    return model, model.encoder.layer[0].attention.self


def test_cope_bias_matches_the_slow_definition_with_padding():
    _, attention = cope_layer(cope_max_positions=3)  # counts beyond 3 are clamped
    generator = torch.Generator().manual_seed(6)
    query, key = torch.randn(2, 4, 8, 8, generator=generator), torch.randn(2, 4, 8, 8, generator=generator)
    attention_mask = torch.tensor([[1] * 8, [1] * 5 + [0] * 3])
    state = state_for(torch.arange(8)[None], attention_mask)
    with torch.no_grad():
        _, _, mask = attention.position.adjust(attention, query, key, state)
        expected = slow_cope_bias(attention.position, query, key, attention_mask, attention.scaling)
    torch.testing.assert_close(mask, expected, atol=1e-5, rtol=1e-5)


def test_cope_with_open_gates_is_a_relative_key_embedding_clipped_at_max_positions():
    """q = k = a long common vector: every gate is 1, so the bias is q_i . e[clip(j - i, -P, P)] / sqrt(d), also for
    a sequence 3 times longer than the table."""
    _, attention = cope_layer(cope_max_positions=4)
    n = 25
    direction = torch.randn(8, generator=torch.Generator().manual_seed(3))
    query = (10 * direction / direction.norm()).expand(1, 4, n, 8)
    state = state_for(torch.arange(n)[None], torch.ones(1, n, dtype=torch.long))
    with torch.no_grad():
        _, _, mask = attention.position.adjust(attention, query, query, state)
        table = attention.position.contextual_embeddings
        relative = (torch.arange(n)[None] - torch.arange(n)[:, None]).clamp(-4, 4) + 4
        expected = (query[0, 0] @ table.T)[0][relative] * attention.scaling
    torch.testing.assert_close(mask[0], expected.expand(4, n, n), atol=1e-5, rtol=0)


def test_cope_counts_stay_exact_in_bfloat16():
    """Gates and their sums are float32 in a bfloat16 model: with open gates, the positions beyond 256 still pick
    their own rows."""
    model = tiny_model("cope", cope_max_positions=299).to(torch.bfloat16)
    attention = model.encoder.layer[0].attention.self
    n = 300
    direction = torch.randn(8, generator=torch.Generator().manual_seed(3))
    query = (10 * direction / direction.norm()).to(torch.bfloat16).expand(1, 4, n, 8)
    state = state_for(torch.arange(n)[None], torch.ones(1, n, dtype=torch.long))
    state.key_padding = state.key_padding.to(torch.bfloat16)
    with torch.no_grad():
        _, _, mask = attention.position.adjust(attention, query, query, state)
        logits = query[0, 0, 0].float() @ attention.position.contextual_embeddings.float().T
        relative = torch.arange(n)[None] - torch.arange(n)[:, None] + 299
        expected = logits[relative] * attention.scaling
    torch.testing.assert_close(mask[0, 0].float(), expected, atol=2e-3, rtol=0)


def test_cope_counts_only_the_tokens_the_query_finds_important():
    """Keys aligned with the query open their gate, opposed ones close it: a key's position is the signed number of
    aligned tokens from the query (excluded) to it (included), whatever lies between."""
    _, attention = cope_layer(cope_max_positions=8)
    direction = torch.zeros(8)
    direction[0] = 12.0
    important = torch.tensor([1, 0, 0, 1, 1, 0, 1, 0, 0, 1])
    keys = torch.where(important[:, None].bool(), direction, -direction).expand(1, 4, 10, 8)
    query = direction.expand(1, 4, 10, 8)
    state = state_for(torch.arange(10)[None], torch.ones(1, 10, dtype=torch.long))
    with torch.no_grad():
        _, _, mask = attention.position.adjust(attention, query, keys, state)
        logits = query[0, 0, 0] @ attention.position.contextual_embeddings.T  # q . e[p] for p = -8..8
    flags = important.tolist()
    for i in range(10):
        for j in range(10):
            p = sum(flags[i + 1 : j + 1]) if j > i else -sum(flags[j:i])
            torch.testing.assert_close(
                mask[0, :, i, j], (logits[p + 8] * attention.scaling).expand(4), atol=1e-5, rtol=0
            )


def test_cope_masked_tokens_inside_a_sequence_never_count():
    """CoPE ignores position_ids and counts tokens: a masked hole in the middle of a sequence (e.g. packed inputs)
    is invisible, so the real tokens' outputs equal those of the sequence without the hole."""
    model = tiny_model("cope")
    input_ids = torch.randint(1, 100, (1, 9), generator=torch.Generator().manual_seed(9))
    holed = torch.cat([input_ids[:, :4], torch.randint(1, 100, (1, 3)), input_ids[:, 4:]], dim=1)
    mask = torch.ones_like(holed)
    mask[:, 4:7] = 0
    with torch.no_grad():
        plain = model(input_ids=input_ids).last_hidden_state
        with_hole = model(input_ids=holed, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(torch.cat([with_hole[:, :4], with_hole[:, 7:]], dim=1), plain, atol=1e-5, rtol=0)

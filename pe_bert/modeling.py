"""PEBert: BERT with a swappable positional encoding, in transformers 5 house style.

Parameter names and shapes follow `transformers.BertModel` exactly (the learned PE's table is
`embeddings.position_embeddings.weight`), so stock BERT checkpoints load into the `learned` variant. The PE is a
component chosen by `config.position_encoding` (see `pe_base.py`): embeddings ask it for vectors to add, each
self-attention asks it to rotate queries/keys, bias the logits or merge a branch. Attention runs through
transformers' `ALL_ATTENTION_FUNCTIONS` (sdpa by default, eager when attention probabilities are requested).
"""

import re
from collections.abc import Callable

import torch
from torch import nn
from torch.nn import BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import (
    BaseModelOutput,
    BaseModelOutputWithPooling,
    MaskedLMOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.processing_utils import Unpack
from transformers.utils import TransformersKwargs
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.import_utils import is_torchdynamo_exporting, is_tracing
from transformers.utils.output_capturing import capture_outputs

from .configuration import PEBertConfig, position_table_limit
from .errors import InvalidInputError
from .pe_base import LayerPosition, PositionEncoding, PositionState
from .pe_zoo import get_position_encoding_class


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    """Plain softmax attention that also returns the probabilities (needed for `output_attentions`)."""
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    attn_output = torch.matmul(attn_weights, value).transpose(1, 2).contiguous()
    return attn_output, attn_weights


class PEBertEmbeddings(nn.Module):
    """Word + token-type embeddings, plus whatever the PE adds; the PE module itself lives here as
    `position_embeddings` (BERT's name for its learned table)."""

    def __init__(self, config):
        super().__init__()
        config.check_position_encoding()  # a config edited after creation is checked before it is used
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings: PositionEncoding = get_position_encoding_class(config.position_encoding)(config)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> torch.Tensor:
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros(inputs_embeds.shape[:-1], dtype=torch.long, device=inputs_embeds.device)
        embeddings = inputs_embeds + self.token_type_embeddings(token_type_ids)
        positional = self.position_embeddings.embed(position_ids)
        if positional is not None:
            embeddings = embeddings + positional.to(embeddings.dtype)
        return self.dropout(self.LayerNorm(embeddings))


class PEBertSelfAttention(nn.Module):
    def __init__(self, config, position: LayerPosition, layer_idx: int):
        super().__init__()
        self.config = config
        self.num_attention_heads = config.num_attention_heads
        self.attention_head_size = config.hidden_size // config.num_attention_heads
        self.all_head_size = self.num_attention_heads * self.attention_head_size
        self.query = nn.Linear(config.hidden_size, self.all_head_size)
        self.key = nn.Linear(config.hidden_size, self.all_head_size)
        self.value = nn.Linear(config.hidden_size, self.all_head_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.position = position
        self.scaling = (self.attention_head_size * position.scale_factor()) ** -0.5
        self.is_causal = False  # an encoder: sdpa must never assume a causal mask
        self.layer_idx = layer_idx

    def forward(
        self, hidden_states: torch.Tensor, state: PositionState, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.attention_head_size)
        query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.key(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.value(hidden_states).view(hidden_shape).transpose(1, 2)

        query, key, attention_mask = self.position.adjust(self, query, key, state)

        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self,
            query,
            key,
            value,
            attention_mask,
            dropout=0.0 if not self.training else self.dropout.p,
            scaling=self.scaling,
            **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1).contiguous()
        attn_output = self.position.merge(self, attn_output, hidden_states, state)
        return attn_output, attn_weights


class PEBertSelfOutput(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class PEBertAttention(nn.Module):
    def __init__(self, config, position: LayerPosition, layer_idx: int):
        super().__init__()
        self.self = PEBertSelfAttention(config, position, layer_idx)
        self.output = PEBertSelfOutput(config)

    def forward(
        self, hidden_states: torch.Tensor, state: PositionState, **kwargs: Unpack[TransformersKwargs]
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        attention_output, attn_weights = self.self(hidden_states, state, **kwargs)
        return self.output(attention_output, hidden_states), attn_weights


class PEBertIntermediate(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = (
            ACT2FN[config.hidden_act] if isinstance(config.hidden_act, str) else config.hidden_act
        )

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.intermediate_act_fn(self.dense(hidden_states))


class PEBertOutput(PEBertSelfOutput):
    def __init__(self, config):
        super().__init__(config)
        self.dense = nn.Linear(config.intermediate_size, config.hidden_size)


class PEBertLayer(GradientCheckpointingLayer):
    """One encoder layer. It receives the position state's fields as positional arguments (`PositionState.values`),
    so reentrant gradient checkpointing detaches and returns gradients for every tensor in it (a bias computed from
    shared PE parameters, for instance) instead of backpropagating through it once per layer."""

    def __init__(self, config, position: LayerPosition, state_class: type[PositionState], layer_idx: int):
        super().__init__()
        self.attention = PEBertAttention(config, position, layer_idx)
        self.intermediate = PEBertIntermediate(config)
        self.output = PEBertOutput(config)
        self.state_class = state_class

    def forward(self, hidden_states: torch.Tensor, *state_values, **kwargs: Unpack[TransformersKwargs]) -> torch.Tensor:
        attention_output, _ = self.attention(hidden_states, self.state_class(*state_values), **kwargs)
        return self.output(self.intermediate(attention_output), attention_output)


class PEBertEncoder(nn.Module):
    def __init__(self, config, position_encoding: PositionEncoding):
        super().__init__()
        self.layer = nn.ModuleList(
            [
                PEBertLayer(config, position_encoding.layer_class(config, i), position_encoding.state_class, i)
                for i in range(config.num_hidden_layers)
            ]
        )

    def forward(
        self, hidden_states: torch.Tensor, state: PositionState, **kwargs: Unpack[TransformersKwargs]
    ) -> BaseModelOutput:
        state_values = state.values()
        for layer_module in self.layer:
            hidden_states = layer_module(hidden_states, *state_values, **kwargs)
        return BaseModelOutput(last_hidden_state=hidden_states)


class PEBertPooler(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden_states[:, 0]))


class PEBertPredictionHeadTransform(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act] if isinstance(config.hidden_act, str) else config.hidden_act
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class PEBertLMPredictionHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.transform = PEBertPredictionHeadTransform(config)
        # Output weights are tied to the input embeddings; the bias is output-only.
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden_states))


class PEBertOnlyMLMHead(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.predictions = PEBertLMPredictionHead(config)

    def forward(self, sequence_output: torch.Tensor) -> torch.Tensor:
        return self.predictions(sequence_output)


# The Auto class each model registers with (see `pe_bert/__init__.py`).
AUTO_CLASS_NAMES = {
    "AutoModel": "PEBertModel",
    "AutoModelForMaskedLM": "PEBertForMaskedLM",
    "AutoModelForSequenceClassification": "PEBertForSequenceClassification",
    "AutoModelForTokenClassification": "PEBertForTokenClassification",
}


class PEBertPreTrainedModel(PreTrainedModel):
    config_class = PEBertConfig
    config: PEBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_attention_backend = True
    _no_split_modules = ["PEBertEmbeddings", "PEBertLayer"]
    _can_record_outputs = {"hidden_states": PEBertLayer, "attentions": PEBertSelfAttention}
    # Heads return a per-token mean loss and ignore `num_items_in_batch`: tell the Trainer so, or it skips its own
    # averaging over gradient-accumulation steps and processes (the loss and gradients would scale with them).
    accepts_loss_kwargs = False
    # Stock BERT checkpoints may carry BERT's old non-persistent `position_ids` buffer.
    _keys_to_ignore_on_load_unexpected = [r"position_ids"]

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; the config's `auto_map` names every head, so whichever Auto class a user picks can load
        the checkpoint with `trust_remote_code=True` where pe_bert is not installed."""
        if getattr(self, "_auto_class", None) is not None:
            module = type(self).__module__.rsplit(".", 1)[-1]
            auto_map = dict(getattr(self.config, "auto_map", None) or {})
            auto_map.update({auto: f"{module}.{name}" for auto, name in AUTO_CLASS_NAMES.items()})
            self.config.auto_map = auto_map
        return super().save_pretrained(save_directory, *args, **kwargs)

    @classmethod
    def from_pretrained(cls, *args, **kwargs):
        """transformers' `from_pretrained`, refusing a checkpoint whose positional weights do not fit the PE its
        config names (a config.json edited from `learned` to `rope` would otherwise load and silently drop the
        position table)."""
        wants_info = kwargs.pop("output_loading_info", False)
        model, info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        source = args[0] if args else kwargs.get("pretrained_model_name_or_path")
        _check_positional_weights(model, info, source)
        return (model, info) if wants_info else model

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, PEBertLMPredictionHead):
            init.zeros_(module.bias)
        if hasattr(module, "init_position_weights"):
            module.init_position_weights(self.config.initializer_range)


# Where a PE keeps its weights: its model-level module, and its per-layer part in every attention layer.
_POSITIONAL_KEY = re.compile(r"(^|\.)(embeddings\.position_embeddings|attention\.self\.position)\.")


def _check_positional_weights(model, info: dict, source) -> None:
    """Refuse a load whose checkpoint holds another PE's positional weights, or an encoder trained without the
    positional weights this PE needs: the checkpoint's weights and the PE its config names do not belong together.
    A checkpoint that lacks the encoder altogether (a head's or nothing at all) loads as transformers loads it, with
    the missing weights initialised and reported."""
    unexpected = [k for k in info.get("unexpected_keys", ()) if _POSITIONAL_KEY.search(k)]
    missing_keys = set(info.get("missing_keys", ()))
    missing = [k for k in missing_keys if _POSITIONAL_KEY.search(k)]
    encoder_loaded = any(".encoder." in f".{k}" and k not in missing_keys for k in model.state_dict())
    if not unexpected and not (missing and encoder_loaded):
        return
    found = f"positional weights it does not use ({', '.join(sorted(unexpected)[:4])})" if unexpected else ""
    lacking = f"none of the positional weights it needs ({', '.join(sorted(missing)[:4])})" if missing else ""
    raise InvalidInputError(
        f"The checkpoint {source} says position_encoding={model.config.position_encoding!r}, but its weights hold "
        f"{' and '.join(filter(None, (found, lacking)))}: they were trained with another PE (was config.json "
        "edited?). Restore its config.json's position_encoding to the PE it was trained with."
    )


class PEBertModel(PEBertPreTrainedModel):
    def __init__(self, config: PEBertConfig, add_pooling_layer: bool = True):
        r"""
        add_pooling_layer (bool, *optional*, defaults to `True`): whether to add BERT's [CLS] pooler.
        """
        super().__init__(config)
        self.config = config
        self.gradient_checkpointing = False
        self.embeddings = PEBertEmbeddings(config)
        self.encoder = PEBertEncoder(config, self.embeddings.position_embeddings)
        self.pooler = PEBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    @property
    def position_encoding(self) -> PositionEncoding:
        return self.embeddings.position_embeddings

    def _check_length(self, seq_length: int, position_ids: torch.Tensor) -> None:
        if seq_length == 0:
            raise ValueError("The input has no tokens (sequence length 0); give at least one token per sequence.")
        bound = position_table_limit(self.config)
        if bound is None:
            return
        limit, encoding = bound
        # Reading the positions' values would be a data-dependent branch, which torch.export and torch.compile
        # cannot trace: there, the embedding lookup itself bounds them.
        too_far = not is_tracing(position_ids) and int(position_ids.max()) >= limit
        if seq_length > limit or too_far:
            raise ValueError(
                f"Input length {seq_length} exceeds the {limit} positions of the {encoding!r} position table "
                f"(max_position_embeddings={limit}). Truncate the inputs to at most {limit} tokens (e.g. "
                f"tokenizer(..., truncation=True, max_length={limit})), or use a relative or rotary position_encoding "
                "that extrapolates."
            )

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPooling:
        r"""
        input_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`): token ids.
        attention_mask (`torch.Tensor` of shape `(batch_size, sequence_length)`, *optional*): 1 for tokens, 0 for
            padding.
        token_type_ids (`torch.LongTensor` of shape `(batch_size, sequence_length)`, *optional*): segment ids.
        position_ids (`torch.LongTensor` of shape `(batch_size | 1, sequence_length)`, *optional*): positions;
            default 0..sequence_length-1.
        inputs_embeds (`torch.Tensor` of shape `(batch_size, sequence_length, hidden_size)`, *optional*): instead
            of `input_ids`.
        """
        if (input_ids is None) ^ (inputs_embeds is not None):
            raise ValueError("You must specify exactly one of input_ids or inputs_embeds")
        batch_size, seq_length = input_ids.shape if input_ids is not None else inputs_embeds.shape[:2]
        device = input_ids.device if input_ids is not None else inputs_embeds.device
        consecutive = position_ids is None
        if consecutive:
            position_ids = torch.arange(seq_length, device=device)[None]
        self._check_length(seq_length, position_ids)

        embedding_output = self.embeddings(
            input_ids=input_ids, token_type_ids=token_type_ids, position_ids=position_ids, inputs_embeds=inputs_embeds
        )
        key_padding, use_padding_mask = self._key_padding(attention_mask, batch_size, seq_length, embedding_output)
        state = self.position_encoding.prepare(position_ids, key_padding, use_padding_mask, consecutive)
        encoder_outputs = self.encoder(embedding_output, state, **kwargs)
        sequence_output = encoder_outputs.last_hidden_state
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=sequence_output, pooler_output=pooled_output)

    @staticmethod
    def _key_padding(attention_mask, batch_size, seq_length, embedding_output):
        """Additive `[batch, 1, 1, key]` mask (0 on tokens, dtype-min on padding), and whether the attention
        function needs it. Without padding, sdpa runs unmasked (faster); deciding that reads the mask's values,
        which export and compile cannot trace, so there the mask is always passed (as transformers' own mask
        utilities do)."""
        dtype = embedding_output.dtype
        if attention_mask is None:
            return torch.zeros(batch_size, 1, 1, seq_length, dtype=dtype, device=embedding_output.device), False
        if attention_mask.dim() != 2:
            raise ValueError(
                f"attention_mask must be [batch, seq] with 1 for tokens and 0 for padding; got shape "
                f"{tuple(attention_mask.shape)}."
            )
        keep = attention_mask[:, None, None, :].to(torch.bool)
        key_padding = torch.zeros(keep.shape, dtype=dtype, device=embedding_output.device)
        key_padding = key_padding.masked_fill(~keep, torch.finfo(dtype).min)
        if is_torchdynamo_exporting() or is_tracing(attention_mask):
            return key_padding, True
        return key_padding, not bool(keep.all())

    def position_bias(self, seq_len: int) -> torch.Tensor | None:
        """The PE-only bias/score matrix `[layers | 1, heads, n, n]` at positions 0..n-1 (None if content-dependent
        or absent); see `PositionEncoding.position_bias`."""
        return self.position_encoding.position_bias(seq_len)


class PEBertForMaskedLM(PEBertPreTrainedModel):
    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: PEBertConfig):
        super().__init__(config)
        self.bert = PEBertModel(config, add_pooling_layer=False)
        self.cls = PEBertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        masked_positions: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> MaskedLMOutput:
        r"""labels: `[batch, seq]` token ids to predict, -100 where no loss is taken.
        masked_positions: `[batch, k]` positions that include every labelled one (padded with unlabelled
            positions, e.g. 0), as `MaskedOnlyHeadCollator` gives them: in training, the MLM head then runs at these
            k positions only (`logits` is `[batch, k, vocab]`), with the same loss and gradients as on every position,
            and static shapes (torch.compile, export). Ignored in eval and inference (full logits)."""
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            return_dict=True,
            **kwargs,
        )
        sequence_output = outputs.last_hidden_state
        # Only ~15% of positions carry a label: running the vocab-sized head on the rest is wasted work.
        if labels is not None and self.training and masked_positions is not None:
            index = masked_positions.unsqueeze(-1).expand(-1, -1, sequence_output.shape[-1])
            sequence_output, labels = sequence_output.gather(1, index), labels.gather(1, masked_positions)
        elif labels is not None and self.training and self.config.sparse_prediction:
            masked = labels != -100  # data-dependent shape: eager training only
            sequence_output, labels = sequence_output[masked], labels[masked]
        prediction_scores = self.cls(sequence_output)
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(prediction_scores.view(-1, self.config.vocab_size), labels.view(-1))
        return MaskedLMOutput(
            loss=loss, logits=prediction_scores, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class _PEBertClassifier(PEBertPreTrainedModel):
    """Encoder + dropout + linear classifier: what the sequence and token classification heads share."""

    uses_pooler: bool = True

    def __init__(self, config: PEBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = PEBertModel(config, add_pooling_layer=self.uses_pooler)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()


class PEBertForSequenceClassification(_PEBertClassifier):
    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> SequenceClassifierOutput:
        r"""labels: class ids `[batch]`, floats `[batch]` for regression (num_labels == 1), or multi-hot
        `[batch, num_labels]` for multi-label classification (as in transformers' BERT)."""
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            if self.config.problem_type is None:
                if self.num_labels == 1:
                    self.config.problem_type = "regression"
                elif labels.dtype in (torch.long, torch.int):
                    self.config.problem_type = "single_label_classification"
                else:
                    self.config.problem_type = "multi_label_classification"
            if self.config.problem_type == "regression":
                loss = (
                    MSELoss()(logits.squeeze(-1), labels.squeeze(-1).to(logits.dtype))
                    if self.num_labels == 1
                    else MSELoss()(logits, labels)
                )
            elif self.config.problem_type == "single_label_classification":
                loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
            else:
                loss = BCEWithLogitsLoss()(logits, labels.to(logits.dtype))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class PEBertForTokenClassification(_PEBertClassifier):
    uses_pooler = False  # one label per token: BERT's [CLS] pooler is not used

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> TokenClassifierOutput:
        r"""labels: `[batch, seq]` class ids, -100 where no loss is taken."""
        outputs = self.bert(
            input_ids,
            attention_mask=attention_mask,
            token_type_ids=token_type_ids,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            return_dict=True,
            **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        loss = None
        if labels is not None:
            loss = CrossEntropyLoss()(logits.view(-1, self.num_labels), labels.view(-1))
        return TokenClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


__all__ = [
    "PEBertPreTrainedModel",
    "PEBertModel",
    "PEBertForMaskedLM",
    "PEBertForSequenceClassification",
    "PEBertForTokenClassification",
]

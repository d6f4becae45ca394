"""PEBertConfig: BERT's configuration plus the choice of positional encoding and its hyper-parameters."""

import contextvars
import dataclasses
import difflib
import logging

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from . import pe_base
from .errors import InvalidInputError
from .pe_base import HyperParameter, get_position_encoding_class, hyperparameter_specs, owners_of
from .pe_shipping import ship_position_encoding

# Importing pe_zoo registers the built-in PEs, in table order, before any config is made; written `from .x import`
# because that is the form transformers follows when it copies a checkpoint's code for trust_remote_code.
from .pe_zoo import position_encoding_names  # noqa: F401, E402, I001

logger = logging.getLogger(__name__)

# True while a saved config is being loaded (`from_dict`): keys a library or an older version wrote are kept and
# only warned about; the misspelling guard errors on keywords a user types at construction only.
_LOADING = contextvars.ContextVar("pe_bert_config_loading", default=False)


# PEBertConfig's own numeric fields, declared as PE hyper-parameters are (`HyperParameter`: one mechanism, one
# message naming the bound). The upper bounds are far beyond any model that fits a machine, and catch values that
# would otherwise fail much later: `max_position_embeddings=10**9` as an allocation error, `10**20` as an overflow,
# a huge `initializer_range` as NaN weights.
FIELD_BOUNDS = {
    spec.name: spec
    for spec in (
        HyperParameter("vocab_size", 30522, "rows of the token embedding table", gt=0, le=2**24),
        HyperParameter("hidden_size", 768, "width of the hidden states", gt=0, le=2**16),
        HyperParameter("num_hidden_layers", 12, "encoder layers", ge=0, le=2**10),
        HyperParameter("num_attention_heads", 12, "attention heads per layer", gt=0, le=2**12),
        HyperParameter("intermediate_size", 3072, "width of the feed-forward layers", gt=0, le=2**18),
        HyperParameter("max_position_embeddings", 512, "longest input (rows of an absolute table)", gt=0, le=2**20),
        HyperParameter("type_vocab_size", 2, "token types (segments)", gt=0, le=2**10),
        HyperParameter("hidden_dropout_prob", 0.1, "dropout of the hidden states", ge=0, lt=1),
        HyperParameter("attention_probs_dropout_prob", 0.1, "dropout of the attention probabilities", ge=0, lt=1),
        HyperParameter("classifier_dropout", 0.1, "dropout of a classification head (None: hidden's)", ge=0, lt=1),
        HyperParameter("layer_norm_eps", 1e-12, "epsilon of the layer norms", gt=0, le=1),
        HyperParameter("initializer_range", 0.02, "std of the initial weights", ge=0, le=10),
    )
}


def _check_field(config, name: str) -> None:
    """A numeric field against its declaration (`FIELD_BOUNDS`); None is left to the field's own meaning."""
    value = getattr(config, name)
    if value is not None:
        FIELD_BOUNDS[name].validate(value)


# The config attributes that may hold a special token's id (transformers' names).
SPECIAL_TOKEN_ID_KEYS = (
    "pad_token_id",
    "bos_token_id",
    "eos_token_id",
    "sep_token_id",
    "cls_token_id",
    "mask_token_id",
    "unk_token_id",
)
# Keys that stock BERT / transformers configs carry and PEBertConfig accepts as plain attributes (never reported as
# misspellings of our own fields).
_FOREIGN_KEYS = {
    *SPECIAL_TOKEN_ID_KEYS,
    "use_cache",
    "is_decoder",
    "add_cross_attention",
    "decoder_start_token_id",
    "gradient_checkpointing",
    "auto_map",
    "name_or_path",
    "_name_or_path",
    "torch_dtype",
    "attn_implementation",
    "output_attentions",
    "experts_implementation",
    "tokenizer_class",
    "prefix",
    "task_specific_params",
    "finetuning_task",
    "num_labels",
    "torchscript",
    "pruned_heads",
    "tie_encoder_decoder",
    "cross_attention_hidden_size",
}


@strict
class PEBertConfig(PreTrainedConfig):
    r"""
    Configuration of a BERT-style encoder whose positional encoding is chosen by `position_encoding`.

    The BERT fields keep BERT's names and defaults, so a stock `bert` `config.json` loads as the `learned` variant.

    `position_encoding` names a registered PE (`pe_bert.POSITION_ENCODINGS`, or one of your own registered with
    `@pe_bert.register_position_encoding`). Its hyper-parameters are keyword arguments and attributes of this config,
    declared by the PE class itself (name, default, meaning, valid values: `pe_bert.describe_position_encoding(name)`
    prints them); only the chosen PE's are stored in `config.json`. They are validated when the config is created or
    a hyper-parameter attribute is set: a wrong type, a value out of range, NaN or infinity, a misspelt name (the
    error suggests the close match) or another PE's hyper-parameter is a `ValueError` naming the field.

    Every such error is an `InvalidInputError`, a `ValueError` that pe_bert's command lines print as one line.

    Shapes are checked when the config is created, not when the model is built (as `BertConfig` does): a
    `hidden_size` that `num_attention_heads` does not divide is an error here, before any long job starts.
    """

    model_type = "pe_bert"

    # BERT's fields (same names and defaults as transformers.BertConfig).
    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    pad_token_id: int | None = 0
    classifier_dropout: float | int | None = None
    tie_word_embeddings: bool = True
    # MosaicBERT's sparse prediction: in training with labels, the MLM head runs on masked positions only (`logits`
    # is then [num_masked, vocab]); eval and inference always return full [batch, seq, vocab] logits.
    sparse_prediction: bool = False

    # The positional encoding; its hyper-parameters are declared by its class (see the docstring).
    position_encoding: str = "learned"

    def __post_init__(self, **kwargs):
        # A stock BERT config.json passes model_type="bert" as an extra kwarg: this config is pe_bert's, always.
        kwargs.pop("model_type", None)
        self._check_bert_position_embedding_type(kwargs.pop("position_embedding_type", "absolute"))
        hyperparameters = self._take_hyperparameters(kwargs)
        self._reject_misspellings(kwargs)
        super().__post_init__(**kwargs)
        self.__dict__.pop("model_type", None)
        self.__dict__.update(hyperparameters)
        # Checked here rather than in `@strict` validators, which re-wrap errors: users get a plain ValueError
        # naming the field and the fix, also when a saved config.json is loaded.
        self.check_shapes()
        self.check_values()
        self.check_position_encoding()

    def __setattr__(self, name, value):
        # A hyper-parameter set after creation (e.g. `from_pretrained(path, rope_theta=...)`) is validated too.
        spec = hyperparameter_specs().get(name) if not name.startswith("_") else None
        if spec is not None:
            value = spec.validate(value)
        super().__setattr__(name, value)

    # ------------------------------------------------------------------------------------------------ validation

    @staticmethod
    def _check_bert_position_embedding_type(value) -> None:
        if value not in (None, "absolute"):
            raise InvalidInputError(
                f"This BERT config has position_embedding_type={value!r}, which transformers 5 no longer implements "
                "and pe_bert does not load as such. For Shaw-style relative positions train "
                "position_encoding='shaw'."
            )

    def _take_hyperparameters(self, kwargs: dict) -> dict:
        """Pop every PE hyper-parameter from `kwargs`: the chosen PE's (validated, defaults filled) are returned;
        another PE's is dropped if it holds that PE's default (older config.json files stored them all) and is an
        error otherwise (it would silently do nothing)."""
        pe_class = get_position_encoding_class(self.position_encoding)
        own = {spec.name: spec for spec in pe_class.hyperparameters}
        values = {}
        foreign = sorted(name for name in hyperparameter_specs() if name in kwargs and name not in own)
        if foreign and _LOADING.get():
            self._refuse_an_edited_position_encoding(foreign)
        for name, spec in hyperparameter_specs().items():
            if name not in kwargs:
                continue
            value = kwargs.pop(name)
            if name in own:
                values[name] = spec.validate(value)
            elif value != spec.default:
                raise InvalidInputError(
                    f"`{name}` is a hyper-parameter of {', '.join(map(repr, owners_of(name)))}, not of "
                    f"position_encoding={self.position_encoding!r}, so it would have no effect. Set position_encoding "
                    f"to one of those, or drop `{name}`."
                )
        for name, spec in own.items():
            values.setdefault(name, spec.default)
        return values

    def _refuse_an_edited_position_encoding(self, foreign: list[str]) -> None:
        """A saved config holds its own PE's hyper-parameters only (`to_dict`); one that holds those of exactly one
        other PE was saved for that PE and had `position_encoding` edited afterwards. Its weights cannot tell (rope,
        alibi and none have no positional weights at all), so the config is the evidence: refused, naming both.
        Configs of the previous release, which stored every PE's hyper-parameters, hold several PEs' and load."""
        owners = set.intersection(*(set(owners_of(name)) for name in foreign))
        if len(owners) == 1:
            (trained,) = owners
            raise InvalidInputError(
                f"This config says position_encoding={self.position_encoding!r} but holds the hyper-parameters of "
                f"{trained!r} ({', '.join(foreign)}), which pe_bert saves for a {trained!r} model only: its "
                f"config.json was edited, and its weights are a {trained!r} model's. Restore position_encoding to "
                f"{trained!r} in config.json."
            )

    def _reject_misspellings(self, kwargs: dict) -> None:
        """transformers configs keep unknown keys as attributes; one that is a near-miss of a field of ours is
        almost certainly a typo that would silently keep the default (`positon_encoding="rope"` -> learned): an
        error when a user types it. A saved config may carry any key a library set (transformers' own tests set
        `layer_norm_epsilon`): on load it is kept, with a warning, never refused."""
        ours = [f.name for f in dataclasses.fields(self)] + list(hyperparameter_specs())
        for key in kwargs:
            if key in _FOREIGN_KEYS or key.startswith("_"):
                continue
            close = difflib.get_close_matches(key, ours, n=1, cutoff=0.85)
            if not close:
                continue
            if _LOADING.get():
                logger.warning(
                    "This config carries the unknown key %r (kept as an attribute; pe_bert does not use "
                    "it). If it was meant as %r, rename it in config.json.",
                    key,
                    close[0],
                )
                continue
            raise InvalidInputError(f"PEBertConfig got an unknown keyword {key!r}; did you mean {close[0]!r}?")

    def check_shapes(self):
        for field in (
            "vocab_size",
            "hidden_size",
            "num_attention_heads",
            "intermediate_size",
            "num_hidden_layers",
            "max_position_embeddings",
        ):
            _check_field(self, field)
        if self.hidden_size % self.num_attention_heads != 0:
            raise InvalidInputError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )

    def check_values(self):
        """BERT's numeric and categorical fields: a NaN dropout or a negative epsilon would train to nonsense (or to
        a loss of 0) instead of failing."""
        from transformers.activations import ACT2FN

        for field in (
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "classifier_dropout",
            "layer_norm_eps",
            "initializer_range",
            "type_vocab_size",
        ):
            _check_field(self, field)
        if isinstance(self.hidden_act, str) and self.hidden_act not in ACT2FN:
            raise InvalidInputError(
                f"`hidden_act` {self.hidden_act!r} is not an activation transformers knows; use "
                f"one of {', '.join(sorted(ACT2FN))}."
            )
        if self.pad_token_id is not None and not 0 <= self.pad_token_id < self.vocab_size:
            raise InvalidInputError(
                f"`pad_token_id` {self.pad_token_id} is outside the vocabulary (vocab_size "
                f"{self.vocab_size}): give an id below vocab_size, or None."
            )

    def check_position_encoding(self):
        """The PE name and its hyper-parameters (missing ones get their defaults), then the PE's own cross-field
        rules. The model calls this too, so a config changed after creation is checked before it is used."""
        pe_class = get_position_encoding_class(self.position_encoding)
        for spec in pe_class.hyperparameters:
            setattr(self, spec.name, self.__dict__.get(spec.name, spec.default))
        pe_class.check_config(self)

    def position_hyperparameters(self) -> dict:
        """The hyper-parameters of this config's PE, by name (for model cards and reports)."""
        pe_class = get_position_encoding_class(self.position_encoding)
        return {spec.name: getattr(self, spec.name, spec.default) for spec in pe_class.hyperparameters}

    def to_dict(self):
        # Only the chosen PE's hyper-parameters: drop stale ones left by changing `position_encoding` afterwards.
        output = super().to_dict()
        own = set(self.position_hyperparameters())
        for name in hyperparameter_specs():
            if name not in own:
                output.pop(name, None)
        return output

    def save_pretrained(self, save_directory, *args, **kwargs):
        """Save as usual; a PE defined outside pe_bert travels with the checkpoint's code (see `pe_shipping`). A
        model's `save_pretrained` saves its config last, so this also covers models."""
        super().save_pretrained(save_directory, *args, **kwargs)
        if getattr(self, "_auto_class", None) is not None:
            ship_position_encoding(get_position_encoding_class(self.position_encoding), type(self), save_directory)

    @classmethod
    def from_dict(cls, config_dict, **kwargs):
        requested = kwargs.get("position_encoding")
        saved = config_dict.get("position_encoding", "learned")
        if requested is not None and requested != saved:
            raise InvalidInputError(
                f"This checkpoint was trained with position_encoding={saved!r}; loading it as {requested!r} would "
                "drop or randomly initialise its positional weights. Load it without position_encoding; to train a "
                "new model of the same shape with another PE, change the loaded config and build from it: "
                f"config = AutoConfig.from_pretrained(path); config.position_encoding = {requested!r}; "
                "AutoModelForMaskedLM.from_config(config)."
            )
        foreign = [name for name in kwargs if name in hyperparameter_specs() and saved not in owners_of(name)]
        if foreign:
            name = foreign[0]
            raise InvalidInputError(
                f"`{name}` is a hyper-parameter of {', '.join(map(repr, owners_of(name)))}, not of this checkpoint's "
                f"position_encoding={saved!r}, so it would have no effect. Drop it; the checkpoint's own are: "
                f"{', '.join(s.name for s in get_position_encoding_class(saved).hyperparameters) or 'none'}."
            )
        token = _LOADING.set(True)
        try:
            return super().from_dict(config_dict, **kwargs)
        finally:
            _LOADING.reset(token)


pe_base.RESERVED_CONFIG_NAMES.update(f.name for f in dataclasses.fields(PEBertConfig))


def config_position_encoding(config) -> str | None:
    """The PE a (loaded) config uses: its `position_encoding` for pe_bert, "learned" for stock BERT (transformers 5
    has only BERT's absolute table), None for an architecture pe_bert does not know."""
    if getattr(config, "model_type", None) == PEBertConfig.model_type or isinstance(config, PEBertConfig):
        return config.position_encoding
    if getattr(config, "model_type", None) == "bert":
        return "learned"
    return None


def position_table_limit(config) -> tuple[int, str] | None:
    """`(positions, position_encoding)` when a model's inputs must fit a table of `max_position_embeddings` rows (an
    absolute PE: `PositionEncoding.bounded`; stock BERT), else None (relative PEs take any length; an architecture
    pe_bert does not know is None too: the caller decides how careful to be). The one answer to "does this input
    fit?" that the model, the training scripts, the analysis and the study all ask."""
    encoding = config_position_encoding(config)
    limit = getattr(config, "max_position_embeddings", None)
    if encoding is None or limit is None or not get_position_encoding_class(encoding).bounded:
        return None
    return int(limit), encoding


def describe_position_encoding(name: str) -> str:
    """A PE's description, reference and hyper-parameters (defaults, meaning, valid values), as text."""
    pe_class = get_position_encoding_class(name)
    lines = [f"{name}: {pe_class.description} ({pe_class.reference})"]
    lines += [f"  {spec.describe()}" for spec in pe_class.hyperparameters] or ["  (no hyper-parameters)"]
    return "\n".join(lines)


def __getattr__(name: str):
    from . import pe_base as base

    return base.__getattr__(name)


__all__ = ["PEBertConfig", "config_position_encoding", "describe_position_encoding", "position_table_limit"]

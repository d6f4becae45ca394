"""PEBertConfig: BERT's configuration plus the choice of positional encoding and its hyper-parameters."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .positions import PE_HYPERPARAMETERS, POSITION_ENCODINGS, validate_position_encoding_name


SHAW_MODES = ("key", "key_query")
ATTENUATED_BIASES = ("prob", "log")
ATTENUATED_LEARNABLE = ("none", "per_head", "shared")
PAM_KERNELS = ("window", "gaussian", "sinusoidal")


def _check_choice(field: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"`{field}`={value!r} is not valid; choose one of {', '.join(map(repr, choices))}.")


def _check_positive(field: str, value, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"`{field}` must be {bound}, got {value!r}.")


@strict
class PEBertConfig(PreTrainedConfig):
    r"""
    Configuration of a BERT-style encoder whose positional encoding is chosen by `position_encoding`.

    The BERT fields keep BERT's names and defaults, so a stock `bert` `config.json` loads as the `learned` variant.
    PE hyper-parameters (see `PE_HYPERPARAMETERS`) are only read by the variant that uses them:

    - rope: `rope_theta` (base frequency), `rope_fraction` (fraction of each head's dimensions rotated; partial RoPE).
    - t5: `t5_num_buckets`, `t5_max_distance` (bidirectional log buckets, one table shared by all layers).
    - shaw: `shaw_max_distance` (relative distances clipped to +-k), `shaw_mode` ("key": q.r_ij, "key_query": also k.r_ij).
    - disentangled: `disentangled_position_buckets` (log-bucket size), `disentangled_max_relative_positions` (-1: use
      `max_position_embeddings`).
    - attenuated: `locality_w` (w in exp(-w d^2)), `symmetry_s` (scale of the right side, d = j - i >= 0; 1 = symmetric),
      `attenuated_bias` ("prob": add the row-normalised Gaussian probabilities to the logits as the published code
      does; "log": add the exponent -w d^2 itself, a proper log-prior), `attenuated_learnable` ("none", "per_head",
      "shared": a per-layer learnable bias over signed distance, initialised from the Gaussian).
    - window: `window_size` (each token attends to positions within +- window_size // 2).
    - pam: `pam_kernel` ("window": 1/3 on i-1, i, i+1; "gaussian": softmax(-locality_w d^2); "sinusoidal":
      softmax(P P^T / sqrt(hidden)) of sinusoidal positions).
    - dynamic: `dynamic_hidden_size` (width of the MLP over signed log-distance).
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

    # The positional encoding and its hyper-parameters.
    position_encoding: str = "learned"
    rope_theta: float | int = 10000.0
    rope_fraction: float | int = 1.0
    t5_num_buckets: int = 32
    t5_max_distance: int = 128
    shaw_max_distance: int = 16
    shaw_mode: str = "key"
    disentangled_position_buckets: int = 256
    disentangled_max_relative_positions: int = -1
    locality_w: float | int = 0.1
    symmetry_s: float | int = 1.0
    attenuated_bias: str = "prob"
    attenuated_learnable: str = "none"
    window_size: int = 8
    pam_kernel: str = "window"
    dynamic_hidden_size: int = 64

    def __post_init__(self, **kwargs):
        # A stock BERT config.json passes model_type="bert" as an extra kwarg: this config is pe_bert's, always.
        kwargs.pop("model_type", None)
        super().__post_init__(**kwargs)
        self.__dict__.pop("model_type", None)
        # Checked here rather than in `@strict` validators, which re-wrap errors: users get a plain ValueError
        # naming the field and the fix, also when a saved config.json is loaded.
        self.check_shapes()
        self.check_position_encoding()

    def check_shapes(self):
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be a multiple of num_attention_heads "
                f"({self.num_attention_heads})."
            )
        for field in ("vocab_size", "hidden_size", "num_attention_heads", "intermediate_size"):
            _check_positive(field, getattr(self, field))
        _check_positive("num_hidden_layers", self.num_hidden_layers, allow_zero=True)
        _check_positive("max_position_embeddings", self.max_position_embeddings)

    def check_position_encoding(self):
        """The PE name and its hyper-parameters."""
        validate_position_encoding_name(self.position_encoding)
        if not 0.0 < self.rope_fraction <= 1.0:
            raise ValueError(f"`rope_fraction` must be in (0, 1], got {self.rope_fraction!r}.")
        head_dim = self.hidden_size // max(self.num_attention_heads, 1)
        if self.position_encoding == "rope" and int(head_dim * self.rope_fraction) // 2 < 1:
            raise ValueError(
                f"rope_fraction={self.rope_fraction} rotates no dimension of the {head_dim}-dimensional heads; "
                "increase it."
            )
        _check_positive("rope_theta", self.rope_theta)
        _check_positive("t5_num_buckets", self.t5_num_buckets)
        if self.t5_num_buckets < 4:
            raise ValueError(f"`t5_num_buckets` must be >= 4 (half per direction, half exact), got {self.t5_num_buckets}.")
        _check_positive("t5_max_distance", self.t5_max_distance)
        _check_positive("shaw_max_distance", self.shaw_max_distance)
        _check_choice("shaw_mode", self.shaw_mode, SHAW_MODES)
        _check_positive("disentangled_position_buckets", self.disentangled_position_buckets)
        if self.disentangled_max_relative_positions == 0 or self.disentangled_max_relative_positions < -1:
            raise ValueError(
                "`disentangled_max_relative_positions` must be > 0, or -1 to use max_position_embeddings; "
                f"got {self.disentangled_max_relative_positions}."
            )
        _check_positive("locality_w", self.locality_w, allow_zero=True)
        _check_positive("symmetry_s", self.symmetry_s, allow_zero=True)
        _check_choice("attenuated_bias", self.attenuated_bias, ATTENUATED_BIASES)
        _check_choice("attenuated_learnable", self.attenuated_learnable, ATTENUATED_LEARNABLE)
        _check_positive("window_size", self.window_size)
        _check_choice("pam_kernel", self.pam_kernel, PAM_KERNELS)
        _check_positive("dynamic_hidden_size", self.dynamic_hidden_size)

    def position_hyperparameters(self) -> dict:
        """The hyper-parameters of this config's PE, by name (for model cards and reports)."""
        return {name: getattr(self, name) for name in PE_HYPERPARAMETERS[self.position_encoding]}


__all__ = ["PEBertConfig", "PE_HYPERPARAMETERS", "POSITION_ENCODINGS"]

"""pe_bert: swappable, measurable positional encodings for BERT-style encoders.

Importing the package registers `PEBertConfig` (model_type "pe_bert") and the four model classes with the
transformers Auto API, and marks them for `trust_remote_code`, so `save_pretrained` writes their code beside the
weights and a checkpoint loads where pe_bert is not installed.
"""

# First, before the heavy imports: Ctrl-C while the `pe-bert` command starts ends it in one line (see the module).
from . import interrupts  # noqa: F401  # isort: skip

import transformers
from transformers import AutoConfig

from . import modeling
from .configuration import PEBertConfig, describe_position_encoding
from .modeling import (
    PEBertForMaskedLM,
    PEBertForSequenceClassification,
    PEBertForTokenClassification,
    PEBertModel,
    PEBertPreTrainedModel,
)
from .pe_base import (
    POSITION_ENCODING_CLASSES,
    HyperParameter,
    LayerPosition,
    PositionEncoding,
    PositionState,
    clamp_mask,
    gaussian_exponent,
    masked_softmax,
    register_position_encoding,
    relative_positions,
    sinusoidal_table,
)
from .pe_plugins import import_position_encoding_module, import_position_encoding_modules

__version__ = "0.1.0"


def _register() -> None:
    AutoConfig.register(PEBertConfig.model_type, PEBertConfig, exist_ok=True)
    PEBertConfig.register_for_auto_class()
    for auto_name, model_name in modeling.AUTO_CLASS_NAMES.items():
        model_class = getattr(modeling, model_name)
        getattr(transformers, auto_name).register(PEBertConfig, model_class, exist_ok=True)
        model_class.register_for_auto_class(auto_name)


_register()

# Sub-packages with heavier imports load on first attribute access: `pe_bert.analysis.score_attention(...)` works
# after a plain `import pe_bert`.
_LAZY_SUBPACKAGES = ("analysis", "data", "metrics", "study", "training")


def __getattr__(name: str):
    if name in _LAZY_SUBPACKAGES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    if name in ("POSITION_ENCODINGS", "PE_HYPERPARAMETERS"):
        # Live views of the registry: a PE registered after `import pe_bert` (a user's own) is listed too.
        from . import pe_base

        return pe_base.__getattr__(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "PEBertConfig",
    "PEBertModel",
    "PEBertForMaskedLM",
    "PEBertForSequenceClassification",
    "PEBertForTokenClassification",
    "PEBertPreTrainedModel",
    "POSITION_ENCODINGS",
    "PE_HYPERPARAMETERS",
    "POSITION_ENCODING_CLASSES",
    "HyperParameter",
    "LayerPosition",
    "PositionEncoding",
    "PositionState",
    "register_position_encoding",
    "describe_position_encoding",
    "import_position_encoding_module",
    "import_position_encoding_modules",
    "relative_positions",
    "masked_softmax",
    "clamp_mask",
    "sinusoidal_table",
    "gaussian_exponent",
]

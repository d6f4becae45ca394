"""transformers' own common model tests (`ModelTesterMixin`, the suite every in-tree model passes) on PE-BERT.

They are the reference for the ecosystem's contracts: save/load round trips (a config attribute set by another
library included), missing and tied weights, eager vs SDPA attention, attention and hidden-state outputs, batching,
training and gradient checkpointing, dtype handling, mismatched heads. transformers does not ship them in its wheel;
its sdist on PyPI has `tests/test_modeling_common.py`, which this module downloads once for the installed version
(`pip download`, cached under ~/.cache/pe_bert) and runs. Without access to the package index the module is skipped,
saying so.

Every PE family runs the whole suite on one member; the other PEs run the contract tests (saving, loading, eager
vs SDPA in float32, outputs, batching, training), which keeps the module under two minutes of CI's time (`runs`).
"""

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import pytest
import transformers
from transformers.models.auto import modeling_auto

import pe_bert
from pe_bert import PEBertConfig

# One PE per family runs every common test: absolute table, rotary, model-level bias, per-layer relative.
FULL_SUITE = ("learned", "rope", "t5", "disentangled")
CONTRACT_TESTS = (
    "test_save_load",
    "test_load_save_without_tied_weights",
    "test_model_weights_reload_no_missing_tied_weights",
    "test_can_init_all_missing_weights",
    "test_attention_outputs",
    "test_hidden_states_output",
    "test_batching_equivalence",
    "test_training",
)


def runs(position_encoding: str, test: str) -> bool:
    """Whether a common test runs for a PE. Eager vs SDPA in float16/bfloat16 (emulated on CPU, a third of the
    module's time) runs for `learned` only: the PEs' own code paths are the same at every precision."""
    if test.startswith("test_eager_matches_sdpa_inference"):
        return "fp32" in test or position_encoding == FULL_SUITE[0]
    return position_encoding in FULL_SUITE or test in CONTRACT_TESTS


def _common_tests_package() -> Path:
    """A folder holding `transformers_common_tests/test_modeling_common.py` for the installed transformers."""
    version = transformers.__version__
    cache = Path(os.environ.get("PE_BERT_CACHE", Path.home() / ".cache" / "pe_bert")) / f"transformers-{version}-tests"
    if (cache / "transformers_common_tests" / "test_modeling_common.py").is_file():
        return cache
    cache.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as download:
        command = [sys.executable, "-m", "pip", "download", f"transformers=={version}", "--no-binary", ":all:"]
        result = subprocess.run(
            [*command, "--no-deps", "--quiet", "--dest", download], capture_output=True, text=True, timeout=600
        )
        archives = list(Path(download).glob("transformers-*.tar.gz"))
        if result.returncode != 0 or not archives:
            pytest.skip(
                f"transformers' common model tests come from its sdist on PyPI, which could not be downloaded "
                f"({' '.join(command)}): {result.stderr.strip()[-300:]}",
                allow_module_level=True,
            )
        staging = Path(tempfile.mkdtemp(dir=cache.parent))
        package = staging / "transformers_common_tests"
        with tarfile.open(archives[0]) as archive:
            member = archive.getmember(f"transformers-{version}/tests/test_modeling_common.py")
            package.mkdir(parents=True)
            (package / "test_modeling_common.py").write_bytes(archive.extractfile(member).read())
    # The two mixins it imports from modules the sdist lacks: export (tested by pe_bert's own test_export.py) and
    # generation (an encoder does not generate).
    (package / "__init__.py").write_text("")
    for module, mixin in (
        ("exporters/test_export.py", "ExportTesterMixin"),
        ("generation/test_utils.py", "GenerationTesterMixin"),
    ):
        path = package / module
        path.parent.mkdir(exist_ok=True)
        (path.parent / "__init__.py").write_text("")
        path.write_text(f"class {mixin}:\n    pass\n")
    try:
        staging.rename(cache)  # atomic: a concurrent run either finds the whole folder or makes its own
    except OSError:  # another run got there first
        shutil.rmtree(staging, ignore_errors=True)
    return cache


sys.path.insert(0, str(_common_tests_package()))
from transformers_common_tests.test_modeling_common import (  # noqa: E402
    ModelTesterMixin,
    ids_tensor,
    random_attention_mask,
)

# Each head with the table of model names by which the common tests know its kind.
HEADS = (
    (pe_bert.PEBertModel, modeling_auto.MODEL_MAPPING_NAMES),
    (pe_bert.PEBertForMaskedLM, modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES),
    (pe_bert.PEBertForSequenceClassification, modeling_auto.MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES),
    (pe_bert.PEBertForTokenClassification, modeling_auto.MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES),
)


class PEBertModelTester:
    """The shapes and inputs the common tests use (those of transformers' BertModelTester), for one PE."""

    def __init__(self, parent, position_encoding: str):
        self.parent = parent
        self.position_encoding = position_encoding
        self.batch_size, self.seq_length = 13, 7
        self.is_training = True
        self.vocab_size, self.type_vocab_size = 99, 16
        self.hidden_size, self.num_hidden_layers, self.num_attention_heads, self.intermediate_size = 32, 2, 4, 37
        self.num_labels, self.num_choices = 3, 4

    def get_config(self) -> PEBertConfig:
        return PEBertConfig(
            position_encoding=self.position_encoding,
            vocab_size=self.vocab_size,
            hidden_size=self.hidden_size,
            num_hidden_layers=self.num_hidden_layers,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_position_embeddings=512,
            type_vocab_size=self.type_vocab_size,
            num_labels=self.num_labels,
        )

    def prepare_config_and_inputs_for_common(self):
        shape = [self.batch_size, self.seq_length]
        inputs = {
            "input_ids": ids_tensor(shape, self.vocab_size),
            "token_type_ids": ids_tensor(shape, self.type_vocab_size),
            "attention_mask": random_attention_mask(shape),
        }
        return self.get_config(), inputs


def common_tests_for(position_encoding: str) -> type:
    class Test(ModelTesterMixin, unittest.TestCase):
        all_model_classes = tuple(head for head, _ in HEADS)

        @classmethod
        def setUpClass(cls):
            # The common tests choose labels and skip the bare encoder in training by transformers' tables of
            # model names, as for an in-tree model; pe_bert's classes enter them for the duration of the class.
            cls._tables = [mock.patch.dict(table, {"pe_bert": head.__name__}) for head, table in HEADS]
            for table in cls._tables:
                table.start()

        @classmethod
        def tearDownClass(cls):
            for table in cls._tables:
                table.stop()

        def setUp(self):
            self.model_tester = PEBertModelTester(self, position_encoding)

    for name in [name for name in dir(Test) if name.startswith("test_")]:
        if not runs(position_encoding, name):
            setattr(Test, name, None)  # not collected
    Test.__name__ = Test.__qualname__ = f"TestCommon_{position_encoding}"
    return Test


for _pe in pe_bert.POSITION_ENCODINGS:
    globals()[f"TestCommon_{_pe}"] = common_tests_for(_pe)

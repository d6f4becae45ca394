"""A positional encoding written outside pe_bert, end to end: registration and its errors, config validation,
training, save + trust_remote_code reload without pe_bert, the training scripts (--pe_module / --pe_args, also under
accelerate launch), the analysis, and the worked example."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import pe_bert
from pe_bert import HyperParameter, PEBertConfig, PEBertForMaskedLM, PEBertModel, PositionEncoding
from pe_bert.pe_base import POSITION_ENCODING_CLASSES

from helpers import GLUE_SCRIPT_FLAGS, ROOT, SCRIPT_FLAGS, TINY_SHAPE, accelerate_launch, run_script

DECAY_MODULE = ROOT / "examples" / "decay_position_encoding.py"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def decay():
    """The example's user PE, registered for one test and removed afterwards (the registry is process-wide)."""
    module = pe_bert.import_position_encoding_module(str(DECAY_MODULE))
    yield module
    POSITION_ENCODING_CLASSES.pop("decay", None)
    sys.modules.pop("decay_position_encoding", None)


def decay_config(**overrides):
    values = dict(
        position_encoding="decay",
        vocab_size=100,
        **TINY_SHAPE,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return PEBertConfig(**{**values, **overrides})


def test_registered_pe_is_listed_configured_and_round_trips(decay, tmp_path):
    assert "decay" in pe_bert.POSITION_ENCODINGS and pe_bert.PE_HYPERPARAMETERS["decay"] == (
        "decay_slope",
        "decay_symmetric",
    )
    config = decay_config(decay_slope=0.3)
    assert config.decay_slope == 0.3 and config.decay_symmetric is False
    config.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["decay_slope"] == 0.3 and "rope_theta" not in saved  # only the chosen PE's hyper-parameters
    assert PEBertConfig.from_pretrained(tmp_path).position_hyperparameters() == {
        "decay_slope": 0.3,
        "decay_symmetric": False,
    }


@pytest.mark.parametrize(
    "overrides, message",
    [
        (dict(decay_slpe=0.3), "unknown keyword 'decay_slpe'; did you mean 'decay_slope'"),
        (dict(decay_slope=float("nan")), "`decay_slope` must be a finite number, got nan"),
        (dict(decay_slope=float("inf")), "`decay_slope` must be a finite number, got inf"),
        (dict(decay_slope=-1.0), "`decay_slope` must be > 0, got -1.0"),
        (dict(decay_symmetric="yes"), "`decay_symmetric` must be of type bool"),
        (dict(rope_theta=5.0), "`rope_theta` is a hyper-parameter of 'rope', not of position_encoding='decay'"),
    ],
)
def test_bad_user_hyperparameters_give_clear_errors(decay, overrides, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decay_config(**overrides)


def test_setting_a_hyperparameter_after_creation_is_validated(decay):
    config = decay_config()
    with pytest.raises(ValueError, match="decay_slope"):
        config.decay_slope = float("nan")
    config.decay_slope = 2  # an int for a float hyper-parameter is stored as a float
    assert config.decay_slope == 2.0 and isinstance(config.decay_slope, float)


def test_unregistered_pe_error_says_how_to_register(tmp_path, decay):
    decay_config().save_pretrained(tmp_path)
    POSITION_ENCODING_CLASSES.pop("decay")
    with pytest.raises(ValueError, match="import the module that registers it") as error:
        PEBertConfig.from_pretrained(tmp_path)
    assert "trust_remote_code=True" in str(error.value)


def test_registration_errors_name_the_problem():
    def make(name, *specs, base=PositionEncoding):
        return type(f"P_{name}", (base,), {"name": name, "hyperparameters": specs, "__module__": __name__})

    with pytest.raises(ValueError, match="Two positional encodings are registered as 'rope'"):
        pe_bert.register_position_encoding(make("rope"))
    with pytest.raises(ValueError, match="'hidden_size' would shadow a PEBertConfig field"):
        pe_bert.register_position_encoding(make("shadow", HyperParameter("hidden_size", 3)))
    with pytest.raises(ValueError, match="'locality_w' is already declared by 'attenuated'"):
        pe_bert.register_position_encoding(make("clash", HyperParameter("locality_w", 7.0)))
    with pytest.raises(TypeError, match="PositionEncoding subclass"):
        pe_bert.register_position_encoding(int)
    with pytest.raises(ValueError, match="`w` must be >= 0, got -1"):
        HyperParameter("w", -1, ge=0)  # a declaration whose own default is invalid
    assert "shadow" not in pe_bert.POSITION_ENCODINGS and "clash" not in pe_bert.POSITION_ENCODINGS


def test_user_pe_trains_and_has_the_properties_it_declares(decay):
    model = PEBertForMaskedLM(decay_config(decay_slope=0.3)).train()
    bias = model.bert.position_bias(6)[0]
    torch.testing.assert_close(bias[0, 2], -0.3 * (torch.arange(6) - 2).abs().float(), rtol=1e-5, atol=1e-6)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    input_ids = torch.randint(1, 100, (8, 12), generator=torch.Generator().manual_seed(0))
    losses = []
    for _ in range(15):
        loss = model(input_ids=input_ids, labels=input_ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    slopes = torch.nn.functional.softplus(model.bert.position_encoding.raw_slopes)
    assert not torch.allclose(slopes, torch.full_like(slopes, 0.3))  # the PE's own parameters learned
    # Symmetric when asked: left and right share one slope per head.
    symmetric = PEBertModel(decay_config(decay_symmetric=True)).position_bias(7)[0]
    torch.testing.assert_close(symmetric, symmetric.transpose(-1, -2))


def test_save_ships_the_module_and_reloads_without_pe_bert(decay, tmp_path):
    model = PEBertForMaskedLM(decay_config(decay_slope=0.3)).eval()
    with torch.no_grad():
        model.bert.position_encoding.raw_slopes.add_(torch.linspace(-0.2, 0.2, 4))  # distinct, non-initial slopes
    model.save_pretrained(tmp_path)
    shipped = (tmp_path / "decay_position_encoding.py").read_text()
    assert "from .pe_base import HyperParameter, PositionEncoding" in shipped and "from pe_bert" not in shipped
    assert "from .decay_position_encoding import DecayPositionEncoding" in (tmp_path / "pe_zoo.py").read_text()
    # The installed pe_bert is untouched by the patch of the saved copy.
    assert "decay" not in (ROOT / "pe_bert" / "pe_zoo.py").read_text()
    input_ids = torch.randint(1, 100, (2, 9), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(input_ids=input_ids).logits
    torch.save({"input_ids": input_ids, "logits": expected}, tmp_path / "expected.pt")
    script = textwrap.dedent(f"""
        import builtins
        real_import = builtins.__import__
        def guarded(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and name.partition(".")[0] in ("pe_bert", "decay_position_encoding"):
                raise ImportError(name + " is blocked")
            return real_import(name, globals, locals, fromlist, level)
        builtins.__import__ = guarded
        import torch
        from transformers import AutoModelForMaskedLM
        model = AutoModelForMaskedLM.from_pretrained({str(tmp_path)!r}, trust_remote_code=True).eval()
        expected = torch.load({str(tmp_path / "expected.pt")!r}, weights_only=True)
        with torch.no_grad():
            logits = model(input_ids=expected["input_ids"]).logits
        assert "transformers_modules" in type(model).__module__
        difference = float((logits - expected["logits"]).abs().max())
        print(model.config.position_encoding, model.config.decay_slope, difference)
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    position_encoding, slope, difference = result.stdout.split()
    assert (position_encoding, slope) == ("decay", "0.3") and float(difference) < 1e-6  # thread counts differ


def test_shipping_rewrites_imports_or_explains_why_not(tmp_path):
    from pe_bert.pe_shipping import relative_source

    own = {"pe_base", "pe_bias"}
    source = textwrap.dedent("""\
        import math
        import pe_bert
        import pe_bert as pb
        from pe_bert import (
            PositionEncoding,
            relative_positions as rel,
        )
        from pe_bert.pe_bias import alibi_slopes
        x = 1  # from pe_bert import nothing
    """)
    rewritten = relative_source(source, Path("m.py"), own)
    assert "from . import pe_base as pe_bert  #" in rewritten and "from . import pe_base as pb  #" in rewritten
    assert "from .pe_base import PositionEncoding, relative_positions as rel  #" in rewritten
    assert "from .pe_bias import alibi_slopes  #" in rewritten and rewritten.endswith(
        "x = 1  # from pe_bert import nothing\n"
    )
    compile(rewritten, "m.py", "exec")
    with pytest.raises(ValueError, match="PEBertConfig is not part of the PE authoring API"):
        relative_source("from pe_bert import PEBertConfig\n", Path("m.py"), own)
    with pytest.raises(ValueError, match="m.py, line 1: `from pe_bert.analysis import"):
        relative_source("from pe_bert.analysis import locality\n", Path("m.py"), own)
    with pytest.raises(ValueError, match="on lines of its own"):
        relative_source("import os; import pe_bert\n", Path("m.py"), own)


def test_user_pe_in_the_analysis(decay):
    from pe_bert.analysis import position_attention, score_attention
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    texts = [s.text for s in pe_bert.data.generate_sentences(40, seed=3)]
    tokenizer = train_wordpiece_tokenizer(texts, vocab_size=200)
    model = PEBertModel(decay_config(vocab_size=len(tokenizer), decay_slope=2.0)).eval()
    scores = score_attention(model, tokenizer, texts, batch_size=20, max_length=32, progress=False)
    assert scores.locality.shape == (2, 4) and 0 < scores.mean_locality <= 1
    probe = position_attention(model, 12)
    assert probe.attentions.shape == (2, 4, 12, 12)
    # A steep symmetric decay: identical tokens attend mostly to their neighbours, symmetrically.
    row = probe.attentions[0, 0, 6]
    assert row.argmax() == 6 and torch.isclose(row[5], row[7], atol=1e-5)


@pytest.mark.slow
def test_training_scripts_with_pe_module_and_pe_args(tmp_path):
    mlm, glue = tmp_path / "mlm", tmp_path / "glue"
    run_script(
        [
            sys.executable,
            "examples/run_mlm.py",
            "--output_dir",
            str(mlm),
            "--position_encoding",
            "decay",
            "--pe_module",
            str(DECAY_MODULE),
            "--pe_args",
            "decay_slope=0.25,decay_symmetric=true",
            "--max_steps",
            "3",
            *SCRIPT_FLAGS,
        ]
    )
    config = json.loads((mlm / "config.json").read_text())
    assert (config["position_encoding"], config["decay_slope"], config["decay_symmetric"]) == ("decay", 0.25, True)
    assert (mlm / "decay_position_encoding.py").is_file()
    run_script(
        [
            sys.executable,
            "examples/run_glue.py",
            "--model_name_or_path",
            str(mlm),
            "--pe_module",
            str(DECAY_MODULE),
            "--task_name",
            "builtin_order",
            "--output_dir",
            str(glue),
            *GLUE_SCRIPT_FLAGS,
        ]
    )
    assert "eval_accuracy" in json.loads((glue / "eval_results.json").read_text())
    assert (glue / "decay_position_encoding.py").is_file()


@pytest.mark.slow
def test_pe_module_under_two_process_accelerate_launch(tmp_path):
    output = tmp_path / "ddp"
    result = run_script(
        [
            *accelerate_launch(),
            "examples/run_mlm.py",
            "--output_dir",
            str(output),
            "--position_encoding",
            "decay",
            "--pe_module",
            str(DECAY_MODULE),
            "--pe_args",
            "decay_slope=0.2",
            "--max_steps",
            "2",
            *SCRIPT_FLAGS,
        ]
    )
    assert "world size 2" in result.stdout + result.stderr
    assert json.loads((output / "config.json").read_text())["decay_slope"] == 0.2


def test_pe_args_are_typed_by_the_declaration(decay):
    from pe_bert.pe_plugins import parse_pe_args

    assert parse_pe_args("decay_slope=0.25, decay_symmetric=true", "decay") == {
        "decay_slope": 0.25,
        "decay_symmetric": True,
    }
    with pytest.raises(
        ValueError, match="'decay_slop' is not a hyper-parameter of 'decay'; did you mean 'decay_slope'"
    ):
        parse_pe_args("decay_slop=1", "decay")
    with pytest.raises(ValueError, match="decay_symmetric='maybe' is not a bool"):
        parse_pe_args("decay_symmetric=maybe", "decay")
    with pytest.raises(ValueError, match="`decay_slope` must be a finite number"):
        parse_pe_args("decay_slope=nan", "decay")
    with pytest.raises(FileNotFoundError, match="PE module 'nowhere.py' does not exist"):
        pe_bert.import_position_encoding_module("nowhere.py")


@pytest.mark.slow
def test_worked_example_runs_offline(tmp_path):
    result = run_script(
        [sys.executable, "examples/custom_position_encoding.py", "--out", str(tmp_path / "out"), "--steps", "30"]
    )
    assert "reloaded without pe_bert" in result.stdout and "max |difference| = 0.0" in result.stdout
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert 0 < summary["locality"] <= 1 and summary["remote_max_difference"] == 0.0


def test_pe_bert_commands_take_pe_module(tmp_path, capsys):
    from pe_bert.cli import main
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    pe_bert.import_position_encoding_module(str(DECAY_MODULE))
    try:
        texts = [s.text for s in pe_bert.data.generate_sentences(40, seed=3)]
        tokenizer = train_wordpiece_tokenizer(texts, vocab_size=200, model_max_length=64)
        PEBertModel(decay_config(vocab_size=len(tokenizer))).save_pretrained(tmp_path / "model")
        tokenizer.save_pretrained(tmp_path / "model")
    finally:
        POSITION_ENCODING_CLASSES.pop("decay", None)
        sys.modules.pop("decay_position_encoding", None)
    # Without the module: one line naming the fix, exit status 2.
    assert (
        main(["analyze", str(tmp_path / "model"), "--builtin", "10", "--out", str(tmp_path / "a"), "--no-progress"])
        == 2
    )
    assert "import the module that registers it" in capsys.readouterr().err
    try:
        assert (
            main(
                [
                    "analyze",
                    str(tmp_path / "model"),
                    "--builtin",
                    "10",
                    "--out",
                    str(tmp_path / "a"),
                    "--no-progress",
                    "--pe-module",
                    str(DECAY_MODULE),
                ]
            )
            == 0
        )
    finally:
        POSITION_ENCODING_CLASSES.pop("decay", None)
        sys.modules.pop("decay_position_encoding", None)
    assert json.loads((tmp_path / "a" / "scores.json").read_text())["model"]

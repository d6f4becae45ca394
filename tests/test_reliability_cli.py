"""Every bad input to a command line is one line on stderr and exit status 2, with no traceback: `pe-bert analyze`,
`pe-bert probe`, `pe-bert study` (checked before anything trains) and examples/run_*.py."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import pe_bert
from pe_bert import cli

from helpers import MICRO_SHAPE

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]


def fails(capsys, argv, code=2) -> str:
    """Run `pe-bert ARGV`; assert it exits with `code` and one error line; return that line."""
    try:
        returned = cli.main(argv)
    except SystemExit as exit_:  # argparse's own errors
        returned = exit_.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert returned == code, captured.err
    assert "Traceback" not in captured.err and lines[-1].startswith(f"pe-bert {argv[0]}: error: "), captured.err
    return lines[-1]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A saved pe_bert `learned` MLM (32 positions) with its own small WordPiece tokenizer."""
    from pe_bert.data import generate_sentences
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    path = tmp_path_factory.mktemp("tiny-model")
    tokenizer = train_wordpiece_tokenizer(
        [s.text for s in generate_sentences(200, seed=0)], vocab_size=200, model_max_length=32
    )
    config = pe_bert.PEBertConfig(
        vocab_size=len(tokenizer),
        **MICRO_SHAPE,
        max_position_embeddings=32,
    )
    pe_bert.PEBertForMaskedLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def classifier(tmp_path_factory, tiny_model):
    """The tiny model as a 3-way sequence classifier saved with its (untrained) head."""
    from transformers import AutoTokenizer

    path = tmp_path_factory.mktemp("classifier")
    config = pe_bert.PEBertConfig.from_pretrained(tiny_model, num_labels=3)
    pe_bert.PEBertForSequenceClassification(config).save_pretrained(path)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def text_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("texts")
    (folder / "latin1.txt").write_bytes("the cat sat\nthe café\n".encode("latin-1"))
    (folder / "blank.txt").write_text("\n   \n")
    return folder


# ----------------------------------------------------------------------------------------------- analyze


def test_analyze_bad_inputs(capsys, tmp_path, tiny_model, text_files):
    out = ["--out", str(tmp_path / "out")]
    assert "model 'no/such-model' is not a local folder, and not a Hub model" in fails(
        capsys, ["analyze", "no/such-model", "--builtin", "3", *out]
    )
    assert f"model {tmp_path} cannot be loaded" in fails(capsys, ["analyze", str(tmp_path), "--builtin", "3", *out])
    assert "--text-file missing.txt does not exist" in fails(
        capsys, ["analyze", str(tiny_model), "--text-file", "missing.txt", *out]
    )
    assert "latin1.txt is not UTF-8: byte 0xe9 at byte offset 19 (line 2)" in fails(
        capsys, ["analyze", str(tiny_model), "--text-file", str(text_files / "latin1.txt"), *out]
    )
    assert "blank.txt has no non-empty line" in fails(
        capsys, ["analyze", str(tiny_model), "--text-file", str(text_files / "blank.txt"), *out]
    )
    for flag in ("--max-length", "--batch-size", "--builtin"):
        assert f"argument {flag}: must be at least 1, got 0" in fails(
            capsys, ["analyze", str(tiny_model), "--builtin", "3", *out, flag, "0"]
        )
    assert "--position-length 40 is longer than the model's 32 positions (its 'learned' position encoding" in fails(
        capsys, ["analyze", str(tiny_model), "--builtin", "3", *out, "--max-length", "32", "--position-length", "40"]
    )
    assert "--max-length 128 is longer than the model's 32 positions" in fails(
        capsys, ["analyze", str(tiny_model), "--builtin", "3", *out]
    )
    assert not (tmp_path / "out").exists()


def test_analyze_refuses_a_tokenizer_larger_than_the_embedding_table(capsys, tmp_path, tiny_model, minilm_path):
    import shutil

    mismatched = tmp_path / "mismatched"
    shutil.copytree(tiny_model, mismatched)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(minilm_path / name, mismatched / name)
    line = fails(capsys, ["analyze", str(mismatched), "--builtin", "3", "--max-length", "32", "--out", str(tmp_path)])
    assert "has 30522 entries but the model's embedding table has" in line


# ----------------------------------------------------------------------------------------------- probe


def test_probe_bad_inputs(capsys, tmp_path, tiny_model, text_files):
    out = ["--out", str(tmp_path / "out"), "--quiet"]
    zero_shot = ["probe", str(tiny_model), "--task", "zero-shot", *out]
    for flag in ("--num-examples", "--batch-size", "--bootstrap"):
        assert f"argument {flag}: must be at least 1, got 0" in fails(capsys, [*zero_shot, flag, "0"])
    assert "--dataset 'missing.txt' does not exist" in fails(capsys, [*zero_shot, "--dataset", "missing.txt"])
    assert "blank.txt has no non-empty line" in fails(capsys, [*zero_shot, "--dataset", str(text_files / "blank.txt")])
    assert "byte 0xe9 at byte offset 19 (line 2)" in fails(
        capsys, [*zero_shot, "--dataset", str(text_files / "latin1.txt")]
    )
    assert "--perturbations: Unknown perturbation 'shuffle-x'" in fails(
        capsys, [*zero_shot, "--perturbations", "shuffle-x"]
    )
    assert "model 'no/such-model' is not a local folder" in fails(capsys, ["probe", "no/such-model", *out])


def test_probe_nli_bad_datasets(capsys, tmp_path, classifier):
    empty, torn = tmp_path / "empty.jsonl", tmp_path / "torn.jsonl"
    empty.write_text("")
    torn.write_text('{"premise": "a b", "hypothesis": "c d", "label": 0}\n{"premise": "a", "hyp')
    nli = ["probe", str(classifier), "--task", "nli", "--max-length", "32", "--out", str(tmp_path / "out")]
    assert "--dataset missing.jsonl does not exist" in fails(capsys, [*nli, "--dataset", "missing.jsonl"])
    assert f"--dataset {empty} is empty" in fails(capsys, [*nli, "--dataset", str(empty)])
    assert f"--dataset {torn}: line 2 is not valid JSON" in fails(capsys, [*nli, "--dataset", str(torn)])
    assert not (tmp_path / "out").exists()


def test_probe_nli_refuses_a_newly_initialised_classification_head(capsys, tmp_path, minilm_path):
    line = fails(
        capsys,
        ["probe", str(minilm_path), "--task", "nli", "--num-examples", "20", "--out", str(tmp_path / "out"), "--quiet"],
    )
    assert "has no trained classification head: classifier.bias, classifier.weight were newly initialised" in line
    assert "--task zero-shot" in line and not (tmp_path / "out").exists()


def test_probe_nli_accepts_a_trained_classifier(capsys, tmp_path, classifier):
    # Saved with its head: nothing is initialised on load, so the probe runs.
    assert "--max-length 128 is longer than the model's 32 positions" in fails(
        capsys, ["probe", str(classifier), "--task", "nli", "--out", str(tmp_path / "out")]
    )
    assert (
        cli.main(
            [
                "probe",
                str(classifier),
                "--task",
                "nli",
                "--num-examples",
                "12",
                "--bootstrap",
                "10",
                "--max-length",
                "32",
                "--num-train",
                "50",
                "--perturbations",
                "shuffle-3",
                "--out",
                str(tmp_path / "out"),
                "--quiet",
            ]
        )
        == 0
    )
    assert (tmp_path / "out" / "results.json").is_file()


# ----------------------------------------------------------------------------------------------- study


def test_study_settings_are_checked_before_anything_runs(capsys, tmp_path):
    out = tmp_path / "study"
    study = ["study", "--out", str(out), "--quiet"]
    assert "Unknown task(s) ['glu'] in --tasks; valid tasks: cola" in fails(capsys, [*study, "--tasks", "glu"])
    assert "`pretrain_steps` (--pretrain-steps) is 0: it must be at least 1" in fails(
        capsys, [*study, "--max-steps", "0"]
    )
    assert "`finetune_learning_rate` (--finetune-learning-rate) is nan" in fails(
        capsys, [*study, "--finetune-learning-rate", "nan"]
    )
    assert "no variant to train" in fails(capsys, [*study, "--variants", "", "--attenuated-w", ""])
    assert "`variants` (--variants) repeats ['rope']" in fails(capsys, [*study, "--variants", "rope,rope"])
    assert "Variant 'attenuated-w-1-s1'" in fails(capsys, [*study, "--attenuated-w", "-1"])
    assert "hidden_size (30) must be a multiple of num_attention_heads (4)" in fails(
        capsys, [*study, "--hidden-size", "30", "--num-attention-heads", "4"]
    )
    assert "Variants ['attenuated-w0.5-s1'] would share a label" in fails(
        capsys, [*study, "--attenuated-w", "0.5,0.5000001", "--attenuated-s", "1"]
    )
    assert "`seeds` (--seeds) holds [-1]: seeds are whole numbers from 0" in fails(capsys, [*study, "--seeds", "-1"])
    assert "`eval_sentences` (--eval-sentences) is 1: it must be at least 20" in fails(
        capsys, [*study, "--eval-sentences", "1"]
    )
    with pytest.raises(SystemExit):
        cli.main([*study, "--length-multiples", "1.5"])
    assert "'1.5' is not a whole number" in capsys.readouterr().err
    from pe_bert.training.tokenizer import word_level_tokenizer

    word_level_tokenizer(["the", "dog", "."]).save_pretrained(tmp_path / "tiny-tokenizer")
    assert "does not know 588 of the built-in language's 591 words" in fails(
        capsys, [*study, "--tokenizer-name", str(tmp_path / "tiny-tokenizer")]
    )
    file = tmp_path / "a-file"
    file.write_text("")
    assert f"--out {file} is a file, not a folder" in fails(capsys, ["study", "--out", str(file)])
    assert f"{file} is a file, so the folder cannot be created" in fails(capsys, ["study", "--out", str(file / "x")])
    assert not out.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "variants: learned\n",
            "`variants` (--variants) must be a list, got 'learned' (str): in YAML write `variants: [learned]`",
        ),
        ("seeds: [0, one]\n", "`seeds` (--seeds) must be a list of int, but holds 'one' (str)"),
        ("pretrain_steps: 1.5\n", "`pretrain_steps` (--pretrain-steps) must be int, got 1.5 (float)"),
        ("variants: [learned\n", "is not valid YAML"),
        ("- learned\n", "must hold a mapping of settings"),
        ("varients: [none]\n", "Unknown study setting(s) ['varients']"),
    ],
)
def test_study_yaml_values_of_the_wrong_type(capsys, tmp_path, text, message):
    config = tmp_path / "study.yaml"
    config.write_text(text)
    assert message in fails(capsys, ["study", "--config", str(config), "--out", str(tmp_path / "study")])
    assert not (tmp_path / "study").exists()


def test_a_dataset_revision_needs_its_dataset(capsys, tmp_path):
    message = fails(capsys, ["study", "--dataset-revision", "v1", "--out", str(tmp_path / "study")])
    assert "--dataset-revision pins a --dataset-name: give the dataset too." in message
    assert not (tmp_path / "study").exists()


def test_study_config_file_must_exist(capsys, tmp_path):
    assert "--config nope.yaml does not exist" in fails(capsys, ["study", "--config", "nope.yaml"])


# ----------------------------------------------------------------------------------------------- examples


def test_example_scripts_print_one_line_and_exit_2(capsys, tmp_path, minilm_path):
    from pe_bert.training import finetune, pretrain

    with pytest.raises(SystemExit) as exit_:
        pretrain.cli(["--output_dir", str(tmp_path), "--max_seq_length", "0", "--report_to", "none"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.strip().endswith("error: --max_seq_length must be at least 1, got 0.")
    with pytest.raises(SystemExit) as exit_:
        finetune.cli(["--output_dir", str(tmp_path), "--task_name", "glu", "--model_name_or_path", str(minilm_path)])
    assert exit_.value.code == 2
    assert "error: unknown task 'glu'; valid tasks: cola" in capsys.readouterr().err
    for argv, message in (
        (["--position_encoding", "rope", "--rope_theta", "nan"], "`rope_theta` must be a finite"),
        (["--dataset_revision", "v1"], "--dataset_revision pins a --dataset_name: give the dataset too."),
        (["--model_name_or_path", "no/such-model"], "Cannot load the config of no/such-model: "),
    ):
        with pytest.raises(SystemExit) as exit_:
            pretrain.cli(["--output_dir", str(tmp_path), "--report_to", "none", *argv])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_.value.code == 2 and message in error and "Traceback" not in error


@pytest.mark.slow
def test_run_glue_data_error_as_a_command(tmp_path, minilm_path):
    train = tmp_path / "train.jsonl"
    train.write_text('{"sentence": "good", "label": 1}\n{"sentence": "bad" "label": 0}\n')
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "OMP_NUM_THREADS": "1",
    }
    result = subprocess.run(
        [
            sys.executable,
            "examples/run_glue.py",
            "--task_name",
            "sst2",
            "--train_file",
            str(train),
            "--model_name_or_path",
            str(minilm_path),
            "--output_dir",
            str(tmp_path / "out"),
            "--report_to",
            "none",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        f"run_glue.py: error: train file {train}: line 2 is not valid JSON (Expecting ',' delimiter, column 20); "
        "each line of a JSON Lines file must be one complete object."
    )


# ----------------------------------------------------------------------------------------------- faults


def test_user_pe_modules_that_do_not_import_are_one_line_errors(capsys, tmp_path, minilm_path):
    syntax = tmp_path / "broken_pe.py"
    syntax.write_text("import pe_bert\n\ndef oops(:\n    pass\n")
    raises = tmp_path / "raising_pe.py"
    raises.write_text("import pe_bert\nraise RuntimeError('no GPU here')\n")
    taken = tmp_path / "taken_pe.py"
    taken.write_text(
        "import pe_bert\n\n@pe_bert.register_position_encoding\nclass Mine(pe_bert.PositionEncoding):\n"
        "    name = 'rope'\n"
    )
    analyze = ["analyze", str(minilm_path), "--builtin", "2", "--out", str(tmp_path / "out")]
    assert "has a syntax error at line 3" in fails(capsys, [*analyze, "--pe-module", str(syntax)])
    assert "failed while importing (line 2): RuntimeError: no GPU here" in fails(
        capsys, [*analyze, "--pe-module", str(raises)]
    )
    assert "Two positional encodings are registered as 'rope'" in fails(capsys, [*analyze, "--pe-module", str(taken)])


def test_a_window_of_fewer_than_two_words_is_refused(capsys, tmp_path, minilm_path):
    assert "shuffles windows of 0 word(s), which changes nothing" in fails(
        capsys,
        [
            "probe",
            str(minilm_path),
            "--task",
            "zero-shot",
            "--perturbations",
            "shuffle-0",
            "--out",
            str(tmp_path / "out"),
        ],
    )


def test_study_files_that_are_not_utf8_or_are_folders(capsys, tmp_path):
    config = tmp_path / "study.yaml"
    config.write_bytes(b"seeds: [0]\nout: caf\xe9\n")
    assert "--config" in fails(capsys, ["study", "--config", str(config)])
    assert "byte 0xe9" in fails(capsys, ["study", "--config", str(config)])
    assert f"--config {tmp_path} is a folder: give the study file" in fails(
        capsys, ["study", "--config", str(tmp_path)]
    )


@pytest.mark.parametrize(
    "fault, expected",
    [
        (
            OSError(28, "No space left on device", "study/runs/x/model.safetensors"),
            "cannot use study/runs/x/model.safetensors: No space left on device; the disk is full: free space",
        ),
        (  # a write that fills the disk names no file: the folder the command writes into is named
            OSError(28, "No space left on device"),
            "(or a file in it): No space left on device; the disk is full: free space",
        ),
        (OSError(30, "Read-only file system", "study/.study.lock"), "the file system is read-only"),
        (IsADirectoryError(21, "Is a directory", "study/results.json"), "a folder stands where a file belongs"),
    ],
)
def test_faults_of_the_environment_are_one_line_with_exit_status_1(capsys, tmp_path, monkeypatch, fault, expected):
    from pe_bert.study import Study

    def run(self):
        raise fault

    monkeypatch.setattr(Study, "run", run)
    line = fails(capsys, ["study", "--out", str(tmp_path / "study"), "--quiet"], code=1)
    assert expected in line and (fault.filename or f"cannot use {tmp_path / 'study'} (or a file in it)" in line)


# ----------------------------------------------------------------------------------------------- round 4


def test_inputs_that_are_folders_fifos_binary_empty_or_not_python_are_named_as_such(capsys, tmp_path, minilm_path):
    folder, fifo = tmp_path / "a-folder", tmp_path / "a-fifo"
    folder.mkdir()
    os.mkfifo(fifo)  # reading it would wait forever: it must be refused without being opened
    (tmp_path / "plain.txt").write_text("not python\n")
    (tmp_path / "binary.txt").write_bytes(b"\x00\x01\x02binary")
    (tmp_path / "empty.txt").write_text("  \n\n")
    analyze = ["analyze", str(minilm_path), "--builtin", "2", "--out", str(tmp_path / "out")]
    for module, message in (
        (tmp_path / "plain.txt", "is not a Python file (.py): give the .py file that registers the PE"),
        (folder, "is a folder, not a file: give the .py file that registers the PE"),
        (fifo, "is a FIFO (named pipe), not a file: give the .py file that registers the PE"),
    ):
        assert f"PE module {module} {message}" in fails(capsys, [*analyze, "--pe-module", str(module)])
    study = ["study", "--out", str(tmp_path / "study"), "--quiet", "--train-file"]
    for train, message in (
        (folder, "is a folder, not a file: give a file"),
        (fifo, "is a FIFO (named pipe), not a file: give a file"),
        (tmp_path / "binary.txt", "is not a text file: it holds a NUL byte at byte offset 0"),
        (tmp_path / "empty.txt", "is empty (no text in it)"),
    ):
        assert f"--train-file {train} {message}" in fails(capsys, [*study, str(train)])
    assert not (tmp_path / "out").exists() and not (tmp_path / "study").exists()


def test_study_out_seeds_and_unknown_variants(capsys, tmp_path):
    assert "--out is empty: give the study's folder" in fails(capsys, ["study", "--out", ""])
    assert "`seeds` (--seeds) holds [4294967296]: seeds are whole numbers from 0 to 2147483647" in fails(
        capsys, ["study", "--out", str(tmp_path / "s"), "--seeds", "0,4294967296"]
    )
    assert "Unknown variant(s) ['decay']; valid names:" in (
        line := fails(capsys, ["study", "--out", str(tmp_path / "s"), "--variants", "decay"])
    )
    assert "A PE of your own needs the module that registers it: --pe-module FILE." in line
    assert not (tmp_path / "s").exists()


def test_dry_run_and_report_only_of_a_new_folder_create_nothing(capsys, tmp_path):
    out = tmp_path / "new" / "study"
    assert cli.main(["study", "--out", str(out), "--variants", "rope", "--attenuated-w", "", "--dry-run"]) == 0
    assert "Nothing was trained" in capsys.readouterr().out
    assert "holds no finished shared stage 'data'" in fails(capsys, ["study", "--out", str(out), "--report-only"])
    assert not (tmp_path / "new").exists()


def test_training_scripts_refuse_seeds_and_learning_rate_grids_that_cannot_work(capsys, tmp_path, minilm_path):
    from pe_bert.training import finetune, pretrain

    for flag, value in (("--seed", "18446744073709551616"), ("--seed", "-1"), ("--data_seed", "4294967296")):
        with pytest.raises(SystemExit) as exit_:
            pretrain.cli(["--output_dir", str(tmp_path / "mlm"), "--report_to", "none", flag, value])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_.value.code == 2 and f"{flag} {value} is not a usable seed: give a whole number from 0 to" in error
    glue = ["--output_dir", str(tmp_path / "glue"), "--task_name", "sst2", "--model_name_or_path", str(minilm_path)]
    for grid, message in (
        ("1e-3,nan", "--learning_rate_grid needs positive, finite learning rates, got '1e-3,nan'"),
        ("1e-3,inf", "needs positive, finite learning rates"),
        ("1e-3,2e-3,0.001", "--learning_rate_grid '1e-3,2e-3,0.001' repeats 0.001"),
    ):
        with pytest.raises(SystemExit) as exit_:
            finetune.cli([*glue, "--report_to", "none", "--learning_rate_grid", grid])
        error = capsys.readouterr().err.strip().splitlines()[-1]
        assert exit_.value.code == 2 and message in error and "Traceback" not in error
    assert not (tmp_path / "glue").exists() and not (tmp_path / "mlm").exists()


def test_analyze_says_the_length_it_used_and_keeps_the_expected_load_report_quiet(tmp_path, tiny_model):
    """A pretraining checkpoint loaded as an encoder leaves its MLM head unused and has no pooler: transformers'
    LOAD REPORT table says so on every load; the summary names the length actually scored, not the flag's."""
    import logging
    import shutil

    from safetensors.torch import load_file, save_file

    from pe_bert.analysis.cli import load_encoder

    reports = []
    handler = logging.Handler()
    handler.emit = lambda record: reports.append(record.getMessage()) if "LOAD REPORT" in record.getMessage() else None
    transformers_logger = logging.getLogger("transformers.modeling_utils")
    transformers_logger.addHandler(handler)
    try:
        out = tmp_path / "out"
        argv = ["analyze", str(tiny_model), "--builtin", "3", "--max-length", "32", "--position-length", "0"]
        assert cli.main([*argv, "--out", str(out), "--no-progress"]) == 0
        assert reports == []
        longest = json.loads((out / "scores.json").read_text())["attention"]["options"]["longest"]
        assert 3 < longest < 32 and f"of up to {longest} tokens (truncated at 32)" in (out / "summary.md").read_text()
        # Anything else unexpected or missing is still reported.
        odd = tmp_path / "odd"
        shutil.copytree(tiny_model, odd)
        weights = load_file(odd / "model.safetensors")
        stray = {"bert.encoder.stray.weight": weights["bert.embeddings.LayerNorm.weight"].clone()}
        save_file({**weights, **stray}, odd / "model.safetensors", metadata={"format": "pt"})
        load_encoder(str(odd))
        assert len(reports) == 1 and "bert.encoder.stray.weight" in reports[0]
    finally:
        transformers_logger.removeHandler(handler)

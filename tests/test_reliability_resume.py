"""Training scripts resume exactly: incomplete checkpoints are skipped, and a run killed (SIGKILL, at a point a test
hook names) or stopped, then relaunched, ends bit-identical to an uninterrupted one, weights and reported losses."""

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import TrainerCallback

from pe_bert.training import finetune, pretrain
from pe_bert.training.arguments import GlueDataArguments, MLMDataArguments
from pe_bert.training.common import parse_args
from pe_bert.training.resume import ResumableMaskingCollator, checkpoint_problem, last_complete_checkpoint

from helpers import IN_PROCESS_FLAGS, TINY

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]


def _checkpoint(folder: Path, complete=True, weights=True):
    folder.mkdir(parents=True)
    if weights:
        save_file({"w": torch.ones(4)}, folder / "model.safetensors")
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": int(folder.name.split("-")[1])}))
    return folder


def test_incomplete_checkpoints_are_skipped_with_a_warning(tmp_path, caplog):
    good = _checkpoint(tmp_path / "checkpoint-4")
    _checkpoint(tmp_path / "checkpoint-12", complete=False)  # killed before trainer_state.json
    _checkpoint(tmp_path / "checkpoint-10", weights=False)
    truncated = _checkpoint(tmp_path / "checkpoint-8")
    data = (truncated / "model.safetensors").read_bytes()
    (truncated / "model.safetensors").write_bytes(data[:-3])
    with caplog.at_level(logging.WARNING, logger="pe_bert.training"):
        assert last_complete_checkpoint(tmp_path) == str(good)
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 3
    assert "checkpoint-12: no trainer_state.json" in warnings[0]
    assert "checkpoint-10: no model weights" in warnings[1]
    assert "checkpoint-8: model.safetensors has" in warnings[2] and "header describes" in warnings[2]
    assert checkpoint_problem(good) is None
    (good / "trainer_state.json").write_text('{"global_')
    assert checkpoint_problem(good) == "trainer_state.json is not valid JSON"
    assert last_complete_checkpoint(tmp_path) is None


def test_resume_from_an_incomplete_checkpoint_is_refused(tmp_path):
    folder = _checkpoint(tmp_path / "checkpoint-3", complete=False)
    argv = [
        "--output_dir",
        str(tmp_path / "out"),
        "--config_overrides",
        TINY,
        "--do_train",
        "--resume_from_checkpoint",
        str(folder),
        "--report_to",
        "none",
    ]
    with pytest.raises(ValueError, match=r"checkpoint-3 is incomplete: no trainer_state.json .*earlier checkpoint"):
        pretrain.main(*parse_args(MLMDataArguments, argv))


def test_masks_depend_on_the_seed_and_the_batch_only(minilm_path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = [tokenizer("the cat sat on the mat and looked at the dog " * 3) for _ in range(4)]
    collator = ResumableMaskingCollator(tokenizer=tokenizer, mask_seed=3)
    first = collator(batch)
    torch.manual_seed(123)  # the global stream plays no part
    state = torch.random.get_rng_state()
    again = collator(batch)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(first["input_ids"], again["input_ids"]) and torch.equal(first["labels"], again["labels"])
    assert (first["labels"] != -100).any()
    other_seed = ResumableMaskingCollator(tokenizer=tokenizer, mask_seed=4)(batch)
    other_batch = collator(batch[::-1][:3] + [tokenizer("a different sentence entirely " * 4)])
    assert not torch.equal(first["labels"], other_seed["labels"])
    assert not torch.equal(first["labels"][:3], other_batch["labels"][:3])


def test_blocks_of_one_length_are_stacked_exactly_as_padding_would(minilm_path):
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    rows = [
        tokenizer("the cat sat on the mat and looked at the dog", return_special_tokens_mask=True) for _ in range(4)
    ]
    collator = ResumableMaskingCollator(tokenizer=tokenizer, mask_seed=3)
    fast = collator(rows)
    slow = DataCollatorForLanguageModeling.torch_call(collator, rows)  # the tokenizer's padding path
    assert fast.keys() == slow.keys() and all(torch.equal(fast[k], slow[k]) for k in fast)
    assert fast["input_ids"].dtype == slow["input_ids"].dtype == torch.int64


# ----------------------------------------------------------------------------------------------- kill and resume

KILLER = textwrap.dedent("""
    # Test hook: SIGKILL this process in the middle of saving checkpoint-{step} (after its weights, optimizer and
    # scheduler, before its RNG and trainer states), as a kill during a save would.
    import os, signal, sys
    import torch
    from transformers import Trainer

    torch.set_num_threads(1)
    save_rng_state = Trainer._save_rng_state

    def save_or_die(self, output_dir):
        if self.state.global_step == {step}:
            os.kill(os.getpid(), signal.SIGKILL)
        save_rng_state(self, output_dir)

    Trainer._save_rng_state = save_or_die
    from pe_bert.training.pretrain import cli
    cli(sys.argv[1:])
""")


@pytest.fixture(scope="module")
def fixed_tokenizer(tmp_path_factory):
    """One vocabulary for every run, so that runs differ only in how they were interrupted."""
    from pe_bert.data import builtin_corpus
    from pe_bert.training.tokenizer import train_wordpiece_tokenizer

    path = tmp_path_factory.mktemp("tokenizer")
    texts = builtin_corpus(num_sentences=300, seed=42)["train"]["text"]
    train_wordpiece_tokenizer(texts, vocab_size=300, model_max_length=64).save_pretrained(path)
    return path


def _mlm_argv(output_dir, tokenizer, steps=12, save_steps=4):
    # 300 sentences give 13 batches of 8 per epoch: the run crosses an epoch and the kill falls mid-epoch.
    return [
        "--output_dir",
        str(output_dir),
        "--tokenizer_name",
        str(tokenizer),
        "--config_overrides",
        TINY,
        "--max_seq_length",
        "32",
        "--builtin_num_sentences",
        "300",
        "--per_device_train_batch_size",
        "8",
        "--max_steps",
        str(steps),
        "--save_steps",
        str(save_steps),
        "--learning_rate",
        "2e-3",
        *IN_PROCESS_FLAGS,
        "--do_train",
        "--do_eval",
    ]


def _same_weights(a: Path, b: Path) -> bool:
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.mark.slow
def test_mlm_killed_while_saving_resumes_from_the_last_complete_checkpoint_bit_identically(
    tmp_path, fixed_tokenizer, caplog
):
    uninterrupted = pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(tmp_path / "a", fixed_tokenizer, 16)))

    killed = tmp_path / "b"
    script = tmp_path / "killer.py"
    script.write_text(KILLER.format(step=8))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    }
    result = subprocess.run(
        [sys.executable, str(script), *_mlm_argv(killed, fixed_tokenizer, 16)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    assert (killed / "checkpoint-4" / "trainer_state.json").is_file()
    assert (killed / "checkpoint-8" / "model.safetensors").is_file()
    assert not (killed / "checkpoint-8" / "trainer_state.json").exists()

    with caplog.at_level(logging.WARNING, logger="pe_bert.training"):
        resumed = pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(killed, fixed_tokenizer, 16)))
    assert any(
        "Skipping the incomplete checkpoint" in r.getMessage() and "checkpoint-8" in r.getMessage()
        for r in caplog.records
    )
    state = json.loads((killed / "trainer_state.json").read_text())
    assert state["global_step"] == 16
    assert resumed["eval_loss"] == uninterrupted["eval_loss"] and resumed["train_loss"] == uninterrupted["train_loss"]
    assert _same_weights(tmp_path / "a", killed)


class _StopAt(TrainerCallback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_training_stop = True


def _losses(output_dir: Path) -> list:
    """Every loss the run logged (trainer_state.json's history), train_loss last."""
    history = json.loads((output_dir / "trainer_state.json").read_text())["log_history"]
    logged = [entry for entry in history if "eval_loss" not in entry]
    return [(entry["step"], entry.get("loss", entry.get("train_loss"))) for entry in logged]


def test_a_resumed_run_reports_the_losses_of_the_uninterrupted_run(tmp_path, fixed_tokenizer):
    """The Trainer averaged train_loss over the steps of the resumed call only (5.3008 against 5.2957), and its first
    logged loss after the resume mixed windows: both come out bit-identical now, as the weights do."""
    argv = [*_mlm_argv(tmp_path / "a", fixed_tokenizer, 5, 2), "--logging_steps", "3"]  # a window spans the save
    uninterrupted = pretrain.main(*parse_args(MLMDataArguments, argv))
    argv[1] = str(tmp_path / "b")
    pretrain.main(*parse_args(MLMDataArguments, argv), callbacks=[_StopAt(2)])
    resumed = pretrain.main(*parse_args(MLMDataArguments, argv))  # from checkpoint-2
    assert resumed["train_loss"] == uninterrupted["train_loss"]
    assert _losses(tmp_path / "b") == _losses(tmp_path / "a") and len(_losses(tmp_path / "a")) == 2
    assert json.loads((tmp_path / "b" / "all_results.json").read_text())["train_loss"] == uninterrupted["train_loss"]
    assert _same_weights(tmp_path / "a", tmp_path / "b")


@pytest.mark.slow
def test_glue_stopped_then_resumed_matches_the_uninterrupted_run(tmp_path, fixed_tokenizer):
    model = tmp_path / "mlm"
    pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(model, fixed_tokenizer, 2, 100)))

    def argv(output_dir):
        return [
            "--output_dir",
            str(output_dir),
            "--model_name_or_path",
            str(model),
            "--task_name",
            "builtin_nli",
            "--builtin_num_examples",
            "120",
            "--max_eval_samples",
            "40",
            "--max_seq_length",
            "32",
            "--per_device_train_batch_size",
            "8",
            "--max_steps",
            "20",
            "--save_steps",
            "9",
            "--learning_rate",
            "3e-3",
            *IN_PROCESS_FLAGS,
        ]

    uninterrupted = finetune.main(*parse_args(GlueDataArguments, argv(tmp_path / "a")))
    finetune.main(*parse_args(GlueDataArguments, argv(tmp_path / "b")), callbacks=[_StopAt(9)])
    resumed = finetune.main(*parse_args(GlueDataArguments, argv(tmp_path / "b")))
    assert resumed["eval_loss"] == uninterrupted["eval_loss"] and resumed["train_loss"] == uninterrupted["train_loss"]
    assert _same_weights(tmp_path / "a", tmp_path / "b")


def test_checkpoints_carry_checksums_and_a_corrupt_one_is_skipped_naming_it(tmp_path, fixed_tokenizer, caplog):
    out = tmp_path / "mlm"
    pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(out, fixed_tokenizer, 4, 2)))
    last = out / "checkpoint-4"
    checksums = json.loads((last / "pe_bert_checksums.json").read_text())
    assert {"model.safetensors", "optimizer.pt", "trainer_state.json"} <= set(checksums)
    assert checkpoint_problem(last) is None
    weights = bytearray((last / "model.safetensors").read_bytes())
    weights[-10:] = bytes(10 - b % 10 for b in weights[-10:])  # bytes flipped inside a tensor: the file still parses
    (last / "model.safetensors").write_bytes(bytes(weights))
    with caplog.at_level(logging.WARNING, logger="pe_bert.training"):
        assert last_complete_checkpoint(out) == str(out / "checkpoint-2")
    assert any("checkpoint-4: model.safetensors does not match the checksum" in r.getMessage() for r in caplog.records)
    optimizer = out / "checkpoint-2" / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])  # a truncated optimizer would crash the relaunch
    assert (
        checkpoint_problem(out / "checkpoint-2") == "optimizer.pt does not match the checksum written when it "
        "was saved (corrupt)"
    )


def test_a_finished_run_relaunched_does_nothing_and_says_so(tmp_path, fixed_tokenizer, caplog):
    out = tmp_path / "mlm"
    first = pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(out, fixed_tokenizer, 4, 2)))
    stored = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    with caplog.at_level(logging.WARNING, logger="pe_bert.training"):
        again = pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(out, fixed_tokenizer, 4, 2)))
    assert again == json.loads((out / "all_results.json").read_text()) and again["train_loss"] == first["train_loss"]
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == stored  # nothing trained or written
    assert any(
        "already holds this run, trained to step 4 of 4: nothing to train" in r.getMessage() for r in caplog.records
    )
    longer = pretrain.main(*parse_args(MLMDataArguments, _mlm_argv(out, fixed_tokenizer, 6, 2)))  # a new plan
    assert json.loads((out / "trainer_state.json").read_text())["global_step"] == 6 and longer


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--max_steps", "0"], "--max_steps 0: give a positive number of steps"),
        (["--max_steps", "-3"], "--max_steps -3: give a positive number of steps"),
        (["--num_train_epochs", "0"], "--num_train_epochs 0.0: give a positive number of epochs"),
    ],
)
def test_non_positive_training_lengths_are_refused(tmp_path, flags, message):
    argv = [
        "--output_dir",
        str(tmp_path / "out"),
        "--config_overrides",
        TINY,
        "--do_train",
        "--report_to",
        "none",
        *flags,
    ]
    with pytest.raises(ValueError, match=message):
        pretrain.main(*parse_args(MLMDataArguments, argv))

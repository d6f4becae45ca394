"""Bad input fails early with an error that names the problem (and both sides of a mismatch); nothing is dropped."""

import pytest

import pe_bert
from pe_bert.training.arguments import GlueDataArguments, MLMDataArguments

from helpers import TINY, glue, mlm


@pytest.fixture(scope="module")
def rope_checkpoint(tmp_path_factory):
    """A (untrained) saved pe_bert rope checkpoint with the MiniLM tokenizer's vocabulary size."""
    path = tmp_path_factory.mktemp("rope")
    config = pe_bert.PEBertConfig(
        position_encoding="rope",
        rope_theta=500.0,
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    pe_bert.PEBertForMaskedLM(config).save_pretrained(path)
    return path


def test_unknown_task_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown task 'glu'.*cola.*mnli.*snli.*builtin_nli"):
        glue(tmp_path, "--task_name", "glu", "--model_name_or_path", "x")


def test_task_name_is_required():
    with pytest.raises(ValueError, match="--task_name"):
        GlueDataArguments(train_file="train.csv")


def test_missing_text_or_label_columns(tmp_path, minilm_path):
    train = tmp_path / "train.csv"
    train.write_text("premise,hypothesis,label\na b,c d,entailment\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['sentence1', 'sentence2'\].*rte"):
        glue(tmp_path, "--task_name", "rte", "--train_file", str(train), "--model_name_or_path", str(minilm_path))
    unlabelled = tmp_path / "unlabelled.csv"
    unlabelled.write_text("sentence1,sentence2\na b,c d\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['label'\]"):
        glue(tmp_path, "--task_name", "rte", "--train_file", str(unlabelled), "--model_name_or_path", str(minilm_path))
    # Pretraining: a csv with several text columns and none called 'text'.
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("title,body\nA,the cat sat\nB,the dog ran\n")
    with pytest.raises(ValueError, match=r"no 'text' column among \['title', 'body'\].*--text_column_name"):
        mlm(tmp_path, "--train_file", str(corpus), "--config_overrides", TINY)
    with pytest.raises(ValueError, match=r"--text_column_name 'content' is not a column"):
        mlm(tmp_path, "--train_file", str(corpus), "--text_column_name", "content", "--config_overrides", TINY)


@pytest.mark.parametrize("suffix", [".txt", ".json", ".csv"])
def test_empty_training_file(tmp_path, suffix):
    empty = tmp_path / f"train{suffix}"
    empty.write_text("\n  \n")
    with pytest.raises(ValueError, match=f"--train_file .*train\\{suffix} is empty"):
        mlm(tmp_path, "--train_file", str(empty), "--config_overrides", TINY)


def test_empty_glue_file(tmp_path, minilm_path):
    empty = tmp_path / "train.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="train.csv is empty"):
        glue(tmp_path, "--task_name", "sst2", "--train_file", str(empty), "--model_name_or_path", str(minilm_path))


def test_missing_and_unsupported_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt does not exist"):
        mlm(tmp_path, "--train_file", str(tmp_path / "nope.txt"), "--config_overrides", TINY)
    odd = tmp_path / "train.parquet"
    odd.write_text("x")
    with pytest.raises(ValueError, match="unsupported extension '.parquet'"):
        mlm(tmp_path, "--train_file", str(odd), "--config_overrides", TINY)


def test_too_little_text_for_one_block(tmp_path):
    tiny = tmp_path / "train.txt"
    tiny.write_text("one line only\nand another\n")
    with pytest.raises(ValueError, match="fewer than one block of --max_seq_length 64"):
        mlm(
            tmp_path,
            "--train_file",
            str(tiny),
            "--config_overrides",
            TINY,
            "--max_seq_length",
            "64",
            "--tokenizer_vocab_size",
            "50",
        )


def test_checkpoint_pe_mismatch_names_both(tmp_path, rope_checkpoint, minilm_path):
    with pytest.raises(ValueError, match="uses position_encoding='rope' but --position_encoding 'alibi'"):
        mlm(
            tmp_path,
            "--model_name_or_path",
            str(rope_checkpoint),
            "--position_encoding",
            "alibi",
            "--tokenizer_name",
            str(minilm_path),
        )
    with pytest.raises(ValueError, match="uses position_encoding='rope' but --position_encoding 'learned'"):
        glue(
            tmp_path,
            "--task_name",
            "builtin_nli",
            "--model_name_or_path",
            str(rope_checkpoint),
            "--position_encoding",
            "learned",
            "--tokenizer_name",
            str(minilm_path),
        )
    # A stock BERT checkpoint has learned absolute positions.
    with pytest.raises(ValueError, match="uses position_encoding='learned' but --position_encoding 'rope'"):
        glue(
            tmp_path,
            "--task_name",
            "builtin_nli",
            "--model_name_or_path",
            str(minilm_path),
            "--position_encoding",
            "rope",
        )
    # PE hyper-parameters are fixed by training too.
    with pytest.raises(ValueError, match="has rope_theta=500.0 but --rope_theta 10000.0"):
        mlm(
            tmp_path,
            "--model_name_or_path",
            str(rope_checkpoint),
            "--rope_theta",
            "10000",
            "--tokenizer_name",
            str(minilm_path),
        )


def test_max_seq_length_above_an_absolute_table_names_both_numbers(tmp_path, minilm_path):
    with pytest.raises(ValueError, match=r"--max_seq_length 128 is longer than the 64 positions of the 'learned'"):
        mlm(tmp_path, "--config_overrides", TINY, "--max_seq_length", "128")
    with pytest.raises(ValueError, match=r"--max_seq_length 128 is longer than the 64 positions of the 'sinusoidal'"):
        mlm(tmp_path, "--config_overrides", TINY, "--position_encoding", "sinusoidal", "--max_seq_length", "128")
    # MiniLM (stock BERT) has a 512-row table.
    with pytest.raises(ValueError, match=r"--max_seq_length 1024 is longer than the 512 positions of the 'learned'"):
        glue(
            tmp_path, "--task_name", "builtin_nli", "--model_name_or_path", str(minilm_path), "--max_seq_length", "1024"
        )


def test_relative_pes_take_longer_inputs_than_the_table(tmp_path):
    from pe_bert.training.loading import check_max_seq_length

    check_max_seq_length(pe_bert.PEBertConfig(position_encoding="rope", max_position_embeddings=64), 512)
    with pytest.raises(ValueError, match="65 is longer than the 64"):
        check_max_seq_length(pe_bert.PEBertConfig(position_encoding="learned", max_position_embeddings=64), 65)


def test_bad_configuration_flags(tmp_path):
    with pytest.raises(ValueError, match="Unknown position_encoding 'rotary'. Valid names: learned"):
        mlm(tmp_path, "--config_overrides", TINY, "--position_encoding", "rotary")
    with pytest.raises(ValueError, match="hidden_sizes.*comma-separated key=value"):
        mlm(tmp_path, "--config_overrides", "hidden_sizes=64")
    with pytest.raises(ValueError, match="--config_overrides only applies to a model trained from scratch"):
        mlm(tmp_path, "--model_name_or_path", "some/checkpoint", "--config_overrides", TINY)
    with pytest.raises(ValueError, match="--model_name_or_path"):
        glue(tmp_path, "--task_name", "rte")
    with pytest.raises(ValueError, match="--learning_rate_grid 'fast' is not a comma-separated list"):
        GlueDataArguments(task_name="rte", learning_rate_grid="fast").learning_rates()
    with pytest.raises(ValueError, match="--mlm_probability must be in"):
        MLMDataArguments(mlm_probability=1.5)


def test_labels_outside_the_task_are_rejected(tmp_path, minilm_path):
    train = tmp_path / "train.csv"
    train.write_text("sentence,label\ngood movie,positive\nbad movie,awful\n")
    with pytest.raises(ValueError, match=r"unknown label\(s\) \['awful'\]"):
        glue(tmp_path, "--task_name", "sst2", "--train_file", str(train), "--model_name_or_path", str(minilm_path))


def test_resume_from_a_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match="--resume_from_checkpoint .*missing is not a folder"):
        mlm(tmp_path, "--config_overrides", TINY, "--do_train", "--resume_from_checkpoint", str(tmp_path / "missing"))


def test_nothing_is_downloaded(tmp_path):
    # Offline, an unknown Hub model fails fast instead of hanging (HF_HUB_OFFLINE is set by conftest).
    with pytest.raises(OSError):
        glue(tmp_path, "--task_name", "builtin_nli", "--model_name_or_path", "no-such-org/no-such-model")

"""Bad training data gets an error naming the file and the line or row at fault, never a crash deep in datasets or
a run that "succeeds" on nothing."""

import pytest

import pe_bert
from pe_bert.errors import InvalidInputError, UsageError
from pe_bert.inputs import locate_json_error, read_utf8
from pe_bert.training.arguments import GlueDataArguments

from helpers import MICRO_SHAPE, TINY, glue, mlm

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "object.json",
            '{"a": {"b": 1}}',
            r"object.json: Cannot tell which column holds the text: no 'text' column "
            r"among \['a'\]",
        ),
        ("numbers.json", "[1, 2, 3]", r"numbers.json: column 'text' does not hold text \(example 1: 1\)"),
        (
            "records.jsonl",
            '{"text": "the cat"}\n{"text": 7}\n',
            r"records.jsonl: column 'text' does not hold text \(example 2: 7\)",
        ),
        (
            "torn.jsonl",
            '{"text": "the cat sat"}\n{"text": "the dog\n{"text": "ok"}\n',
            r"torn.jsonl: line 2 is not valid JSON \(Unterminated string starting at, column 10\); each line",
        ),
        ("array.json", '[\n  {"text": "a b"},\n  {"text": "c d"\n]', r"array.json: line 4 is not valid JSON"),
    ],
)
def test_mlm_training_files_of_the_wrong_structure(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(InvalidInputError, match=rf"--train_file {tmp_path}/{message}"):
        mlm(tmp_path, "--train_file", str(path), "--config_overrides", TINY)


def test_a_non_utf8_training_file_names_the_byte(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("the cat sat\nthe café\n".encode("latin-1"))
    with pytest.raises(InvalidInputError, match=r"latin1.txt is not UTF-8: byte 0xe9 at byte offset 19 \(line 2\)"):
        mlm(tmp_path, "--train_file", str(path), "--config_overrides", TINY)


def test_reading_helpers_locate_the_fault(tmp_path):
    bom = tmp_path / "bom.txt"
    bom.write_bytes(b"\xef\xbb\xbfok\n\xff")
    with pytest.raises(InvalidInputError, match=r"byte 0xff at byte offset 6 \(line 2\)"):  # offsets count the BOM
        read_utf8(bom, "--text-file")
    lines = tmp_path / "ok.json"
    lines.write_text('{"text": "a"}\n\n{"text": "b"}\n')  # JSON Lines in a .json file, as datasets accepts
    assert locate_json_error(lines) is None


@pytest.mark.parametrize(
    "suffix, rows",
    [
        (".csv", "sentence,label\ngood movie,1\nbad movie,0.5\n"),
        (".jsonl", '{"sentence": "good", "label": 1}\n{"sentence": "bad", "label": 0.5}\n'),
    ],
)
def test_a_float_label_in_a_classification_task(tmp_path, minilm_path, suffix, rows):
    path = tmp_path / f"train{suffix}"
    path.write_text(rows)
    with pytest.raises(InvalidInputError, match=rf"train{suffix}, row 2: label 0.5 is not a class: task 'sst2'.*stsb"):
        glue(tmp_path, "--task_name", "sst2", "--train_file", str(path), "--model_name_or_path", str(minilm_path))


def test_a_boolean_label_is_not_a_class(tmp_path, minilm_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"sentence": "the dog slept .", "label": true}\n{"sentence": "a cat ran .", "label": false}\n')
    with pytest.raises(
        InvalidInputError,
        match=r"train.jsonl, row 1: label true is a boolean, not a class of task "
        r"'builtin_topic' .*ids 0..6",
    ):
        glue(
            tmp_path,
            "--task_name",
            "builtin_topic",
            "--train_file",
            str(path),
            "--model_name_or_path",
            str(minilm_path),
        )


def test_a_glue_jsonl_file_with_a_torn_line(tmp_path, minilm_path):
    path = tmp_path / "train.jsonl"
    path.write_text('{"sentence": "good", "label": 1}\n{"sentence": "bad", "lab')
    with pytest.raises(InvalidInputError, match=r"train file .*train.jsonl: line 2 is not valid JSON"):
        glue(tmp_path, "--task_name", "sst2", "--train_file", str(path), "--model_name_or_path", str(minilm_path))


def test_a_validation_file_with_no_gold_label_is_an_error_not_zero_examples(tmp_path, minilm_path):
    train, validation = tmp_path / "train.csv", tmp_path / "dev.csv"
    train.write_text("sentence,label\ngood movie,1\nbad movie,0\n")
    validation.write_text("sentence,label\nfine movie,-1\nodd movie,-1\n")
    with pytest.raises(InvalidInputError, match=r"validation file .*dev.csv: all 2 rows are labelled -1"):
        glue(
            tmp_path,
            "--task_name",
            "sst2",
            "--train_file",
            str(train),
            "--validation_file",
            str(validation),
            "--model_name_or_path",
            str(minilm_path),
        )


def test_max_seq_length_must_leave_room_for_text(tmp_path, minilm_path):
    with pytest.raises(InvalidInputError, match="--max_seq_length must be at least 1, got 0"):
        mlm(tmp_path, "--config_overrides", TINY, "--max_seq_length", "0")
    with pytest.raises(InvalidInputError, match="--max_seq_length must be at least 1, got 0"):
        GlueDataArguments(task_name="rte", max_seq_length=0)
    with pytest.raises(
        InvalidInputError,
        match=r"--max_seq_length 3 leaves no room for text: the tokenizer adds 3 "
        r"special tokens to each pair",
    ):
        glue(
            tmp_path,
            "--task_name",
            "builtin_nli",
            "--builtin_num_examples",
            "20",
            "--max_seq_length",
            "3",
            "--model_name_or_path",
            str(minilm_path),
        )


def test_a_tokenizer_larger_than_the_embedding_table(tmp_path, minilm_path):
    small = tmp_path / "small"
    config = pe_bert.PEBertConfig(
        vocab_size=500,
        **MICRO_SHAPE,
        max_position_embeddings=64,
    )
    pe_bert.PEBertForMaskedLM(config).save_pretrained(small)
    with pytest.raises(
        InvalidInputError,
        match=r"The tokenizer of .* has 30522 entries but the model's embedding "
        r"table has 500 rows: .*drop --tokenizer_name",
    ):
        glue(
            tmp_path,
            "--task_name",
            "builtin_nli",
            "--builtin_num_examples",
            "20",
            "--max_seq_length",
            "32",
            "--model_name_or_path",
            str(small),
            "--tokenizer_name",
            str(minilm_path),
        )


def test_data_errors_are_usage_errors_and_keep_their_builtin_types():
    # Library callers keep catching ValueError / FileNotFoundError; the command lines catch UsageError.
    from pe_bert.errors import MissingInputError

    assert issubclass(InvalidInputError, ValueError) and issubclass(InvalidInputError, UsageError)
    assert issubclass(MissingInputError, FileNotFoundError) and issubclass(MissingInputError, UsageError)

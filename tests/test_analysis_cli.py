"""`pe-bert analyze` writes its scores, figures and summary."""

import json

import pytest

from pe_bert.cli import main

from helpers import MICRO_SHAPE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _check_outputs(out, num_sentences):
    scores = json.loads((out / "scores.json").read_text())
    attention = scores["attention"]
    assert attention["num_sentences"] == num_sentences
    assert len(attention["per_head"]["locality"]) == 6 and len(attention["per_head"]["locality"][0]) == 12
    assert 0 < attention["overall"]["locality"] < 1
    assert scores["position_attention"]["seq_len"] == 8
    for image in ("heatmaps.png", "position_attention.png"):
        assert (out / image).read_bytes()[:4] == b"\x89PNG"
    summary = (out / "summary.md").read_text()
    assert "| locality |" in summary and "symmetry (published)" in summary and "Identical-token" in summary
    return attention


def test_analyze_text_file(minilm_path, tmp_path, capsys):
    text_file = tmp_path / "sentences.txt"
    text_file.write_text("The cat sat on the mat.\n\nA dog barked at the mailman.\nok\n")
    out = tmp_path / "report"
    code = main(
        [
            "analyze",
            str(minilm_path),
            "--text-file",
            str(text_file),
            "--out",
            str(out),
            "--max-length",
            "16",
            "--position-length",
            "8",
            "--no-progress",
            "--drop-special-tokens",
        ]
    )
    assert code == 0
    attention = _check_outputs(out, num_sentences=3)  # blank line skipped
    assert attention["options"]["drop_special_tokens"] is True and attention["options"]["max_length"] == 16
    assert "locality" in capsys.readouterr().out


def test_analyze_builtin_corpus(minilm_path, tmp_path):
    pytest.importorskip("pe_bert.data")
    out = tmp_path / "builtin"
    assert (
        main(
            [
                "analyze",
                str(minilm_path),
                "--builtin",
                "12",
                "--out",
                str(out),
                "--position-length",
                "8",
                "--no-progress",
            ]
        )
        == 0
    )
    _check_outputs(out, num_sentences=12)


def test_analyze_requires_a_source(minilm_path, tmp_path):
    with pytest.raises(SystemExit):
        main(["analyze", str(minilm_path), "--out", str(tmp_path)])


def test_analyze_reports_the_length_it_used(tmp_path, capsys):
    """A relative PE takes inputs longer than its table: a --max-length beyond it is used as asked and reported;
    one too short for two words beside the special tokens is refused (the tokenizer could not truncate to it)."""
    from transformers import AutoModel

    from pe_bert import PEBertConfig
    from pe_bert.data.compact import compact_language
    from pe_bert.training.tokenizer import word_level_tokenizer

    model_dir = tmp_path / "rope"
    tokenizer = word_level_tokenizer(compact_language().vocabulary, model_max_length=256)
    AutoModel.from_config(
        PEBertConfig(
            position_encoding="rope",
            vocab_size=len(tokenizer),
            **MICRO_SHAPE,
            max_position_embeddings=8,
        )
    ).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    text = tmp_path / "long.txt"
    text.write_text("the hungry fox chased a small rabbit quickly across the old zoo .\n")
    out = tmp_path / "report"

    def analyze(*flags):
        return main(["analyze", str(model_dir), "--text-file", str(text), "--out", str(out), "--no-progress", *flags])

    assert analyze("--max-length", "128", "--position-length", "0") == 0
    scores = json.loads((out / "scores.json").read_text())["attention"]
    # The length actually scored, not the flag's ceiling (this relative PE takes any length).
    assert scores["options"]["max_length"] == 128 and scores["options"]["longest"] == 15
    assert "of up to 15 tokens (truncated at 128)" in (out / "summary.md").read_text()
    assert analyze("--max-length", "1") == 2
    assert (
        "--max-length 1 leaves no room for two words beside the 2 special tokens: give --max-length 4"
        in capsys.readouterr().err
    )

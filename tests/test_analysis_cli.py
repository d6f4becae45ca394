"""`pe-bert analyze` writes its scores, figures and summary."""

import json

import pytest
import torch

from pe_bert.cli import main


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
    code = main([
        "analyze", str(minilm_path), "--text-file", str(text_file), "--out", str(out),
        "--max-length", "16", "--position-length", "8", "--no-progress", "--drop-special-tokens",
    ])
    assert code == 0
    attention = _check_outputs(out, num_sentences=3)  # blank line skipped
    assert attention["options"]["drop_special_tokens"] is True and attention["options"]["max_length"] == 16
    assert "locality" in capsys.readouterr().out


def test_analyze_builtin_corpus(minilm_path, tmp_path):
    pytest.importorskip("pe_bert.data")
    out = tmp_path / "builtin"
    assert main(["analyze", str(minilm_path), "--builtin", "12", "--out", str(out), "--position-length", "8", "--no-progress"]) == 0
    _check_outputs(out, num_sentences=12)


def test_analyze_requires_a_source(minilm_path, tmp_path):
    with pytest.raises(SystemExit):
        main(["analyze", str(minilm_path), "--out", str(tmp_path)])

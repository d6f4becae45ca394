"""GLUE task registry, offline GLUE metrics, and loading local files / built-in tasks."""

import json
import logging
import time

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import f1_score, matthews_corrcoef

from pe_bert.data import (
    BUILTIN_TASKS,
    GLUE_TASKS,
    TASKS,
    OfflineGlueMetric,
    glue_compute_metrics,
    load_glue_metric,
    load_task,
)

# What evaluate.load("glue", config).compute(...) returns: the keys of evaluate's glue module.
EVALUATE_GLUE_KEYS = {
    "cola": {"matthews_correlation"},
    "stsb": {"pearson", "spearmanr"},
    "mrpc": {"accuracy", "f1"},
    "qqp": {"accuracy", "f1"},
    "sst2": {"accuracy"},
    "mnli": {"accuracy"},
    "mnli_matched": {"accuracy"},
    "mnli_mismatched": {"accuracy"},
    "qnli": {"accuracy"},
    "rte": {"accuracy"},
    "wnli": {"accuracy"},
    "hans": {"accuracy"},
}
PRED = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1]
REF = [1, 0, 0, 1, 0, 1, 1, 0, 1, 0]


# --- registry ---------------------------------------------------------------------------------------
def test_registry_covers_glue_snli_and_builtin_tasks():
    assert set(GLUE_TASKS) | {"snli"} | set(BUILTIN_TASKS) == set(TASKS)
    assert TASKS["mnli"].eval_splits == ("validation_matched", "validation_mismatched")
    assert TASKS["stsb"].is_regression and TASKS["stsb"].num_labels == 1
    assert TASKS["mnli"].num_labels == 3 and TASKS["cola"].num_labels == 2
    assert TASKS["qqp"].text_columns == ("question1", "question2")
    assert TASKS["snli"].text_columns == ("premise", "hypothesis") and TASKS["snli"].hub_path == "stanfordnlp/snli"
    assert TASKS["builtin_nli"].text_columns == ("sentence1", "sentence2")
    assert TASKS["cola"].main_metric == "matthews_correlation" and TASKS["stsb"].main_metric == "spearmanr"
    for name, info in TASKS.items():
        assert info.main_metric in info.metric_keys, name


# --- metrics ----------------------------------------------------------------------------------------
def test_metric_keys_match_evaluate_glue():
    for task, keys in EVALUATE_GLUE_KEYS.items():
        predictions = np.linspace(0, 5, 10) if task == "stsb" else PRED
        references = np.linspace(0, 5, 10) ** 2 if task == "stsb" else REF
        assert set(glue_compute_metrics(task, predictions, references)) == keys, task
    for task in ("snli", *BUILTIN_TASKS):
        assert set(glue_compute_metrics(task, PRED, REF)) == {"accuracy"}


def test_metric_values_equal_sklearn_and_scipy():
    assert glue_compute_metrics("cola", PRED, REF) == {
        "matthews_correlation": pytest.approx(matthews_corrcoef(REF, PRED))
    }
    assert glue_compute_metrics("mrpc", PRED, REF) == {"accuracy": 0.7, "f1": pytest.approx(f1_score(REF, PRED))}
    assert glue_compute_metrics("rte", PRED, REF) == {"accuracy": 0.7}
    assert glue_compute_metrics("mnli", [0, 1, 2, 2], [0, 1, 1, 2]) == {"accuracy": 0.75}
    scores = [0.1, 2.5, 3.3, 4.8, 1.0, 2.0]
    gold = [0.0, 3.0, 3.0, 5.0, 1.5, 1.0]
    result = glue_compute_metrics("stsb", scores, gold)
    assert result == {
        "pearson": pytest.approx(pearsonr(scores, gold)[0]),
        "spearmanr": pytest.approx(spearmanr(scores, gold)[0]),
    }
    assert all(type(v) is float for v in result.values()), "plain floats, JSON-serialisable"
    json.dumps(result)


def test_metric_errors():
    with pytest.raises(KeyError, match="valid tasks"):
        glue_compute_metrics("squad", PRED, REF)
    with pytest.raises(ValueError, match="shape"):
        glue_compute_metrics("rte", PRED, REF[:3])


def test_load_glue_metric_falls_back_offline_quickly():
    start = time.perf_counter()
    metric = load_glue_metric("mrpc")  # tests run with HF_HUB_OFFLINE=1
    assert time.perf_counter() - start < 5
    assert isinstance(metric, OfflineGlueMetric)
    assert metric.compute(predictions=PRED, references=REF) == glue_compute_metrics("mrpc", PRED, REF)
    metric.add_batch(predictions=PRED[:5], references=REF[:5])
    metric.add_batch(predictions=PRED[5:], references=REF[5:])
    assert metric.compute() == glue_compute_metrics("mrpc", PRED, REF)
    assert isinstance(load_glue_metric("builtin_nli"), OfflineGlueMetric)


def test_load_glue_metric_without_network(monkeypatch):
    """Even without the offline flags, an unreachable Hub means a quick fallback, not a hang."""
    import pe_bert.data.glue_scores as metrics

    for flag in ("HF_HUB_OFFLINE", "HF_EVALUATE_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(flag, raising=False)
    monkeypatch.setattr(metrics, "_hub_reachable", lambda timeout=2.0: False)
    assert isinstance(load_glue_metric("cola"), OfflineGlueMetric)


# --- loading ------------------------------------------------------------------------------------------
def test_load_builtin_task_through_load_task():
    dataset = load_task("builtin_topic", num_train=70, num_validation=14, num_test=7)
    assert {split: ds.num_rows for split, ds in dataset.items()} == {"train": 70, "validation": 14, "test": 7}


def test_unknown_task_lists_valid_ones():
    with pytest.raises(ValueError, match="valid tasks: cola, sst2"):
        load_task("glue_cola")


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_local_csv_json_and_tsv(tmp_path):
    train = _write(
        tmp_path / "train.csv",
        "premise,hypothesis,label\na man sleeps,a person sleeps,entailment\n"
        "a dog runs,a cat sleeps,contradiction\nx,y,-1\n",
    )
    validation = _write(tmp_path / "dev.jsonl", json.dumps({"premise": "a", "hypothesis": "b", "label": 1}) + "\n")
    test = _write(tmp_path / "test.txt", 'premise\thypothesis\na "quoted" man\tsomeone\n')
    dataset = load_task(
        "snli", train_file=train, validation_file=validation, test_file=test, cache_dir=str(tmp_path / "cache")
    )
    assert dataset["train"]["label"] == [0, 2], "label names mapped to ids, the unlabelled row dropped"
    assert dataset["validation"]["label"] == [1]
    assert dataset["test"]["label"] == [-1] and dataset["test"]["premise"] == ['a "quoted" man']
    for split in dataset.values():
        assert {"premise", "hypothesis", "label", "idx"} <= set(split.column_names)
    assert dataset["train"].features["label"].names == ["entailment", "neutral", "contradiction"]


def test_mnli_local_files_use_mnli_split_names(tmp_path):
    dev = _write(tmp_path / "dev.tsv", "premise\thypothesis\tlabel\np\th\t2\n")
    assert list(load_task("mnli", validation_file=dev, cache_dir=str(tmp_path / "c"))) == ["validation_matched"]


def test_stsb_labels_are_floats(tmp_path):
    train = _write(tmp_path / "train.csv", "sentence1,sentence2,label\na,b,3.5\nc,d,1\n")
    dataset = load_task("stsb", train_file=train, cache_dir=str(tmp_path / "c"))
    assert dataset["train"]["label"] == [3.5, 1.0]


def test_dropped_rows_are_reported(tmp_path, caplog):
    train = _write(tmp_path / "train.csv", "sentence,label\ngood,1\nbad,-1\nworse,-1\n")
    with caplog.at_level(logging.WARNING, logger="pe_bert.data.glue"):
        dataset = load_task("sst2", train_file=train, cache_dir=str(tmp_path / "c"))
    assert dataset["train"].num_rows == 1
    assert "dropped 2 of 3 rows labelled -1" in caplog.text


def test_missing_columns_are_named(tmp_path):
    train = _write(tmp_path / "train.csv", "text,label\nhello,1\n")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['sentence'\].*found columns \['text', 'label'\]"):
        load_task("sst2", train_file=train, cache_dir=str(tmp_path / "c"))
    no_label = _write(tmp_path / "dev.csv", "sentence1,sentence2\na,b\n")
    with pytest.raises(ValueError, match=r"\['label'\]"):
        load_task("rte", validation_file=no_label, cache_dir=str(tmp_path / "c"))


def test_empty_and_header_only_files(tmp_path):
    with pytest.raises(ValueError, match="is empty"):
        load_task("sst2", train_file=_write(tmp_path / "empty.csv", ""), cache_dir=str(tmp_path / "c"))
    with pytest.raises(ValueError, match="no rows"):
        load_task("sst2", train_file=_write(tmp_path / "header.csv", "sentence,label\n"), cache_dir=str(tmp_path / "c"))


def test_bad_labels_and_file_types(tmp_path):
    with pytest.raises(ValueError, match="unknown label"):
        load_task(
            "rte",
            train_file=_write(tmp_path / "a.csv", "sentence1,sentence2,label\na,b,maybe\n"),
            cache_dir=str(tmp_path / "c"),
        )
    with pytest.raises(ValueError, match="out of range"):
        load_task(
            "rte",
            train_file=_write(tmp_path / "b.csv", "sentence1,sentence2,label\na,b,7\n"),
            cache_dir=str(tmp_path / "c"),
        )
    with pytest.raises(ValueError, match="unsupported file type"):
        load_task("rte", train_file=_write(tmp_path / "a.parquetx", "x"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_task("rte", train_file=str(tmp_path / "missing.csv"))
    with pytest.raises(TypeError, match="only apply to built-in tasks"):
        load_task("rte", train_file=str(tmp_path / "a.csv"), seed=3)


def test_hub_loading_fails_clearly_offline():
    with pytest.raises(ConnectionError, match="train_file"):
        load_task("rte")

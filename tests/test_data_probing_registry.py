"""Probing tasks are one declaration each: a task declared here is generated, accepted by the study's settings,
sized by its plan and read by its controls exactly as the built-in ones are."""

import pytest

from pe_bert.data.compact import compact_language
from pe_bert.data.probing import (
    PROBING_TASKS,
    SENTENCE,
    ProbingTask,
    get_probing_task,
    make_example,
    probing_task,
    register_probing_task,
)
from pe_bert.errors import InvalidInputError
from pe_bert.study import hypotheses, plan
from pe_bert.study.config import StudyConfig
from pe_bert.study.record_types import BudgetNumbers

from helpers import stub_run


def _first_last_examples(sentence, rng, turn):
    """The sentence (1) and its twin with its first and last words swapped (0), when the twin is ungrammatical."""
    body = list(sentence.words[:-1])
    if len(body) < 2 or body[0] == body[-1]:
        return None
    swapped = [body[-1], *body[1:-1], body[0], sentence.words[-1]]
    if compact_language().accepts(swapped):
        return None
    return [make_example(sentence.words, SENTENCE, 1, 1), make_example(swapped, SENTENCE, 0, 0)]


@pytest.fixture
def first_last():
    task = register_probing_task(
        ProbingTask(
            "first_last",
            "original sentence or its first and last words swapped; twins are paired",
            ("swapped", "original"),
            True,
            _first_last_examples,
            code=90,
        )
    )
    yield task
    del PROBING_TASKS[task.name]


def test_unknown_and_repeated_tasks_are_clear_errors():
    with pytest.raises(ValueError, match="Unknown probing task 'syntax'; valid: topic, order, roles, roles_far"):
        get_probing_task("syntax")
    topic = get_probing_task("topic")
    with pytest.raises(ValueError, match="'topic' is already registered"):
        register_probing_task(topic)
    with pytest.raises(ValueError, match="code 31 is already 'topic'"):
        register_probing_task(ProbingTask("other", "", ("a", "b"), False, topic.build, code=31))
    assert "other" not in PROBING_TASKS


def test_a_declared_task_is_generated_and_checked_like_the_built_in_ones(first_last):
    splits = probing_task("first_last", 20, 10, seed=3)
    assert splits == probing_task("first_last", 20, 10, seed=3)
    assert len(splits["train"]) == 20 and len(splits["test"]) == 10
    for examples in splits.values():
        for index, example in enumerate(examples):  # twins point at each other, with the other label
            twin = examples[example["twin"]]
            assert twin["twin"] == index and twin["label"] == 1 - example["label"]
            assert sorted(twin["words"]) == sorted(example["words"])
    # the study's settings accept it (and list it among the valid names when another is wrong)
    config = StudyConfig(variants=["none"], probing_tasks=["topic", "first_last"], outcome_tasks=["first_last"])
    with pytest.raises(InvalidInputError, match="valid: topic, order, roles, roles_far, first_last"):
        StudyConfig(variants=["none"], probing_tasks=["syntax"], outcome_tasks=[])
    # the plan sizes its probing stage with it
    sizes = [
        plan._stage_size(StudyConfig(variants=["none"], probing_tasks=tasks, outcome_tasks=[]), "probing", 1000)
        for tasks in (["topic"], ["topic", "first_last"])
    ]
    assert sizes[1]["tokens"] == 2 * sizes[0]["tokens"]
    # as a twin task, the controls hold the order-blind model to exactly 50 on it
    twins = BudgetNumbers(probing={"first_last": {"accuracy": 50.0, "tied": 10, "n_test": 10}})
    blind = stub_run(variant=hypotheses.ORDER_BLIND_VARIANT, budgets={"500": twins})
    (control,) = [c for c in hypotheses.controls([blind], {}, {}) if c.name == "order-blind control"]
    assert control.passed and control.detail.startswith("10 of 10 twin examples tied")
    assert config.outcome_tasks == ["first_last"]

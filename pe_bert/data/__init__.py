"""Built-in offline data: an annotated English corpus generator, GLUE-format tasks, GLUE/SNLI loading.

Core API (stable; other modules code against it)::

    generate_sentences(n, seed=0) -> list[Sentence]       # Sentence(words, spans, structure, topic)
    swap_agent_patient(sentence) -> Sentence              # exact role swap of clause 0
    builtin_corpus(num_sentences, seed, sentences_per_document, granularity) -> DatasetDict
    load_builtin_task(name, seed=0, num_train=..., num_validation=..., num_test=...) -> DatasetDict
    load_task(task_name, train_file=None, validation_file=None, test_file=None, cache_dir=None)
    TASKS[task_name] -> TaskInfo(text_columns, num_labels, is_regression, metric_keys, eval_splits, ...)
    glue_compute_metrics(task_name, predictions, references) -> dict;  load_glue_metric(task_name)
"""

from .corpus import builtin_corpus, generate_documents, generate_plans, generate_sentences
from .glue import GLUE_TASKS, TASKS, TaskInfo, get_task_info, load_task
from .glue_scores import OfflineGlueMetric, glue_compute_metrics, load_glue_metric
from .grammar import STRUCTURES
from .lexicon import TOPICS, vocabulary
from .sentence import ROLES, RoleSpan, Sentence, detokenize, swap_agent_patient, swap_spans
from .tasks import BUILTIN_TASKS, NLI_LABELS, BuiltinTask, load_builtin_task

__all__ = [
    "BUILTIN_TASKS",
    "GLUE_TASKS",
    "NLI_LABELS",
    "TASKS",
    "BuiltinTask",
    "OfflineGlueMetric",
    "TaskInfo",
    "get_task_info",
    "glue_compute_metrics",
    "load_builtin_task",
    "load_glue_metric",
    "load_task",
    "ROLES",
    "STRUCTURES",
    "TOPICS",
    "RoleSpan",
    "Sentence",
    "builtin_corpus",
    "detokenize",
    "generate_documents",
    "generate_plans",
    "generate_sentences",
    "swap_agent_patient",
    "swap_spans",
    "vocabulary",
]

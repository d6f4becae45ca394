"""Built-in offline data: an annotated English corpus generator, GLUE-format tasks, GLUE/SNLI loading.

Core API (stable; other modules code against it)::

    generate_sentences(n, seed=0) -> list[Sentence]       # Sentence(words, spans, structure, topic)
    swap_agent_patient(sentence) -> Sentence              # exact role swap of clause 0
    builtin_corpus(num_sentences, seed, sentences_per_document, granularity) -> DatasetDict
"""

from .corpus import builtin_corpus, generate_documents, generate_plans, generate_sentences
from .grammar import STRUCTURES
from .lexicon import TOPICS, vocabulary
from .sentence import ROLES, RoleSpan, Sentence, detokenize, swap_agent_patient, swap_spans

__all__ = [
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

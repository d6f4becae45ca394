"""The data stage (shared): the tokenizer, the pretraining text and the masked-evaluation blocks at every length,
with the corpus's floors (what a unigram model and the Bayes-optimal predictor achieve on the same masks)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..store import input_fingerprint, stored_strings
from .base import SharedStage, StageCall, StageResult
from .builtin import CORPUS_SEED, EVAL_MASK_SEED, EVAL_SENTENCES_SEED
from .training import corpus_identity, user_corpus_arguments


@dataclass
class DataResult(StageResult):
    """`tokenizer`: a stored folder, or the user's --tokenizer-name. The rest only with the built-in corpus: its files,
    the evaluation blocks and floors per length multiple ("1", "2", ...), and (compact grammar) the language's
    unigram entropy and expected sentence length."""

    OPTIONAL: ClassVar[tuple[str, ...]] = (
        "train_file",
        "validation_file",
        "blocks",
        "floors",
        "num_train_sentences",
        "unigram_entropy",
        "expected_sentence_length",
    )

    tokenizer: str
    train_file: str | None = None
    validation_file: str | None = None
    blocks: dict[str, str] | None = None
    floors: dict[str, dict] | None = None
    num_train_sentences: int | None = None
    unigram_entropy: float | None = None
    expected_sentence_length: float | None = None

    def stored_paths(self) -> list[str]:
        return stored_strings([self.train_file, self.validation_file, self.blocks])


class DataStage(SharedStage):
    name = "data"
    result = DataResult

    def settings(self, engine, call: StageCall) -> dict:
        config = engine.config
        settings = {
            key: getattr(config, key)
            for key in (
                "builtin_grammar",
                "tokenizer_vocab_size",
                "max_position_embeddings",
                "max_seq_length",
                "eval_sentences",
                "length_multiples",
                "mlm_probability",
            )
        }
        settings.update(corpus_identity(config), tokenizer_name=input_fingerprint(config.tokenizer_name))
        return settings

    def store_options(self, config) -> dict:
        def paths(stored: dict) -> list[str]:  # a user's --tokenizer-name is an input, not a stored path
            result = DataResult.from_dict(stored)
            return result.stored_paths() + ([] if config.tokenizer_name else [result.tokenizer])

        return {**super().store_options(config), "paths": paths}

    def work(self, engine, call: StageCall, folder: Path) -> DataResult:
        result = DataResult(tokenizer=_tokenizer(engine, folder))
        if engine.config.builtin_corpus:
            _builtin_data(engine, folder, result)
        return result

    def headline(self, result: DataResult, call: StageCall, config) -> str:
        first = next(iter((result.floors or {}).values()), None)
        if not first or first.get("bayes_loss") is None:
            return "tokenizer ready"
        return (
            f"{result.num_train_sentences:,} sentences; unigram entropy {result.unigram_entropy:.3f} nats, "
            f"Bayes-optimal masked-token loss {first['bayes_loss']:.3f} nats"
        )

    def absorb(self, shared, call: StageCall, result: DataResult) -> None:
        shared.corpus = result


def _tokenizer(engine, folder: Path) -> str:
    """A deterministic word-level vocabulary for the built-in language; the user's tokenizer; or, for other data,
    WordPiece trained on the training text (as run_mlm does)."""
    config = engine.config
    if config.tokenizer_name:
        return config.tokenizer_name
    model_max_length = config.max_seq_length * max(config.length_multiples)
    if config.builtin_corpus:
        from ...training.tokenizer import word_level_tokenizer

        tokenizer = word_level_tokenizer(config.builtin_vocabulary(), model_max_length=model_max_length)
    else:
        from ...training.arguments import ModelArguments
        from ...training.pretrain import load_raw_datasets, text_column
        from ...training.tokenizer import train_wordpiece_tokenizer

        raw, _ = load_raw_datasets(user_corpus_arguments(config), ModelArguments(), seed=0)
        column = text_column(raw["train"], None)
        tokenizer = train_wordpiece_tokenizer(
            raw["train"][column], vocab_size=config.tokenizer_vocab_size, model_max_length=model_max_length
        )
    tokenizer.save_pretrained(folder / "tokenizer")
    return engine.store.relative(folder / "tokenizer")


def _builtin_data(engine, folder: Path, result: DataResult) -> None:
    """The built-in corpus's files, evaluation blocks and floors, into `result`."""
    from transformers import AutoTokenizer

    from ..mlm_eval import pack_blocks

    config, store = engine.config, engine.store
    corpus = folder / "corpus"
    corpus.mkdir()
    train = config.builtin_sentences(config.builtin_num_sentences, CORPUS_SEED)
    (corpus / "train.txt").write_text("".join(s.text + "\n" for s in train))
    held_out = config.builtin_sentences(config.eval_sentences, EVAL_SENTENCES_SEED)
    (corpus / "validation.txt").write_text("".join(s.text + "\n" for s in held_out))
    tokenizer = AutoTokenizer.from_pretrained(store.resolve(result.tokenizer))
    language = config.corpus_language()
    blocks, floors = {}, {}
    for multiple in config.length_multiples:
        packed = pack_blocks(
            [list(s.words) for s in held_out],
            tokenizer,
            config.max_seq_length * multiple,
            config.mlm_probability,
            EVAL_MASK_SEED,
            language,
        )
        path = folder / f"blocks_x{multiple}.npz"
        packed.save(path)
        blocks[str(multiple)] = store.relative(path)
        floors[str(multiple)] = packed.floors()
    result.train_file = store.relative(corpus / "train.txt")
    result.validation_file = store.relative(corpus / "validation.txt")
    result.blocks, result.floors, result.num_train_sentences = blocks, floors, len(train)
    if language is not None:
        result.unigram_entropy = language.unigram_entropy()
        result.expected_sentence_length = language.expected_length()


STAGE = DataStage()

__all__ = ["STAGE", "DataResult", "DataStage"]

"""Train a BERT-style WordPiece tokenizer on the training text, so pretraining from scratch needs no download."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import BertTokenizerFast

from ..errors import InvalidInputError

logger = logging.getLogger(__name__)

# BERT's special tokens. [PAD] first so that pad_token_id == 0, which is PEBertConfig's (and BERT's) default.
SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")


def _batches(texts: Iterable[str], batch_size: int = 1000) -> Iterator[list[str]]:
    batch = []
    for text in texts:
        if text:
            batch.append(text)
        if len(batch) == batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def train_wordpiece_tokenizer(
    texts: Iterable[str],
    vocab_size: int = 8000,
    lowercase: bool = True,
    min_frequency: int = 2,
    model_max_length: int = 512,
) -> BertTokenizerFast:
    """Learn a WordPiece vocabulary from `texts` with the `tokenizers` library and wrap it as a BERT tokenizer.

    The normaliser and pre-tokeniser are BERT's (lowercase, accent stripping with lowercase, punctuation split),
    and the vocabulary is handed to `BertTokenizerFast`, so `save_pretrained` writes a tokenizer that
    `AutoTokenizer.from_pretrained` restores with [CLS] x [SEP] (y [SEP]) templates and token type ids.

    Deterministic: the same texts give the same vocabulary, ids included, in every process. The `tokenizers`
    trainer alone does not (huggingface/tokenizers#1794): it numbers the continuing-subword tokens ("##e") in
    hash-map order, and those ids break ties between equally frequent merges. Declaring every "##" + character of
    the text up front, in sorted order, fixes their ids before training.
    """
    texts = texts if isinstance(texts, (list, tuple)) else list(texts)
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=lowercase, clean_text=True, handle_chinese_chars=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    alphabet = set()
    for batch in _batches(texts):
        alphabet.update(backend.normalizer.normalize_str("".join(batch)))
    continuing = [f"##{character}" for character in sorted(alphabet) if not character.isspace()]
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=[*SPECIAL_TOKENS, *continuing],
        continuing_subword_prefix="##",
        show_progress=False,
    )
    backend.train_from_iterator(_batches(texts), trainer=trainer)
    vocab = backend.get_vocab()
    if len(vocab) <= len(SPECIAL_TOKENS):
        raise InvalidInputError("The tokenizer learned no vocabulary: the training text is empty.")
    logger.info("Trained a WordPiece tokenizer with %d entries (asked for %d).", len(vocab), vocab_size)
    # BertTokenizerFast rebuilds the very same pipeline from the vocabulary (normaliser, pre-tokeniser,
    # [CLS]/[SEP] post-processor, WordPiece decoder), which is what makes the saved files a standard BERT tokenizer.
    return BertTokenizerFast(vocab=vocab, do_lower_case=lowercase, model_max_length=model_max_length)


def word_level_tokenizer(words: Iterable[str], model_max_length: int = 512) -> BertTokenizerFast:
    """A BERT tokenizer whose vocabulary is exactly `words` (plus BERT's special tokens), one token per word.

    For a corpus whose words are all known in advance (the built-in lexicon) this replaces WordPiece training: it is
    deterministic by construction (sorted vocabulary, no training) and every word is one token, so a masked token is
    a masked word. Words must be lowercase and contain no punctuation other than a lone punctuation mark ("." is
    its own word, as BERT's pre-tokeniser splits it off); anything else would not survive pre-tokenisation.
    """
    vocabulary = sorted(set(words))
    bad = [w for w in vocabulary if not w or w != w.lower() or (len(w) > 1 and not w.isalpha())]
    if bad:
        raise ValueError(
            f"Words {bad[:5]} cannot be single BERT tokens: use lowercase alphabetic words or a lone punctuation mark."
        )
    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *vocabulary])}
    return BertTokenizerFast(vocab=vocab, do_lower_case=True, model_max_length=model_max_length)


__all__ = ["SPECIAL_TOKENS", "train_wordpiece_tokenizer", "word_level_tokenizer"]

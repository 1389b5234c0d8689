"""A word-level tokenizer fitted to the caption vocabulary.

Captions are a small, closed language (colors, features, coordinates), so a word-level
vocabulary of a few hundred tokens beats a 49k-token BPE for a 24x24 model: every word is
one token and the embedding table stays tiny.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
MAX_LENGTH = 224  # the full coordinate template is 130-200 tokens


def _pre_tokenizer() -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.BertPreTokenizer()  # splits on whitespace and punctuation


def fit_tokenizer(texts: Iterable[str]) -> PreTrainedTokenizerFast:
    """Every word in `texts` gets a token, in sorted order, so the same texts give the same ids."""
    normalizer = normalizers.Lowercase()
    words: set[str] = set()
    for text in texts:
        pieces = _pre_tokenizer().pre_tokenize_str(normalizer.normalize_str(text))
        words.update(piece for piece, _ in pieces)
    return _word_level([PAD, UNK, BOS, EOS, *sorted(words)])


def with_words(
    tokenizer: PreTrainedTokenizerFast, size: int, words: Iterable[str]
) -> PreTrainedTokenizerFast:
    """The first `size` tokens of `tokenizer` (its base vocabulary) and then `words`, each a
    whole word of its own as the base's words are, so existing ids never move."""
    base = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])[:size]
    return _word_level([token for token, _ in base] + list(words))


def _word_level(tokens: list[str]) -> PreTrainedTokenizerFast:
    normalizer = normalizers.Lowercase()
    vocab = {token: i for i, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tokenizer.normalizer = normalizer
    tokenizer.pre_tokenizer = _pre_tokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A {EOS}", special_tokens=[(BOS, vocab[BOS]), (EOS, vocab[EOS])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        pad_token=PAD,
        unk_token=UNK,
        bos_token=BOS,
        eos_token=EOS,
        model_max_length=MAX_LENGTH,
    )


def unknown_words(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> Counter[str]:
    """Words of `texts` the tokenizer has no token for (they would read as [UNK]), with how
    many texts use each: reported, so a caption's meaning is never dropped in silence."""
    backend = tokenizer.backend_tokenizer
    vocab = tokenizer.get_vocab()
    found: Counter[str] = Counter()
    for text in texts:
        normalized = backend.normalizer.normalize_str(text)
        pieces = {piece for piece, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)}
        found.update(piece for piece in pieces if piece not in vocab)
    return found


def reads_every_word(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str]) -> list[bool]:
    """For each text: has the tokenizer a token for each of its words?"""
    return [not unknown_words(tokenizer, [text]) for text in texts]

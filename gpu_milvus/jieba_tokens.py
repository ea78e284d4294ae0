"""Milvus's jieba tokenizer (tantivy-binding's ``jieba_tokenizer.rs``) through the jieba
package, which the server's jieba-rs ports: the same dictionary, DAG and HMM segmentation,
and search mode (each word's 2- and 3-character dictionary words, then the word). Every
token is kept, spaces and punctuation included; a token's position is its first character's
index in the text, as the server's.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from typing import Any

_LOCK = threading.Lock()


@dataclass(frozen=True)
class JiebaConfig:
    """A jieba tokenizer's ``dict`` (the default dictionary and added words), ``mode`` and
    ``hmm``."""

    search: bool = True
    hmm: bool = True
    default_dict: bool = True
    words: tuple[str, ...] = ()


def parse(params: dict[str, Any]) -> JiebaConfig:
    """The tokenizer's params, with the server's errors (ValueError)."""
    words: list[str] = []
    default = True
    if "dict" in params:
        if not isinstance(params["dict"], list):
            raise ValueError("jieba tokenizer dict must be array")
        if not all(isinstance(w, str) for w in params["dict"]):
            raise ValueError("jieba tokenizer dict item must be string")
        if "_extend_default_" in params["dict"]:
            raise ValueError("the _extend_default_ jieba dictionary is not available in gpu_milvus")
        default = "_default_" in params["dict"]
        words = [w for w in params["dict"] if w != "_default_"]
    mode = params.get("mode", "search")
    if not isinstance(mode, str):
        raise ValueError("jieba tokenizer mode must be string")
    if mode not in ("exact", "search"):
        raise ValueError('jieba tokenizer mode must be "exact" or "search"')
    hmm = params.get("hmm", True)
    if not isinstance(hmm, bool):
        raise ValueError("jieba tokenizer mode must be boolean")  # the server's wording
    return JiebaConfig(mode == "search", hmm, default, tuple(words))


@functools.lru_cache(maxsize=32)
def _segmenter(default_dict: bool, words: tuple[str, ...]) -> Any:
    """A jieba Tokenizer: the default dictionary (or none) plus ``words``, each with the
    frequency that cuts it out whole (jieba-rs's ``add_word`` without a frequency). jieba
    is imported here, at the first use of a jieba analyzer."""
    import jieba

    logging.getLogger("jieba").setLevel(logging.WARNING)  # no "Building prefix dict" chatter
    seg = jieba.Tokenizer()
    with _LOCK:
        if default_dict:
            seg.initialize()
        else:  # jieba-rs's Jieba::empty()
            seg.FREQ, seg.total, seg.initialized = {}, 0, True
        for word in words:
            seg.add_word(word, None if seg.total else 1)
        seg.total = seg.total or 1  # no words at all: every character alone
    return seg


def tokenize(config: JiebaConfig, text: str) -> list[tuple[str, int, int]]:
    """Each token with its first and past-last character indices."""
    seg = _segmenter(config.default_dict, config.words)
    mode = "search" if config.search else "default"
    return list(seg.tokenize(text, mode=mode, HMM=config.hmm))

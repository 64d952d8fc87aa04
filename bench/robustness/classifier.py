"""Loading a trained persona classifier and scoring texts with it (inference side)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charbench.errors import CharbenchError

LABELS_FILE = "labels.json"
_loaded: dict[str, PersonaClassifier] = {}


@dataclass
class PersonaClassifier:
    model: Any
    tokenizer: Any
    labels: list[str]
    path: str
    max_length: int = 512
    # one prediction at a time: scorers call this from many threads, and a fast tokenizer with
    # truncation/padding set is not safe to share ("Already borrowed")
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def predict(self, texts: list[str], batch_size: int = 32) -> list[dict[str, float]]:
        """Probabilities over the labels, one dict per text."""
        with self.lock:
            return self._predict(texts, batch_size)

    def _predict(self, texts: list[str], batch_size: int) -> list[dict[str, float]]:
        import torch

        results = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                truncation=True,
                max_length=self.max_length,
                padding=True,
                return_tensors="pt",
            )
            with torch.inference_mode():
                probs = torch.softmax(self.model(**batch).logits.float(), dim=-1)
            results += [dict(zip(self.labels, row.tolist())) for row in probs]
        return results


def read_labels(path: str | Path) -> list[str]:
    labels_file = Path(path) / LABELS_FILE
    if not Path(path).is_dir():
        raise CharbenchError(f"classifier directory {path} does not exist: train one with `charbench classifier train`")
    if not labels_file.is_file():
        raise CharbenchError(f"{path} has no {LABELS_FILE} (label map): it is not a charbench classifier; retrain it")
    labels = json.loads(labels_file.read_text())["labels"]
    if not labels:
        raise CharbenchError(f"{labels_file}: the label list is empty")
    return labels


def load_classifier(path: str | Path) -> PersonaClassifier:
    from bench.models.loader import from_transformers, load_lock

    key = str(Path(path).resolve())
    with load_lock:  # the loader's lock: transformers' lazy imports are not thread-safe (see from_transformers)
        if key not in _loaded:
            AutoModelForSequenceClassification, AutoTokenizer = from_transformers(
                "AutoModelForSequenceClassification", "AutoTokenizer"
            )
            labels = read_labels(path)
            model = AutoModelForSequenceClassification.from_pretrained(path).eval()
            tokenizer = AutoTokenizer.from_pretrained(path)
            max_length = int(json.loads((Path(path) / LABELS_FILE).read_text()).get("max_length", 512))
            _loaded[key] = PersonaClassifier(model, tokenizer, labels, key, max_length)
        return _loaded[key]

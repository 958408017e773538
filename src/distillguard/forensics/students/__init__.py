"""Student models trained on a teacher's answers, to test whether they inherit its watermark.

`NGramStudent` (numpy) and the tiny transformer (`train_tinygpt`, needs the optional torch)
share `WordTokenizer` and one sampling loop, `generate`, with llama-cpp-style logits processors.
"""

from __future__ import annotations

from distillguard.forensics.students.evaluate import Perplexity, perplexity
from distillguard.forensics.students.generate import (
    BatchedModel,
    LogitsProcessor,
    NextTokenModel,
    generate,
    generate_ids,
    generate_ids_many,
    generate_many,
)
from distillguard.forensics.students.ngram import NGramStudent
from distillguard.forensics.students.tinygpt import (
    StudentUnavailable,
    TinyGPTConfig,
    TrainingReport,
    torch_available,
    train_tinygpt,
)
from distillguard.forensics.students.tokenizer import (
    BOS,
    EOS,
    SEP,
    UNK,
    WordTokenizer,
    detokenize,
    tokenize,
)

__all__ = [
    "BOS",
    "BatchedModel",
    "EOS",
    "SEP",
    "UNK",
    "LogitsProcessor",
    "NGramStudent",
    "NextTokenModel",
    "Perplexity",
    "StudentUnavailable",
    "TinyGPTConfig",
    "TrainingReport",
    "WordTokenizer",
    "detokenize",
    "generate",
    "generate_ids",
    "generate_ids_many",
    "generate_many",
    "perplexity",
    "tokenize",
    "torch_available",
    "train_tinygpt",
]

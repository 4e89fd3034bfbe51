"""Knowledge base data (corpus/, village/, eval/) plus a thin CLI: ``python -m knowledge``.

Retrieval lives beside its data in :mod:`knowledge.retriever`.
"""
from knowledge.retriever import (  # noqa: F401
    Answer, Entry, Hit, KnowledgeBase, KnowledgeFormatError, build_index, evaluate, ingest,
    load_entry,
)

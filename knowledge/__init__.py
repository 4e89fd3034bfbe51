"""Knowledge base data (corpus/, village/, eval/) plus a thin CLI: ``python -m knowledge``.

All logic lives in :mod:`bot.knowledge_base`; this package only delegates to it.
"""
from bot.knowledge_base import (  # noqa: F401
    Answer, Entry, Hit, KnowledgeBase, KnowledgeFormatError, build_index, evaluate, ingest,
    load_entry,
)

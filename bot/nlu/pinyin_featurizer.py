"""A Rasa featurizer that adds toneless-pinyin features beside the characters.

Speech recognition on small models confuses homophones (积分 → 鸡分, 低保 → 地保).
Each token is replaced by its toneless pinyin syllables ("积分" → "ji fen") before the
usual bag-of-words counting, so a homophone slip yields exactly the features of the
intended word. Word uni- and bi-grams over syllables make the features independent of
how Jieba happened to split the (mis)recognised text.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Text

from pypinyin import Style, lazy_pinyin
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.shared.nlu.constants import ACTION_NAME, INTENT, INTENT_RESPONSE_KEY, TEXT


@lru_cache(maxsize=65536)
def to_pinyin(token: str) -> str:
    """'积分' → 'ji fen'; non-Chinese text is kept as it is."""
    return " ".join(lazy_pinyin(token, style=Style.NORMAL, errors="default"))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class PinyinFeaturizer(CountVectorsFeaturizer):
    """CountVectorsFeaturizer over toneless pinyin syllables (word analyzer, 1-2 grams)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        config = CountVectorsFeaturizer.get_default_config()
        config.update({"analyzer": "word", "min_ngram": 1, "max_ngram": 2})
        return config

    def _process_tokens(self, tokens: List[Text], attribute: Text = TEXT) -> List[Text]:
        tokens = super()._process_tokens(tokens, attribute)
        if attribute in (INTENT, ACTION_NAME, INTENT_RESPONSE_KEY):
            return tokens
        return [to_pinyin(token) for token in tokens]

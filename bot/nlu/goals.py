"""What a sentence asks for, where the words decide it more reliably than the language model.

The model hears "隔壁天天烧秸秆，呛得人…这不是要扣分吗" as a complaint (it mostly is) and "烧秸秆要扣多少
分" as a policy question for the knowledge base. Both ask what the village's points rules say:
the answer is in the village's own rule table (``action_points_rules``), which also offers to
report a problem the sentence describes. Pure functions of the text, used by the
dialogue-control decision (bot/nlu/control.py).
"""
from __future__ import annotations

import re

# How many points a deed earns or costs ("扣多少分", "加几分", "给几分", "罚多少"), or whether it
# does ("扣不扣分", "要扣分", "会扣分吗", "能加分不", "算不算分", "不该扣分吗").
_AMOUNT = re.compile(r"(扣|加|罚|减|给|记|奖励?)(多少|几)(个)?分?")
_WHETHER = re.compile(r"(扣|加)不(扣|加)分|(要|会|能|该|得|算)(扣|加|记)分|(扣|加)分(吗|嘛|不|没有?)$|算不算分|给不给分")
_POINTS = re.compile(r"分")


def asks_points_rule(text: str) -> bool:
    """The sentence asks what the points rules say about a deed ("烧秸秆要扣多少分",
    "这不是要扣分吗"), not about a household's own points ("俺家扣过分没有", "为啥扣我分")."""
    flat = re.sub(r"[\s，,。.!！?？、…~～]+", "", text or "")
    if not _POINTS.search(flat):
        return False
    return bool(_AMOUNT.search(flat) or _WHETHER.search(flat))


# An explicit command word at the start of the sentence, as the README teaches staff to say it
# ("记录走访 黄玉珍家 …"): what follows is the visit's note, whatever policy words it mentions.
_COMMANDS = ((re.compile(r"^(记录走访|走访记录|登记走访|记个走访|记一下走访|记一条走访|添加走访|写一条走访)"), "action_log_visit"),)


def command_action(text: str) -> str | None:
    """The action an explicit command word at the start of the sentence names, or None."""
    flat = (text or "").strip()
    for pattern, action in _COMMANDS:
        if pattern.match(flat):
            return action
    return None

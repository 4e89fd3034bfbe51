"""Which village points rule a sentence names, in everyday words ("扫大街" is 义务清扫,
"烧麦秸" is 焚烧秸秆): used by staff awards and by villagers' questions about the rules."""
from __future__ import annotations

import re
from typing import Optional, Sequence, Tuple

from actions import parsing
from actions.common import Turn
from bot import points
from bot.models import PointsRule

#: Everyday words for each rule's activity (the canonical ``PointsRule.activity`` values of the
#: village's rule table); a rule's own activity and name always count.
RULE_WORDS = {
    "义务清扫": ("清扫", "打扫", "扫地", "扫大街", "义务劳动", "大扫除", "搞卫生", "扫街", "扫路", "扫道", "扫雪",
             "义务扫", "扫村道", "扫马路", "扫净", "扫干净", "扫得干净", "清河", "清沟", "清淤", "掏沟", "清理",
             # "跟着扫了村里的小广场"
             "扫了", "扫广场", "扫场子", "扫院子", "扫操场",
             # snow cleared off the roads ("把村道积雪铲了个干净")
             "铲雪", "积雪", "除雪", "清雪",
             # the road named first ("村道是她扫的")
             "扫的"),
    "志愿服务": ("志愿", "义工", "当志愿者", "帮忙", "帮工", "义务帮", "去帮", "帮了", "出工", "出力"),
    "垃圾分类": ("分类", "垃圾分得", "分垃圾", "垃圾分开", "分拣", "干湿分开", "分得清", "分得好", "分得干净",
             # kinds of rubbish kept apart ("烂菜叶子跟塑料袋分开倒")
             "分开倒", "分开扔", "分开丢", "分开放", "分着倒", "分着扔"),
    "矛盾调解": ("调解", "劝架", "化解矛盾", "说和", "说合", "劝和", "调和", "调停", "调成", "拉架", "劝开", "化解纠纷",
             # "把闹离婚的那对小两口劝好了", "劝住了", "给说通了"
             "劝好", "劝住", "劝回", "说通", "劝下来"),
    "照顾老人": ("照顾", "照看", "孝老", "孝敬", "伺候", "陪护", "敬老院", "养老院", "幸福院", "陪老人", "帮老人",
             # meals cooked or brought for someone ("帮隔壁瘫着的老汉做了一礼拜饭")
             "做饭", "烧饭", "送饭", "端饭", "顿饭"),
    "见义勇为": ("救人", "勇为", "做好事"),
    "移风易俗": ("简办", "新办", "移风", "红白事", "不摆大席", "不摆酒", "少摆", "不大操大办", "不铺张", "不收彩礼",
             "不要彩礼", "零彩礼", "彩礼", "酒席", "大摆", "摆酒", "大操大办", "办得简单", "简简单单", "从简"),
    "塑料瓶": ("瓶子", "饮料瓶", "矿泉水瓶", "空瓶", "塑料瓶子", "瓶瓶罐罐"),
    "废纸": ("报纸", "纸壳", "纸箱", "纸板", "旧纸", "旧书", "纸皮", "硬纸", "书本子"),
    "乱倒垃圾": ("乱倒", "乱扔", "乱堆", "乱放", "乱丢", "倒垃圾", "扔垃圾", "丢垃圾", "倒脏水",
             "垃圾倒", "垃圾扔", "垃圾丢", "垃圾堆", "倒进河", "倒进沟", "倒到河", "倒到沟",
             "沟里倒", "河里倒", "塘里倒", "渠里倒"),
    "焚烧秸秆": ("烧秸秆", "焚烧", "烧垃圾", "烧麦秸", "烧稻草", "点秸秆", "点火烧", "烧玉米秆", "烧麦茬", "烧荒",
             # set alight, said with 点 or 放火 ("又点了地头的麦秸")
             "点麦秸", "点稻草", "点玉米秆", "点麦草", "烧麦草", "烧稻秆", "烧茬子", "放火烧", "点荒",
             # old mulch film set alight in the field ("在地头点了一大堆旧地膜，黑烟滚滚的")
             "地膜", "黑烟滚滚", "烧塑料"),
    "吵闹滋事": ("吵闹", "闹事", "滋事", "耍酒疯", "打架", "扰民", "撒酒疯", "发酒疯", "酒疯", "骂街", "骂人", "骂架",
             "吵架", "打骂", "闹酒", "寻衅"),
}


#: Words that name a rule only when no deed of any rule is said: helping out with something the
#: rules do not name ("在村委会帮着登记打疫苗的老人") is volunteering.
FALLBACK_WORDS = {"志愿服务": ("帮着", "帮把手", "搭把手", "打下手")}


#: Deeds said with the thing before the doing ("把村道从头扫到尾"): the rule they name.
RULE_PATTERNS = {"义务清扫": re.compile(r"(村道|道|路|街|广场|场院|院子|巷子)[^，,。？?！!]{0,6}扫")}


def rule_words(rule: PointsRule) -> Tuple[str, ...]:
    return (rule.activity, rule.name, *RULE_WORDS.get(rule.activity, ()), *(getattr(rule, "aliases", None) or ()))


def match_rule(rules: Sequence[PointsRule], text: str, activity: Optional[str] = None) -> Optional[PointsRule]:
    """The rule the words name: the NLU's ``activity`` first, else the longest rule word said."""
    if activity:
        exact = [r for r in rules if activity in (r.activity, r.name)]
        if len(exact) == 1:
            return exact[0]
    best: Optional[Tuple[int, PointsRule]] = None
    for rule in rules:
        for word in rule_words(rule):
            if word and word in (text or "") and (best is None or len(word) > best[0]):
                best = (len(word), rule)
    if best is None:
        # Spoken words come apart: "扫一回街" for 扫街, "扫了全村的道" for 扫道, "倒了一车垃圾" for 倒垃圾.
        for rule in rules:
            for word in rule_words(rule):
                gap = {2: 4, 3: 6}.get(len(word or ""))
                if gap and re.search(f"{re.escape(word[0])}[^，,。？?！!]{{1,{gap}}}{re.escape(word[1:])}", text or ""):
                    return rule
        for rule in rules:
            pattern = RULE_PATTERNS.get(rule.activity)
            if pattern is not None and pattern.search(text or ""):
                return rule
        for rule in rules:
            if any(word in (text or "") for word in FALLBACK_WORDS.get(rule.activity, ())):
                return rule
    return best[1] if best else None


def names_rule(turn: Turn) -> bool:
    """The sentence names one of the village's points rules (its everyday words included)."""
    with turn.session() as s:
        return match_rule(points.rules(s, turn.actor.village_id), turn.text) is not None


def tells_staff_award(turn: Turn) -> bool:
    """A staff member books points by a rule the sentence names ("三十五号…拿过来一百五十个矿泉水瓶",
    "31号…把那档子事给说和了，该给他加分"), whatever else the model heard in it (a look-up, a visit,
    a report): read back as an award."""
    return turn.actor.is_staff and parsing.tells_award(turn.text) and names_rule(turn)

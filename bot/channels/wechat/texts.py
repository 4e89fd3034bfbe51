"""Everything the WeChat channel says itself (Rasa's answers come from the domain and actions).

The replies every channel shares — busy, failed turn, too long, empty — are in
:mod:`bot.channels.turn`.
"""
from __future__ import annotations

from bot.channels.alerts import (  # noqa: F401 - what every channel says when an alert is taken
    ACK_ALREADY_YOURS,
    ACK_BUTTON,
    ACK_CLOSED,
    ACK_DONE,
    ACK_NOT_YOURS,
    ACK_TAKEN,
    ACK_UNKNOWN,
)

WELCOME = "您好，我是乡音村务助手。查积分、反映问题、问政策，直接打字或者发语音跟我说就行。"
GREETING = "{name}，您好！{welcome}\n{help}"
HOW_TO_LINK = ("先绑定身份：找村委会要个绑定码，然后发“绑定 绑定码”，比如“绑定 123456”。"
               "微信不会把手机号告诉我们，所以只能用绑定码绑定。")
HELP = ("您可以直接打字或者发语音问我，比如“我家有多少积分”“村口路灯坏了”。\n"
        "发“查积分”看积分，发“我反映的事”看办理进度，\n"
        "发“语音回复”打开或关掉语音回复，发“绑定 绑定码”绑定身份，\n"
        "网格员和镇里值班的同志发“我的待办”看待办。")
LINK_USAGE = "请在“绑定”后面加上六位绑定码，比如：绑定 123456"
LINKED = "绑定好了，{name}！现在可以直接问我，比如“我家有多少积分”。"
PHONE_LINK_UNAVAILABLE = ("微信不会把您的手机号告诉我们，所以不能用手机号绑定。"
                          "请找村委会要个六位绑定码，然后发“绑定 绑定码”，比如“绑定 123456”。")
PHONE_NOT_FOUND = PHONE_LINK_UNAVAILABLE  # (WeChat never vouches for a phone number: see accounts.py)
NEED_LINK = "请先绑定身份。" + HOW_TO_LINK
STAFF_ONLY = "“我的待办”是给网格员和镇里值班的同志用的。"
QUEUE_EMPTY = "您手上没有待办的诉求。"
QUEUE = "您有{count}件待办：\n{lines}"
QUEUE_LINE = "{ticket}号 {state} {category} {place}：{description}"
TOWNSHIP_QUEUE_EMPTY = "镇里现在没有待办的上报诉求。"
TOWNSHIP_QUEUE = "镇里有{count}件上报的诉求：\n{lines}"
TOWNSHIP_QUEUE_LINE = "{ticket}号 {village}{category} {place}：{description}{overdue}"
OVERDUE = "（已超时）"
VOICE_ON = "好的，以后我会同时发语音。再发“语音回复”就关掉。"
VOICE_OFF = "好的，语音回复关掉了。"
VOICE_NOT_HERE = "企业微信里暂时发不了语音回复，我还是打字回复您。"
RATE_LIMITED = "您发得太快了，请歇一分钟再发。"
HEARD = "我听到的是：{text}"
VOICE_UNAVAILABLE = "不好意思，现在还听不了语音，请打字跟我说。"
VOICE_UNREADABLE = "这段语音我打不开，请再录一次，或者打字。"
VOICE_EMPTY = "没听清，请再说一遍，或者打字。"
PHOTO_NOT_NEEDED = "照片我看不懂。要反映问题的话，先打字或发语音说说是什么事，再发照片。"
PHOTO_SAVED = "照片收到了，这件事记下来以后会一起存上。"
PHOTO_ATTACHED = "照片已经加到{ticket}号诉求里了。"
PHOTO_UNREADABLE = "这张照片我没收到，请再发一次。"
LOCATION_NOT_KEPT = "位置收到了。要反映问题的话，请打字说说是在哪儿、什么事，比如“村口路灯坏了”。"
NOT_SUPPORTED = "这个我看不懂。有事请直接打字或者发语音跟我说。"
CHOICES = "可以回复：{options}"
CHOICE_SEPARATOR = "、"

# Emergency alerts on WeCom carry a button; pressing it takes charge (bot/emergency.py: acknowledge).
ALERT_TITLE = "紧急求助"
ACK_PRESSED = "已处理"  # what the button turns into once pressed
TEMPLATE_CUT = "…"  # ends a notice cut to the template field's length

# What the menu buttons and the commands 查积分 and 我反映的事 say on the user's behalf
# (menu keys: see bot/channels/wechat/handlers.py).
ASK_POINTS = "我有多少积分"
ASK_GRIEVANCES = "我反映的事办得怎么样了"

NOT_CONFIGURED_HELP = """\
微信公众号通道还没有启用：没有设置 AppID 和 Token。
启用方法：在公众号后台“设置与开发 → 基本配置 → 服务器配置”里填好服务器地址和令牌(Token)，
然后设置环境变量 XIANGYIN_WECHAT_APP_ID、XIANGYIN_WECHAT_TOKEN、XIANGYIN_WECHAT_APP_SECRET
（安全模式再加 XIANGYIN_WECHAT_AES_KEY；都可以用 *_FILE 指向文件），再运行 python -m bot.channels.wechat。

The WeChat channel is not enabled: no AppID and Token are configured.
Set XIANGYIN_WECHAT_APP_ID, XIANGYIN_WECHAT_TOKEN and XIANGYIN_WECHAT_APP_SECRET (and
XIANGYIN_WECHAT_AES_KEY for 安全模式; each may be a *_FILE), then run `python -m bot.channels.wechat`."""
CONFIG_ERROR = "配置有误 / configuration error: {error}"
RUNNING = "==> WeChat callback server on http://{listen}:{port}{path}; Rasa at {rasa_url}. Ctrl-C to stop."

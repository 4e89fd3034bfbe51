"""Everything the Telegram bot says itself (Rasa's answers come from the domain and actions).

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

WELCOME = "您好，我是乡音村务助手。查积分、反映问题、问政策，直接打字或者发语音就行。"
GREETING = "{name}，您好！{welcome}\n{help}"
HOW_TO_LINK = ("先绑定身份：点下面的“分享我的手机号”按钮；"
               "或者找村委会要个绑定码，发“/link 绑定码”。")
HELP = ("您可以直接打字或者发语音问我，比如“我家有多少积分”“村口路灯坏了”。\n"
        "/points 查积分\n/mygrievances 我反映的事\n/voice 打开或关掉语音回复\n"
        "/link 绑定码 绑定身份\n/myqueue 网格员和镇里的待办")
SHARE_PHONE = "分享我的手机号"
LINK_USAGE = "请在 /link 后面加上绑定码，比如：/link 123456"
LINKED = "绑定好了，{name}！现在可以直接问我，比如“我家有多少积分”。"
NOT_OWN_CONTACT = "只能用您自己的手机号绑定，请点下面的“分享我的手机号”按钮。"
PHONE_NOT_FOUND = "登记册里没找到这个手机号。请找村委会要个绑定码，发“/link 绑定码”。"
NEED_LINK = "请先绑定身份。" + HOW_TO_LINK
STAFF_ONLY = "这个命令是给网格员和镇里值班人员用的。"
QUEUE_EMPTY = "您手上没有待办的诉求。"
QUEUE = "您有{count}件待办：\n{lines}"
QUEUE_LINE = "{ticket}号 {state} {category} {place}：{description}"
VOICE_ON = "好的，以后我会同时发语音。再发 /voice 就关掉。"
VOICE_OFF = "好的，语音回复关掉了。"
RATE_LIMITED = "您发得太快了，请歇一分钟再发。"
ASR_UNAVAILABLE = "不好意思，现在还听不了语音，请打字跟我说。"
VOICE_TOO_LONG = "语音太长了，请说短一点，一分钟以内。"
VOICE_UNREADABLE = "这段语音我打不开，请再录一次，或者打字。"
VOICE_EMPTY = "没听清，请再说一遍，或者打字。"
HEARD = "我听到的是：{text}"
PHOTO_SAVED = "照片收到了，这件事记下来以后会一起存上。"
PHOTO_ATTACHED = "照片已经加到{ticket}号诉求里了。"
PHOTO_NOT_NEEDED = "照片我看不懂。要反映问题的话，先打字或发语音说说是什么事，再发照片。"
BUTTON_EXPIRED = "这个按钮已经过期了，请重新问一遍。"

# Emergency alerts carry a button; pressing it takes charge (bot/emergency.py: acknowledge).
TOWNSHIP_QUEUE_EMPTY = "镇里现在没有待办的上报诉求。"
TOWNSHIP_QUEUE = "镇里有{count}件上报的诉求：\n{lines}"
TOWNSHIP_QUEUE_LINE = "{ticket}号 {village}{category} {place}：{description}{overdue}"
OVERDUE = "（已超时）"
NOT_SUPPORTED = "我只能看懂文字和语音。有事请直接打字或者发语音。"

# What the /points and /mygrievances commands say on the user's behalf.
ASK_POINTS = "我有多少积分"
ASK_GRIEVANCES = "我反映的事办得怎么样了"

# Answers that close the questions Rasa asks, offered as buttons (see keyboards.quick_replies).
SATISFACTION_QUESTION = "满意、基本满意或不满意"
SATISFACTION = ("满意", "基本满意", "不满意")
YES, NO = "对", "不对"

NO_TOKEN_HELP = (  # nosec B105 - help text on how to set the token, not a token
    """\
电报（Telegram）机器人还没有启用：没有设置机器人令牌。
启用方法：在 Telegram 里找 @BotFather 创建机器人，拿到令牌后设置环境变量
XIANGYIN_TELEGRAM_TOKEN（或把令牌放进文件，用 XIANGYIN_TELEGRAM_TOKEN_FILE 指向它），
再运行 python -m bot telegram。

The Telegram bot is not enabled: no bot token is configured.
To enable it, create a bot with @BotFather, then set XIANGYIN_TELEGRAM_TOKEN (or put the
token in a file named by XIANGYIN_TELEGRAM_TOKEN_FILE) and run `python -m bot telegram`.
Set XIANGYIN_TELEGRAM_WEBHOOK_URL (and XIANGYIN_TELEGRAM_WEBHOOK_SECRET) for webhook mode.""")
CONFIG_ERROR = "配置有误 / configuration error: {error}"
BAD_TOKEN = "机器人令牌无效 / the bot token was rejected by Telegram."  # nosec B105 - a message about the token, not one
API_UNREACHABLE = "连不上 Telegram 服务器 / cannot reach the Telegram Bot API at {url}: {error}"
RUNNING = "==> Telegram bot running ({mode}); Rasa at {rasa_url}. Ctrl-C to stop."

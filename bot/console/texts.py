"""Every sentence the console says when something cannot be done, and the mapping from the
domain's exceptions (whose messages are English, for logs) to them. Short, plain Chinese; a
refusal never says whether the thing exists (the domain answers a missing record and a
forbidden one alike)."""
from __future__ import annotations

from bot import care, emergency, followups, grievances, notices, points
from bot.identity import AccessDenied

LOGIN_WRONG = "用户名或密码不对，请再试一次。"
LOGIN_LOCKED = "密码错的次数太多，这个账号先锁定一会儿，请过一刻钟再试，或者找村干部。"
LOGIN_NOT_CONSOLE = "这个账号不能登录工作台。村民请用语音小盒子、电报或者打村委会电话。"
LOGIN_FIRST = "请先登录。"
LOGIN_EMPTY = "请填写用户名和密码。"
LOGGED_OUT = "已经退出登录。"
EXPIRED_FORM = "这个页面已经过期了，请刷新页面后再提交一次。"
BAD_FORM = "提交的内容看不懂，请回到上一页重新填写。"
NOT_ALLOWED = "您没有权限查看或办理这一项，或者它不存在。"
NOT_FOUND_PAGE = "没有这个页面。请从上面的菜单进入。"
SERVER_ERROR = "出了点问题，刚才的操作没有完成。请再试一次；还不行的话请找村里管电脑的人。"
METHOD_NOT_ALLOWED = "这个页面不能这样打开，请从菜单进入。"

ERROR_TITLES = {400: "请检查填写的内容", 403: "没有权限", 404: "没有找到", 409: "已经有变化了", 500: "出错了"}


class Refusal(Exception):
    """Bad input found by the console itself (an empty field, a number that is not one): the
    message is the Chinese sentence the user sees."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def need(label: str) -> str:
    return f"请填写{label}。"


def choose(label: str) -> str:
    return f"请选择{label}。"


def not_a_number(label: str) -> str:
    return f"{label}要填数字。"


def too_long(label: str, limit: int) -> str:
    return f"{label}太长了，请少于{limit}个字。"


def explain(exc: Exception) -> tuple[int, str]:
    """(HTTP status, the sentence for the user) for an exception raised while handling a request."""
    if isinstance(exc, Refusal):
        return exc.status, exc.message
    if isinstance(exc, AccessDenied):
        return 403, NOT_ALLOWED
    # grievances
    if isinstance(exc, grievances.TicketNotFound):
        return 404, "没有找到这个诉求编号，或者它不归您办理。"
    if isinstance(exc, grievances.NoTownshipStaff):
        return 409, "镇里还没有接收账号，不能上报到镇。请村里直接办理，或者打电话联系镇里。"
    if isinstance(exc, grievances.InvalidTransition):
        return 409, "这个诉求现在的状态不能这样办理，请看一下最新的情况。"
    if isinstance(exc, grievances.GrievanceError):
        return 400, "内容没有填完整，请写清楚后再提交。"
    # emergencies
    if isinstance(exc, emergency.EmergencyClosed):
        return 409, "这条紧急求助已经处理完了。"
    # points
    if isinstance(exc, points.AlreadyCollected):
        by = f"，由{exc.by}发的货" if exc.by else ""
        return 409, f"取货码{exc.code}的东西已经领走了{by}，不能再领一次。"
    if isinstance(exc, points.UnknownPickup):
        return 404, "没有这个取货码，请核对后再输入。"
    if isinstance(exc, points.InsufficientPoints):
        return 409, f"这户的积分不够：需要{exc.needed}分，现在只有{exc.balance}分。"
    if isinstance(exc, points.UnknownRule):
        return 400, "没有这条积分规则，请从列表里选。"
    if isinstance(exc, points.UnknownItem):
        return 400, "积分超市里没有这种商品，请从列表里选。"
    if isinstance(exc, (points.ApplicationClosed, points.AppealClosed)):
        return 409, "这一条已经有人处理过了。"
    if isinstance(exc, points.NotReversible):
        return 409, "这一笔不能更正。"
    if isinstance(exc, points.PointsError):
        return 400, "积分的内容没有填对，请检查后再提交。"
    # care, follow-ups, notices
    if isinstance(exc, care.CareError):
        return 400, "颜色没有变化，或者没写清楚原因。"
    if isinstance(exc, followups.FollowupError):
        return 409, "这个回访已经记录过了。"
    if isinstance(exc, notices.NoticeError):
        return 400, "请写上通知的标题和内容。"
    if isinstance(exc, LookupError):
        return 404, "没有找到这一条，可能已经被删掉或者编号不对。"
    return 500, SERVER_ERROR

"""Interactive terminal chat over Rasa's REST channel, as one demo user.

The terminal is the operator's: it signs its turns with a token minted from the server secret
(``var/secrets/server.key``, readable only by the user who started the servers), so only that
user can chat as a given login from this machine. Remote clients log in with a PIN instead
(``POST /webhooks/rest/login``)."""
from __future__ import annotations

from bot.channels.rasa_client import RasaClient, RasaError
from bot.config import Settings, load_settings

BOT = "乡音"
UNREACHABLE = "服务暂时连不上，请稍后再试。"
GOODBYES = ("再见", "拜拜", "退出")


def render(messages: list[dict]) -> list[str]:
    lines = []
    for message in messages:
        if message.get("text"):
            lines.append(f"{BOT}：{message['text']}")
        for n, button in enumerate(message.get("buttons") or [], start=1):
            lines.append(f"    [{n}] {button.get('title')}")
    return lines


def repl(rasa_url: str, login: str, settings: Settings | None = None) -> None:
    from bot.security.keys import SecretKeyError
    from bot.security.tokens import trusted_client_credentials

    sender = f"cli:{login}"
    try:
        credentials = trusted_client_credentials(settings or load_settings())
    except (OSError, SecretKeyError) as exc:
        print(f"不能读取服务器密钥，无法以 {login} 的身份聊天：{exc}")
        return
    print(f"\n已连接乡音小助手，当前身份：{login}。输入“再见”或按 Ctrl-C 退出。\n")
    last_buttons: list[dict] = []
    with RasaClient(rasa_url, **credentials) as rasa:
        while True:
            try:
                text = input("您：").strip()
            except (EOFError, KeyboardInterrupt):
                print()
                return
            if not text:
                continue
            if text.isdigit() and last_buttons and 1 <= int(text) <= len(last_buttons):
                text = last_buttons[int(text) - 1]["payload"]
            try:
                messages = rasa.send(sender, text)
            except RasaError as exc:
                print(f"{BOT}：{exc.message or f'{UNREACHABLE}（{exc}）'}")
                continue
            last_buttons = [b for m in messages for b in (m.get("buttons") or [])]
            for line in render(messages) or [f"{BOT}：……"]:
                print(line)
            if text in GOODBYES:
                return

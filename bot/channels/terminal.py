"""Interactive terminal chat over Rasa's REST channel, as one demo user."""
from __future__ import annotations

import json
import urllib.request

BOT = "乡音"


def send(rasa_url: str, sender: str, text: str, timeout: float = 60) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode("utf-8")
    request = urllib.request.Request(f"{rasa_url}/webhooks/rest/webhook", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def render(messages: list[dict]) -> list[str]:
    lines = []
    for message in messages:
        if message.get("text"):
            lines.append(f"{BOT}：{message['text']}")
        for n, button in enumerate(message.get("buttons") or [], start=1):
            lines.append(f"    [{n}] {button.get('title')}")
    return lines


def repl(rasa_url: str, login: str) -> None:
    sender = f"cli:{login}"
    print(f"\n已连接乡音小助手，当前身份：{login}。输入“再见”或按 Ctrl-C 退出。\n")
    last_buttons: list[dict] = []
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
            messages = send(rasa_url, sender, text)
        except OSError as exc:
            print(f"{BOT}：服务暂时连不上，请稍后再试。（{exc}）")
            continue
        last_buttons = [b for m in messages for b in (m.get("buttons") or [])]
        for line in render(messages) or [f"{BOT}：……"]:
            print(line)
        if text in ("再见", "拜拜", "退出"):
            return

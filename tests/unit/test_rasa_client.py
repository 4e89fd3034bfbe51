"""The one client of Rasa's HTTP API (bot/channels/rasa_client.py) against a stand-in transport:
what it sends, and every failure mapped to RasaError. Against the running server: every e2e test
(tests/support/conversation.py uses it)."""
from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from bot.channels.rasa_client import AsyncRasaClient, RasaClient, RasaError


def rasa_stub(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/webhooks/rest/webhook":
        body = json.loads(request.content)
        if len(body["message"]) > 5:
            return httpx.Response(413, json={"error": "这句话太长了"})
        if body["message"] == "坏":
            return httpx.Response(500, text="boom")
        if body["message"] == "乱":
            return httpx.Response(200, text="<html>")
        return httpx.Response(200, json=[{"recipient_id": body["sender"], "text": f"收到：{body['message']}"}])
    if request.url.path == "/conversations/telegram:42/tracker":
        assert request.url.params["include_events"] == "NONE"
        return httpx.Response(200, json={"active_loop": {"name": "grievance_form"}})
    return httpx.Response(404)


def test_sync_client():
    with RasaClient("http://rasa/", transport=httpx.MockTransport(rasa_stub)) as rasa:
        assert rasa.send("cli:hh001", "你好") == [{"recipient_id": "cli:hh001", "text": "收到：你好"}]
        assert rasa.active_loop("telegram:42") == "grievance_form"
        with pytest.raises(RasaError) as refused:
            rasa.send("cli:hh001", "太长太长太长")
        assert (refused.value.status, refused.value.message) == (413, "这句话太长了")
        for text, status in (("坏", 500), ("乱", 200)):
            with pytest.raises(RasaError) as broken:
                rasa.send("cli:hh001", text)
            assert broken.value.status == status and broken.value.message is None


def test_async_client_and_unreachable_server():
    def unreachable(request):
        raise httpx.ConnectError("refused", request=request)

    async def scenario():
        async with AsyncRasaClient("http://rasa", transport=httpx.MockTransport(rasa_stub)) as rasa:
            assert (await rasa.send("telegram:42", "你好"))[0]["text"] == "收到：你好"
            assert await rasa.active_loop("telegram:42") == "grievance_form"
        async with AsyncRasaClient("http://rasa", transport=httpx.MockTransport(unreachable)) as rasa:
            with pytest.raises(RasaError) as down:
                await rasa.send("telegram:42", "你好")
            assert down.value.status is None

    asyncio.run(scenario())

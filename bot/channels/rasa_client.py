"""The one client of the Rasa server's HTTP API, for adapters that run outside the server.

The terminal chat and the Telegram bot send every turn as ``POST /webhooks/rest/webhook``
(the REST channel of :mod:`bot.channels.rest`, where the turn pipeline of
:mod:`bot.channels.turn` runs) and read a conversation's state from
``GET /conversations/<sender>/tracker``. Both clients map every failure — connection refused,
timeout, 5xx, a 4xx refusal, a body that is not JSON — to one exception, :class:`RasaError`.

Identity travels as a credential: ``bearer(sender)`` gives the ``Authorization: Bearer`` token
of each turn (the REST channel speaks as the token's sender), and ``api_token`` is passed as
``?token=`` to Rasa's HTTP API. Processes of ours get both from
:func:`bot.security.tokens.trusted_client_credentials`; a remote client logs in instead.

Use :class:`RasaClient` from synchronous code and :class:`AsyncRasaClient` from asyncio code;
both are context managers that own their HTTP connection pool.
"""
from __future__ import annotations

from typing import Any, Callable
from urllib.parse import quote

import httpx

REST_WEBHOOK = "/webhooks/rest/webhook"
DEFAULT_TIMEOUT = 60.0  # seconds; a cold model's first turn can take most of this


class RasaError(Exception):
    """Rasa did not answer the turn.

    ``status`` is the HTTP status (None when no answer came back at all); ``message`` is the
    short Chinese sentence the REST channel gave when it refused the input with a 4xx (too
    long, malformed), ready to show to the user, else None."""

    def __init__(self, detail: str, status: int | None = None, message: str | None = None):
        super().__init__(detail)
        self.status, self.message = status, message


def _tracker_path(sender: str) -> str:
    return f"/conversations/{quote(sender, safe=':')}/tracker"


def _turn_body(sender: str, text: str) -> dict[str, str]:
    return {"sender": sender, "message": text}


class _Credentials:
    def __init__(self, bearer: Callable[[str], str] | None, api_token: str | None):
        self.bearer, self.api_token = bearer, api_token

    def turn_headers(self, sender: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.bearer(sender)}"} if self.bearer else {}

    def api_params(self, **params: str) -> dict[str, str]:
        return {**params, "token": self.api_token} if self.api_token else params


def _json(response: httpx.Response) -> Any:
    """The decoded body of a 2xx answer; RasaError for anything else."""
    if response.status_code >= 400:
        message = None
        if response.status_code < 500:
            try:
                message = (response.json() or {}).get("error")
            except (ValueError, AttributeError):
                message = None
        raise RasaError(f"Rasa answered HTTP {response.status_code}", response.status_code, message)
    try:
        return response.json()
    except ValueError:
        raise RasaError("Rasa's answer is not JSON", response.status_code) from None


def _replies(body: Any) -> list[dict]:
    if not isinstance(body, list):
        raise RasaError("Rasa's answer is not a list of messages")
    return [m for m in body if isinstance(m, dict)]


def _active_loop(tracker: Any) -> str | None:
    return ((tracker or {}).get("active_loop") or {}).get("name") if isinstance(tracker, dict) else None


class RasaClient:
    """Synchronous client (the terminal chat, scripts)."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None,
                 bearer: Callable[[str], str] | None = None, api_token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self._credentials = _Credentials(bearer, api_token)
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> "RasaClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            return _json(self._http.request(method, path, **kwargs))
        except httpx.HTTPError as exc:
            raise RasaError(f"Rasa unreachable: {type(exc).__name__}") from exc

    def send(self, sender: str, text: str) -> list[dict]:
        """One turn: the bot's messages (``text``, ``buttons``, ``image``, ...)."""
        return _replies(self._call("POST", REST_WEBHOOK, json=_turn_body(sender, text),
                                   headers=self._credentials.turn_headers(sender)))

    def tracker(self, sender: str) -> dict:
        return self._call("GET", _tracker_path(sender), params=self._credentials.api_params(include_events="NONE")) or {}

    def active_loop(self, sender: str) -> str | None:
        """The form the conversation is in (``grievance_form``, ...), or None."""
        return _active_loop(self.tracker(sender))


class AsyncRasaClient:
    """Asyncio client (the Telegram bot)."""

    def __init__(self, base_url: str, timeout: float = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None,
                 bearer: Callable[[str], str] | None = None, api_token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self._credentials = _Credentials(bearer, api_token)
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout, transport=transport)

    async def __aenter__(self) -> "AsyncRasaClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs) -> Any:
        try:
            return _json(await self._http.request(method, path, **kwargs))
        except httpx.HTTPError as exc:
            raise RasaError(f"Rasa unreachable: {type(exc).__name__}") from exc

    async def send(self, sender: str, text: str) -> list[dict]:
        """One turn: the bot's messages (``text``, ``buttons``, ``image``, ...)."""
        return _replies(await self._call("POST", REST_WEBHOOK, json=_turn_body(sender, text),
                                         headers=self._credentials.turn_headers(sender)))

    async def tracker(self, sender: str) -> dict:
        return await self._call("GET", _tracker_path(sender), params=self._credentials.api_params(include_events="NONE")) or {}

    async def active_loop(self, sender: str) -> str | None:
        """The form the conversation is in (``grievance_form``, ...), or None."""
        return _active_loop(await self.tracker(sender))

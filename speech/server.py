"""The speech recogniser in a process of its own: ``python -m speech.server [ADDRESS]``.

Loads the Vosk model once (``settings.speech``: ``vosk_model``, grammar and snapping as the
in-process recogniser) and recognises utterances streamed to it over a local socket, in the
Wyoming events of :mod:`speech.protocol`. The Rasa server (and the Telegram and WeChat apps) then
hold no model: their recogniser is :class:`speech.remote.RemoteRecognizer`, a thin client, when
``XIANGYIN_ASR_SERVER`` names this process. `make run` / `python -m bot serve` start it on
``<var_dir>/run/asr.sock`` beside the other servers (:func:`bot.ops.runtime.start_asr_server`).

ADDRESS is a Unix socket path (anything with a ``/``; created with mode 0600, so only this user's
processes may connect) or ``HOST:PORT`` for TCP (bind loopback unless the recogniser must serve
other machines). Default: ``XIANGYIN_ASR_SERVER``, else ``<var_dir>/run/asr.sock``.

Two processes, one command:

* the **supervisor** (what you start) binds the socket and keeps one worker running: a worker that
  exits (a crash in Kaldi, say) is started again after 1, 2, 4 … 30 s. The socket stays bound
  meanwhile, so clients queue instead of failing while a new worker loads the model. SIGTERM,
  SIGINT or SIGHUP stop the worker and the supervisor (a worker also dies with its supervisor);
* the **worker** (``--worker-fd``) serves the inherited socket: one asyncio task per connection
  (each device's utterance is one connection), Vosk's blocking work on a thread pool
  (``--threads``, default the number of cores; Kaldi releases the GIL), so several utterances are
  recognised at once. Each utterance has its own ``KaldiRecognizer`` over the shared model.

A missing model is not a crash: the worker answers every utterance with an ``error`` event
(``model-missing``), which the channels turn into their polite Chinese "cannot listen now", and
tries to load the model again on the next utterance (so ``make model`` needs no restart).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import subprocess  # nosec B404 - the supervisor starts its worker: this interpreter, fixed arguments
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bot.config import Settings, load_settings
from bot.ops.processes import die_with_owner  # SIGTERM to the worker when the supervisor dies
from speech.protocol import (AUDIO_FORMAT, MAX_HEADER_BYTES, Event, ProtocolError, parse_address, read_event,
                             transcript_event)

log = logging.getLogger("speech.server")

SOCKET_NAME = Path("run") / "asr.sock"
RESTART_DELAYS = (1, 2, 4, 8, 15, 30)  # seconds before the 1st, 2nd, … restart of a worker that keeps exiting
STABLE_SECONDS = 60.0  # a worker that ran this long starts the delays afresh when it exits


def default_address(settings: Settings) -> str:
    """``XIANGYIN_ASR_SERVER``, else the Unix socket ``<var_dir>/run/asr.sock``."""
    return settings.speech.asr_server or str(settings.var_dir / SOCKET_NAME)


# --------------------------------------------------------------------------- the worker


class Engine:
    """The process's one Vosk model and recogniser, built on first need (thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = "loading"  # then "ready", or "no-model" (tried again at each utterance)
        self.problem = ""
        self._recognizer: Any = None
        self._lock = threading.Lock()

    def recognizer(self) -> Any:
        """The recogniser; raises (``speech.asr.ModelNotFoundError`` when none is installed) while
        there is no usable model, and tries again at the next call."""
        from speech.asr import Recognizer

        with self._lock:
            if self._recognizer is None:
                started = time.monotonic()
                try:
                    self._recognizer = Recognizer.from_settings(self.settings)
                except Exception as exc:
                    self.state, self.problem = "no-model", str(exc)
                    raise
                self.state, self.problem = "ready", ""
                log.info("Vosk model %s loaded in %.1f s", self.settings.speech.vosk_model,
                         time.monotonic() - started)
            return self._recognizer

    def info(self) -> Event:
        """Wyoming's ``info``, plus ``state`` (loading, ready, no-model) and the ``problem``."""
        ready = self.state == "ready"
        model = {"name": self.settings.speech.vosk_model.name, "installed": ready}
        return Event("info", {"asr": [{"name": "vosk", "installed": ready, "models": [model]}],
                              "state": self.state, "problem": self.problem})


def _error(code: str, text: str) -> Event:
    return Event("error", {"code": code, "text": text})


def _failure(exc: BaseException) -> Event:
    from speech.asr import ModelNotFoundError

    if isinstance(exc, ModelNotFoundError):
        return _error("model-missing", str(exc))
    log.error("recognition failed", exc_info=exc)
    return _error("failed", f"{type(exc).__name__}: {exc}")


class Connection:
    """One client: utterances one after the other, each answered once, at its ``audio-stop``."""

    def __init__(self, engine: Engine, pool: ThreadPoolExecutor, writer: asyncio.StreamWriter) -> None:
        self.engine, self.pool, self.writer = engine, pool, writer
        self.stream: Any = None
        self.failed: Event | None = None  # the answer of an utterance that broke before its end

    async def run(self, fn, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def send(self, event: Event) -> None:
        self.writer.write(event.encode())
        await self.writer.drain()

    def _new_stream(self) -> Any:
        return self.engine.recognizer().start_stream()

    async def audio(self, event: Event) -> None:
        """``audio-start`` or ``audio-chunk``: the utterance starts (if not yet) and takes the piece."""
        if self.failed is not None:
            return  # the rest of a broken utterance: its error goes out at audio-stop
        wrong = {k: event.data[k] for k in AUDIO_FORMAT if k in event.data and event.data[k] != AUDIO_FORMAT[k]}
        if wrong:
            self.failed = _error("bad-request", f"audio must be {AUDIO_FORMAT}, got {wrong}")
            self.drop()
            return
        try:
            if self.stream is None:
                self.stream = await self.run(self._new_stream)
            if event.payload:
                await self.run(self.stream.accept, event.payload)
        except Exception as exc:  # noqa: BLE001 - answered at audio-stop
            self.failed = _failure(exc)
            self.drop()

    async def stop(self) -> None:
        """``audio-stop``: the transcript of the utterance (of silence if no audio came)."""
        answer, self.failed = self.failed, None
        if answer is None:
            try:
                if self.stream is None:
                    self.stream = await self.run(self._new_stream)
                stream, self.stream = self.stream, None
                answer = transcript_event(await self.run(stream.finish))
            except Exception as exc:  # noqa: BLE001 - the client gets an error event
                answer = _failure(exc)
                self.drop()
        await self.send(answer)

    def drop(self) -> None:
        stream, self.stream = self.stream, None
        if stream is not None:
            stream.close()


async def handle(engine: Engine, pool: ThreadPoolExecutor, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
    conn = Connection(engine, pool, writer)
    try:
        while (event := await read_event(reader)) is not None:
            if event.type in ("audio-start", "audio-chunk"):
                await conn.audio(event)
            elif event.type == "audio-stop":
                await conn.stop()
            elif event.type == "describe":
                await conn.send(engine.info())
            elif event.type != "transcribe":  # Wyoming's optional opening of an utterance
                await conn.send(_error("bad-request", f"unknown event {event.type!r}"))
    except ProtocolError as exc:
        log.warning("a client sent a malformed event: %s", exc)
        with contextlib.suppress(OSError):
            await conn.send(_error("bad-request", str(exc)))
    except (ConnectionError, OSError):
        pass  # the client went away
    finally:
        conn.drop()
        writer.close()
        with contextlib.suppress(OSError, ConnectionError):
            await writer.wait_closed()


async def serve(sock: socket.socket, settings: Settings, threads: int) -> None:
    """Serve ``sock`` (listening already) until SIGTERM, SIGINT or SIGHUP."""
    engine = Engine(settings)
    pool = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="asr")
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, done.set)

    async def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await handle(engine, pool, reader, writer)

    server = await asyncio.start_server(connected, sock=sock, limit=MAX_HEADER_BYTES)
    log.info("recogniser worker (pid %d) serving %s with %d threads", os.getpid(), _where(sock), threads)

    async def preload() -> None:  # the model loads while the first clients may already queue
        try:
            await loop.run_in_executor(pool, engine.recognizer)
        except Exception as exc:  # noqa: BLE001 - no model: every utterance says so, we keep serving
            log.warning("no recogniser yet (each utterance will try again): %s", exc)

    loading = asyncio.create_task(preload())
    await done.wait()
    server.close()
    loading.cancel()
    pool.shutdown(wait=False, cancel_futures=True)
    log.info("recogniser worker (pid %d) stopped", os.getpid())


def _where(sock: socket.socket) -> str:
    name = sock.getsockname()
    return name if isinstance(name, str) else f"{name[0]}:{name[1]}"


# --------------------------------------------------------------------------- the supervisor


def listen(address: str) -> socket.socket:
    """A listening socket on ``address``. A Unix socket file left by a run that is gone is
    replaced; one that still answers is an error (another recogniser is there)."""
    family, target = parse_address(address)
    if family != socket.AF_UNIX:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(target)
        sock.listen(128)
        return sock
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        if not stat.S_ISSOCK(path.stat().st_mode):
            raise OSError(f"{path} exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(str(path)) == 0:
                raise OSError(f"another recogniser is already listening on {path}")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)  # the socket file: this user only
    try:
        sock.bind(str(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


def supervise(address: str, threads: int) -> int:
    """Bind ``address`` and keep a worker serving it until a signal ends the run."""
    sock = listen(address)
    stopping = False
    worker: subprocess.Popen | None = None

    def stop(signum, _frame) -> None:
        nonlocal stopping
        stopping = True
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, stop)
    log.info("recogniser supervisor (pid %d) listening on %s", os.getpid(), _where(sock))
    failures = 0  # workers in a row that exited soon after their start
    try:
        while not stopping:
            started = time.monotonic()
            cmd = [sys.executable, "-m", "speech.server", "--worker-fd", str(sock.fileno()), "--threads", str(threads)]
            worker = subprocess.Popen(cmd, pass_fds=(sock.fileno(),), preexec_fn=die_with_owner)  # nosec B603 - this interpreter and our own module, no shell
            if stopping:  # a signal came while it was being started
                worker.send_signal(signal.SIGTERM)
            code = worker.wait()
            if stopping:
                break
            failures = 0 if time.monotonic() - started > STABLE_SECONDS else failures
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
            log.error("recogniser worker (pid %d) %s; starting a new one in %d s", worker.pid, how, delay)
            deadline = time.monotonic() + delay
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        sock.close()
        if parse_address(address)[0] == socket.AF_UNIX:
            with contextlib.suppress(OSError):
                Path(address).unlink()
    log.info("recogniser supervisor (pid %d) stopped", os.getpid())
    return 0


def main(argv: list[str] | None = None) -> int:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m speech.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("address", nargs="?", default=default_address(settings),
                        help="Unix socket path or HOST:PORT (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                        help="utterances recognised at the same moment (default: the number of cores)")
    parser.add_argument("--worker-fd", type=int, help=argparse.SUPPRESS)  # the supervisor's listening socket
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.worker_fd is not None:
        asyncio.run(serve(socket.socket(fileno=args.worker_fd), settings, args.threads))
        return 0
    try:
        return supervise(args.address, args.threads)
    except (OSError, ValueError) as exc:
        log.error("cannot listen on %s: %s", args.address, exc)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Pooled SQLite connections (bot/db.py): reused with their PRAGMAs, never shared with a forked
child, never kept on a file that was deleted or replaced, and no lock held while idle, so
another process writes freely. Real SQLite files, real processes."""
from __future__ import annotations

import multiprocessing
import os

from sqlalchemy import event, text

from bot.db import get_engine, session_scope


def _url(tmp_path, name: str = "pool.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def _connection_info(url: str, write: bool = False) -> dict:
    """The pool record of the connection a session gets: its pid and file, plus PRAGMAs seen."""
    with session_scope(write=write, url=url) as session:
        conn = session.connection()
        return {"pid": conn.connection.info.get("pid"),
                "foreign_keys": conn.exec_driver_sql("PRAGMA foreign_keys").scalar(),
                "journal_mode": conn.exec_driver_sql("PRAGMA journal_mode").scalar(),
                "busy_timeout": conn.exec_driver_sql("PRAGMA busy_timeout").scalar()}


def test_a_sqlite_file_reuses_its_connection_with_the_pragmas_applied(tmp_path):
    url = _url(tmp_path)
    opened = []
    event.listen(get_engine(url), "connect", lambda dbapi_connection, record: opened.append(record))
    first, second = _connection_info(url), _connection_info(url, write=True)
    assert len(opened) == 1  # one connection, not one per session
    assert second["pid"] == os.getpid()
    assert (second["foreign_keys"], second["journal_mode"], second["busy_timeout"]) == (1, "wal", 30000)
    get_engine(url).dispose()


def test_a_replaced_database_file_is_read_through_a_new_connection(tmp_path):
    url = _url(tmp_path)
    with session_scope(write=True, url=url) as session:
        session.execute(text("CREATE TABLE old_file (x INTEGER)"))
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"pool.db{suffix}").unlink(missing_ok=True)
    with session_scope(write=True, url=url) as session:  # the file is created anew
        session.execute(text("CREATE TABLE new_file (x INTEGER)"))
    with session_scope(url=url) as session:
        tables = set(session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
    assert tables == {"new_file"}
    get_engine(url).dispose()


def _child_session(url: str, queue) -> None:
    info = _connection_info(url, write=True)
    with session_scope(write=True, url=url) as session:
        session.execute(text("INSERT INTO t (x) VALUES (2)"))
    queue.put(info["pid"])


def test_a_forked_child_opens_its_own_connection_and_writes_while_the_parent_idles(tmp_path):
    url = _url(tmp_path)
    with session_scope(write=True, url=url) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
        session.execute(text("INSERT INTO t (x) VALUES (1)"))
    parent = _connection_info(url)  # the parent's pooled connection: open, idle
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_session, args=(url, queue))
    child.start()
    child_pid = queue.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    assert child_pid == child.pid != parent["pid"]  # the child did not use the parent's connection
    assert _connection_info(url)["pid"] == os.getpid()  # the parent's connection still serves the parent
    with session_scope(url=url) as session:
        assert sorted(session.execute(text("SELECT x FROM t")).scalars()) == [1, 2]
    get_engine(url).dispose()


def _spawned_writer(url: str, queue) -> None:
    with session_scope(write=True, url=url) as session:
        session.execute(text("INSERT INTO t (x) VALUES (3)"))
    queue.put("written")


def test_another_process_writes_while_this_one_keeps_pooled_connections(tmp_path):
    url = _url(tmp_path)
    with session_scope(write=True, url=url) as session:
        session.execute(text("CREATE TABLE t (x INTEGER)"))
    _connection_info(url, write=True)  # a write happened here; the connection stays in the pool
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    writer = context.Process(target=_spawned_writer, args=(url, queue))
    writer.start()
    assert queue.get(timeout=120) == "written"
    writer.join(timeout=120)
    with session_scope(url=url) as session:  # the pooled connection sees the other process's row
        assert list(session.execute(text("SELECT x FROM t")).scalars()) == [3]
    get_engine(url).dispose()


def test_the_action_server_warms_the_pool_and_the_knowledge_base_before_it_listens(fresh_db, tmp_path):
    """What the first action call would otherwise do: after warm_up the next session opens no
    connection and the knowledge base the actions use is the one already loaded."""
    from bot.config import load_settings
    from bot.ops.action_server import warm_up
    from knowledge import retriever

    settings = load_settings({"XIANGYIN_VAR_DIR": str(tmp_path / "var"), "XIANGYIN_DATABASE_URL": fresh_db})
    warm_up(settings)
    warmed = retriever._DEFAULT_KB  # this test's var folder is new: loaded by warm_up or not at all
    opened = []
    event.listen(get_engine(fresh_db), "connect", lambda dbapi_connection, record: opened.append(record))
    with session_scope(url=fresh_db) as session:
        session.execute(text("SELECT 1"))
    assert opened == []
    assert retriever.default_kb(settings.paths.knowledge_dir, var_dir=settings.paths.var_dir) is warmed

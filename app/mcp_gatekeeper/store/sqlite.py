"""``sqlite:///path``: one file on a volume, shared by every worker of one pod, survives restarts.

Standard library only. Each operation is one SQL statement in autocommit mode, so it is atomic
across processes: ``pop`` is ``DELETE ... RETURNING``, ``add`` an upsert that only overwrites an
expired row, ``replace_if`` an ``UPDATE ... WHERE value = ?``. WAL lets readers run while a
worker writes; ``busy_timeout`` queues writers instead of failing. The blocking calls run on one
thread per store, so the event loop (and ``/authenticate``) never waits on the disk.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from .base import StoreUnavailable, check_ttl

T = TypeVar("T")
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID
"""
#: Expired rows are deleted every this many writes (reads ignore them anyway).
SWEEP_EVERY = 500


class SqliteStore:
    process_local = False

    def __init__(
        self, path: Path, *, timeout: float = 5.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._path = path
        self._timeout = timeout
        self._clock = clock
        # One thread: the connection is used by it alone, and operations stay in order.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        self._connection: sqlite3.Connection | None = None
        self._writes = 0

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(
                self._path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
            connection.execute(f"PRAGMA busy_timeout = {int(self._timeout * 1000)}")
            # WAL + NORMAL survives a process crash (kill -9); only power loss can lose the tail.
            connection.execute("PRAGMA synchronous = NORMAL")
            deadline = time.monotonic() + self._timeout
            while True:
                try:
                    self._prepare(connection)
                    break
                except sqlite3.OperationalError:
                    # Switching a new file to WAL needs it alone and does not wait for the busy
                    # timeout: several workers starting at once take turns here.
                    if time.monotonic() > deadline:
                        connection.close()
                        raise
                    time.sleep(0.02)
            self._connection = connection
        return self._connection

    @staticmethod
    def _prepare(connection: sqlite3.Connection) -> None:
        # WAL is a property of the file: set once, by whichever process comes first.
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(SCHEMA)

    async def _run(self, operation: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            try:
                return operation(self._connect())
            except sqlite3.OperationalError as exc:
                # Locked longer than busy_timeout, disk full, unreadable file: retry later.
                raise StoreUnavailable(f"sqlite store {self._path}: {exc}") from exc

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _wrote(self, connection: sqlite3.Connection) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            connection.execute("DELETE FROM entries WHERE expires <= ?", (self._clock(),))

    async def get(self, namespace: str, key: str) -> bytes | None:
        def op(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "SELECT value FROM entries WHERE namespace = ? AND key = ? AND expires > ?",
                (namespace, key, self._clock()),
            ).fetchone()
            return bytes(row[0]) if row else None

        return await self._run(op)

    async def put(self, namespace: str, key: str, value: bytes, ttl: float) -> None:
        check_ttl(ttl)

        def op(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?)",
                (namespace, key, value, self._clock() + ttl),
            )
            self._wrote(db)

        await self._run(op)

    async def add(self, namespace: str, key: str, value: bytes, ttl: float) -> bool:
        check_ttl(ttl)

        def op(db: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = db.execute(
                "INSERT INTO entries VALUES (?, ?, ?, ?) ON CONFLICT (namespace, key)"
                " DO UPDATE SET value = excluded.value, expires = excluded.expires"
                " WHERE entries.expires <= ?",
                (namespace, key, value, now + ttl, now),
            )
            self._wrote(db)
            return cursor.rowcount == 1

        return await self._run(op)

    async def replace_if(
        self, namespace: str, key: str, expected: bytes, value: bytes, ttl: float
    ) -> bool:
        check_ttl(ttl)

        def op(db: sqlite3.Connection) -> bool:
            now = self._clock()
            cursor = db.execute(
                "UPDATE entries SET value = ?, expires = ?"
                " WHERE namespace = ? AND key = ? AND value = ? AND expires > ?",
                (value, now + ttl, namespace, key, expected, now),
            )
            return cursor.rowcount == 1

        return await self._run(op)

    async def pop(self, namespace: str, key: str) -> bytes | None:
        def op(db: sqlite3.Connection) -> bytes | None:
            row = db.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ? RETURNING value, expires",
                (namespace, key),
            ).fetchone()
            return bytes(row[0]) if row and row[1] > self._clock() else None

        return await self._run(op)

    async def delete(self, namespace: str, key: str) -> None:
        await self._run(
            lambda db: db.execute(
                "DELETE FROM entries WHERE namespace = ? AND key = ?", (namespace, key)
            )
        )

    async def items(self, namespace: str) -> list[tuple[str, bytes]]:
        def op(db: sqlite3.Connection) -> list[tuple[str, bytes]]:
            rows: list[Any] = db.execute(
                "SELECT key, value FROM entries WHERE namespace = ? AND expires > ?",
                (namespace, self._clock()),
            ).fetchall()
            return [(str(key), bytes(value)) for key, value in rows]

        return await self._run(op)

    async def close(self) -> None:
        def op() -> None:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

        await asyncio.get_running_loop().run_in_executor(self._executor, op)
        self._executor.shutdown(wait=True)

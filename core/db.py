"""Database engine and sessions: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when configured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from sqlalchemy import event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def async_url(url: str) -> str:
    """Accept the URLs operators write and pick the async driver for them."""
    for plain, driver in (("sqlite://", "sqlite+aiosqlite://"),
                          ("postgresql://", "postgresql+asyncpg://"),
                          ("postgres://", "postgresql+asyncpg://")):
        if url.startswith(plain):
            return driver + url[len(plain):]
    return url


def make_engine(url: str) -> AsyncEngine:
    url = async_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(conn, _record):
            # WAL lets the gallery read while a worker writes; foreign keys are off by default.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    # Pre-ping: pooled connections a restart cut off are replaced, not handed out. A short
    # connect timeout: a command must be answered within Discord's 3 s even when the server
    # is unreachable, not just refusing.
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                               connect_args={"timeout": CONNECT_TIMEOUT_S})


CONNECT_TIMEOUT_S = 2.0
PING_TIMEOUT_S = 2.0


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = getattr(error, "orig", None) or error.__cause__ or error.__context__


def unavailable(error: BaseException) -> bool:
    """The database is away (down, restarting, failing over, refusing connections while it
    starts): worth waiting out, or trying again in a moment, unlike a fault in what was asked."""
    import asyncpg.exceptions as pg

    for e in _chain(error):
        if isinstance(e, (OSError, TimeoutError, pg.PostgresConnectionError, pg.OperatorInterventionError,
                          pg.TooManyConnectionsError, exc.OperationalError, exc.InterfaceError)):
            return True
        if isinstance(e, exc.DBAPIError) and e.connection_invalidated:
            return True
    return False


async def ping(engine: AsyncEngine) -> tuple[bool, str]:
    """For /readyz: (ok, one line)."""
    try:
        async with asyncio.timeout(PING_TIMEOUT_S):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 — any failure means "not ready", with the reason
        return False, f"database unreachable: {type(error).__name__}"
    return True, "ok"


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker:
    return async_sessionmaker(engine, expire_on_commit=False)


def dialect_of(session: AsyncSession | AsyncConnection) -> str:
    return session.dialect.name if isinstance(session, AsyncConnection) else session.bind.dialect.name


def insert_ignoring(dialect: str, table, keys: list[str], lock: bool = False, **values):
    """INSERT … ON CONFLICT (keys) DO NOTHING, as this database spells it (PostgreSQL or
    SQLite): a row made once, whoever gets there first. `lock`: DO UPDATE with the same key
    instead, which changes nothing but holds the row's lock until the transaction ends."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    if lock:
        return statement.on_conflict_do_update(index_elements=keys,
                                               set_={key: statement.excluded[key] for key in keys})
    return statement.on_conflict_do_nothing(index_elements=keys)

"""Database engine and sessions: SQLite (aiosqlite) by default, PostgreSQL (asyncpg) when configured."""

from __future__ import annotations

from sqlalchemy import event
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
    return create_async_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


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

import asyncio

import pytest
from sqlalchemy import inspect

from core.clips import ClipStore
from core.contract import Outcome, Status, Timings
from core.migrate import upgrade_async
from tests.servers import database_url


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    url = database_url(request, tmp_path, "store")
    await upgrade_async(url)
    s = ClipStore.from_url(url)
    yield s
    await s.close()


async def _clip(store, clip_id="c1", **kw):
    return await store.add(id=clip_id, task="text-to-video", prompt="a fox", flags={"ar": [9, 16]}, seed=7,
                           model="ltx-tiny", author_id="42", **kw)


async def test_migration_creates_the_schema(store):
    def tables(conn):
        return set(inspect(conn).get_table_names())

    async with store.engine.connect() as conn:
        names = await conn.run_sync(tables)
    assert {"clips", "members", "votes", "guild_settings", "alembic_version"} <= names


async def test_transitions_follow_the_state_machine(store):
    await _clip(store)
    assert await store.transition("c1", Status.RUNNING)
    assert await store.transition("c1", Status.RUNNING)  # a retry after a dead worker
    outcome = Outcome(clip_id="c1", status=Status.DONE, video_key="clips/c1/clip.mp4", poster_key="clips/c1/poster.jpg",
                      video_bytes=1234, width=72, height=128, fps=12, num_frames=25, timings=Timings(render=1.5))
    assert await store.record_outcome(outcome)
    # Final states never change again: a late cancel or a second outcome is refused.
    assert not await store.transition("c1", Status.CANCELLED)
    assert not await store.record_outcome(Outcome(clip_id="c1", status=Status.FAILED, error="x"))
    clip = await store.get("c1")
    assert clip.status == "done" and clip.attempts == 2 and clip.video_bytes == 1234
    assert clip.flags == {"ar": [9, 16]} and clip.timings["render"] == 1.5
    assert abs(clip.duration - 25 / 12) < 1e-6 and clip.finished_at is not None


async def test_concurrent_finishers_only_one_wins(store):
    await _clip(store, "c2")
    await store.transition("c2", Status.RUNNING)
    results = await asyncio.gather(
        store.transition("c2", Status.DONE), store.transition("c2", Status.CANCELLED),
        store.transition("c2", Status.FAILED))
    assert sorted(results) == [False, False, True]


async def test_parent_link(store):
    await _clip(store, "p1")
    await _clip(store, "k1", parent_id="p1")
    assert (await store.get("k1")).parent_id == "p1"


def test_the_migrations_are_one_chain_that_builds_the_schema_of_the_tables(tmp_path):
    # Branches that each add a migration must be chained when they meet: two heads would stop
    # `reelbot migrate`, and a column in core/tables.py without its migration breaks every query.
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine

    from core.migrate import alembic_config, upgrade
    from core.tables import Base

    url = f"sqlite:///{tmp_path / 'schema.db'}"
    assert len(ScriptDirectory.from_config(alembic_config(url)).get_heads()) == 1
    upgrade(url)
    engine = create_engine(url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []

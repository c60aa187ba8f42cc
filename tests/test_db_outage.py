"""PostgreSQL restarted under a running Reelbot: the suite's own server, shut down fast (open
sessions cut off, as a restart or a managed failover does) and started again on the same
port and data. Commands meanwhile answer within Discord's 3 seconds, queued or refused
privately with "try again in a moment"; a render in flight finishes, and is recorded and
posted once the database is back; nothing stays stuck and no process dies."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.servers import free_port
from tests.test_bot_faults import SHORT, posted_once, wait_running
from tests.test_bot_world import BotWorld, clip_id_of
from tests.test_redis_outage import _status_is, until

pytestmark = pytest.mark.slow
DOWN_S = 10


@pytest.fixture
async def world(postgres_server, models_dir, tmp_path):
    from core.catalog import get_model
    from inference.loading import resolve_source

    resolve_source(get_model("ltx-tiny"), None, models_dir)
    w = BotWorld(tmp_path, postgres_server.new_database(f"db_outage_{free_port()}"), models_dir,
                 REELBOT_MODEL_STEPS='{"ltx-tiny": 1500}')  # a render of a few seconds, inside the outage
    await w.start(workers=0, bot=False)
    w.bot_port, w.worker_port = free_port(), free_port()
    await w.start_worker(REELBOT_METRICS_PORT=str(w.worker_port))
    await w.start_bot(sync=True, REELBOT_METRICS_PORT=str(w.bot_port))
    yield w
    if postgres_server.proc.poll() is not None:  # a failed test must not take the suite's server with it
        postgres_server.start_again()
    await w.close()


def assert_all_alive(world) -> None:
    dead = [p for p in [world.bot, *world.workers] if p.proc.poll() is not None]
    assert dead == [], world.logs()


async def test_a_database_restart_during_a_render_and_during_commands(world, postgres_server):
    member = world.member("steady")
    _ix, status = await world.create(member, f"rendering through a database restart {SHORT}")
    rendering = clip_id_of(status)
    await wait_running(world, rendering)

    postgres_server.shut_down()
    down = time.monotonic()
    async with aiohttp.ClientSession() as http:
        _status, text = await until(lambda: _status_is(http, world.bot_port, "/readyz", 503), timeout=20)
        assert "database unreachable" in text
        # Commands meanwhile: answered in time (the sim counts a late answer as a violation), and
        # either queued or refused privately with what to do.
        answers = []
        for i in range(3):
            ix = await world.slash(world.member(f"asker{i}"), "create", {"prompt": f"while it is down {SHORT}"})
            answers.append(await world.answer(ix))
        for kind, text in answers:
            assert kind == "queued" or (kind == "refused" and "try again in a moment" in text), answers
        await asyncio.sleep(max(0.0, DOWN_S - (time.monotonic() - down)))
        assert_all_alive(world)
        postgres_server.start_again()
        back = time.monotonic()
        await until(lambda: _status_is(http, world.bot_port, "/readyz", 200), timeout=30)
        await until(lambda: _status_is(http, world.worker_port, "/readyz", 200), timeout=30)

    await posted_once(world, rendering, settle=0, record_within=30)
    worst = time.monotonic() - back
    assert (await world.store.get(rendering)).status == "done"
    queued = [text for kind, text in answers if kind == "queued"]
    for clip_id in queued:
        await posted_once(world, clip_id, settle=0, record_within=30)
    _ix, status = await world.create(member, f"after the restart {SHORT}")
    after = clip_id_of(status)
    await posted_once(world, after, settle=2)
    assert len(world.posts_of(rendering)) == 1
    assert_all_alive(world)
    assert world.sim.duplicate_posts() == [] and world.sim.violations == [], world.logs()
    # The render ended while the database was away: the worker waited to record it, said so once.
    events = [line for line in world.workers[0].log_path.read_text().splitlines() if '"event"' in line]
    assert sum("database unreachable; reconnecting with backoff" in e for e in events) == 1, world.logs()
    assert any("database reachable again" in e for e in events)
    print(f"\nFAULT postgres restart ({DOWN_S} s down): clips {2 + len(queued)}, refused {3 - len(queued)}, "
          f"lost 0, duplicated 0, deaths 0, the render of the outage posted {worst:.1f} s after it was back")

"""Role tiers, fast budgets and server plans (core/limits.py), usage (core/usage.py) and
migration 0010, on SQLite and PostgreSQL: a member gets the best of their roles' tiers read
in the same atomic step as the in-flight check, fast clips charge their GPU seconds until
the member's minutes or the server's hours are spent (then the relax lane, saying whose),
a cancelled clip costs nothing, and every change is in the audit log."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import insert, select

from bot import records
from core import audit
from core.clips import ClipStore
from core.contract import Status
from core.limits import Limits, MemberLimits, TierSpec, Where, list_tiers, remove_tier, server_plan, set_server_plan, set_tier
from core.migrate import upgrade_async
from core.tables import Clip
from core.usage import usage
from tests.servers import database_url

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
DEFAULTS = Limits(jobs_in_flight=2, jobs_per_day=10, cooldown_seconds=0, fast_minutes=1)
GUILD, SUPPORTER, BOOSTER = "900", "901", "902"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request, tmp_path):
    url = database_url(request, tmp_path, "tiers")
    await upgrade_async(url)
    s = ClipStore.from_url(url)
    s.url = url
    yield s
    await s.close()


async def clip(store, clip_id: str, author: str = "42", guild: str | None = GUILD, status: str = "done",
               lane: str = "fast", gpu: float | None = 20.0, at: datetime = NOON) -> None:
    async with store.engine.begin() as conn:
        await conn.execute(insert(Clip.__table__).values(
            id=clip_id, task="text-to-video", prompt="a fox", flags={}, seed=1, model="ltx-tiny", author_id=author,
            author_name=f"m{author}", guild_id=guild, status=status, lane=lane, gpu_seconds=gpu, created_at=at,
            updated_at=at, deleted=False, attempts=0, vote_count=0))


async def test_a_member_gets_the_best_of_their_roles_tiers_else_the_defaults(store):
    limits = MemberLimits(store.session, DEFAULTS)
    await set_tier(store.session, GUILD, TierSpec(SUPPORTER, "Supporter", in_flight=5, fast_minutes=30), by="7")
    await set_tier(store.session, GUILD, TierSpec(BOOSTER, "Booster", in_flight=3, per_day=40, priority="high"),
                   by="7")
    async with store.session() as s:
        both = await limits.effective(s, Where(GUILD, (SUPPORTER, BOOSTER)))
        one = await limits.effective(s, Where(GUILD, (BOOSTER,)))
        none = await limits.effective(s, Where(GUILD, ("999",)))
        elsewhere = await limits.effective(s, Where("other", (SUPPORTER,)))
    assert (both.jobs_in_flight, both.jobs_per_day, both.fast_minutes, both.priority) == (5, 40, 30, "high")
    assert (one.jobs_in_flight, one.jobs_per_day, one.fast_minutes, one.priority) == (3, 40, 1, "high")
    assert none == DEFAULTS and elsewhere == DEFAULTS  # a tier holds in its own server only
    # A tier on @everyone (the server's own id) is that server's defaults.
    await set_tier(store.session, GUILD, TierSpec(GUILD, "@everyone", per_day=4), by="7")
    async with store.session() as s:
        assert (await limits.effective(s, Where(GUILD, ()))).jobs_per_day == 4


async def test_set_change_list_and_remove_a_tier_with_its_audit_entries(store):
    await set_tier(store.session, GUILD, TierSpec(SUPPORTER, "Supporter", in_flight=5), by="7")
    changed = await set_tier(store.session, GUILD, TierSpec(SUPPORTER, "Supporter", fast_minutes=60,
                                                            priority="high"), by="8")
    assert (changed.in_flight, changed.fast_minutes, changed.priority) == (5, 60, "high")  # the rest kept
    assert [t.role_id for t in await list_tiers(store.session, GUILD)] == [SUPPORTER]
    assert (await remove_tier(store.session, GUILD, SUPPORTER, by="7")).in_flight == 5
    assert await remove_tier(store.session, GUILD, SUPPORTER, by="7") is None
    assert await list_tiers(store.session, GUILD) == []
    async with store.session() as s:
        logged = await audit.latest(s, guild_id=GUILD, limit=10)
    assert [e.action for e in logged] == ["tier-removed", "tier-set", "tier-set"]
    assert "5 in flight, 60 fast min a day, priority high" in logged[1].reason and logged[1].actor == "8"


async def test_a_raised_in_flight_cap_holds_atomically(store):
    limits = MemberLimits(store.session, DEFAULTS)
    await set_tier(store.session, GUILD, TierSpec(SUPPORTER, "Supporter", in_flight=4, per_day=50), by="7")

    def record(clip_id: str) -> dict:
        return dict(id=clip_id, author_id="8", guild_id=GUILD, task="text-to-video", prompt="a fox", flags={}, seed=1,
                    model="ltx-tiny", status="queued")

    where = Where(GUILD, (SUPPORTER,))
    grants = await asyncio.gather(*(records.take_and_record(store, limits, "8", "eight", record(f"t{i}"), where)
                                    for i in range(9)))
    assert sum(g is not None for g in grants) == 4 and len(await records.unfinished(store, "8")) == 4
    refusal = await limits.explain("8", where=where)
    assert refusal.reason == "in_flight" and "the limit is 4" in refusal.message
    # Without the role, the default cap of 2 applies (and is already passed).
    assert (await limits.explain("8", where=Where(GUILD))).message.count("limit is 2") == 1


async def test_spent_fast_minutes_move_clips_to_relax_and_a_cancel_gives_the_time_back(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=9, jobs_per_day=99, cooldown_seconds=0,
                                                fast_minutes=1))
    where = Where(GUILD)
    await clip(store, "f1", gpu=45.0, at=NOON - timedelta(hours=1))
    await clip(store, "c1", gpu=30.0, status="cancelled", at=NOON - timedelta(minutes=5))  # costs nothing
    await clip(store, "r1", gpu=90.0, lane="relax")  # relax costs no fast time
    await clip(store, "y1", gpu=90.0, at=NOON - timedelta(days=1))  # yesterday's
    await clip(store, "x1", gpu=90.0, guild="other")  # another server's
    async with store.session.begin() as s:
        grant = await limits.take(s, "42", "m", NOON, where)
    assert (grant.lane, grant.moved) == ("fast", None)
    usage_now = await limits.usage("42", NOON, where)
    assert usage_now.fast_used_s == 45.0 and usage_now.fast_left_s == 15.0
    await clip(store, "f2", gpu=20.0, at=NOON + timedelta(minutes=1))
    async with store.session.begin() as s:
        grant = await limits.take(s, "42", "m", NOON + timedelta(minutes=2), where)
    assert (grant.lane, grant.moved) == ("relax", "member")
    # The member cancels f2 after all (it was still queued): its time comes back.
    await store.update("f2", status=Status.CANCELLED.value)
    async with store.session.begin() as s:
        grant = await limits.take(s, "42", "m", NOON + timedelta(minutes=3), where)
    assert (grant.lane, grant.moved) == ("fast", None)
    # A member who asks for relax gets it, with nothing to say about budgets.
    async with store.session.begin() as s:
        grant = await limits.take(s, "42", "m", NOON + timedelta(minutes=4), Where(GUILD, lane="relax"))
    assert (grant.lane, grant.moved) == ("relax", None)
    # Tomorrow the minutes are back.
    async with store.session.begin() as s:
        grant = await limits.take(s, "42", "m", NOON + timedelta(days=1), where)
    assert grant.lane == "fast"


async def test_a_servers_plan_caps_its_fast_hours_and_weights_it(store):
    limits = MemberLimits(store.session, Limits(jobs_in_flight=9, jobs_per_day=99, cooldown_seconds=0))
    plan = await set_server_plan(store.session, GUILD, weight=2.5, fast_gpu_hours_per_day=0.01)  # 36 s
    assert (plan.weight, plan.fast_gpu_hours_per_day) == (2.5, 0.01)
    async with store.session.begin() as s:
        grant = await limits.take(s, "1", "a", NOON, Where(GUILD))
    assert (grant.lane, grant.weight) == ("fast", 2.5)
    await clip(store, "g1", author="2", gpu=20.0)
    await clip(store, "g2", author="3", gpu=20.0)  # two members together spent the server's 36 s
    async with store.session.begin() as s:
        grant = await limits.take(s, "1", "a", NOON + timedelta(minutes=1), Where(GUILD))
    assert (grant.lane, grant.moved) == ("relax", "server")
    plan = await set_server_plan(store.session, GUILD, no_fast_cap=True)
    assert (plan.weight, plan.fast_gpu_hours_per_day) == (2.5, None)  # the weight kept
    assert (await server_plan(store.session, "unknown")).weight == 1.0
    async with store.session() as s:
        logged = await audit.latest(s, guild_id=GUILD, limit=5)
    assert [e.action for e in logged] == ["server-plan", "server-plan"] and logged[0].actor == "operator"


async def test_usage_per_server_member_and_model(store):
    await clip(store, "a", author="1", gpu=3600.0)
    await clip(store, "b", author="1", gpu=1800.0, lane="relax")
    await clip(store, "c", author="2", guild="777", gpu=900.0)
    await clip(store, "d", author="2", guild="777", gpu=None, status="failed")  # never reached a GPU
    await clip(store, "old", author="3", gpu=7200.0, at=NOON - timedelta(days=30))
    servers = {r.key: r for r in await usage(store.session, "server", since=NOON - timedelta(days=7))}
    assert servers[GUILD].clips == 2 and servers[GUILD].gpu_hours == 1.5
    assert (servers[GUILD].fast_seconds, servers[GUILD].relax_seconds) == (3600.0, 1800.0)
    assert servers["777"].clips == 2 and servers["777"].gpu_seconds == 900.0
    members = await usage(store.session, "member", guild_id=GUILD)
    assert [(r.key, r.name, r.clips) for r in members] == [("3", "m3", 1), ("1", "m1", 2)]
    [model] = await usage(store.session, "model", since=NOON - timedelta(days=7))
    assert (model.key, model.clips, model.fast_clips, model.relax_clips) == ("ltx-tiny", 4, 3, 1)


async def test_migration_0010_downgrades_and_upgrades_again(store):
    from alembic import command

    from core.migrate import alembic_config

    await clip(store, "kept", gpu=5.0)
    await asyncio.to_thread(command.downgrade, alembic_config(store.url), "0008")
    await upgrade_async(store.url)
    async with store.session() as s:
        kept = await s.scalar(select(Clip).where(Clip.id == "kept"))
    assert kept.gpu_seconds == 5.0 and kept.lane is None  # clips from before have no lane
    await set_tier(store.session, GUILD, TierSpec(SUPPORTER, "Supporter", in_flight=3), by="7")
    assert (await server_plan(store.session, GUILD)).weight == 1.0

"""discordsim at the wire level, without discord.py: the gateway's op codes, zlib-stream,
RESUME replay and invalid sessions, strict payload checks, the standalone sandbox
(`python -m discordsim`) driven through its /_sim/ control API, and a property test that
random bodies always get a Discord-style JSON answer, never a crash.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import zlib
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from discordsim import DiscordSim
from discordsim.gateway import Session

TOKEN = "sim-token"
ROOT = Path(__file__).resolve().parents[1]


class Wire:
    """A raw gateway connection that inflates zlib-stream frames like discord.py does."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inflate = zlib.decompressobj()
        self.buffer = bytearray()

    async def recv(self, timeout: float = 5) -> dict:
        while True:
            msg = await self.ws.receive(timeout=timeout)
            if msg.type is aiohttp.WSMsgType.TEXT:
                return json.loads(msg.data)
            if msg.type is aiohttp.WSMsgType.BINARY:
                self.buffer.extend(msg.data)
                if self.buffer[-4:] == b"\x00\x00\xff\xff":
                    text = self.inflate.decompress(bytes(self.buffer))
                    self.buffer.clear()
                    return json.loads(text)
                continue
            raise ConnectionError(f"gateway closed: {msg.type} {self.ws.close_code}")

    async def until(self, event: str) -> dict:
        while True:
            payload = await self.recv()
            if payload.get("t") == event:
                return payload

    async def send(self, op: int, d) -> None:
        await self.ws.send_str(json.dumps({"op": op, "d": d}))


@pytest.fixture
async def sim():
    async with DiscordSim(token=TOKEN) as running:
        yield running


async def connect(http: aiohttp.ClientSession, sim: DiscordSim, compress: bool = True) -> Wire:
    query = "?v=10&encoding=json" + ("&compress=zlib-stream" if compress else "")
    return Wire(await http.ws_connect(sim.gateway_url + query, autoclose=False))


async def identify(wire: Wire, intents: int = 1 | 1 << 9 | 1 << 12) -> dict:
    hello = await wire.recv()
    assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
    await wire.send(2, {"token": TOKEN, "intents": intents, "properties": {}})
    return await wire.until("READY")


async def test_gateway_identify_heartbeat_and_ready(sim):
    guild = sim.add_guild("g")
    sim.add_channel(guild, "general")
    async with aiohttp.ClientSession() as http:
        wire = await connect(http, sim)
        ready = await identify(wire)
        assert ready["s"] == 1 and ready["d"]["user"]["id"] == str(sim.bot_user.id)
        assert ready["d"]["guilds"] == [{"id": str(guild.id), "unavailable": True}]
        created = await wire.until("GUILD_CREATE")
        assert [c["name"] for c in created["d"]["channels"]] == ["general"] and created["s"] == 2
        await wire.send(1, 2)
        assert (await wire.recv())["op"] == 11
        assert sim.gateway.connected_shards() == {0}
        await wire.ws.close()


async def test_gateway_refuses_a_wrong_token_and_plain_text_works(sim):
    async with aiohttp.ClientSession() as http:
        wire = await connect(http, sim, compress=False)
        assert (await wire.recv())["op"] == 10  # a text frame: no compression asked for
        await wire.send(2, {"token": "nope", "intents": 1, "properties": {}})
        with pytest.raises(ConnectionError):
            await wire.recv()
        assert wire.ws.close_code == 4004
    assert [v.rule for v in sim.violations] == ["gateway_auth"]


async def test_resume_replays_missed_events_and_unknown_sessions_are_invalid(sim):
    guild = sim.add_guild("g")
    channel = sim.add_channel(guild, "general")
    member = sim.add_member(guild, "alice")
    sim.registry.overwrite(None, [{"name": "ping", "description": "p", "type": 1}], strict=True)
    async with aiohttp.ClientSession() as http:
        wire = await connect(http, sim)
        ready = await identify(wire)
        created = await wire.until("GUILD_CREATE")
        session, seq = ready["d"]["session_id"], created["s"]
        sim.drop_gateway(resume=True)
        with pytest.raises(ConnectionError):
            while True:
                await wire.recv()
        assert wire.ws.close_code == 4000
        ix = await sim.slash(member, channel, "ping")  # while nobody listens: buffered
        wire = await connect(http, sim)
        await wire.recv()
        await wire.send(6, {"token": TOKEN, "session_id": session, "seq": seq})
        missed = await wire.recv()
        assert missed["t"] == "INTERACTION_CREATE" and missed["d"]["id"] == str(ix.id) and missed["s"] == seq + 1
        assert (await wire.recv())["t"] == "RESUMED"
        await wire.ws.close()
        wire = await connect(http, sim)
        await wire.recv()
        await wire.send(6, {"token": TOKEN, "session_id": "unknown", "seq": 1})
        assert await wire.recv() == {"op": 9, "d": False, "s": None, "t": None}
        await wire.ws.close()
    await asyncio.sleep(3.1)  # the replayed interaction was never answered: that is a violation too
    assert [v.rule for v in sim.violations] == ["response_within_3s"]


async def test_interaction_over_the_wire_and_callback_rules(sim):
    guild = sim.add_guild("g")
    channel = sim.add_channel(guild, "general")
    member = sim.add_member(guild, "alice")
    with pytest.raises(RuntimeError, match="no bot gateway session"):
        sim.registry.overwrite(None, [{"name": "ping", "description": "p"}], strict=True)
        await sim.slash(member, channel, "ping")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        wire = await connect(http, sim)
        await identify(wire)
        ix = await sim.slash(member, channel, "ping")
        event = (await wire.until("INTERACTION_CREATE"))["d"]
        for field in ("application_id", "token", "version", "channel", "member", "app_permissions", "locale",
                      "entitlements", "authorizing_integration_owners", "context", "attachment_size_limit"):
            assert field in event, field
        assert event["member"]["user"]["id"] == str(member.id) and event["data"]["name"] == "ping"
        url = f"{sim.api_base}/interactions/{event['id']}/{event['token']}/callback?with_response=true"
        button = {"type": 1, "components": [{"type": 2, "style": 1, "label": "x" * 81, "custom_id": "b"}]}
        async with http.post(url, json={"type": 4, "data": {"content": "hi", "components": [button]}}) as resp:
            assert resp.status == 400 and "components" in (await resp.json())["errors"]  # strict: label ≤ 80
        async with http.post(url, json={"type": 7, "data": {"content": "hi"}}) as resp:
            assert resp.status == 400  # UPDATE_MESSAGE answers components, not slash commands
        async with http.post(url, json={"type": 4, "data": {"content": "hi"}}) as resp:
            body = await resp.json()
            assert resp.status == 200 and body["resource"]["message"]["content"] == "hi"
        hook = f"{sim.api_base}/webhooks/{sim.application_id}/{event['token']}"
        async with http.patch(hook + "/messages/@original", json={"content": "edited"}) as resp:
            assert resp.status == 200 and ix.message.content == "edited"
        async with http.post(hook + "?wait=true", json={"content": "more", "flags": 64}) as resp:
            assert resp.status == 200 and [m.content for m in ix.ephemeral] == ["more"]
        async with http.delete(hook + "/messages/@original") as resp:
            assert resp.status == 204 and ix.message.deleted and sim.messages(channel) == []
            # As Discord: no body and no JSON content type (discord.py parses a JSON-typed body).
            assert await resp.read() == b"" and resp.content_type != "application/json"
        await wire.ws.close()
    assert [v.rule for v in sim.violations] == ["message_limits", "invalid_callback_type"]


async def test_command_registration_is_checked_like_discord(sim):
    async with aiohttp.ClientSession(headers={"Authorization": f"Bot {TOKEN}"}) as http:
        url = f"{sim.api_base}/applications/{sim.application_id}/commands"
        bad = [{"name": "Create", "description": "upper case is refused", "type": 1}]
        async with http.put(url, json=bad) as resp:
            assert resp.status == 400 and (await resp.json())["code"] == 50035
        order = [{"name": "create", "description": "d", "options": [
            {"name": "image", "description": "i", "type": 11},
            {"name": "prompt", "description": "p", "type": 3, "required": True}]}]
        async with http.put(url, json=order) as resp:
            assert resp.status == 400  # required options come first
        good = [{"name": "create", "description": "d", "options": [{"name": "prompt", "description": "p", "type": 3,
                                                                   "required": True, "max_length": 1500}]}]
        async with http.put(url, json=good) as resp:
            [command] = await resp.json()
            assert resp.status == 200 and command["application_id"] == str(sim.application_id)
    assert [v.rule for v in sim.violations] == ["invalid_command", "invalid_command"]


async def test_standalone_sandbox():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "discordsim", "--port", "0"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        printed = {}
        while "discordsim control" not in printed:
            line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 20)
            assert line, "python -m discordsim exited early"
            key, _, value = line.strip().partition("=")
            printed[key] = value
        api, gateway = printed["REELBOT_DISCORD_API_BASE"], printed["REELBOT_DISCORD_GATEWAY_URL"]
        token = printed["REELBOT_DISCORD_TOKEN"]
        base = api.rsplit("/api/", 1)[0]
        async with aiohttp.ClientSession(headers={"Authorization": f"Bot {token}"}) as http:
            async with http.get(f"{api}/gateway/bot") as resp:
                assert (await resp.json())["url"] == gateway
            state = await (await http.get(f"{base}/_sim/state")).json()
            [guild] = state["guilds"]
            assert [m["name"] for m in guild["members"]] == ["alice", "mod", "admin"]
            app_id = state["application_id"]
            await http.put(f"{api}/applications/{app_id}/commands",
                           json=[{"name": "create", "description": "d",
                                  "options": [{"name": "prompt", "description": "p", "type": 3, "required": True}]}])
            ws = await http.ws_connect(gateway + "?v=10&encoding=json&compress=zlib-stream")
            wire = Wire(ws)
            await wire.recv()
            await wire.send(2, {"token": token, "intents": 1, "properties": {}})
            await wire.until("GUILD_CREATE")
            started = await (await http.post(f"{base}/_sim/slash", json={
                "member": "alice", "channel": "general", "command": "create",
                "options": {"prompt": "a fox"}})).json()
            event = (await wire.until("INTERACTION_CREATE"))["d"]
            assert event["id"] == started["interaction"]
            assert event["data"]["options"] == [{"name": "prompt", "type": 3, "value": "a fox"}]
            await http.post(f"{api}/interactions/{event['id']}/{event['token']}/callback",
                            json={"type": 4, "data": {"content": "Queued · position 1"}})
            summary = await (await http.get(f"{base}/_sim/interactions/{event['id']}")).json()
            assert summary["responses"][0]["accepted"] and summary["message"]["content"] == "Queued · position 1"
            channel_id = guild["channels"][0]["id"]
            assert [m["content"] for m in await (await http.get(f"{base}/_sim/messages/{channel_id}")).json()] == \
                ["Queued · position 1"]
            assert await (await http.get(f"{base}/_sim/violations")).json() == []
            await ws.close()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(asyncio.to_thread(proc.wait), 10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- robustness: random bodies never crash the sim ----------------------------------------

FIELDS = ["type", "data", "content", "embeds", "components", "flags", "attachments", "message_reference", "nonce",
          "enforce_nonce", "name", "description", "options", "title", "custom_id", "choices", "fields", "style",
          "label", "value", "url", "archived", "locked", "recipient_id", "message_id", "id", "filename", "footer"]
scalars = st.none() | st.booleans() | st.integers(-2, 2**64) | st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=4),
                                                                inner, max_size=5),
    max_leaves=25)
bodies = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6) | json_values


@pytest.fixture(scope="module")
def threaded_sim():
    """A sim on its own loop in a thread, so hypothesis can drive it with plain blocking HTTP."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def make():
        sim = await DiscordSim(token=TOKEN).start()
        guild = sim.add_guild("g")
        channel = sim.add_channel(guild, "c")
        member = sim.add_member(guild, "a")
        # A session with no websocket (a bot that is away) is enough to dispatch interactions to.
        session = Session(None, 0)
        sim.gateway.sessions[session.id] = session
        return sim, channel, member

    sim, channel, member = asyncio.run_coroutine_threadsafe(make(), loop).result()
    yield sim, channel, member, loop
    asyncio.run_coroutine_threadsafe(sim.stop(), loop).result()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies, route=st.integers(0, 8))
def test_random_bodies_get_discord_answers_never_a_crash(threaded_sim, body, route):
    sim, channel, member, loop = threaded_sim

    async def act():
        # A random PUT /commands of an earlier example may have replaced /ping: register it again.
        sim.registry.overwrite(None, [{"name": "ping", "description": "p"}], strict=True)
        return await sim.slash(member, channel, "ping"), await sim.say(member, channel, "hi")

    ix, message = asyncio.run_coroutine_threadsafe(act(), loop).result()
    hook = f"{sim.api_base}/webhooks/{sim.application_id}/{ix.token}"
    method, url = [
        ("POST", f"{sim.api_base}/interactions/{ix.id}/{ix.token}/callback?with_response=1"),
        ("POST", hook + "?wait=1"),
        ("PATCH", hook + "/messages/@original"),
        ("POST", f"{sim.api_base}/channels/{channel.id}/messages"),
        ("PATCH", f"{sim.api_base}/channels/{channel.id}/messages/{message.id}"),
        ("POST", f"{sim.api_base}/channels/{channel.id}/messages/{message.id}/threads"),
        ("PUT", f"{sim.api_base}/applications/{sim.application_id}/commands"),
        ("PATCH", f"{sim.api_base}/channels/{channel.id}"),
        ("POST", f"{sim.api_base}/users/@me/channels"),
    ][route]
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method=method, headers={
        "Authorization": f"Bot {TOKEN}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            status, ctype = resp.status, resp.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        status, ctype = exc.code, exc.headers["Content-Type"]
    assert status < 500 and ctype == "application/json"
    assert not [v for v in sim.violations if v.rule == "sim_internal_error"]

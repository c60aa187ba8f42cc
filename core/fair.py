"""The fair order of a model's queue: start-time fair queuing over servers, and within a
server over members, computed once per clip at enqueue in one Lua script.

arq serves the lowest score of a queue first (core/queue.py), so a clip's place is its
score. Here the score is a fair-queuing tag instead of the enqueue time:

- Each (lane, server) is a flow with a finish tag F. A clip of cost c (its estimated GPU
  seconds) gets the slot `max(V, F)` and moves F on by c / weight (the operator's weight of
  the server, `reelbot server-plan`). V, the queue's virtual time, is the largest slot a
  worker has started (`started`): a server that had little, or is new, starts at V, ahead
  of a flooding server's backlog, whose slots run far past V.
- Within a server the same again over members (their own tags M, moved on by c): the
  server's slots go to its waiting clips in the order of their member tags, so a member
  with one clip is not behind another member's many. A new clip of a member with little
  takes an earlier slot of its server and the server's later clips move back one slot
  each (only those: none when the clip goes last, as a member's own next clip does; at
  most WINDOW of them, past that the server is served in arrival order).
- Lanes: a relax clip's score is its slot plus RELAX_BEHIND clips' worth, so fast clips
  arriving within that go ahead of it, and no later ones: V passes it and it runs. A
  `priority:high` tier's clip is scored its HEAD_START clips' worth earlier than its slot:
  a head start of that many clips per server, not a jump over everyone.
- Scores stay in (0, now]: arq's poll takes `ZRANGEBYSCORE … max=now`, so a score in the
  future would leave a GPU idle while the clip waits. A tag is a virtual time in ms that
  starts at real time; the score is the tag HORIZON earlier (a backlog of up to 30 days of
  work per server keeps its order; beyond that the score is held at now). When a queue is
  empty (no clip of the model waits, runs or is being queued), V starts again at real time
  (SFQ's idle point: every flow has had its due).
- What the worker, a cancel and the reconciler need is kept per clip in a hash (its lane,
  server, member, tag, offset, cost, enqueue time): a re-queued clip gets its tag back
  (`tag` finds it), a cancelled waiting clip gives its share back (`forget(refund=True)`),
  and the queue's readers (`counts`, `standings`) tell lanes and real waiting times apart.

Keys (per model): `reelbot:fair:<model>` (V and the flows' tags), `…:jobs` (the clips),
`…:srv:<lane>:<server>` (a server's waiting clips by member tag), `…:active` (flows by
last enqueue, for the ETA's high end), `…:running` (the clips workers took, for standings).
The scripts name the per-server keys themselves, so this needs one Redis (or Sentinel), not
a Redis Cluster. No arq here: core/queue.py passes in its key prefixes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from redis.asyncio import Redis

from core.contract import QueueTicket, queue_name

HORIZON_MS = 30 * 24 * 3600 * 1000  # how far virtual time may run ahead of real time
WINDOW = 500  # at most this many of a server's waiting clips are reordered by member
ACTIVE_S = 600  # a flow that queued within this long may still put clips ahead (the ETA's high end)
NO_SERVER = "-"  # DMs and the command line


@dataclass(frozen=True)
class Policy:
    """How far the lanes and priority move a clip, in clips of its own cost (REELBOT_RELAX_BEHIND_CLIPS,
    REELBOT_PRIORITY_HEAD_START_CLIPS): bounded both ways."""

    relax_behind_clips: float = 8.0
    head_start_clips: float = 2.0

    @classmethod
    def from_settings(cls, settings) -> "Policy":
        return cls(settings.relax_behind_clips, settings.priority_head_start_clips)

    def offset_ms(self, ticket: QueueTicket) -> int:
        cost = _cost_ms(ticket)
        offset = self.relax_behind_clips * cost if ticket.lane == "relax" else 0.0
        if ticket.priority == "high":  # ahead of that many clips of its server, not level with the last
            offset -= self.head_start_clips * cost / max(ticket.weight, 0.01) + 1
        return int(offset)


@dataclass(frozen=True)
class Placed:
    score: int  # arq's score, ms
    tag: int  # the slot in virtual time
    again: bool  # the clip had its tag already (a re-queue)


def state_key(model: str) -> str:
    return f"reelbot:fair:{model}"


def jobs_key(model: str) -> str:
    return f"reelbot:fair:{model}:jobs"


def active_key(model: str) -> str:
    return f"reelbot:fair:{model}:active"


def running_key(model: str) -> str:
    return f"reelbot:fair:{model}:running"


def server_prefix(model: str) -> str:
    return f"reelbot:fair:{model}:srv:"


def _cost_ms(ticket: QueueTicket) -> int:
    return max(1, int(ticket.cost_s * 1000))


# Shared by the scripts: a tag's score, and moving slots along a server's waiting clips.
# A server's waiting clips, in member order (its `srv` sorted set), hold its slots in
# ascending order. A clip put in at rank p takes the slot of the clip now after it, each
# later clip the next one's, and the last the new slot (the server's largest): a walk of the
# clips after it only, none when it goes last (a member's own next clip, or a newcomer among
# newcomers). A cancelled clip's slot goes the other way: each later clip takes the one
# before. Tails longer than the window are left as they are (served in arrival order).
_COMMON = """
local function score_of(tag, offset, horizon, now)
  local s = tag + offset - horizon
  if s > now then s = now end
  if s < 1 then s = 1 end
  return math.floor(s)
end

-- Each clip of `ids`, in that order, takes `carry` and hands its own slot on; returns the
-- slot the last one handed on. Clips that started meanwhile leave the server's order.
local function hand_on(srv, jobs, queue, progress, horizon, now, ids, carry, from, to, step)
  for i = from, to, step do
    local id = ids[i]
    local raw = redis.call('HGET', jobs, id)
    if not raw or redis.call('EXISTS', progress .. id) == 1 then
      redis.call('ZREM', srv, id)
    else
      local j = cjson.decode(raw)
      local own = j.t
      j.t = carry
      redis.call('HSET', jobs, id, cjson.encode(j))
      redis.call('ZADD', queue, 'XX', score_of(carry, j.o, horizon, now), id)
      carry = own
    end
  end
  return carry
end

-- The clips after rank `rank` (at most `window` of them; nil when there are more).
local function tail(srv, rank, window)
  local ids = redis.call('ZRANGE', srv, rank, rank + window)
  if #ids > window then return nil end
  return ids
end
"""

# KEYS: state, jobs, queue, active. ARGV: clip, lane, server, member, cost (ms), weight,
# offset (ms), now (ms), horizon, window, in-progress prefix, server prefix.
_TAG = _COMMON + """
local state, jobs, queue, active = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local clip, lane, server, member = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local cost, weight, offset = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local now, horizon, window = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local progress, prefix = ARGV[11], ARGV[12]

local known = redis.call('HGET', jobs, clip)
if known then  -- queued again (the reconciler): the same tag, nothing charged twice
  local j = cjson.decode(known)
  redis.call('ZADD', prefix .. j.l .. ':' .. j.g, j.m, clip)
  return {score_of(j.t, j.o, horizon, now), j.t, 1}
end

if redis.call('ZCARD', queue) == 0 and redis.call('HLEN', jobs) == 0 then
  -- No clip waits, runs or is being queued: every flow has had its due. Start again at real time.
  redis.call('DEL', state)
end
local V = tonumber(redis.call('HGET', state, 'V') or now)
redis.call('HSET', state, 'V', V)

local flow = lane .. ':' .. server
local fs = tonumber(redis.call('HGET', state, 's:' .. flow) or 0)
local slot = math.max(V, fs)
redis.call('HSET', state, 's:' .. flow, slot + math.floor(cost / weight))
redis.call('HSET', state, 'w:' .. flow, weight)
local vs = tonumber(redis.call('HGET', state, 'v:' .. flow) or 0)
local fm = tonumber(redis.call('HGET', state, 'm:' .. flow .. ':' .. member) or 0)
local m = math.max(vs, fm)
redis.call('HSET', state, 'm:' .. flow .. ':' .. member, m + cost)
redis.call('ZADD', active, now, flow)

local srv = prefix .. flow
redis.call('ZADD', srv, m, clip)
local mine = slot
local later = tail(srv, redis.call('ZRANK', srv, clip) + 1, window)
if later and #later > 0 then  -- it goes before some of its server's clips: they move back a slot each
  mine = hand_on(srv, jobs, queue, progress, horizon, now, later, slot, #later, 1, -1)
end
local entry = {l = lane, g = server, u = member, o = offset, e = now, c = cost, w = weight, t = mine, m = m}
redis.call('HSET', jobs, clip, cjson.encode(entry))
return {score_of(mine, offset, horizon, now), mine, 0}
"""

# After arq queued the clip: its score as the jobs hash says now (another clip of its server
# may have moved it between the tag and arq's own write). KEYS: jobs, queue, ARGV: clip, now, horizon.
_SETTLE = _COMMON + """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
local j = cjson.decode(raw)
return redis.call('ZADD', KEYS[2], 'XX', 'CH', score_of(j.t, j.o, tonumber(ARGV[3]), tonumber(ARGV[2])), ARGV[1])
"""

# A worker started the clip: V moves up to its slot, its server's member time to its member
# tag, and it leaves its server's reordering. KEYS: state, jobs, running. ARGV: clip, server prefix.
_STARTED = """
redis.call('ZADD', KEYS[3], 0, ARGV[1])
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local j = cjson.decode(raw)
local flow = j.l .. ':' .. j.g
redis.call('ZREM', ARGV[2] .. flow, ARGV[1])
local V = tonumber(redis.call('HGET', KEYS[1], 'V') or 0)
if j.t > V then redis.call('HSET', KEYS[1], 'V', j.t) end
local vs = tonumber(redis.call('HGET', KEYS[1], 'v:' .. flow) or 0)
if j.m > vs then redis.call('HSET', KEYS[1], 'v:' .. flow, j.m) end
return 1
"""

# The clip is final (or cancelled while waiting, ARGV[3] == '1': its flows get its share back and
# its server's later clips move up a slot). KEYS: state, jobs, queue, running. ARGV: clip, server prefix,
# refund, in-progress prefix, now, horizon, window.
_FORGET = _COMMON + """
local state, jobs, queue = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZREM', KEYS[4], ARGV[1])
local raw = redis.call('HGET', jobs, ARGV[1])
if not raw then return 0 end
local j = cjson.decode(raw)
redis.call('HDEL', jobs, ARGV[1])
local flow = j.l .. ':' .. j.g
local srv = ARGV[2] .. flow
local rank = redis.call('ZRANK', srv, ARGV[1])
local waiting = redis.call('ZREM', srv, ARGV[1]) == 1
if ARGV[3] == '1' and waiting then
  local V = tonumber(redis.call('HGET', state, 'V') or 0)
  local fs = tonumber(redis.call('HGET', state, 's:' .. flow) or 0)
  redis.call('HSET', state, 's:' .. flow, math.max(V, fs - math.floor(j.c / j.w)))
  local vs = tonumber(redis.call('HGET', state, 'v:' .. flow) or 0)
  local mkey = 'm:' .. flow .. ':' .. j.u
  local fm = tonumber(redis.call('HGET', state, mkey) or 0)
  redis.call('HSET', state, mkey, math.max(vs, fm - j.c))
  local later = tail(srv, rank, tonumber(ARGV[7]))
  if later then  -- the clips after it move up a slot each
    hand_on(srv, jobs, queue, ARGV[4], tonumber(ARGV[6]), tonumber(ARGV[5]), later, j.t, 1, #later, 1)
  end
end
return 1
"""

# Counts of a model's queue, in one walk in the order workers take it: depth, running,
# waiting per lane, and the oldest waiting clip's enqueue time (the exporter, KEDA, /queue).
# KEYS: queue, jobs. ARGV: in-progress prefix, now (ms), limit.
_COUNTS = """
local queue, jobs = KEYS[1], KEYS[2]
local progress, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local depth = redis.call('ZCARD', queue)
local entries = redis.call('ZRANGE', queue, 0, limit - 1, 'WITHSCORES')
local running, fast, relax, oldest = 0, 0, 0, false
for i = 1, #entries, 2 do
  local id, score = entries[i], tonumber(entries[i + 1])
  if redis.call('EXISTS', progress .. id) == 1 then
    running = running + 1
  else
    local raw = redis.call('HGET', jobs, id)
    local j = raw and cjson.decode(raw)
    if j and j.l == 'relax' then relax = relax + 1 else fast = fast + 1 end
    local queued = j and j.e or score  -- a clip queued before the fair order: its score was its time
    if (j or score > now - 7 * 86400000) and (not oldest or queued < oldest) then oldest = queued end
  end
end
return {depth, running, fast, relax, oldest or -1}
"""

# Where clips stand, without walking the queue (every command asks): the clips ahead of one
# are its rank less the running clips ranked before it (a handful, one per busy worker: the
# workers note them, `started`, and a clip handed back stops counting as its lease ends);
# and how many more other active servers may still put ahead of it under the fair order
# (the ETA's high end): each can queue clips with tags up to this one's (its relax offset
# too, for fast clips), at its weight. -2: not queued; -1: running.
# A waiting clip's score is set to what its tag says on the way (the bot's `settle`).
# KEYS: queue, jobs, state, active, running. ARGV: in-progress prefix, now (ms), typical cost
# (ms), active window (ms), relax offset in clips, horizon (ms), clip ids…
_STANDING = _COMMON + """
local queue, jobs, state, active, running = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local progress, now = ARGV[1], tonumber(ARGV[2])
local typical, recent, relax_clips = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local horizon = tonumber(ARGV[6])
local busy = {}
for _, id in ipairs(redis.call('ZRANGE', running, 0, -1)) do
  local score = redis.call('ZSCORE', queue, id)
  if score and redis.call('EXISTS', progress .. id) == 1 then
    busy[#busy + 1] = {id, tonumber(score)}
  else
    redis.call('ZREM', running, id)  -- finished, or handed back: it waits again (or is gone)
  end
end
local V = tonumber(redis.call('HGET', state, 'V') or 0)
local flows = nil
local out = {}
for i = 7, #ARGV do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', queue, id)
  if not score then
    out[#out + 1] = -2; out[#out + 1] = 0
  elseif redis.call('EXISTS', progress .. id) == 1 then
    out[#out + 1] = -1; out[#out + 1] = 0
  else
    score = tonumber(score)
    local raw = redis.call('HGET', jobs, id)
    local j = raw and cjson.decode(raw)
    if j then  -- its score as its tag says (another clip of its server may have moved it since arq wrote it)
      local due = score_of(j.t, j.o, horizon, now)
      if due ~= score then
        redis.call('ZADD', queue, 'XX', due, id)
        score = due
      end
    end
    local ahead = redis.call('ZRANK', queue, id)
    for _, b in ipairs(busy) do
      if b[2] < score or (b[2] == score and b[1] < id) then ahead = ahead - 1 end
    end
    local more = 0
    if j and typical > 0 then
      flows = flows or redis.call('ZRANGEBYSCORE', active, now - recent, '+inf')
      for _, flow in ipairs(flows) do
        local lane, server = string.match(flow, '^([^:]+):(.*)$')
        if server ~= j.g and (lane == j.l or lane == 'fast') then
          local reach = j.t
          if lane == 'fast' and j.l == 'relax' then reach = j.t + relax_clips * j.c end
          local fs = tonumber(redis.call('HGET', state, 's:' .. flow) or 0)
          local w = tonumber(redis.call('HGET', state, 'w:' .. flow) or 1)
          local room = reach - math.max(V, fs)
          if room > 0 then more = more + math.floor(room * w / typical) end
        end
      end
    end
    out[#out + 1] = math.max(0, ahead); out[#out + 1] = more
  end
end
return out
"""


def _now_ms(now: float | None) -> int:
    return int((time.time() if now is None else now) * 1000)


async def tag(redis: Redis, model: str, clip_id: str, member_id: str | None, ticket: QueueTicket,
              policy: Policy, progress_prefix: str, now: float | None = None) -> Placed:
    """The clip's fair tag and score, atomically with every other bot shard's; the same again
    for a clip that has one (a re-queue)."""
    score, slot, again = await redis.eval(
        _TAG, 4, state_key(model), jobs_key(model), queue_name(model), active_key(model),
        clip_id, ticket.lane, ticket.guild_id or NO_SERVER, member_id or NO_SERVER, _cost_ms(ticket),
        max(ticket.weight, 0.01), policy.offset_ms(ticket), _now_ms(now), HORIZON_MS, WINDOW, progress_prefix,
        server_prefix(model))
    return Placed(int(score), int(slot), bool(again))


async def settle(redis: Redis, model: str, clip_id: str, now: float | None = None) -> None:
    await redis.eval(_SETTLE, 2, jobs_key(model), queue_name(model), clip_id, _now_ms(now), HORIZON_MS)


async def started(redis: Redis, model: str, clip_id: str) -> None:
    await redis.eval(_STARTED, 3, state_key(model), jobs_key(model), running_key(model), clip_id,
                     server_prefix(model))


async def forget(redis: Redis, model: str, clip_id: str, progress_prefix: str, refund: bool = False,
                 now: float | None = None) -> bool:
    """Drop the clip's record (it is final); `refund`: it was cancelled before it started."""
    done = await redis.eval(_FORGET, 4, state_key(model), jobs_key(model), queue_name(model), running_key(model),
                            clip_id,
                            server_prefix(model), "1" if refund else "0", progress_prefix, _now_ms(now),
                            HORIZON_MS, WINDOW)
    return bool(done)


@dataclass(frozen=True)
class Standing:
    """Where one clip stands: `ahead` waiting clips before it now (None: not queued; -1 never
    happens), `running`, and `more`: how many other active servers may still put ahead of it."""

    ahead: int | None
    running: bool = False
    more: int = 0


@dataclass(frozen=True)
class View:
    depth: int
    running: int
    fast: int  # waiting in the fast lane
    relax: int  # waiting in the relax lane
    oldest_queued_ms: int | None  # the oldest waiting clip's enqueue time
    clips: dict[str, Standing]

    @property
    def waiting(self) -> int:
        return self.fast + self.relax


VIEW_LIMIT = 20_000  # a walk this long takes a few ms of Redis time; a longer queue is counted by its head


async def counts(redis: Redis, model: str, progress_prefix: str, now: float | None = None) -> View:
    reply = await redis.eval(_COUNTS, 2, queue_name(model), jobs_key(model), progress_prefix, _now_ms(now),
                             VIEW_LIMIT)
    depth, running, fast, relax, oldest = (int(x) for x in reply)
    return View(depth, running, fast, relax, None if oldest < 0 else oldest, {})


async def standings(redis: Redis, model: str, progress_prefix: str, clip_ids: list[str], *,
                    typical_s: float = 30.0, policy: Policy = Policy(), now: float | None = None
                    ) -> dict[str, Standing]:
    if not clip_ids:
        return {}
    reply = await redis.eval(_STANDING, 5, queue_name(model), jobs_key(model), state_key(model), active_key(model),
                             running_key(model), progress_prefix, _now_ms(now), int(typical_s * 1000),
                             ACTIVE_S * 1000, policy.relax_behind_clips, HORIZON_MS, *clip_ids)
    out = {}
    for i, clip_id in enumerate(clip_ids):
        ahead, more = int(reply[2 * i]), int(reply[2 * i + 1])
        out[clip_id] = (Standing(None) if ahead == -2 else Standing(0, running=True) if ahead == -1
                        else Standing(ahead, more=more))
    return out


async def record_of(redis: Redis, model: str, clip_id: str) -> dict | None:
    """What the fair order keeps of a clip (tests and `reelbot usage` read it)."""
    raw = await redis.hget(jobs_key(model), clip_id)
    return json.loads(raw) if raw else None


async def virtual_time(redis: Redis, model: str) -> int | None:
    raw = await redis.hget(state_key(model), "V")
    return int(float(raw)) if raw is not None else None

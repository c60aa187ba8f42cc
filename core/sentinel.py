"""Redis behind Sentinel, named by one URL.

redis-py and arq take Sentinel as a list of sentinels and the primary's service name, not
as a URL; Reelbot's one setting, REELBOT_REDIS_URL, names both:

    redis+sentinel://[[user]:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]

The password (if any) is the primary's; sentinels that require one of their own take
`sentinel_password`. Every process asks the sentinels for the current primary whenever it
(re)connects, so a failover is followed like any other Redis outage: the calls in flight
fail, the process backs off, and the next connection goes to the promoted replica.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

SCHEME = "redis+sentinel"


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse(url: str) -> SentinelTarget | None:
    """The sentinels and service of a `redis+sentinel://` URL; None for any other URL.
    Raises ValueError, naming what is wrong, for a malformed one."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme != SCHEME:
        return None
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) if colon else None)
    sentinels = tuple(_host_port(h) for h in hosts.split(",") if h)
    if not sentinels:
        raise ValueError("no sentinel host:port before the service name")
    service, _, db = path.partition("/")
    if not service:
        raise ValueError("no service name: redis+sentinel://host:port[,host:port]/service_name[/db]")
    if db and not db.isdigit():
        raise ValueError(f"the database must be a number, not {db!r}")
    extra = parse_qs(query)
    return SentinelTarget(sentinels, unquote(service), int(db or 0), username, password,
                          extra.get("sentinel_password", [None])[0])


def _host_port(text: str) -> tuple[str, int]:
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError(f"a sentinel is host:port, not {text!r}")
    return host.strip("[]"), int(port)

"""Real servers for the tests, each on a free loopback port, stopped afterwards:
redis-server, a throwaway PostgreSQL cluster and moto's S3 in server mode."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from reelbot.local import free_port, start_redis, wait_for_port

__all__ = ["RedisServer", "SentinelCluster", "PostgresServer", "S3Server", "database_url", "free_port"]

_databases = itertools.count()


def database_url(request, folder: Path, name: str) -> str:
    """For a fixture parametrized over "sqlite" and "postgres": a SQLite file in `folder`, or a
    new database on the session's PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{folder / name}.db"
    return request.getfixturevalue("postgres_server").new_database(f"{name}_{next(_databases)}")


class RedisServer:
    """`appendonly=True` for outage tests: `kill()` it (SIGKILL, not a shutdown) and `restart()`
    it on the same port and data, as a crashed Redis comes back under its supervisor."""

    def __init__(self, appendonly: bool = False):
        self.dir = Path(tempfile.mkdtemp(prefix="reelbot-redis-"))
        self.appendonly = appendonly
        self.proc, self.url = start_redis(self.dir, appendonly=appendonly)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        self._fsync_always()

    def _fsync_always(self):
        # What the tests wrote before a kill must still be there after the restart.
        if self.appendonly:
            import redis

            with redis.Redis.from_url(self.url) as r:
                r.config_set("appendfsync", "always")

    def kill(self):
        self.proc.kill()
        self.proc.wait(10)

    def restart(self):
        self.proc, _ = start_redis(self.dir, port=self.port, appendonly=self.appendonly)
        self._fsync_always()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class SentinelCluster:
    """A Redis primary, one replica and three sentinels on loopback, as a managed Redis with
    Sentinel runs: `url` is the `redis+sentinel://` URL Reelbot's processes are given, and
    `kill_primary()` SIGKILLs the primary so that the sentinels promote the replica."""

    SERVICE = "reelbot"

    def __init__(self, down_after_ms: int = 1000):
        import redis

        self.dir = Path(tempfile.mkdtemp(prefix="reelbot-sentinel-"))
        self.procs: dict[int, subprocess.Popen] = {}
        self.primary = self._redis("primary")
        self.replica = self._redis("replica", "--replicaof", "127.0.0.1", str(self.primary))
        self.sentinels = [self._sentinel(i, down_after_ms) for i in range(3)]
        self.url = (f"redis+sentinel://{','.join(f'127.0.0.1:{p}' for p in self.sentinels)}/{self.SERVICE}/0")
        # Ready when the replica is in sync and every sentinel knows it and the two other sentinels.
        with redis.Redis(port=self.replica) as r:
            self._until(lambda: r.info("replication").get("master_link_status") == "up")
        for port in self.sentinels:
            with redis.Redis(port=port) as s:
                self._until(lambda s=s: len(s.execute_command("SENTINEL", "REPLICAS", self.SERVICE)) == 1
                            and len(s.execute_command("SENTINEL", "SENTINELS", self.SERVICE)) == 2)

    def _redis(self, name: str, *extra: str) -> int:
        from reelbot.local import redis_command

        port = free_port()
        # No wait before a full sync: a replica is in sync moments after it starts.
        argv = redis_command(self.dir / name, port, appendonly=False) + ["--repl-diskless-sync-delay", "0", *extra]
        self.procs[port] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, proc=self.procs[port])
        return port

    def _sentinel(self, i: int, down_after_ms: int) -> int:
        port = free_port()
        conf = self.dir / f"sentinel-{i}.conf"  # sentinels rewrite their own config: a file each
        conf.write_text(f"port {port}\nbind 127.0.0.1\ndir {self.dir}\n"
                        f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary} 2\n"
                        f"sentinel down-after-milliseconds {self.SERVICE} {down_after_ms}\n"
                        f"sentinel failover-timeout {self.SERVICE} 5000\n")
        self.procs[port] = subprocess.Popen([shutil.which("redis-server"), str(conf), "--sentinel"],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, proc=self.procs[port])
        return port

    @staticmethod
    def _until(check, timeout: float = 60.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise TimeoutError("the sentinel cluster did not settle")
            time.sleep(0.1)

    def primary_port(self) -> int:
        """The primary the sentinels name now."""
        import redis

        with redis.Redis(port=self.sentinels[0]) as s:
            return int(s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.SERVICE)[1])

    def kill_primary(self) -> int:
        port = self.primary_port()
        self.procs[port].kill()
        self.procs[port].wait(10)
        return port

    def wait_failover(self, old: int, timeout: float = 60.0) -> int:
        import redis

        def promoted() -> bool:
            try:
                port = self.primary_port()
                with redis.Redis(port=port) as r:
                    return port != old and r.info("replication")["role"] == "master"
            except (redis.RedisError, OSError):
                return False

        self._until(promoted, timeout)
        return self.primary_port()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise FileNotFoundError(f"PostgreSQL's {name} not found (apt-get install postgresql)")
    return found


class PostgresServer:
    """initdb + postgres on loopback, as the postgres user when we are root (initdb refuses root)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="reelbot-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        as_root = os.geteuid() == 0
        self._prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        if as_root:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self._start()
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "reelbot")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/reelbot"

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            self._prefix + [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                            "-k", str(self.dir), "-F", "-c", "fsync=off", "-c", "synchronous_commit=off",
                            "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30, proc=self.proc)

    def shut_down(self) -> None:
        """A fast shutdown, as a restart or a managed failover does: open sessions are cut off."""
        self._run(_pg_bin("pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w")
        self.proc.wait(30)

    def start_again(self) -> None:
        """The same cluster, port and data, back up."""
        self._start()

    def new_database(self, name: str) -> str:
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def _run(self, *cmd: str) -> None:
        subprocess.run(self._prefix + list(cmd), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(20)
        shutil.rmtree(self.dir, ignore_errors=True)


class S3Server:
    def __init__(self, bucket: str = "reelbot-test"):
        from moto.server import ThreadedMotoServer

        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        self.serving = True
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.bucket = bucket
        self.client().create_bucket(Bucket=bucket)

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def new_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def stop_serving(self) -> None:
        """S3 down: nothing answers on its port (its buckets are kept, in this process)."""
        self.server.stop()
        self.serving = False

    def serve_again(self) -> None:
        from moto.server import ThreadedMotoServer

        host, port = self.endpoint.rsplit("/", 1)[1].split(":")
        self.server = ThreadedMotoServer(ip_address=host, port=int(port), verbose=False)
        self.server.start()
        self.serving = True

    def stop(self):
        self.server.stop()

"""Real servers for the tests, each on a free loopback port, stopped afterwards:
redis-server, a throwaway PostgreSQL cluster and moto's S3 in server mode."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from reelbot.local import free_port, start_redis, wait_for_port

__all__ = ["RedisServer", "PostgresServer", "S3Server", "free_port"]


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
        self.proc = subprocess.Popen(
            self._prefix + [_pg_bin("postgres"), "-D", str(self.data), "-p", str(self.port), "-h", "127.0.0.1",
                            "-k", str(self.dir), "-F", "-c", "fsync=off", "-c", "synchronous_commit=off",
                            "-c", "full_page_writes=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, timeout=30, proc=self.proc)
        self._run(_pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "reelbot")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/reelbot"

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

    def stop(self):
        self.server.stop()

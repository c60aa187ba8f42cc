"""A render stack for end-to-end tests: real Redis, PostgreSQL, S3 (moto) and real
`reelbot worker` processes serving the tiny model."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from core.clips import ClipStore
from core.contract import OUTCOMES_STREAM, WORKERS_KEY, Outcome, Progress, RenderJob, Status
from core.events import read_progress
from core.flags import parse_prompt
from core.jobs import new_job
from core.migrate import upgrade_async
from core.queue import connect, enqueue
from core.storage import S3Storage

ROOT = Path(__file__).resolve().parents[1]
MODEL = "ltx-tiny"


class ReelbotProcess:
    """`python -m reelbot <command> [args]`, its output appended to `log_path`."""

    command = ""
    stop_timeout = 30.0

    def __init__(self, env: dict, log_path: Path, *args: str):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "reelbot", self.command, *args], env=env, cwd=ROOT,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no chance to finish anything."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self, timeout: float | None = None) -> int:
        """SIGTERM, then SIGKILL past `timeout`; the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout or self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log.close()
        return self.proc.returncode


class WorkerProcess(ReelbotProcess):
    command, stop_timeout = "worker", 60.0

    @property
    def worker_id(self) -> str:
        import socket

        return f"{socket.gethostname()}:{self.proc.pid}"


class ExporterProcess(ReelbotProcess):
    """`reelbot exporter`: queue metrics on `port`, and the reconciler."""

    command = "exporter"

    def __init__(self, env: dict, log_path: Path):
        from reelbot.local import free_port

        self.port = free_port()
        super().__init__({**env, "REELBOT_METRICS_PORT": str(self.port)}, log_path)


class Stack:
    def __init__(self, redis_url: str, database_url: str, s3, bucket: str, models_dir: Path, tmp: Path, **env):
        self.redis_url, self.database_url, self.s3, self.bucket = redis_url, database_url, s3, bucket
        self.tmp = tmp
        self.env = {
            **os.environ,
            "REELBOT_REDIS_URL": redis_url,
            "REELBOT_DATABASE_URL": database_url,
            "REELBOT_STORAGE_URL": f"s3://{bucket}/media",
            "REELBOT_S3_ENDPOINT_URL": s3.endpoint,
            "REELBOT_MODELS": MODEL,
            "REELBOT_MODELS_DIR": str(models_dir),
            "REELBOT_DEVICE": "cpu",
            "REELBOT_LOG_FORMAT": "json",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # two workers on two cores
            "REELBOT_PIPELINING": "1",  # on, as with a GPU (unset, a CPU worker runs without)
            **env,
        }
        self.workers: list[WorkerProcess] = []

    async def start(self) -> "Stack":
        await upgrade_async(self.database_url)
        self.redis = await connect(self.redis_url)
        self.store = ClipStore.from_url(self.database_url)
        self.storage = S3Storage(self.bucket, "media", endpoint_url=self.s3.endpoint)
        return self

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.tmp / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    async def wait_ready(self, *workers: WorkerProcess, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        want = {w.worker_id for w in workers}
        while time.monotonic() < deadline:
            seen = {json.loads(v)["id"] for v in (await self.redis.hgetall(WORKERS_KEY)).values()}
            if want <= seen:
                return
            for w in workers:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker exited: {w.log_path.read_text()[-3000:]}")
            await asyncio.sleep(0.2)
        raise TimeoutError("workers did not come up")

    async def submit(self, prompt: str, model: str = MODEL, **kw) -> RenderJob:
        """What the bot does: record the clip, then queue it."""
        job = new_job(parse_prompt(prompt), model=model, member_id="42", **kw)
        await self.store.add(id=job.clip_id, task=job.task.value, prompt=job.prompt, flags=job.flags,
                             seed=job.seed, model=job.model, author_id=job.member_id, status="queued")
        assert await enqueue(self.redis, job)
        return job

    async def wait_status(self, clip_id: str, statuses: set[str], timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            clip = await self.store.get(clip_id)
            if clip is not None and clip.status in statuses:
                return clip.status
            await asyncio.sleep(0.1)
        raise TimeoutError(f"clip {clip_id} never reached {statuses}; logs:\n{self.logs()}")

    async def wait_final(self, clip_id: str, timeout: float = 120) -> str:
        return await self.wait_status(clip_id, {s.value for s in Status if s.final}, timeout)

    async def wait_running(self, clip_id: str, min_step: int = 1, timeout: float = 60) -> Progress:
        """Until a worker has reported `min_step` denoising steps of the clip."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            progress = await read_progress(self.redis, clip_id)
            if progress and progress.status == "running" and progress.step >= min_step:
                return progress
            await asyncio.sleep(0.02)
        raise TimeoutError(f"clip {clip_id} never ran; logs:\n{self.logs()}")

    async def outcomes(self, clip_id: str | None = None) -> list[Outcome]:
        """Every outcome in the stream (of one clip when given), oldest first."""
        found = [Outcome.model_validate_json(f[b"outcome"]) for _, f in await self.redis.xrange(OUTCOMES_STREAM)]
        return [o for o in found if clip_id is None or o.clip_id == clip_id]

    def logs(self) -> str:
        return "\n".join(w.log_path.read_text()[-4000:] for w in self.workers)

    async def close(self) -> None:
        for w in self.workers:
            w.stop()
        await self.redis.close(close_connection_pool=True)
        await self.store.close()

import itertools
import os

import pytest

# No test may reach the network: model loading runs offline against local folders.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.servers import PostgresServer, RedisServer, S3Server  # noqa: E402

_stacks = itertools.count()


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models are all per-op overhead: one CPU thread is fastest, and on a busy
    machine two OpenMP threads waiting on each other can be 10x slower. Modules that
    render tiny models ask for it with `pytestmark = pytest.mark.usefixtures(...)`."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
async def redis(redis_server):
    """A client of the session's redis-server, emptied for the test."""
    from redis.asyncio import Redis

    r = Redis.from_url(redis_server.url)
    await r.flushdb()
    yield r
    await r.aclose()


@pytest.fixture(scope="session")
def postgres_server():
    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """One folder of tiny random-weight models for the whole run (built once, reloaded offline)."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tiny_model(models_dir):
    """The tiny LTX model built in `models_dir`, for the tests whose bot world starts workers on it."""
    from core.catalog import get_model
    from inference.loading import resolve_source

    return resolve_source(get_model("ltx-tiny"), None, models_dir)


@pytest.fixture
async def stack(redis_server, postgres_server, s3_server, models_dir, tmp_path):
    """A render stack with its own database, bucket and an empty Redis; start workers in the test."""
    from redis.asyncio import Redis

    from inference.loading import resolve_source
    from core.catalog import get_model
    from tests.stack import MODEL, Stack

    # Build the tiny model once, before workers start, so two workers never race to build it.
    resolve_source(get_model(MODEL), None, models_dir)
    n = next(_stacks)
    async with Redis.from_url(redis_server.url) as r:
        await r.flushdb()
    s = Stack(redis_server.url, postgres_server.new_database(f"stack_{n}"), s3_server,
              s3_server.new_bucket(f"stack-{n}"), models_dir, tmp_path)
    await s.start()
    yield s
    await s.close()

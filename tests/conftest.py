import os

import pytest

# No test may reach the network: model loading runs offline against local folders.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.servers import PostgresServer, RedisServer, S3Server  # noqa: E402


@pytest.fixture(scope="session")
def redis_server():
    server = RedisServer()
    yield server
    server.stop()


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

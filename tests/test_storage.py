import urllib.request

import pytest

from core.contract import poster_key, video_key
from core.storage import FileStorage, S3Storage, open_storage


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path):
    if request.param == "file":
        return FileStorage(tmp_path / "media")
    server = request.getfixturevalue("s3_server")
    bucket = server.new_bucket(f"st-{tmp_path.name.lower().replace('_', '-')[:40]}")
    return S3Storage(bucket, "prefix", endpoint_url=server.endpoint)


def test_put_get_overwrite_delete(storage):
    key = video_key("abc")
    storage.put(key, b"one", "video/mp4")
    storage.put(key, b"two", "video/mp4")  # a re-run overwrites, it does not add
    assert storage.get(key) == b"two"
    assert storage.keys("clips/") == [key]
    storage.put(poster_key("abc"), b"jpg")
    assert storage.exists(poster_key("abc"))
    storage.delete(key)
    assert not storage.exists(key)


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a//b", "a/./b", ""])
def test_bad_keys_refused(storage, key):
    with pytest.raises(ValueError):
        storage.put(key, b"x")


def test_presigned_url_fetches_the_object(s3_server):
    bucket = s3_server.new_bucket("presign")
    store = S3Storage(bucket, "media", endpoint_url=s3_server.endpoint, presign_seconds=120)
    store.put(video_key("c9"), b"mp4-bytes", "video/mp4")
    url = store.url(video_key("c9"))
    assert "Signature" in url and "media/clips/c9/clip.mp4" in url
    assert urllib.request.urlopen(url).read() == b"mp4-bytes"


def test_public_base_url_wins(tmp_path):
    store = open_storage(f"file://{tmp_path}", public_base_url="https://cdn.example/m/")
    assert store.url("clips/x/clip.mp4") == "https://cdn.example/m/clips/x/clip.mp4"
    s3 = open_storage("s3://bucket/pre", public_base_url="https://cdn.example", endpoint_url="http://127.0.0.1:1")
    assert s3.url("clips/x/clip.mp4") == "https://cdn.example/pre/clips/x/clip.mp4"


def test_relative_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_storage("file://./media")
    store.put("clips/a/clip.mp4", b"x")
    assert (tmp_path / "media/clips/a/clip.mp4").read_bytes() == b"x"

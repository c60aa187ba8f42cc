import urllib.request

import pytest

from core.contract import input_key, poster_key, public_key, video_key
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


def test_public_base_url_wins_for_public_keys(tmp_path):
    store = open_storage(f"file://{tmp_path}", public_base_url="https://cdn.example/m/")
    assert store.url("public/clips/x/clip.mp4") == "https://cdn.example/m/public/clips/x/clip.mp4"
    s3 = open_storage("s3://bucket/pre", public_base_url="https://cdn.example", endpoint_url="http://127.0.0.1:1")
    assert s3.url("public/clips/x/clip.mp4") == "https://cdn.example/pre/public/clips/x/clip.mp4"


def test_relative_file_url(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = open_storage("file://./media")
    store.put("clips/a/clip.mp4", b"x")
    assert (tmp_path / "media/clips/a/clip.mp4").read_bytes() == b"x"


def test_only_public_keys_get_a_permanent_url_everything_else_is_presigned(s3_server):
    bucket = s3_server.new_bucket("public-prefix")
    base = f"{s3_server.endpoint}/{bucket}"
    store = S3Storage(bucket, "media", endpoint_url=s3_server.endpoint, public_base_url=base, presign_seconds=120)
    for key in (video_key("p1"), public_key(video_key("p1")), input_key("p1", "image.png")):
        store.put(key, b"bytes of " + key.encode())
    public = store.url(public_key(video_key("p1")))
    assert public == f"{base}/media/public/clips/p1/clip.mp4" and store.public_url(public_key(video_key("p1")))
    for private in (video_key("p1"), input_key("p1", "image.png")):  # a private clip, a member's upload
        url = store.url(private)
        assert "Signature" in url and store.public_url(private) is None
        assert urllib.request.urlopen(url).read() == b"bytes of " + private.encode()
    folder = open_storage("file:///srv/media", public_base_url="https://cdn.example/m/")
    assert folder.url("clips/x/clip.mp4").startswith("file://") and folder.public_url("clips/x/clip.mp4") is None


async def test_a_posted_public_clip_is_published_and_a_deleted_one_leaves_nothing(storage, tmp_path):
    from core.clips import ClipStore
    from core.media import publish, purge
    from core.migrate import upgrade_async

    url = f"sqlite:///{tmp_path / 'media.db'}"
    await upgrade_async(url)
    store = ClipStore.from_url(url)
    try:
        for clip_id, private in (("pub", False), ("mine", True)):
            storage.put(video_key(clip_id), b"mp4")
            storage.put(poster_key(clip_id), b"jpg")
            storage.put(input_key(clip_id, "image.png"), b"png")
            await store.add(id=clip_id, task="image-to-video", prompt="p", flags={}, seed=1, model="ltx-tiny",
                            status="done", private=private, video_key=video_key(clip_id),
                            poster_key=poster_key(clip_id), input_keys={"image": input_key(clip_id, "image.png")})
        storage.put(input_key("parent", "image.png"), b"the parent's")  # reused by "pub"'s retry, say

        clip = await publish(storage, store, await store.get("pub"))
        assert (clip.video_key, clip.poster_key) == ("public/clips/pub/clip.mp4", "public/clips/pub/poster.jpg")
        assert storage.get(clip.video_key) == b"mp4" and not storage.exists(video_key("pub"))
        assert (await publish(storage, store, clip)).video_key == clip.video_key  # twice: no change
        private = await publish(storage, store, await store.get("mine"))
        assert private.video_key == video_key("mine") and storage.keys("public/") == [clip.video_key, clip.poster_key]

        assert await purge(storage, "pub") == 3
        assert await purge(storage, "mine") == 3
        assert storage.keys() == [input_key("parent", "image.png")]
        assert await purge(storage, "pub") == 0
    finally:
        await store.close()

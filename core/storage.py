"""Media storage: a local folder (`file://`) or S3 and S3-compatible stores (`s3://bucket/prefix`).

Keys come from the clip id (see contract.video_key), so a re-run overwrites instead of
duplicating. Calls are blocking; async callers wrap them in `asyncio.to_thread`.

Only keys under `public/` (contract.PUBLIC_PREFIX: public clips' video and poster, copied
there once the clip is posted, see core/media.py) may be world-readable: with
REELBOT_PUBLIC_BASE_URL they get a permanent URL under it, and the deployment makes only that
prefix public (deploy/compose.yaml). Every other key (members' inputs, private clips, clips
not posted yet) is served by a presigned URL that expires (S3), or not at all (a folder).
"""

from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path
from urllib.parse import quote, urlparse

from core.contract import PUBLIC_PREFIX


class Storage:
    public_base_url: str | None = None

    def put(self, key: str, data: bytes, content_type: str | None = None) -> None: ...
    def get(self, key: str) -> bytes: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> list[str]: ...
    def copy(self, source: str, target: str) -> None: ...
    def url(self, key: str) -> str: ...

    def public_url(self, key: str) -> str | None:
        """A URL that keeps working, for a key under public/ when a public base URL is set; else None."""
        if not self.public_base_url or not key.startswith(PUBLIC_PREFIX):
            return None
        return f"{self.public_base_url.rstrip('/')}/{quote(self._public_path(_check_key(key)))}"

    def _public_path(self, key: str) -> str:
        return key

    def delete_prefix(self, prefix: str) -> int:
        """Delete every key under `prefix` (which must end in "/"); returns how many."""
        if not prefix.endswith("/"):
            raise ValueError(f"a prefix to delete must end in '/': {prefix!r}")
        found = self.keys(_check_key(prefix.rstrip("/")) + "/")
        for key in found:
            self.delete(key)
        return len(found)


def _content_type(key: str, given: str | None) -> str:
    return given or mimetypes.guess_type(key)[0] or "application/octet-stream"


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad storage key: {key!r}")
    return key


class FileStorage(Storage):
    def __init__(self, root: Path, public_base_url: str | None = None):
        self.root = root.resolve()
        self.public_base_url = public_base_url

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key, data, content_type=None):
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a clip.
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)

    def get(self, key):
        return self._path(key).read_bytes()

    def exists(self, key):
        return self._path(key).is_file()

    def delete(self, key):
        path = self._path(key)
        path.unlink(missing_ok=True)
        # Empty folders left behind (clips/<id>/) go too, up to the root.
        for parent in path.parents:
            if parent == self.root or not parent.is_relative_to(self.root):
                break
            try:
                parent.rmdir()
            except OSError:
                break

    def keys(self, prefix=""):
        if not self.root.exists():
            return []
        found = (p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())
        return sorted(k for k in found if k.startswith(prefix))

    def copy(self, source, target):
        self.put(target, self.get(source))

    def url(self, key):
        """The public URL of a public key; otherwise the file's own path, which only this host can
        read (the gallery serves public clips from the folder itself, gallery/media.py)."""
        return self.public_url(key) or self._path(key).as_uri()


class S3Storage(Storage):
    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 public_base_url: str | None = None, presign_seconds: int = 3600, client=None):
        try:
            import boto3  # only processes that use S3 pay for the import (and install it: reelbot[s3])
        except ImportError:
            from core.settings import SettingsError

            raise SettingsError("bad setting REELBOT_STORAGE_URL: s3:// storage needs boto3 "
                                "(pip install 'reelbot[s3]')") from None

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.public_base_url = public_base_url
        self.presign_seconds = presign_seconds
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url)

    def _key(self, key: str) -> str:
        key = _check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key, data, content_type=None):
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data,
                               ContentType=_content_type(key, content_type))

    def get(self, key):
        return self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()

    def exists(self, key):
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise

    def delete(self, key):
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def keys(self, prefix=""):
        full = f"{self.prefix}/{prefix}" if self.prefix else prefix
        strip = len(self.prefix) + 1 if self.prefix else 0
        out = []
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full):
            out.extend(obj["Key"][strip:] for obj in page.get("Contents", []))
        return sorted(out)

    def copy(self, source, target):
        # Server-side: the bytes never pass through this process.
        self.client.copy_object(Bucket=self.bucket, Key=self._key(target),
                                CopySource={"Bucket": self.bucket, "Key": self._key(source)})

    def _public_path(self, key):
        return self._key(key)  # the base URL is the bucket's; objects sit under the prefix

    def url(self, key):
        """The permanent public URL of a public key; otherwise a presigned one that expires."""
        return self.public_url(key) or self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=self.presign_seconds
        )


def unavailable(error: BaseException) -> bool:
    """Storage is away (down, unreachable, overloaded, a disk or mount gone): worth waiting
    out, unlike a refusal of what was asked (no such bucket, access denied)."""
    if isinstance(error, OSError):
        return True
    try:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError
    except ImportError:
        return False
    if isinstance(error, (ConnectionError, HTTPClientError)):
        return True
    if isinstance(error, ClientError):
        response = error.response or {}
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or response.get("Error", {}).get("Code") in ("SlowDown", "RequestTimeout")
    return False


def open_storage(storage_url: str, *, endpoint_url: str | None = None, public_base_url: str | None = None,
                 presign_seconds: int = 3600) -> Storage:
    parsed = urlparse(storage_url)
    if parsed.scheme == "file":
        # file://./media (relative) and file:///abs/path both work.
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        return FileStorage(Path(path), public_base_url)
    if parsed.scheme == "s3":
        return S3Storage(parsed.netloc, parsed.path, endpoint_url=endpoint_url,
                         public_base_url=public_base_url, presign_seconds=presign_seconds)
    raise ValueError(f"unsupported storage URL {storage_url!r}: use file:// or s3://")


def storage_from_settings(settings) -> Storage:
    return open_storage(settings.storage_url, endpoint_url=settings.s3_endpoint_url,
                        public_base_url=settings.public_base_url, presign_seconds=settings.presign_seconds)

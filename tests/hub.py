"""A Hugging Face hub on loopback for the weights tests: repositories with commits and a `main`
branch, the API calls huggingface_hub makes (revision info, file tree) and file downloads with
Range requests. `drop_once` cuts a file's first download halfway, as a flaky network does;
`hold` keeps a file's downloads waiting (for a test to kill the client meanwhile)."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from tests.servers import free_port


@dataclass
class Repo:
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)  # sha -> path -> bytes
    refs: dict[str, str] = field(default_factory=dict)  # branch -> sha

    def add_commit(self, files: dict[str, bytes], branch: str = "main") -> str:
        sha = hashlib.sha1(b"".join(hashlib.sha1(p.encode() + d).digest() for p, d in sorted(files.items()))).hexdigest()
        self.commits[sha] = dict(files)
        self.refs[branch] = sha
        return sha


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


class FakeHub:
    def __init__(self):
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Range)
        self.drop_once: set[str] = set()  # file paths whose first GET stops halfway
        self.hold: dict[str, threading.Event] = {}  # file paths whose GETs wait for their event
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def repo(self, name: str) -> Repo:
        return self.repos.setdefault(name, Repo())

    def downloads(self, path: str) -> list[str | None]:
        """The Range header of every GET of `path`'s file."""
        return [rng for method, p, rng in self.requests if method == "GET" and "/resolve/" in p and p.endswith("/" + path)]

    # --- the server ------------------------------------------------------------------------

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/api/models/{owner}/{name}", self._revision)
        app.router.add_get("/api/models/{owner}/{name}/revision/{rev}", self._revision)
        app.router.add_get("/api/models/{owner}/{name}/tree/{rev}", self._tree)
        app.router.add_get("/api/models/{owner}/{name}/tree/{rev}/{path:.*}", self._tree)
        app.router.add_route("*", "/{owner}/{name}/resolve/{rev}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _find(self, request: web.Request) -> tuple[str, str, dict[str, bytes]]:
        name = f"{request.match_info['owner']}/{request.match_info['name']}"
        repo = self.repos.get(name)
        if repo is None:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RepoNotFound"})
        rev = request.match_info.get("rev", "main")
        sha = repo.refs.get(rev, rev)
        if sha not in repo.commits:
            raise web.HTTPNotFound(headers={"X-Error-Code": "RevisionNotFound"})
        return name, sha, repo.commits[sha]

    async def _revision(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, None))
        name, sha, files = self._find(request)
        return web.json_response({"id": name, "modelId": name, "sha": sha, "private": False, "gated": False,
                                  "siblings": [{"rfilename": p} for p in files]})

    async def _tree(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.path, None))
        _name, _sha, files = self._find(request)
        prefix = request.match_info.get("path", "")
        entries, folders = [], set()
        for path, data in files.items():
            if prefix and not path.startswith(prefix.rstrip("/") + "/"):
                continue
            parts = path.split("/")
            folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
            entries.append({"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()})
        entries += [{"type": "directory", "path": f, "size": 0, "oid": hashlib.sha1(f.encode()).hexdigest()}
                    for f in sorted(folders)]
        return web.json_response(entries)

    async def _file(self, request: web.Request) -> web.StreamResponse:
        rng = request.headers.get("Range")
        self.requests.append((request.method, request.path, rng))
        _name, sha, files = self._find(request)
        path = request.match_info["path"]
        if path not in files:
            raise web.HTTPNotFound(headers={"X-Error-Code": "EntryNotFound"})
        data = files[path]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                   "Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(data))})
        if path in self.hold:
            await asyncio.to_thread(self.hold[path].wait, 60)
        start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
        body = data[start:]
        response = web.StreamResponse(status=206 if rng else 200, headers={
            **headers, "Content-Length": str(len(body)),
            **({"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if rng else {})})
        await response.prepare(request)
        if path in self.drop_once and rng is None:
            self.drop_once.discard(path)
            await response.write(body[: len(body) // 2])
            request.transport.close()  # the connection drops mid-file
            return response
        await response.write(body)
        await response.write_eof()
        return response

"""deploy/ checked offline: Dockerfiles (hadolint), the compose file (the Compose spec's
schema), the Kubernetes overlays (rendered by kubectl's built-in kustomize, validated against
Kubernetes' schemas and KEDA's CRD models), and all of them against core/settings.py: every
REELBOT_ variable exists and parses, every process gets what it needs, and each KEDA trigger
asks for the same Redis queue its workers consume. The tools come with the `dev` extra."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import kubernetes_validate
import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from core.contract import queue_name
from core.metrics import QueueCollector, exporter_app
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
OVERLAYS = ["base", "overlays/dev", "overlays/prod"]
K8S_VERSIONS = ["1.29.0", kubernetes_validate.latest_version()]
SETTINGS = {"REELBOT_" + name.upper() for name in Settings.model_fields}

# What each process cannot run without, beyond Settings' defaults (which suit one laptop,
# not a cluster: SQLite and a local media folder cannot be shared between hosts).
NEEDS = {
    "bot": {"REELBOT_REDIS_URL", "REELBOT_DATABASE_URL", "REELBOT_STORAGE_URL", "REELBOT_DISCORD_TOKEN",
            "REELBOT_BOT_CONSUMER", "REELBOT_METRICS_PORT"},
    "gallery": {"REELBOT_DATABASE_URL", "REELBOT_STORAGE_URL", "REELBOT_GALLERY_HOST", "REELBOT_GALLERY_PORT"},
    "worker": {"REELBOT_REDIS_URL", "REELBOT_DATABASE_URL", "REELBOT_STORAGE_URL", "REELBOT_MODELS",
               "REELBOT_DEVICE", "REELBOT_JOB_TIMEOUT", "REELBOT_STOP_GRACE_SECONDS", "REELBOT_METRICS_PORT",
               "REELBOT_METRICS_HOST"},
    "exporter": {"REELBOT_REDIS_URL", "REELBOT_METRICS_PORT", "REELBOT_METRICS_HOST"},
    "migrate": {"REELBOT_DATABASE_URL"},
}


def tool(name: str) -> str:
    """A binary from the dev extra: next to this interpreter (a venv need not be on PATH)."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    assert found, f"{name} is missing: pip install -e '.[dev]'"
    return found


def run(*cmd: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, **kw)


# ---------------------------------------------------------------- Dockerfiles

DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))


def test_there_is_an_app_and_a_worker_image():
    assert [p.name for p in DOCKERFILES] == ["app.Dockerfile", "worker.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_passes_hadolint(dockerfile):
    result = run(tool("hadolint"), "--no-color", str(dockerfile))
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_does_fail_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install curl\nRUN cd /tmp\n")
    assert run(tool("hadolint"), "--no-color", str(bad)).returncode != 0


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_multi_stage_pinned_non_root_with_a_healthcheck(dockerfile):
    steps = _instructions(dockerfile)
    base = next(v for k, v in steps if k == "ARG" and v.startswith("PYTHON_IMAGE="))
    assert re.fullmatch(r"PYTHON_IMAGE=python:3\.11\.\d+-slim-bookworm", base), base
    froms = [v for k, v in steps if k == "FROM"]
    assert len(froms) >= 2 and "AS build" in froms[0]
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM"):]
    user = [v for k, v in final if k == "USER"]
    assert user and not user[-1].startswith(("root", "0")), user
    assert any(k == "HEALTHCHECK" for k, _ in final)
    assert next(v for k, v in final if k == "ENTRYPOINT") == '["reelbot"]'  # exec form: PID 1 gets SIGTERM
    for k, v in steps:
        if k == "ENV":
            names = set(re.findall(r"\b(REELBOT_[A-Z_]+)=", v))
            assert names <= SETTINGS, names - SETTINGS


def test_the_worker_image_pins_torch_and_the_app_image_has_none():
    worker = (DEPLOY / "docker" / "worker.Dockerfile").read_text()
    app = (DEPLOY / "docker" / "app.Dockerfile").read_text()
    assert re.search(r'ARG TORCH_VERSION=\d+\.\d+\.\d+', worker) and '"torch==${TORCH_VERSION}"' in worker
    assert '".[worker]"' in worker
    assert '".[bot,gallery]"' in app and "torch==" not in app and "[worker" not in app
    for ignore in (DEPLOY / "docker").glob("*.dockerignore"):
        lines = ignore.read_text().split()
        assert lines[lines.index("*")] == "*" and "!.env" not in lines  # allow-list: secrets stay out


# ---------------------------------------------------------------- Compose


def _compose_schema() -> dict:
    import check_jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas" / "vendor" / "compose-spec.json"
    return json.loads(path.read_text())


def test_compose_file_validates_against_the_compose_spec():
    result = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "compose.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_schema_does_reject_a_bad_file():
    import jsonschema

    bad = {"services": {"worker": {"image": "x", "stop_grace_period": "16m", "deploy": {"resources": {
        "reservations": {"devices": [{"driver": "nvidia", "gpus": 1}]}}}}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, _compose_schema())


def _env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name.strip()] = value.strip()
    return env


def _interpolate(value, env: dict[str, str]):
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$ against the example env file."""
    if isinstance(value, dict):
        return {k: _interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def one(match):
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if env.get(name):
            return env[name]
        assert op != ":?", f"${{{name}}} is required but deploy/env.example leaves it empty"
        return arg if op == ":-" else ""

    return re.sub(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}", one, value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    example = _env_file(DEPLOY / "env.example")
    return _interpolate(yaml.safe_load((DEPLOY / "compose.yaml").read_text()), example)


def _compose_env(service: dict) -> dict[str, str]:
    env = {}
    for name in service.get("env_file", []):
        assert name == ".env", "secrets come from deploy/.env, whose template is env.example"
        env.update(_env_file(DEPLOY / "env.example"))
    env.update({k: str(v) for k, v in (service.get("environment") or {}).items()})
    return env


def _role(command) -> str:
    return command[0]


def test_env_example_names_only_real_settings_and_env_is_ignored_by_git():
    names = {n for n in _env_file(DEPLOY / "env.example") if n.startswith("REELBOT_")}
    assert names and names <= SETTINGS, names - SETTINGS
    assert run("git", "check-ignore", "-q", "deploy/.env", cwd=ROOT).returncode == 0


def test_compose_services_get_every_setting_they_need(compose, monkeypatch):
    roles = {}
    for name, service in compose["services"].items():
        if "reelbot" not in str(service.get("image")):
            continue
        role = _role(service["command"])
        roles.setdefault(role, []).append(name)
        env = _compose_env(service)
        _check_settings(f"compose {name}", role, env, monkeypatch)
    assert set(roles) == set(NEEDS), roles
    assert len(roles["worker"]) >= 2  # one service per GPU


def test_compose_workers_each_reserve_their_own_gpu_and_outlast_their_grace(compose):
    devices = []
    for name, service in compose["services"].items():
        if service.get("command") != ["worker"]:
            continue
        [reservation] = service["deploy"]["resources"]["reservations"]["devices"]
        assert reservation["driver"] == "nvidia" and reservation["capabilities"] == ["gpu"]
        devices += reservation["device_ids"]
        grace = int(_compose_env(service)["REELBOT_STOP_GRACE_SECONDS"])
        assert _duration(service["stop_grace_period"]) >= grace + 30, name
        assert "models:/models" in service["volumes"]  # weights in a volume, never in the image
    assert len(devices) == len(set(devices)) >= 2


def test_compose_state_is_durable_and_waits_for_migrations(compose):
    services = compose["services"]
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    assert services["redis"]["volumes"] and services["postgres"]["volumes"] and services["minio"]["volumes"]
    for name in ("bot", "gallery", "worker-gpu0"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"


def _anonymous_reads(script: str) -> list[str]:
    """The paths a MinIO setup script makes readable by anyone (`mc anonymous set download|public`)."""
    reads = []
    for line in script.splitlines():
        words = line.split()
        if words[:3] == ["mc", "anonymous", "set"]:
            if words[3] == "none":
                reads.clear()
            else:
                assert words[3] in ("download", "public"), line
                reads.append(words[4])
    return reads


def _setup_scripts(compose) -> list[tuple[str, str, str]]:
    """(where, setup script, REELBOT_STORAGE_URL) for compose's and the dev overlay's MinIO."""
    found = [("compose", compose["services"]["minio-setup"]["command"][0],
              compose["x-state"]["REELBOT_STORAGE_URL"])]
    docs = render("overlays/dev")
    [job] = [d for d in docs if d["kind"] == "Job" and d["metadata"]["name"].endswith("minio-setup")]
    [config] = [d for d in docs if d["kind"] == "ConfigMap" and "REELBOT_STORAGE_URL" in d.get("data", {})]
    found.append(("dev overlay", job["spec"]["template"]["spec"]["containers"][0]["args"][0],
                  config["data"]["REELBOT_STORAGE_URL"]))
    return found


def test_only_public_clips_media_is_world_readable(compose, s3_server):
    from core.contract import input_key, public_key, video_key
    from core.storage import S3Storage

    for where, script, storage_url in _setup_scripts(compose):
        bucket, prefix = urlparse(storage_url).netloc, urlparse(storage_url).path.strip("/")
        # Nothing but the public/ prefix: not the bucket, not media/ (inputs, -private clips).
        assert _anonymous_reads(script) == [f"local/{bucket}/{prefix}/public"], where
    # And the links Reelbot posts for public clips point inside that prefix, the others are presigned.
    base = _env_file(DEPLOY / "env.example")["REELBOT_PUBLIC_BASE_URL"]
    storage = S3Storage("reelbot", "media", public_base_url=base, client=s3_server.client())
    assert storage.url(public_key(video_key("c1"))) == f"{base}/media/public/clips/c1/clip.mp4"
    for private in (video_key("c1"), input_key("c1", "image.png")):
        assert "Signature" in storage.url(private) and storage.public_url(private) is None


def test_hf_token_reaches_the_workers_through_the_deploy_secrets(compose):
    assert "HF_TOKEN" in _env_file(DEPLOY / "env.example")
    workers = [s for s in compose["services"].values() if s.get("command") == ["worker"]]
    assert workers and all("HF_TOKEN" in _compose_env(s) for s in workers)
    template = yaml.safe_load((DEPLOY / "k8s" / "base" / "secret.example.yaml").read_text())
    assert "HF_TOKEN" in template["stringData"]
    for overlay in ("base", "overlays/prod"):
        docs = render(overlay)
        containers = [c for _doc, _spec, c in _workloads(docs) if c["args"][0] == "worker"]
        assert containers and all("HF_TOKEN" in _container_env(c, docs) for c in containers), overlay


def _duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([smh])", text))


# ---------------------------------------------------------------- Kubernetes


def render(overlay: str) -> list[dict]:
    result = run(tool("kubectl"), "kustomize", str(DEPLOY / "k8s" / overlay))
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request) -> tuple[str, list[dict]]:
    return request.param, render(request.param)


def validate_scaled_object(doc: dict) -> None:
    """KEDA's ScaledObject against KEDA's CRD models; unknown fields are errors (strict)."""
    from cloudcoil.models.keda.v1alpha1 import ScaledObject

    model = ScaledObject.model_validate(doc)
    unknown = _unknown_keys(doc, model.model_dump(mode="json", by_alias=True, exclude_unset=True))
    assert not unknown, f"ScaledObject {doc['metadata']['name']}: unknown fields {unknown}"


def _unknown_keys(given, parsed, path="") -> list[str]:
    if isinstance(given, dict):
        out = []
        for key, value in given.items():
            if not isinstance(parsed, dict) or key not in parsed:
                out.append(f"{path}.{key}")
            else:
                out += _unknown_keys(value, parsed[key], f"{path}.{key}")
        return out
    if isinstance(given, list) and isinstance(parsed, list):
        return [k for g, p in zip(given, parsed) for k in _unknown_keys(g, p, path + "[]")]
    return []


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_manifests_validate_against_kubernetes_and_keda_schemas(rendered, version):
    overlay, docs = rendered
    kinds = set()
    for doc in docs:
        kinds.add(doc["kind"])
        if doc["kind"] == "ScaledObject":
            validate_scaled_object(doc)
        else:
            kubernetes_validate.validate(doc, version, strict=True)
    assert {"Deployment", "StatefulSet", "Service", "PodDisruptionBudget", "ScaledObject", "Job",
            "ConfigMap"} <= kinds, (overlay, kinds)


def test_the_validators_do_reject_bad_manifests():
    deployment = next(d for d in render("base") if d["kind"] == "Deployment")
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # a typo: "resources"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[-1], strict=True)
    scaled = next(d for d in render("base") if d["kind"] == "ScaledObject")
    scaled["spec"]["minReplicas"] = 0  # not KEDA's name
    with pytest.raises(AssertionError, match="minReplicas"):
        validate_scaled_object(scaled)
    del scaled["spec"]["minReplicas"], scaled["spec"]["scaleTargetRef"]
    with pytest.raises(Exception, match="scaleTargetRef"):
        validate_scaled_object(scaled)


def test_secret_template_validates_and_names_real_settings():
    secret = yaml.safe_load((DEPLOY / "k8s" / "base" / "secret.example.yaml").read_text())
    kubernetes_validate.validate(secret, K8S_VERSIONS[-1], strict=True)
    names = {n for n in secret["stringData"] if n.startswith("REELBOT_")}
    assert names <= SETTINGS, names - SETTINGS


def _by_kind(docs, kind) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _container_env(container: dict, docs: list[dict]) -> dict[str, str]:
    """What the container's process sees: envFrom ConfigMaps and Secrets, then env."""
    configmaps, secrets = _by_kind(docs, "ConfigMap"), _by_kind(docs, "Secret")
    template = yaml.safe_load((DEPLOY / "k8s" / "base" / "secret.example.yaml").read_text())
    env = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(configmaps[source["configMapRef"]["name"]]["data"])
        else:
            name = source["secretRef"]["name"]
            # A generated Secret (dev) is in the render; otherwise the operator creates it from the template.
            secret = secrets.get(name) or (template if name == template["metadata"]["name"] else None)
            assert secret is not None, f"secret {name} is neither generated nor templated"
            env.update(secret.get("stringData") or {})
            env.update({k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()})
    for var in container.get("env", []):
        env[var["name"]] = var.get("value", "from-the-pod")  # fieldRef: the pod's name
    return env


def _workloads(docs):
    for doc in docs:
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"]:
                if container["image"].split("/")[-1].startswith(("app", "worker", "reelbot-")):
                    yield doc, spec, container


def _check_settings(where: str, role: str, env: dict[str, str], monkeypatch) -> Settings:
    names = {n for n in env if n.startswith("REELBOT_")}
    assert names <= SETTINGS, f"{where}: not settings: {sorted(names - SETTINGS)}"
    missing = NEEDS[role] - names
    assert not missing, f"{where} ({role}) lacks {sorted(missing)}"
    for name in list(os.environ):
        if name.startswith("REELBOT_"):
            monkeypatch.delenv(name)
    for name in names:
        monkeypatch.setenv(name, env[name])
    settings = Settings(_env_file=None)  # raises on a value that does not parse
    if "REELBOT_STORAGE_URL" in NEEDS[role]:
        assert settings.storage_url.startswith("s3://"), f"{where}: hosts share media through S3"
    if "REELBOT_DATABASE_URL" in NEEDS[role]:
        assert settings.database_url.startswith("postgresql://"), f"{where}: hosts share PostgreSQL"
    return settings


def test_k8s_workloads_get_every_setting_they_need(rendered, monkeypatch):
    overlay, docs = rendered
    roles = set()
    for doc, spec, container in _workloads(docs):
        role = container["args"][0]
        roles.add(role)
        env = _container_env(container, docs)
        settings = _check_settings(f"{overlay} {doc['metadata']['name']}", role, env, monkeypatch)
        ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
        if role in ("worker", "exporter", "bot"):
            assert ports["metrics"] == settings.metrics_port and settings.metrics_host == "0.0.0.0"
        if role == "gallery":
            assert ports["http"] == settings.gallery_port and settings.gallery_host == "0.0.0.0"
        if role == "bot":
            assert doc["kind"] == "StatefulSet"  # a stable consumer name per shard group
            # Without shard settings every replica would receive every interaction.
            assert doc["spec"]["replicas"] == 1 or any("shard" in f for f in Settings.model_fields)
            [consumer] = [v for v in container["env"] if v["name"] == "REELBOT_BOT_CONSUMER"]
            assert consumer["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
        if role == "worker":
            _check_worker(overlay, doc, spec, container, settings)
    assert roles == set(NEEDS), (overlay, roles)


def _check_worker(overlay, doc, spec, container, settings):
    name = doc["metadata"]["name"]
    [model] = settings.models  # one model per Deployment: one queue, one ScaledObject
    assert name == f"reelbot-worker-{model}"
    assert doc["metadata"]["labels"]["reelbot.dev/model"] == model
    assert "replicas" not in doc["spec"], f"{name}: KEDA owns the replica count"
    grace = spec["terminationGracePeriodSeconds"]
    assert grace >= settings.stop_grace_seconds + 30 and grace >= settings.job_timeout, (name, grace)
    probes = {k: container[k]["httpGet"]["path"] for k in ("livenessProbe", "readinessProbe")}
    assert probes == {"livenessProbe": "/livez", "readinessProbe": "/readyz"}
    resources = container["resources"]
    if settings.device == "cuda":
        assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    else:
        assert "nvidia.com/gpu" not in resources.get("limits", {})
    assert resources["limits"]["memory"] and resources["requests"]["cpu"]
    # The weights pass through host memory on their way to the GPU: room for them and the process.
    from core.catalog import get_model

    weights = get_model(model).weights_gib
    assert _gib(resources["requests"]["memory"]) >= weights + 1, (name, weights, resources)
    assert _gib(resources["limits"]["memory"]) >= _gib(resources["requests"]["memory"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "persistentVolumeClaim" in volumes[mounts["/models"]]  # weights in a volume, never in the image


def _gib(quantity: str) -> float:
    units = {"Ki": 2**-20, "Mi": 2**-10, "Gi": 1, "Ti": 2**10}
    number, unit = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]i)", quantity).groups()
    return float(number) * units[unit]


def test_every_workload_has_requests_limits_and_a_disruption_budget(rendered):
    overlay, docs = rendered
    budgets = _by_kind(docs, "PodDisruptionBudget").values()
    for doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        template = doc["spec"]["template"]
        for container in template["spec"]["containers"]:
            assert container["resources"]["requests"] and container["resources"]["limits"]["memory"], \
                (overlay, doc["metadata"]["name"])
        if doc["metadata"]["name"].startswith("reelbot-"):
            labels = template["metadata"]["labels"]
            matching = [b for b in budgets if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
            assert len(matching) == 1, (overlay, doc["metadata"]["name"], len(matching))
    gallery = _by_kind(docs, "Deployment")["reelbot-gallery"]
    assert gallery["spec"]["replicas"] >= 2
    assert _by_kind(docs, "Ingress")["reelbot-gallery"]["spec"]["rules"][0]["http"]["paths"][0]["backend"][
        "service"]["name"] == "reelbot-gallery"


def _namespace(docs) -> str:
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    assert len(namespaces) == 1, namespaces
    return namespaces.pop() or "reelbot"


def _gjson(body: dict, location: str):
    value = body
    for part in location.split("."):
        value = value[part]
    return value


async def test_each_keda_trigger_reads_the_queue_its_workers_consume(rendered, redis_server, monkeypatch):
    from worker.main import build_workers
    from worker.runtime import Runtime

    overlay, docs = rendered
    namespace = _namespace(docs)
    deployments, services = _by_kind(docs, "Deployment"), _by_kind(docs, "Service")
    scaled = _by_kind(docs, "ScaledObject")
    workers = {n: d for n, d in deployments.items() if d["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]}
    assert workers and {s["spec"]["scaleTargetRef"]["name"] for s in scaled.values()} == set(workers)
    exporter = deployments["reelbot-exporter"]["spec"]["template"]["spec"]["containers"][0]
    assert exporter["args"] == ["exporter"]
    exporter_port = {p["port"] for p in services["reelbot-exporter"]["spec"]["ports"]}

    redis = Redis.from_url(redis_server.url)
    await redis.flushdb()
    try:
        for obj in scaled.values():
            spec = obj["spec"]
            assert spec["minReplicaCount"] == 0 and spec["maxReplicaCount"] >= 1  # scale to zero
            [trigger] = spec["triggers"]
            # KEDA's redis scaler reads lists (LLEN); arq's queue is a sorted set, so the
            # exporter's metrics-api endpoint stands in for it.
            assert trigger["type"] == "metrics-api" and trigger["metricType"] == "AverageValue"
            url = urlparse(trigger["metadata"]["url"])
            assert url.hostname == f"reelbot-exporter.{namespace}.svc.cluster.local", url.hostname
            assert url.port in exporter_port
            target = workers[spec["scaleTargetRef"]["name"]]
            container = target["spec"]["template"]["spec"]["containers"][0]
            settings = _check_settings(obj["metadata"]["name"], "worker", _container_env(container, docs), monkeypatch)
            [model] = settings.models
            assert url.path == f"/queue/{model}"

            # The key the worker's arq consumes …
            rt = Runtime(settings=settings, redis=redis, store=None, storage=None, worker_id="check")
            [worker] = build_workers(rt)
            assert worker.queue_name == queue_name(model)
            # … is the one the trigger's URL counts: three jobs there read as 3 at valueLocation.
            await redis.zadd(worker.queue_name, {f"job-{i}": time.time() * 1000 for i in range(3)})
            registry = CollectorRegistry()
            collector = QueueCollector([], min_interval_s=0)
            registry.register(collector)
            async with TestClient(TestServer(exporter_app(redis, collector, registry))) as client:
                body = await (await client.get(url.path)).json()
            assert float(_gjson(body, trigger["metadata"]["valueLocation"])) == 3
            assert float(trigger["metadata"]["targetValue"]) == 1  # one worker per job in its queue
    finally:
        await redis.flushdb()
        await redis.aclose()


# ---------------------------------------------------------------- Grafana


def _known_series() -> set[str]:
    from prometheus_client import REGISTRY

    import bot.metrics  # noqa: F401 — registers the bot's series on the default registry
    import worker.metrics  # noqa: F401
    import worker.quality  # noqa: F401 — the quality signals' histograms
    from gallery.middleware import Metrics

    families = list(REGISTRY.collect()) + list(Metrics().registry.collect()) + list(QueueCollector().collect())
    names = set()
    for family in families:
        names.add(family.name)
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [])
        names.update(family.name + s for s in suffixes)
    return names


def test_dashboard_uses_only_series_that_exist():
    dashboard = json.loads((DEPLOY / "grafana" / "reelbot.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in re.findall(r"\b(reelbot_[a-z0-9_]+)", e)}
    unknown = used - _known_series()
    assert not unknown, unknown
    # The list: worker, queue and bot series all have a panel.
    for series in ("reelbot_worker_jobs_total", "reelbot_worker_render_seconds_bucket",
                   "reelbot_worker_steps_per_second_sum", "reelbot_worker_gpu_memory_bytes",
                   "reelbot_queue_depth", "reelbot_queue_oldest_age_seconds", "reelbot_bot_commands_total",
                   "reelbot_bot_ack_seconds_bucket", "reelbot_bot_delivery_seconds_bucket",
                   "reelbot_bot_outcomes_pending", "reelbot_dependency_up", "reelbot_dependency_outages_total",
                   "reelbot_worker_spooled_clips", "reelbot_quality_motion_bucket", "reelbot_quality_flicker_bucket",
                   "reelbot_quality_adherence_bucket", "reelbot_quality_broken_total"):
        assert series in used, series


def test_dashboard_shows_the_lanes_and_gpu_time_per_server():
    dashboard = json.loads((DEPLOY / "grafana" / "reelbot.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    assert "reelbot_queue_lane_waiting" in exprs and "by (model, lane)" in exprs
    assert "reelbot_worker_gpu_seconds_total" in exprs and "by (guild, lane)" in exprs

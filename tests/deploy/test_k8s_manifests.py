"""The Kubernetes manifests of deploy/k8s, checked offline (no cluster, no kustomize binary).

1. Both overlays are rendered by :mod:`k8s_render` (a small kustomize subset), and the
   rendering is compared with ``kubectl kustomize`` where kubectl is installed.
2. Every rendered document is validated against the Kubernetes OpenAPI schemas shipped in
   the ``kubernetes-validate`` package (no download at run time), in strict mode: an
   unknown or misspelt field fails, not only a wrong type.
3. A policy test checks the security and operability properties the deployment promises
   (deploy/README.md): non-root, no privilege escalation, read-only root filesystem,
   capabilities dropped, seccomp, resources, probes, no secret values, pinned images.

Why not checkov here: checkov 3.3 installs about 100 packages (291 MB) in a virtualenv of
its own; under this project's constraints.txt pip backtracks to checkov 3.1 and pulls
boto3, aiohttp and openai 0.28 into the dev environment; and without
``--skip-download`` it calls the Prisma Cloud API at every run. Offline with
``--skip-download`` it runs in about 2 s on the rendered overlays with 352 checks passed;
the findings left are accepted and listed in deploy/README.md ("Validation"). The policy
test below checks the properties that matter here directly.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_render import Resource, containers_of, key_of, load_documents, pod_spec, render

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
OVERLAYS = {name: K8S / "overlays" / name for name in ("dev", "prod")}

#: Oldest Kubernetes minor still in standard support on the managed services we target,
#: and the newest the installed schemas know.
KUBERNETES_VERSIONS = ("1.30.0", "latest")

SECRET_ENV = {
    "PITCHREC_DATABASE_URL": "database-url",
    "PITCHREC_REDIS_URL": "redis-url",
    "PITCHREC_ADMIN_TOKEN": "admin-token",
    "PITCHREC_DASHBOARD_TOKEN": "dashboard-token",
}
SECRET_NAME = "pitchrec-secrets"
SECRETISH = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|API_KEY|DATABASE_URL|REDIS_URL", re.I)
#: user:password@ in a URL, unless the password is a $(VAR) or ${VAR} reference.
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:(?!\$[({])[^@\s/]+@")

EXPECTED = {
    "dev": {"replicas": 1, "hpa_min": 1, "hpa_max": 2, "namespace": "pitchrec-dev"},
    "prod": {"replicas": 2, "hpa_min": 2, "hpa_max": 10, "namespace": "pitchrec"},
}


@pytest.fixture(scope="module")
def schemas() -> Any:
    """``kubernetes_validate.utils``: validate() against the schemas it ships."""
    return pytest.importorskip(
        "kubernetes_validate.utils", reason="kubernetes-validate (a dev dependency) is missing"
    )


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> tuple[str, list[Resource]]:
    name: str = request.param
    return name, render(OVERLAYS[name])


def by_key(resources: list[Resource]) -> dict[tuple[str, str], Resource]:
    return {key_of(r): r for r in resources}


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    return (r for r in resources if pod_spec(r) is not None)


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity (``500m``, ``2``, ``256Mi``, ``1G``) as a float."""
    text = str(value)
    suffixes = {
        "m": 1e-3,
        "Ki": 2.0**10,
        "Mi": 2.0**20,
        "Gi": 2.0**30,
        "Ti": 2.0**40,
        "k": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
    }
    for suffix, factor in sorted(suffixes.items(), key=lambda kv: -len(kv[0])):
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


# -- parsing and rendering ------------------------------------------------------------------


def test_every_yaml_file_parses_into_mappings() -> None:
    files = sorted(K8S.rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:
        documents = load_documents(path)
        assert documents, f"{path} holds no document"
        for document in documents:
            assert "apiVersion" in document and "kind" in document, path


def test_base_lists_every_manifest_it_holds() -> None:
    listed = set(load_documents(BASE / "kustomization.yaml")[0]["resources"])
    present = {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present


def test_no_secret_object_is_committed() -> None:
    for path in sorted((ROOT / "deploy").rglob("*.y*ml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(document, dict):
                assert document.get("kind") != "Secret", f"{path} defines a Secret"
                assert "secretGenerator" not in document, f"{path} generates a Secret"


def test_renderer_matches_kubectl_kustomize(overlay: tuple[str, list[Resource]]) -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl not installed: the renderer is not cross-checked with kustomize")
    name, ours = overlay
    done = subprocess.run(
        [kubectl, "kustomize", str(OVERLAYS[name])],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    theirs = [d for d in yaml.safe_load_all(done.stdout) if d]
    assert by_key(ours) == by_key(theirs)


# -- schema ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_overlay_validates_against_the_kubernetes_schema(
    schemas: Any, overlay: tuple[str, list[Resource]], version: str
) -> None:
    target = schemas.latest_version() if version == "latest" else version
    _, resources = overlay
    errors = []
    for resource in resources:
        try:
            schemas.validate(resource, target, strict=True)
        except schemas.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{key_of(resource)} {path}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_base_resources_validate_on_their_own(schemas: Any) -> None:
    for resource in render(BASE):
        schemas.validate(resource, "1.30.0", strict=True)


def test_strict_validation_catches_a_misspelt_field(schemas: Any) -> None:
    resources = by_key(render(OVERLAYS["prod"]))
    deployment = resources["Deployment", "pitchrec"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"]["readOnlyRootFilesytem"] = True
    with pytest.raises(schemas.ValidationError):
        schemas.validate(deployment, "1.30.0", strict=True)


# -- policy ---------------------------------------------------------------------------------


def test_pods_run_as_non_root_without_privileges(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    found = list(workloads(resources))
    assert {r["metadata"]["name"] for r in found} == {"pitchrec", "pitchrec-archiver"}
    for resource in found:
        spec = pod_spec(resource)
        assert spec is not None
        where = key_of(resource)
        assert spec.get("automountServiceAccountToken") is False, where
        assert spec.get("enableServiceLinks") is False, where
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(flag), (where, flag)
        assert not any("hostPath" in v for v in spec.get("volumes", [])), where
        pod_security = spec["securityContext"]
        assert pod_security["runAsNonRoot"] is True, where
        assert pod_security.get("runAsUser", 1) != 0, where
        assert pod_security["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in containers_of(resource):
            security = container["securityContext"]
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security.get("privileged", False) is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert not security["capabilities"].get("add"), where
            assert security.get("runAsUser", 1) != 0, where
            assert security.get("runAsNonRoot", True) is True, where


def test_writable_paths_are_empty_dirs(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    for resource in workloads(resources):
        spec = pod_spec(resource)
        assert spec is not None
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers_of(resource):
            for mount in container.get("volumeMounts", []):
                volume = volumes[mount["name"]]
                if not mount.get("readOnly", False):
                    assert "emptyDir" in volume, (key_of(resource), mount["mountPath"])
    api = by_key(resources)["Deployment", "pitchrec"]
    mounts = {
        m["mountPath"]: m for m in api["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    # `pitchrec serve --workers 2` writes its shared snapshot under ./var (WORKDIR /app).
    assert "/app/var" in mounts and not mounts["/app/var"].get("readOnly", False)


def test_every_container_has_requests_and_limits(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    for resource in workloads(resources):
        for container in containers_of(resource):
            res = container["resources"]
            for resource_name in ("cpu", "memory"):
                request = quantity(res["requests"][resource_name])
                limit = quantity(res["limits"][resource_name])
                assert 0 < request <= limit, (key_of(resource), resource_name)


def test_the_base_resources_are_sized_from_the_bench() -> None:
    deployment = by_key(render(OVERLAYS["prod"]))["Deployment", "pitchrec"]
    res = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert res == {
        "requests": {"cpu": "500m", "memory": "320Mi"},
        "limits": {"cpu": "2000m", "memory": "512Mi"},
    }
    assert "# sized from bench/RESULTS.md" in (BASE / "deployment.yaml").read_text()


def test_the_api_probes_use_readyz_and_healthz(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployment = by_key(resources)["Deployment", "pitchrec"]
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    for probe, path in (
        ("startupProbe", "/readyz"),
        ("readinessProbe", "/readyz"),
        ("livenessProbe", "/healthz"),
    ):
        get = container[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ("http", 8000), probe
    assert container["args"][:1] == ["serve"] and "--workers" in container["args"]


def test_shutdown_drains_before_sigterm(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployment = by_key(resources)["Deployment", "pitchrec"]
    spec = deployment["spec"]["template"]["spec"]
    grace = spec["terminationGracePeriodSeconds"]
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]
    command = pre_stop["exec"]["command"]
    assert command[0] == "sleep"
    sleep_s = int(command[1])
    uvicorn_graceful_s = 20  # cli.py: timeout_graceful_shutdown
    assert sleep_s > 0 and sleep_s + uvicorn_graceful_s <= grace <= 60


def test_api_pods_spread_over_zones_and_nodes(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    deployment = by_key(resources)["Deployment", "pitchrec"]
    template = deployment["spec"]["template"]
    constraints = template["spec"]["topologySpreadConstraints"]
    keys = {c["topologyKey"] for c in constraints}
    assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
    for constraint in constraints:
        selector = constraint["labelSelector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items()


def test_secrets_come_only_from_secret_key_refs(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    assert not any(r["kind"] == "Secret" for r in resources)
    for resource in workloads(resources):
        for container in containers_of(resource):
            env = {e["name"]: e for e in container.get("env", [])}
            for name, entry in env.items():
                if SECRETISH.search(name):
                    assert "value" not in entry, (key_of(resource), name)
                    ref = entry["valueFrom"]["secretKeyRef"]
                    assert ref["name"] == SECRET_NAME
                    assert ref["key"] == SECRET_ENV[name]
            assert {"PITCHREC_DATABASE_URL", "PITCHREC_REDIS_URL"} <= env.keys()
            for text in [*container.get("command", []), *container.get("args", [])]:
                assert not URL_WITH_PASSWORD.search(text), key_of(resource)
    api = by_key(resources)["Deployment", "pitchrec"]
    api_env = {e["name"] for e in api["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert api_env >= SECRET_ENV.keys()


def test_the_config_map_holds_no_secret(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    config = by_key(resources)["ConfigMap", "pitchrec-config"]
    for key, value in config["data"].items():
        assert not SECRETISH.search(key), key
        assert not URL_WITH_PASSWORD.search(str(value)), key
    referenced = {
        ref["configMapRef"]["name"]
        for r in workloads(resources)
        for c in containers_of(r)
        for ref in c.get("envFrom", [])
    }
    assert referenced == {"pitchrec-config"}


def test_no_committed_file_under_deploy_holds_a_password() -> None:
    for path in sorted((ROOT / "deploy").rglob("*")):
        if path.name == ".env":  # the local, git-ignored copy that does hold them
            continue
        if path.is_file() and path.suffix in {".yaml", ".yml", ".example", ""}:
            text = path.read_text(encoding="utf-8")
            assert not URL_WITH_PASSWORD.search(text), path
            for line in text.splitlines():
                match = re.match(r"\s*([A-Z_]*(PASSWORD|TOKEN|SECRET)[A-Z_]*)\s*[=:]\s*(.+)", line)
                if match:
                    value = match.group(3).strip().strip("\"'")
                    assert value == "change-me" or value.startswith("${"), (path, line)


def test_images_are_pinned(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    for resource in workloads(resources):
        for container in containers_of(resource):
            image = container["image"]
            assert not image.endswith(":latest"), image
            if name == "prod":
                assert re.search(r"@sha256:[0-9a-f]{64}$", image), image
            else:
                assert re.search(r"(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$", image), image
            assert container.get("imagePullPolicy") in ("IfNotPresent", "Always")


def test_the_service_routes_port_80_to_the_api_pods(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    keyed = by_key(resources)
    service = keyed["Service", "pitchrec"]
    assert service["spec"]["type"] == "ClusterIP"
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80 and port["targetPort"] in ("http", 8000)
    selector = service["spec"]["selector"].items()
    api_labels = keyed["Deployment", "pitchrec"]["spec"]["template"]["metadata"]["labels"]
    archiver = keyed["Deployment", "pitchrec-archiver"]["spec"]["template"]["metadata"]["labels"]
    assert selector <= api_labels.items()
    assert not selector <= archiver.items()


def test_selectors_match_their_pod_templates(overlay: tuple[str, list[Resource]]) -> None:
    _, resources = overlay
    keyed = by_key(resources)
    for resource in workloads(resources):
        template_labels = resource["spec"]["template"]["metadata"]["labels"].items()
        assert resource["spec"]["selector"]["matchLabels"].items() <= template_labels
    for kind in ("PodDisruptionBudget", "NetworkPolicy"):
        for resource in (r for r in resources if r["kind"] == kind):
            selector = (
                resource["spec"]["selector"]
                if kind == "PodDisruptionBudget"
                else resource["spec"]["podSelector"]
            )["matchLabels"].items()
            matched = [
                w
                for w in workloads(resources)
                if selector <= w["spec"]["template"]["metadata"]["labels"].items()
            ]
            assert matched, key_of(resource)
    assert ("Deployment", "pitchrec") in keyed


def test_replicas_hpa_and_disruption_budget(overlay: tuple[str, list[Resource]]) -> None:
    name, resources = overlay
    expected = EXPECTED[name]
    keyed = by_key(resources)
    assert {r["metadata"].get("namespace") for r in resources} == {expected["namespace"]}
    assert keyed["Deployment", "pitchrec"]["spec"]["replicas"] == expected["replicas"]
    assert keyed["Deployment", "pitchrec-archiver"]["spec"]["replicas"] == 1

    hpa = keyed["HorizontalPodAutoscaler", "pitchrec"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "pitchrec",
    }
    assert hpa["spec"]["minReplicas"] == expected["hpa_min"]
    assert hpa["spec"]["maxReplicas"] == expected["hpa_max"]
    targets = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert targets == {"cpu": 70, "memory": 80}

    pdb = keyed.get(("PodDisruptionBudget", "pitchrec"))
    if name == "prod":
        assert pdb is not None and pdb["spec"]["minAvailable"] == 1
    if pdb is not None:
        # A budget the smallest Deployment cannot satisfy would block every node drain.
        assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]


def test_the_hpa_maximum_is_justified_in_the_readme() -> None:
    hpa = (BASE / "hpa.yaml").read_text(encoding="utf-8")
    assert "maxReplicas: 10" in hpa and "deploy/README.md" in hpa
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    assert "## Capacity (measured)" in readme and "maxReplicas" in readme


def test_the_archiver_runs_pitchrec_archive_without_secrets_in_its_args(
    overlay: tuple[str, list[Resource]],
) -> None:
    _, resources = overlay
    archiver = by_key(resources)["Deployment", "pitchrec-archiver"]
    (container,) = archiver["spec"]["template"]["spec"]["containers"]
    argv: list[Any] = [*container["command"], *container["args"]]
    assert argv[:2] == ["pitchrec", "archive"]
    # The URLs come from the environment (secretKeyRef), never through the arguments,
    # where $(VAR) would be substituted and shown by `ps` (hardening item 13).
    assert not any(
        str(a).startswith(("--database-url", "--redis-url")) or "$(" in str(a) for a in argv
    )
    assert {port["name"] for port in container["ports"]} == {"metrics"}


def test_the_readme_documents_the_secret_the_manifests_reference() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    assert f"create secret generic {SECRET_NAME}" in readme
    for key in SECRET_ENV.values():
        assert f"`{key}`" in readme and f"--from-file={key}" in readme


def test_bench_placeholders_only_in_the_capacity_section() -> None:
    readme = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    sections = re.split(r"(?m)^## ", readme)
    for section in sections:
        if "TBD" in section:
            assert section.startswith("Capacity (measured)"), section.splitlines()[0]

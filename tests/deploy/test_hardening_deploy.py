"""Hardening of the deployment (issue 15, item 13), checked offline.

- No secret reaches a command line: Kubernetes expands ``$(VAR)`` in ``command``/``args``
  before the process starts, and compose interpolates ``${VAR}`` into them, so a URL or a
  password there is visible to every ``ps`` on the host. pitchrec reads its URLs from the
  environment (or ``*_FILE``), Redis its password from a config file on a tmpfs.
- The archiver has a liveness probe (its /healthz on its metrics port) and is scraped.
- The NetworkPolicies name their sources and destinations: ingress to the API only from
  the ingress controller, labelled clients and Prometheus; egress only to DNS pods and to
  MySQL/Redis addresses, never to "anywhere" on 3306/6379.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_render import Resource, containers_of, key_of, pod_spec, render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
OVERLAYS = {name: K8S / "overlays" / name for name in ("dev", "prod")}
COMPOSE = DEPLOY / "compose.yaml"

#: Options that take a URL or a password: never on a deployed command line.
SECRET_FLAGS = ("--database-url", "--redis-url", "--requirepass", "--masterauth")
SECRETISH = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|DATABASE_URL|REDIS_URL", re.I)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]*:[^@\s/]+@")
ANYWHERE = {"0.0.0.0/0", "::/0"}


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def rendered(request: pytest.FixtureRequest) -> list[Resource]:
    return render(OVERLAYS[request.param])


def _by_key(resources: list[Resource]) -> dict[tuple[str, str], Resource]:
    return {key_of(r): r for r in resources}


def _workloads(resources: list[Resource]) -> Iterator[Resource]:
    return (r for r in resources if pod_spec(r) is not None)


def _labels(resource: Resource) -> dict[str, str]:
    labels: dict[str, str] = resource["spec"]["template"]["metadata"]["labels"]
    return labels


def _selects(policy: Resource, labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return bool(wanted.items() <= labels.items())


def _policies(resources: list[Resource], labels: dict[str, str], kind: str) -> list[Resource]:
    return [
        r
        for r in resources
        if r["kind"] == "NetworkPolicy"
        and _selects(r, labels)
        and kind in r["spec"].get("policyTypes", ["Ingress"])
    ]


def _ports(rule: dict[str, Any]) -> set[int]:
    return {int(p["port"]) for p in rule.get("ports", [])}


# -- Kubernetes: no secret on a command line --------------------------------------------------


def test_no_container_gets_a_secret_on_its_command_line(rendered: list[Resource]) -> None:
    """Kubernetes expands $(VAR) in command/args from the container's env: referencing a
    secret variable there puts its value into the process's argv."""
    for resource in _workloads(rendered):
        for container in containers_of(resource):
            secret_vars = {
                e["name"]
                for e in container.get("env", [])
                if "secretKeyRef" in e.get("valueFrom", {}) or SECRETISH.search(e["name"])
            }
            argv = [str(a) for a in [*container.get("command", []), *container.get("args", [])]]
            where = (key_of(resource), container["name"], argv)
            for arg in argv:
                referenced = set(re.findall(r"\$\((\w+)\)", arg))
                assert not referenced & secret_vars, where
                assert not URL_WITH_PASSWORD.search(arg), where
                assert not arg.startswith(SECRET_FLAGS), where


def test_the_archiver_reads_its_urls_from_the_secret_environment(
    rendered: list[Resource],
) -> None:
    archiver = _by_key(rendered)["Deployment", "pitchrec-archiver"]
    (container,) = containers_of(archiver)
    assert [*container["command"], *container["args"]][:2] == ["pitchrec", "archive"]
    env = {e["name"]: e for e in container["env"]}
    for name, key in (
        ("PITCHREC_DATABASE_URL", "database-url"),
        ("PITCHREC_REDIS_URL", "redis-url"),
    ):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == ("pitchrec-secrets", key)


# -- Kubernetes: the archiver's liveness and metrics ------------------------------------------


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_the_archiver_has_a_liveness_probe_on_its_metrics_port(rendered: list[Resource]) -> None:
    archiver = _by_key(rendered)["Deployment", "pitchrec-archiver"]
    (container,) = containers_of(archiver)
    argv = [str(a) for a in container["args"]]
    port = int(_option(argv, "--metrics-port"))
    # The kubelet and Prometheus connect to the pod's address, not to its loopback.
    assert _option(argv, "--metrics-host") == "0.0.0.0"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"metrics": port}
    probe = container["livenessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and probe["port"] in ("metrics", port)
    liveness = container["livenessProbe"]
    # The probe must tolerate the archiver's own staleness window (120 s by default) plus
    # one probe period, not kill it sooner: it restarts only a stuck loop.
    assert liveness["periodSeconds"] * liveness["failureThreshold"] >= 30
    annotations = archiver["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert int(annotations["prometheus.io/port"]) == port
    assert annotations["prometheus.io/path"] == "/metrics"


# -- Kubernetes: NetworkPolicies ---------------------------------------------------------------


def test_every_pitchrec_pod_has_restricted_ingress_and_egress(rendered: list[Resource]) -> None:
    for workload in _workloads(rendered):
        labels = _labels(workload)
        assert _policies(rendered, labels, "Ingress"), key_of(workload)
        assert _policies(rendered, labels, "Egress"), key_of(workload)


def test_egress_names_its_destinations(rendered: list[Resource]) -> None:
    """Every egress rule has ports and destinations; 3306 and 6379 go only to addresses or
    pods named in the rule, never to any address."""
    seen: set[int] = set()
    for policy in (r for r in rendered if r["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            where = (key_of(policy), rule)
            assert rule.get("ports"), where  # no rule opens every port
            assert rule.get("to"), where  # no rule opens every destination
            for peer in rule["to"]:
                block = peer.get("ipBlock")
                if block is not None:
                    assert block["cidr"] not in ANYWHERE, where
            seen |= _ports(rule)
    assert {53, 3306, 6379} <= seen


def test_ingress_names_its_sources(rendered: list[Resource]) -> None:
    keyed = _by_key(rendered)
    for name, allowed in (("pitchrec", {8000}), ("pitchrec-archiver", {8001})):
        labels = _labels(keyed["Deployment", name])
        rules = [
            rule
            for policy in _policies(rendered, labels, "Ingress")
            for rule in policy["spec"].get("ingress", [])
        ]
        assert rules, name
        for rule in rules:
            assert rule.get("from"), (name, rule)  # never from any source
            assert _ports(rule) and _ports(rule) <= allowed, (name, rule)
            for peer in rule["from"]:
                assert peer.get("ipBlock", {}).get("cidr") not in ANYWHERE, (name, rule)


def test_the_prod_egress_addresses_fail_closed_until_set() -> None:
    """The base's MySQL/Redis CIDRs are documentation ranges (RFC 5737), which route
    nowhere: an overlay that forgot to name the servers' subnets cannot reach anything."""
    test_nets = ("192.0.2.", "198.51.100.", "203.0.113.")
    resources = render(OVERLAYS["prod"])
    blocks = [
        (port, peer["ipBlock"]["cidr"])
        for r in resources
        if r["kind"] == "NetworkPolicy"
        for rule in r["spec"].get("egress", [])
        for port in _ports(rule) & {3306, 6379}
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert {port for port, _ in blocks} == {3306, 6379}
    assert all(cidr.startswith(test_nets) for _, cidr in blocks), blocks


def test_the_readme_documents_the_network_policy_placeholders() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    assert "### Network policies" in readme
    for placeholder in ("ingress-nginx", "monitoring", "192.0.2.0/24", "198.51.100.0/24"):
        assert placeholder in readme, placeholder
    assert "PITCHREC_DATABASE_URL_FILE" in readme and "PITCHREC_REDIS_URL_FILE" in readme


# -- compose -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return dict(data["services"])


SENTINEL = "Sentinel0Secret0Value"


def _interpolate(text: str) -> str:
    """Compose interpolation with every secret-like variable set to :data:`SENTINEL` and
    the others to ``x``; ``$$`` becomes ``$`` (a literal for the container's shell)."""

    def value(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(2)
        return SENTINEL if SECRETISH.search(name) else "x"

    return re.sub(r"\$\$|\$\{(\w+)[^}]*\}|\$(\w+)", value, text)


def _command_lines(service: dict[str, Any]) -> list[list[str]]:
    """Every argv compose starts in this service: command, entrypoint, health check."""
    out: list[list[str]] = []
    for key in ("command", "entrypoint"):
        value = service.get(key)
        if value is not None:
            out.append([value] if isinstance(value, str) else [str(v) for v in value])
    test = (service.get("healthcheck") or {}).get("test")
    if isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        out.append([str(v) for v in test[1:]])
    return out


def _shell_references_outside_heredocs(script: str) -> list[str]:
    """Lines of a shell script that expand a secret variable into some command's
    arguments: outside a here-document, and not as a ``NAME=value`` prefix (which sets
    the command's environment, not its argv)."""
    bad, heredoc_end = [], None
    for line in script.splitlines():
        if heredoc_end is not None:
            if line.strip() == heredoc_end:
                heredoc_end = None
            continue
        opened = re.search(r"<<-?\s*['\"]?(\w+)['\"]?", line)
        stripped = re.sub(r"\b\w+=(\"[^\"]*\"|'[^']*'|\S+)\s+", " ", line)
        for name in re.findall(r"\$\{?(\w+)", stripped):
            if SECRETISH.search(name):
                bad.append(line)
        if opened:
            heredoc_end = opened.group(1)
    return bad


def test_no_secret_reaches_a_compose_command_line(services: dict[str, Any]) -> None:
    for name, service in services.items():
        for argv in _command_lines(service):
            interpolated = [_interpolate(a) for a in argv]
            where = (name, argv)
            assert not any(SENTINEL in a for a in interpolated), where
            assert not any(flag in a for a in interpolated for flag in SECRET_FLAGS), where
            # A shell script must not expand a secret into a program's arguments either.
            if interpolated[:2] == ["sh", "-c"] or interpolated[:1] == ["CMD-SHELL"]:
                script = interpolated[-1]
            elif len(interpolated) == 1:
                script = interpolated[0]
            else:
                continue
            assert not _shell_references_outside_heredocs(script), where


def test_redis_reads_its_password_from_a_config_file_on_a_tmpfs(
    services: dict[str, Any],
) -> None:
    redis = services["redis"]
    script = _interpolate(redis["command"][-1])
    match = re.search(r"redis-server\s+(/\S+\.conf)\b", script)
    assert match, script
    conf = Path(match.group(1))
    tmpfs = [str(t).split(":", 1)[0] for t in redis.get("tmpfs", [])]
    assert str(conf.parent) in tmpfs, (conf, tmpfs)  # not the data volume, not the image
    assert re.search(rf"cat\s*>\s*{re.escape(str(conf))}\s*<<", script), script
    assert "umask 077" in script
    assert re.search(r'^requirepass "\$REDIS_PASSWORD"$', script, re.M), script


def test_the_compose_archiver_takes_no_url_argument(services: dict[str, Any]) -> None:
    archiver = services["archiver"]
    assert archiver["command"] == ["pitchrec", "archive"]
    assert {"PITCHREC_DATABASE_URL", "PITCHREC_REDIS_URL"} <= archiver["environment"].keys()

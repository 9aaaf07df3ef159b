"""A small, offline subset of ``kustomize build``, enough for ``deploy/k8s``.

No kustomize binary is needed: the deploy tests render both overlays with this and
validate what they get. Supported kustomization fields: ``resources`` (files and
directories holding a ``kustomization.yaml``), ``namespace``, ``images`` (``newName``,
``newTag``, ``digest``), ``replicas`` and ``patches`` given by ``path`` as strategic-merge
patches (the target is the patch's own kind and name; ``$patch: delete`` removes the
resource). Anything else raises :class:`UnsupportedKustomizationError`, so a manifest change
that this renderer cannot follow fails loudly instead of being rendered wrong.
``test_renderer_matches_kubectl_kustomize`` compares the output with the real kustomize
(``kubectl kustomize``) wherever kubectl is installed.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "images", "replicas", "patches"}
)

#: Merge keys of the strategic-merge patch for the lists the manifests use
#: (from the Kubernetes API's ``x-kubernetes-patch-merge-key``). Other lists are replaced.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
    }
)

SCALABLE = frozenset({"Deployment", "StatefulSet", "ReplicaSet", "ReplicationController"})


class UnsupportedKustomizationError(ValueError):
    """The kustomization uses a feature this renderer does not implement."""


def load_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document of ``path``; each must be a mapping."""
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for document in documents:
        if not isinstance(document, dict):
            raise ValueError(f"{path}: a YAML document is not a mapping")
    return documents


def key_of(resource: Resource) -> tuple[str, str]:
    return resource["kind"], resource["metadata"]["name"]


def render(directory: Path) -> list[Resource]:
    """The resources ``kustomize build directory`` would produce (in resource order)."""
    kustomization = load_documents(directory / "kustomization.yaml")[0]
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise UnsupportedKustomizationError(
            f"{directory}: unsupported fields {sorted(unsupported)}"
        )

    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(render(target))
        else:
            resources.extend(load_documents(target))
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        if key_of(resource) in seen:
            raise ValueError(f"{directory}: duplicate resource {key_of(resource)}")
        seen.add(key_of(resource))

    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise UnsupportedKustomizationError(
                f"{directory}: only `patches: - path:` is supported"
            )
        for patch in load_documents(directory / patch_entry["path"]):
            resources = apply_patch(resources, patch)

    namespace = kustomization.get("namespace")
    if namespace:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = namespace

    for image in kustomization.get("images", []):
        for resource in resources:
            for container in containers_of(resource):
                container["image"] = retag(container["image"], image)

    for replicas in kustomization.get("replicas", []):
        matched = [
            r
            for r in resources
            if r["kind"] in SCALABLE and r["metadata"]["name"] == replicas["name"]
        ]
        if not matched:
            raise ValueError(f"{directory}: replicas for unknown {replicas['name']!r}")
        for resource in matched:
            resource["spec"]["replicas"] = replicas["count"]
    return resources


def apply_patch(resources: list[Resource], patch: Resource) -> list[Resource]:
    """Apply one strategic-merge patch to the resource of the same kind and name."""
    patch = copy.deepcopy(patch)
    directive = patch.pop("$patch", None)
    targets = [r for r in resources if key_of(r) == key_of(patch)]
    if len(targets) != 1:
        raise ValueError(f"patch target {key_of(patch)} matches {len(targets)} resources")
    if directive == "delete":
        return [r for r in resources if r is not targets[0]]
    if directive is not None:
        raise UnsupportedKustomizationError(f"unsupported $patch directive {directive!r}")
    merged = merge(targets[0], patch)
    return [merged if r is targets[0] else r for r in resources]


def merge(base: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge of ``patch`` into ``base`` (maps recursively, keyed lists by key)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if "$patch" in patch:
            raise UnsupportedKustomizationError("nested $patch directives are not supported")
        out = dict(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, key)
            else:
                out[key] = copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        merge_key = MERGE_KEYS[field]
        out_list = list(base)
        for item in patch:
            position = next(
                (i for i, old in enumerate(out_list) if old.get(merge_key) == item[merge_key]),
                None,
            )
            if position is None:
                out_list.append(copy.deepcopy(item))
            else:
                out_list[position] = merge(out_list[position], item)
        return out_list
    return copy.deepcopy(patch)


def pod_spec(resource: Resource) -> dict[str, Any] | None:
    """The pod spec of a workload (None for other kinds)."""
    kind = resource["kind"]
    if kind == "Pod":
        spec: dict[str, Any] = resource["spec"]
        return spec
    if kind in SCALABLE or kind in {"DaemonSet", "Job"}:
        template_spec: dict[str, Any] = resource["spec"]["template"]["spec"]
        return template_spec
    if kind == "CronJob":
        job_spec: dict[str, Any] = resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        return job_spec
    return None


def containers_of(resource: Resource) -> list[dict[str, Any]]:
    spec = pod_spec(resource)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def split_image(image: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest); a registry port is not a tag."""
    name, _, digest = image.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, digest or None


def retag(image: str, rule: dict[str, Any]) -> str:
    """Apply one ``images:`` entry of a kustomization to an image reference."""
    unsupported = set(rule) - {"name", "newName", "newTag", "digest"}
    if unsupported:
        raise UnsupportedKustomizationError(f"images: unsupported keys {sorted(unsupported)}")
    name, tag, digest = split_image(image)
    if name != rule["name"]:
        return image
    name = rule.get("newName", name)
    if "digest" in rule:
        return f"{name}@{rule['digest']}"
    if "newTag" in rule:
        return f"{name}:{rule['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")

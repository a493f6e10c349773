"""The model registry: `models/registry.json` maps aliases (champion, challenger) to bundles.

Bundles live in `models/NAME/VERSION/`; the registry only names which version each alias
of each model points at:

    {"format": 1, "models": {"reviewer_a": {"champion": "1", "challenger": "2"}}}

`promote` is the only writer: it checks that the bundle opens, then replaces the file
atomically (write a temporary file, fsync, rename). Torch-free, for serving.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.atomic import atomic_write_bytes
from serving.bundle import MODEL_FILE, Bundle, BundleError

REGISTRY_FORMAT = 1
REGISTRY_FILE = "registry.json"
ALIASES = ("champion", "challenger")


def models_dir() -> Path:
    """Where bundles and the registry live: $SECONDLOOK_MODELS_DIR or ./models."""
    return Path(os.environ.get("SECONDLOOK_MODELS_DIR", "models"))


class RegistryError(ValueError):
    """A registry lookup or update that cannot be done; the message says why."""


@dataclass(frozen=True)
class BundleRef:
    name: str
    version: str
    path: Path
    aliases: tuple[str, ...]


def read_registry(root: Path | None = None) -> dict[str, dict[str, str]]:
    """{name: {alias: version}}; an absent registry is empty."""
    path = (root or models_dir()) / REGISTRY_FILE
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{path}: not valid JSON ({exc}); restore it from version control") from None
    if (
        not isinstance(data, dict)
        or data.get("format") != REGISTRY_FORMAT
        or not isinstance(data.get("models"), dict)
    ):
        raise RegistryError(f"{path}: not a secondlook registry (format {REGISTRY_FORMAT})")
    return {str(k): {str(a): str(v) for a, v in aliases.items()} for k, aliases in data["models"].items()}


def list_bundles(root: Path | None = None) -> list[BundleRef]:
    """Every bundle folder under the models folder, with the aliases pointing at it."""
    root = root or models_dir()
    registry = read_registry(root)
    refs = []
    for model_file in sorted(root.glob(f"*/*/{MODEL_FILE}")):
        name, version = model_file.parent.parent.name, model_file.parent.name
        aliases = tuple(a for a, v in registry.get(name, {}).items() if v == version)
        refs.append(BundleRef(name, version, model_file.parent, aliases))
    return refs


def resolve_bundle(reference: str | Path, root: Path | None = None) -> Path:
    """A bundle folder from a path, `NAME/VERSION` or `NAME@ALIAS`."""
    text = str(reference)
    root = root or models_dir()
    if "@" in text:
        name, alias = text.split("@", 1)
        version = read_registry(root).get(name, {}).get(alias)
        if version is None:
            raise RegistryError(
                f"{name}@{alias}: no such alias in {root / REGISTRY_FILE}; "
                f"promote a version with `secondlook models promote {name} VERSION --alias {alias}`"
            )
        text = f"{name}/{version}"
    path = Path(text)
    for candidate in (path, root / path):
        if (candidate / MODEL_FILE).is_file() or (candidate.suffix == ".onnx" and candidate.is_file()):
            return candidate
    raise RegistryError(f"{reference}: no bundle there (looked in {path} and {root / path})")


def open_bundle(reference: str | Path, root: Path | None = None, **kwargs: Any) -> Bundle:
    return Bundle(resolve_bundle(reference, root), **kwargs)


def promote(name: str, version: str, alias: str, root: Path | None = None) -> Path:
    """Point `name@alias` at `models/name/version` after checking that the bundle opens."""
    root = root or models_dir()
    if alias not in ALIASES:
        raise RegistryError(f"alias must be one of {', '.join(ALIASES)}, got {alias!r}")
    bundle_dir = root / name / version
    try:
        Bundle(bundle_dir)
    except BundleError as exc:
        raise RegistryError(f"cannot promote {name}/{version}: {exc}") from None
    registry = read_registry(root)
    registry.setdefault(name, {})[alias] = version
    payload = {
        "format": REGISTRY_FORMAT,
        "models": {k: dict(sorted(v.items())) for k, v in sorted(registry.items())},
    }
    atomic_write_bytes(root / REGISTRY_FILE, (json.dumps(payload, indent=2) + "\n").encode())
    return bundle_dir

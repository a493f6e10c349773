"""The model registry: `models/registry.json` maps aliases (champion, challenger) to bundles.

Bundles live in `models/NAME/VERSION/`; the registry only names which version each alias
of each model points at:

    {"format": 1, "models": {"reviewer_a": {"champion": "1", "challenger": "2"}}}

`promote` is the only writer: it checks that the bundle opens, then replaces the file
atomically (write a temporary file, fsync, rename). Torch-free, for serving. Every function
takes the models folder (`Settings.models_dir`): the registry reads no setting itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.atomic import atomic_write_bytes
from secondlook.errors import SecondlookError
from serving.bundle import MODEL_FILE, Bundle, BundleError

REGISTRY_FORMAT = 1
REGISTRY_FILE = "registry.json"
ALIASES = ("champion", "challenger")


class RegistryError(SecondlookError, ValueError):
    """A registry lookup or update that cannot be done; the message says why."""


# Model names, versions and aliases are folder names under the models folder: one path
# component each, never `..`, so that nothing in the registry file or on the command line
# can point outside it.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def is_safe_name(value: str) -> bool:
    return bool(SAFE_NAME.fullmatch(value)) and ".." not in value


def check_name(value: str, what: str) -> str:
    """`value` when it is a safe folder name, else a RegistryError naming `what` it is."""
    if not is_safe_name(value):
        raise RegistryError(
            f"{what} {value!r} is not allowed: use letters, digits, '.', '_' and '-' "
            "(up to 64, starting with a letter or digit, no '..')"
        )
    return value


@dataclass(frozen=True)
class BundleRef:
    name: str
    version: str
    path: Path
    aliases: tuple[str, ...]


def read_registry(root: Path) -> dict[str, dict[str, str]]:
    """{name: {alias: version}}; an absent registry is empty."""
    path = root / REGISTRY_FILE
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
    try:
        return {
            check_name(str(name), "model name"): {
                check_name(str(alias), "alias"): check_name(str(version), "version")
                for alias, version in aliases.items()
            }
            for name, aliases in data["models"].items()
        }
    except (RegistryError, AttributeError) as exc:
        raise RegistryError(f"{path}: {exc}; restore it from version control") from None


def list_bundles(root: Path) -> list[BundleRef]:
    """Every bundle folder under the models folder, with the aliases pointing at it."""
    registry = read_registry(root)
    refs = []
    for model_file in sorted(root.glob(f"*/*/{MODEL_FILE}")):
        name, version = model_file.parent.parent.name, model_file.parent.name
        aliases = tuple(a for a, v in registry.get(name, {}).items() if v == version)
        refs.append(BundleRef(name, version, model_file.parent, aliases))
    return refs


def resolve_bundle(reference: str | Path, root: Path) -> Path:
    """A bundle folder from `NAME@ALIAS`, `NAME/VERSION` or a path.

    An alias and a `NAME/VERSION` resolve inside the models folder first, so a folder of the
    same name in the working directory never shadows a registered bundle; an alias resolves
    only there."""
    text = str(reference)
    if "@" in text:
        name, alias = text.split("@", 1)
        version = read_registry(root).get(check_name(name, "model name"), {}).get(alias)
        if version is None:
            raise RegistryError(
                f"{name}@{alias}: no such alias in {root / REGISTRY_FILE}; "
                f"promote a version with `secondlook models promote {name} VERSION --alias {alias}`"
            )
        candidates = [root / name / version]
    else:
        path = Path(text)
        parts = path.parts
        registered = len(parts) == 2 and all(is_safe_name(p) for p in parts)
        candidates = [root / path, path] if registered else [path]
    for candidate in candidates:
        if (candidate / MODEL_FILE).is_file() or (candidate.suffix == ".onnx" and candidate.is_file()):
            return candidate
    looked = " and ".join(str(c) for c in candidates)
    raise RegistryError(f"{reference}: no bundle there (looked in {looked})")


def open_bundle(reference: str | Path, root: Path, **kwargs: Any) -> Bundle:
    return Bundle(resolve_bundle(reference, root), **kwargs)


def promote(name: str, version: str, alias: str, root: Path) -> Path:
    """Point `name@alias` at `models/name/version` after checking that the bundle opens."""
    if alias not in ALIASES:
        raise RegistryError(f"alias must be one of {', '.join(ALIASES)}, got {alias!r}")
    bundle_dir = root / check_name(name, "model name") / check_name(version, "version")
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

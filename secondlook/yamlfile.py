"""Reading a YAML file with errors a user can act on (one place for the three error cases)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from pydantic import ValidationError


def load_yaml(path: str | Path, error: type[Exception], what: str = "file") -> Any:
    """Parse `path`; a missing or unreadable file or bad YAML raises `error` with one line naming it."""
    path = Path(path)
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{what} not found: {path}") from None
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None


def validation_message(exc: ValidationError, source: str) -> str:
    """One line naming every bad key of a pydantic-validated file: 'source: a.b: message; ...'."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"])
        message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        parts.append(f"{key}: {message}")
    return f"{source}: " + "; ".join(parts)

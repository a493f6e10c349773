"""Where the shipped configuration files live.

In a source checkout (the usual, editable install) they are the repository's
`configs/` folder; in a wheel they are packaged as `secondlook/configs/`.
"""

from __future__ import annotations

import os
from pathlib import Path

from secondlook.errors import MissingInput

_PACKAGE_DIR = Path(__file__).resolve().parent


def configs_dir() -> Path:
    """The folder holding taxonomy.yaml and the other shipped configs.

    `SECONDLOOK_CONFIGS` overrides it, so a deployment can pin its own copy.
    """
    override = os.environ.get("SECONDLOOK_CONFIGS")
    if override:
        return Path(override)
    for candidate in (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent / "configs"):
        if (candidate / "taxonomy.yaml").is_file():
            return candidate
    raise MissingInput(
        "cannot find secondlook's configs/ folder (looked beside the package and in the "
        "source checkout); set SECONDLOOK_CONFIGS to the folder that holds taxonomy.yaml"
    )


def config_path(*parts: str) -> Path:
    """Path of a shipped config file, e.g. config_path("data", "synth.yaml")."""
    return configs_dir().joinpath(*parts)

"""The `secondlook` command.

Subcommand groups live with the package that implements them (`data.cli`, `training.cli`,
the modules of `serving.cli`, `bench.cli`) and are imported only when invoked, so
`secondlook --help` never pays for torch, onnxruntime or pandas.
"""

from __future__ import annotations

import importlib

import click

from secondlook import __version__
from secondlook.allocator import keep_freed_memory
from secondlook.errors import SecondlookError

# name -> ("module:attribute", one-line help shown by `secondlook --help`)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "data": ("data.cli:data", "Benchmark generation, dataset import, manifest validation and preview."),
    "train": (
        "training.cli:train",
        "Train one reviewer from a YAML config (checkpoints, calibration, MLflow).",
    ),
    "curves": (
        "training.cli:curves",
        "Learning curves: item ROC-AUC, per-cue recall and coverage against photos seen and time.",
    ),
    "evaluate": ("training.cli:evaluate", "Metrics, plots and a report of a trained reviewer on a split."),
    "export": ("training.cli:export", "Export a trained reviewer to a verified ONNX bundle."),
    "serve": ("serving.cli.server:serve", "Run the appraisal API on a host and port."),
    "appraise": (
        "serving.cli.appraise:appraise",
        "Appraise one item from photos locally (same code as the API).",
    ),
    "keys": ("serving.cli.keys:keys", "Create, list and revoke API keys (audited)."),
    "reviews": ("serving.cli.reviews:reviews", "Export expert-final decisions as a labelled manifest."),
    "db": ("serving.cli.database:db", "Database schema migrations (SQLite file or PostgreSQL)."),
    "audit": ("serving.cli.database:audit", "Verify the hash-chained audit log."),
    "policy": ("serving.cli.policy:policy", "The verdict policy: fit reviewer thresholds to a target error."),
    "models": ("serving.cli.models:models", "The model registry: list, show and promote exported bundles."),
    "quantize": (
        "training.cli:quantize",
        "Static INT8 variant of a bundle, refused if accuracy drops too much.",
    ),
    "rescore": ("serving.cli.rescore:rescore", "Re-score a whole inventory (resumable), or diff two runs."),
    "compare": ("training.cli:compare", "How correlated two reviewers' errors are (from two evaluations)."),
    "bench": (
        "bench.cli:bench",
        "Performance side by side: inference, roofline, rescore, api, training, cold start.",
    ),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use.

    It is also where a user's mistake becomes click's `Error: ...` and exit code 1 for every
    subcommand: the project's user-facing errors (`secondlook.errors.SecondlookError`: manifest,
    taxonomy, config, layout, decode, missing weights...) are written to be read whole. Any
    other exception is a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context):  # click's signature: no return annotation
        try:
            return super().invoke(ctx)
        except SecondlookError as exc:
            raise click.ClickException(str(exc) or type(exc).__name__) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attribute = target[0].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="secondlook")
def cli() -> None:
    """secondlook: appraisal and defect detection for second-hand luxury goods."""


def main() -> None:
    keep_freed_memory()  # PyTorch on CPU runs up to 2.5 times as fast (secondlook.allocator)
    cli()


if __name__ == "__main__":
    main()

"""The serving side's commands (torch-free), one module per command group.

`secondlook.cli.SUBCOMMANDS` names each group by module and attribute, and imports it only when
it is invoked; heavy modules are imported inside the commands, so `secondlook --help` stays fast.
"""

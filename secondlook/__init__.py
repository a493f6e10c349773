"""secondlook: a second opinion on second-hand luxury goods.

This small package holds what every part shares and nothing heavy: the version,
where the shipped configs live, and the command-line entry point. The real work
lives in the sibling packages `data`, `training` and `serving`.
"""

__version__ = "0.1.0"

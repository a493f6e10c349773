"""The project's user-facing errors, under one base class.

A `SecondlookError` is a user's mistake or a refusal (a bad manifest, a missing bundle, a config
that cannot work), written to be read whole: the CLI prints it as one line and exits 1, and the
API's callers get it as a problem. Anything else that escapes is a bug and keeps its traceback.
Each subclass also derives from the builtin it refines (ValueError, FileNotFoundError), so code
that catches those keeps working.
"""

from __future__ import annotations


class SecondlookError(Exception):
    """A user's mistake or a refusal, with a message that says what to do."""


class InputError(SecondlookError, ValueError):
    """Input that cannot be used, where no more specific class below fits it."""


class MissingInput(SecondlookError, FileNotFoundError):
    """A file or folder the user named, or an earlier step should have made, is not there."""

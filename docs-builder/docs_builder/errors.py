"""The one error a docs build reports to people: its message is stored with the build and shown on the page."""
from __future__ import annotations


class DocsBuildError(RuntimeError):
    """A build could not run or failed; the message says why in terms of the user's repository."""

    def __init__(self, message: str, log: str = ""):
        super().__init__(message)
        self.message, self.log = message, log

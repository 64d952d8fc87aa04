"""The one exception type for mistakes a user can make.

The charbench CLI turns a `CharbenchError` into a single line on stderr and exit code 2; anything else
is a bug and keeps its traceback. It subclasses Inspect's `PrerequisiteError` so that the same mistake
made through `inspect eval` (an unknown persona in `-T persona=...`) is also printed as a message, not
a traceback (Inspect is pinned, so relying on this private class is safe).
"""

from inspect_ai._util.error import PrerequisiteError


class CharbenchError(PrerequisiteError):
    """A user-fixable problem: the message names the file or field and says what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.message)

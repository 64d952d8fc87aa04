"""The one exception type for mistakes a user can make.

The CLI turns a `CharbenchError` into a single line on stderr and exit code 2; anything else is a bug
and keeps its traceback.
"""


class CharbenchError(Exception):
    """A user-fixable problem: the message names the file or field and says what to do."""

"""The project's exceptions (a leaf module: imports nothing of the project, so anything may import it)."""


class UserError(Exception):
    """A problem with the user's input: reported as one line, exit code 2, no traceback."""


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the message is a one-line reason."""

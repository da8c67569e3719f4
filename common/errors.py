"""The project's exceptions, one per exit code of the CLIs (`common.cli.run_main`); any layer may raise them."""


class UserError(Exception):
    """A problem with the user's input: one `error:` line, exit code 2, nothing stored is lost."""


class MachineFault(Exception):
    """A fault of the machine, not of the input or the trial (a full disk, a database gone past its retry window):
    one `error:` line naming the cause and the remedy, exit code 75; the same command run again goes on."""


class NonFiniteLoss(RuntimeError):
    """The training loss became NaN or infinite; the message is a one-line reason."""

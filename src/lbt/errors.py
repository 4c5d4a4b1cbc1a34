"""The one exception type users see as a single line (the CLI prints it and exits with code 2)."""


class LBTError(Exception):
    """A problem with the user's input (config, data, checkpoint) that they can fix."""

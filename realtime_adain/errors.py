"""The one exception type the CLI turns into a single clear line and a non-zero exit."""


class UserError(Exception):
    """A problem with what the user asked for (a path, a value, a weights file), not a bug."""

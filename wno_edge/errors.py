"""User-facing errors: the CLI prints these as one line and exits non-zero."""


class WNOEdgeError(Exception):
    """A problem with the user's input (file, option, data), not a bug in wno-edge."""

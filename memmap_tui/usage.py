"""What a user may ask of memmap: the error for bad input and the limits on the interval.

Apart from the collector registry and the sampler so that the command line can check its
arguments, and print --help, without loading either.
"""

MIN_INTERVAL = 0.001  # seconds between samples
MAX_INTERVAL = 3600.0


class UsageError(Exception):
    """Bad user input: the CLI prints the message on one line and exits 2."""

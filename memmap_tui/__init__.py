"""memmap-tui: a terminal memory and data-movement monitor for people who feed GPUs."""

__version__ = "0.1.0"

"""The `memmap` subcommands, one module each; `memmap_tui.cli` imports one only when it runs."""

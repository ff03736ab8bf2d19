"""Pluggable collectors: each reads one source and returns raw values (see memmap_tui.collector)."""

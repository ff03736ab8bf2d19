"""`memmap cluster --prometheus URL [--job ID] [--once]`: one row per node that runs
`memmap serve`, from Prometheus's query API (memmap_tui/cluster/).

The first refresh happens before anything is drawn: a URL that is not a Prometheus, or one that
does not answer, is one line on stderr and exit 2. `--once` prints the table and exits 0 (for
scripts and cron); otherwise the live view (memmap_tui/tui/cluster.py) refreshes every
--refresh seconds and keeps its last table, with a one-line message, while Prometheus fails.
"""

from __future__ import annotations

import sys
from typing import Any

from ..cluster.client import PrometheusClient, PrometheusError
from ..cluster.promql import valid_window
from ..cluster.view import fetch, table_text
from ..collector import UsageError

MAX_JOB = 128


def check_job(job: Any) -> None:
    if job is None:
        return
    if not job or len(job) > MAX_JOB or not job.isprintable():
        raise UsageError(f"--job: want a job id of 1 to {MAX_JOB} printable characters")


def run_cluster(args: Any) -> int:
    if not valid_window(args.window):
        raise UsageError(f"--window '{args.window}': want a Prometheus duration such as 1m or 30s")
    check_job(args.job)
    client = PrometheusClient(args.prometheus, timeout=args.timeout)
    try:
        first = fetch(client, args.job, args.window)
    except PrometheusError as exc:
        raise UsageError(str(exc)) from None
    if args.once:
        sys.stdout.write("\n".join(table_text(first, client.shown)) + "\n")
        return 0
    from ..tui.cluster import run_cluster_app

    return run_cluster_app(client, first, args.job, args.window, args.refresh)

"""`memmap cluster`'s model: PromQL as data (promql), a bounded client of Prometheus's query API
(client), and the table of nodes made from the answers (view). The Textual app is tui/cluster.py."""

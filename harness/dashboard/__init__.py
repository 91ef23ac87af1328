"""The dashboard: regressions, trends and run drill-downs over the history database, in Streamlit.

`harness dashboard [--history PATH] [--port N]` (`harness.dashboard.command`) starts it on
127.0.0.1; `streamlit run harness/dashboard/app.py -- --history PATH` works too. It only reads the
history (through `harness.results.HistoryStore` and `harness.regression`); it never runs
scenarios or tool code. Modules: `queries` (SQL over the history, no Streamlit), `runs` (one
run's transcript and diffs), `widgets` (cached queries and page scaffolding), `app.py` and
`views/` (the Streamlit scripts). Importing this package imports no Streamlit. docs/dashboard.md.
"""

from __future__ import annotations

__all__: list[str] = []

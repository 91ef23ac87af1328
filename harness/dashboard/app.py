"""The dashboard's entry script (`harness dashboard`, or `streamlit run` on this file).

    streamlit run harness/dashboard/app.py -- --history reports/history.sqlite

Three pages over the history database, which is only read: Overview (the latest batch against its
baseline), Trends (across batches) and Run drill-down (one scenario run, and two side by side).
"""

from __future__ import annotations

import streamlit as st

from harness.dashboard.widgets import PAGES, setup

__all__: list[str] = []

setup()
navigation = st.navigation(
    [
        st.Page(PAGES["overview"], title="Overview", icon=":material/monitoring:", default=True),
        st.Page(PAGES["trends"], title="Trends", icon=":material/show_chart:"),
        st.Page(PAGES["run"], title="Run drill-down", icon=":material/chat:"),
    ]
)
navigation.run()

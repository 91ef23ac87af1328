"""Each page of the dashboard run by Streamlit's `AppTest` (in process, no browser) over a real
history, and the states with nothing to show: no database, no batch, a database this harness
cannot read. Charts are Vega-Lite elements (`UnknownElement` here); their data is tested in
test_queries.py and in the browser test."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from histories import CHANGED_ANSWER, FLAKY, IMPROVED, REGRESSED, REGRESSED_NODE, History
from streamlit.testing.v1 import AppTest

from harness.cli import build_parser
from harness.dashboard.command import run_dashboard, streamlit_command
from harness.dashboard.widgets import APP_FILE, ENV_HISTORY, PAGES
from harness.errors import HarnessError
from harness.results import HistoryStore

TIMEOUT = 30


def app(monkeypatch: pytest.MonkeyPatch, path: Path) -> AppTest:
    monkeypatch.setenv(ENV_HISTORY, str(path))
    return AppTest.from_file(str(APP_FILE), default_timeout=TIMEOUT)


def no_failure(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def charts(at: AppTest) -> int:
    return sum(type(e).__name__ == "UnknownElement" for e in at.main)


def test_overview(monkeypatch: pytest.MonkeyPatch, history: History) -> None:
    at = app(monkeypatch, history.path).run()
    no_failure(at)
    cards = {m.label: (m.value, m.delta) for m in at.metric}
    assert set(cards) == {
        "Pass rate", "Total tokens", "LLM calls", "Latency p50", "Latency p95", "Cost",
    }  # fmt: skip
    assert cards["Pass rate"][1] is not None and cards["Pass rate"][1].startswith("-")
    assert cards["Total tokens"][1] is not None and cards["Total tokens"][1].startswith("+")
    assert cards["Cost"][0] == "n/a"
    regressions, improvements, flaky = (d.value for d in at.dataframe)
    row = regressions[
        (regressions["scenario"] == REGRESSED) & (regressions["node"] == REGRESSED_NODE)
    ]
    assert list(row["metric"]) == ["tokens"] and list(row["delta"]) == [200]
    assert set(improvements["scenario"]) == {IMPROVED}
    assert list(flaky["scenario"]) == [FLAKY]
    assert at.warning[0].value.startswith("1 scenario(s) passed some repeats")
    assert [s.value for s in at.subheader][:3] == [
        "Regressions (3)", "Improvements (4)", "Flaky scenarios (1)",
    ]  # fmt: skip
    links = [e for e in at.main if type(e).__name__ == "PageLink"]
    assert links and FLAKY in links[0].proto.label  # the most severe regression's run
    assert charts(at) == 2


def test_overview_picks_another_baseline_and_the_first_batch(
    monkeypatch: pytest.MonkeyPatch, history: History
) -> None:
    at = app(monkeypatch, history.path).run()
    at.sidebar.selectbox(key="ov_batch").select(history.baseline).run()
    no_failure(at)
    assert any("first batch" in i.value for i in at.info)
    assert all(m.delta in (None, "") for m in at.metric)


@pytest.mark.parametrize("kind", ["missing", "empty"])
def test_empty_states_say_how_to_create_a_history(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "history.sqlite"
    if kind == "empty":
        HistoryStore(path).close()
    at = app(monkeypatch, path).run()
    no_failure(at)
    assert "harness run scenarios/" in at.info[0].value
    assert "harness run scenarios/" in at.code[0].value
    assert not at.metric and not at.dataframe
    assert (path.exists()) is (kind == "empty"), "the dashboard never creates a history"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("foreign", "not a harness history"),
        ("newer", "newer than this harness knows"),
        ("garbage", "cannot open the history database"),
    ],
)
def test_unreadable_databases_are_messages(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "history.sqlite"
    if content == "garbage":
        path.write_bytes(b"not sqlite at all " * 200)
    else:
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE notes(x)" if content == "foreign" else "PRAGMA user_version = 9"
            )
    at = app(monkeypatch, path).run()
    assert not at.exception
    assert expected in at.error[0].value and "--history" in at.error[0].value
    for page in ("trends", "run"):
        at.switch_page(PAGES[page]).run()
        assert not at.exception and expected in at.error[0].value


def test_trends(monkeypatch: pytest.MonkeyPatch, history: History) -> None:
    at = app(monkeypatch, history.path).run()
    at.switch_page(PAGES["trends"]).run()
    no_failure(at)
    assert [s.value for s in at.subheader][:4] == [
        "Per batch", "Per scenario", "Per node", "Tokens against latency, one batch",
    ]  # fmt: skip
    assert charts(at) == 4
    picked = at.multiselect(key="tr_scenarios")
    assert set(picked.value) == {REGRESSED, FLAKY}, "default: the newest batch's regressions"
    assert at.selectbox(key="tr_pick").value in {REGRESSED, FLAKY}
    at.radio(key="tr_metric").set_value("latency_p95").run()
    no_failure(at)
    at.sidebar.multiselect(key="tr_tag").select("refill").run()
    no_failure(at)
    assert REGRESSED not in at.multiselect(key="tr_scenarios").options
    at.sidebar.multiselect(key="tr_branch").set_value(["main"]).run()
    at.sidebar.multiselect(key="tr_model").set_value(["scripted-model"]).run()
    no_failure(at)


def test_run_drill_down(monkeypatch: pytest.MonkeyPatch, history: History) -> None:
    at = app(monkeypatch, history.path)
    at.query_params.update({"batch": history.current, "scenario": REGRESSED, "attempt": "0"})
    at.run()
    at.switch_page(PAGES["run"]).run()
    no_failure(at)
    assert at.selectbox(key="run_batch").value == history.current
    chats = at.chat_message
    texts = [m.value for chat in chats for m in chat.markdown]
    assert "I need a follow-up visit next Tuesday morning" in texts
    assert any(CHANGED_ANSWER in t for t in texts)
    labels = [e.label for e in at.expander]
    assert any("tool call `find_slots`" in label for label in labels)
    assert any(label.startswith("Events (") for label in labels)
    assert json.loads(at.json[0].value) == {"day": "tuesday"}  # the tool call's arguments
    assert not at.info, "the artifacts are there: events are shown"
    tabs = [t.label for t in at.tabs]
    assert tabs == ["Transcript", "Checks and evaluation", "Compare two runs"]
    diff = at.code[0].value
    assert CHANGED_ANSWER in diff and diff.startswith("--- run A")
    assert at.selectbox(key=f"run_cmp_{history.current}_{REGRESSED}").value == history.baseline


def test_run_drill_down_without_artifacts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, history: History
) -> None:
    lonely = tmp_path / "history.sqlite"
    lonely.write_bytes(history.path.read_bytes())  # its report folders stay behind
    wal = Path(f"{history.path}-wal")
    if wal.exists():
        Path(f"{lonely}-wal").write_bytes(wal.read_bytes())
    with sqlite3.connect(lonely) as db:  # and the batch no longer knows its project root
        db.execute("UPDATE batches SET batch_json = json_remove(batch_json, '$.project_root')")
    at = app(monkeypatch, lonely)
    at.query_params.update({"batch": history.current, "scenario": REGRESSED})
    at.run()
    at.switch_page(PAGES["run"]).run()
    no_failure(at)
    assert "Events are not shown" in at.info[0].value
    assert not any(e.label.startswith("Events (") for e in at.expander)
    assert at.chat_message, "the transcript still comes from the stored result"


def test_command_line() -> None:
    args = build_parser().parse_args(["dashboard", "--history", "h.sqlite", "--port", "9000"])
    assert (args.history, args.port) == ("h.sqlite", 9000)
    command = streamlit_command(Path("/x/h.sqlite"), 9000)
    assert command[-2:] == ["--history", "/x/h.sqlite"]
    assert "--server.address=127.0.0.1" in command and "--server.port=9000" in command
    assert "--client.showErrorDetails=none" in command


def test_a_port_that_is_not_a_port_is_refused(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="not a TCP port"):
        run_dashboard(tmp_path / "history.sqlite", 70000)
    assert not (tmp_path / "history.sqlite").exists()

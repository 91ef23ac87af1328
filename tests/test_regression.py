"""Regression analysis: the statistics, thresholds, baselines (file and history) and `compare`.

Synthetic batches are built as the runner builds them (`TurnResult.usage` per node with every
call's latency); the end-to-end forms over real recorded runs are in tests/test_cli_report.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from harness.config import load_settings
from harness.errors import HarnessError
from harness.models.regression import Metric, RegressionSettings, ScenarioRegression, Threshold
from harness.models.result import (
    AttemptResult,
    BatchInfo,
    EvaluationResult,
    NodeUsage,
    RunSummary,
    ScenarioResult,
    TurnResult,
    Verdict,
)
from harness.regression import (
    SINGLE_RUN,
    Baseline,
    Thresholds,
    compare,
    load_baseline,
    write_baseline,
)
from harness.regression.history import baseline_from_history
from harness.regression.profile import SAMPLE_LIMIT, TOTAL
from harness.regression.stats import fisher_exact, mann_whitney_u, tail_test
from harness.results.history import HistoryStore
from harness.scenarios import load_scenarios

# ------------------------------------------------------------------ synthetic batches

Nodes = dict[str, tuple[int, list[float]]]
"""node -> (tokens, latencies of its calls) within one turn of one attempt."""


def attempt(
    number: int,
    turns: list[Nodes],
    verdict: Verdict = Verdict.PASSED,
    scores: dict[str, float] | None = None,
) -> AttemptResult:
    results = []
    for index, nodes in enumerate(turns):
        usage = [
            NodeUsage(
                node=node,
                model="gpt-test",
                provider="openai",
                prompt_tokens=tokens - tokens // 4,
                completion_tokens=tokens // 4,
                total_tokens=tokens,
                llm_calls=len(latencies),
                latencies_ms=latencies,
                cost_usd=tokens * 1e-6,
            )
            for node, (tokens, latencies) in nodes.items()
        ]
        results.append(TurnResult(index=index, turn=index, kind="user", usage=usage))
    evaluation = EvaluationResult(evaluator="own", scores=scores) if scores is not None else None
    made = AttemptResult(attempt=number, verdict=verdict, turns=results, evaluation=evaluation)
    made.total_up()
    return made


def scenario(scenario_id: str, attempts: list[AttemptResult], **fields: Any) -> ScenarioResult:
    verdicts = {a.verdict for a in attempts}
    verdict = Verdict.PASSED if verdicts <= {Verdict.PASSED} else Verdict.FAILED
    fields.setdefault("verdict", verdict)
    return ScenarioResult(scenario_id=scenario_id, name=scenario_id, attempts=attempts, **fields)


def batch(*results: ScenarioResult, batch_id: str = "20260101T000000-000001") -> RunSummary:
    return RunSummary.from_results(list(results), batch=BatchInfo(batch_id=batch_id))


def booking(tokens: int = 100, latency: float = 800.0) -> ScenarioResult:
    """clinic/booking: greet (turn 0), then confirm (turn 1), one call each."""
    return scenario(
        "clinic/booking",
        [attempt(0, [{"greet": (50, [300.0])}, {"confirm": (tokens, [latency])}])],
    )


def by_metric(changes: list[Any]) -> dict[tuple[str, int | None, str | None, str], Any]:
    return {(c.scenario, c.turn, c.node, c.metric): c for c in changes}


# ------------------------------------------------------------------ statistics


def test_mann_whitney_u_matches_the_normal_approximation_by_hand() -> None:
    # U = 0, mean 12.5, variance 25 * 11 / 12; z = (12.5 - 0.5) / sqrt(22.9167) = 2.5067
    p = mann_whitney_u([6, 7, 8, 9, 10], [1, 2, 3, 4, 5])
    assert p == pytest.approx(2 * 0.5 * math.erfc(2.50672 / math.sqrt(2)), rel=1e-4)
    assert p == pytest.approx(0.01219, abs=1e-4)
    assert mann_whitney_u([1, 2, 3], [1, 2, 3]) == 1.0
    assert mann_whitney_u([5, 5, 5], [5, 5, 5]) == 1.0  # every value tied: nothing to tell apart
    assert mann_whitney_u([], [1.0]) == 1.0


def test_mann_whitney_u_with_ties_uses_average_ranks() -> None:
    # 1 2 2 2 3 3 3 4: the twos share rank 3, the threes rank 6, so [2, 3, 3, 4] has rank sum
    # 23 and U1 = 23 - 10 = 13 (mean 8); tie term 3 twos (27 - 3) + 3 threes (27 - 3) = 48.
    p = mann_whitney_u([2, 3, 3, 4], [1, 2, 2, 3])
    z = (abs(13 - 8) - 0.5) / math.sqrt(16 / 12 * (9 - 48 / 56))
    assert p == pytest.approx(2 * 0.5 * math.erfc(z / math.sqrt(2)))


def test_fisher_exact_is_the_lady_tasting_tea() -> None:
    assert fisher_exact(3, 4, 1, 4) == pytest.approx(0.4857, abs=1e-4)
    assert fisher_exact(10, 10, 0, 10) == pytest.approx(2 / math.comb(20, 10), rel=1e-6)
    assert fisher_exact(5, 5, 5, 5) == 1.0


def test_the_tail_test_sees_a_longer_tail_and_not_noise() -> None:
    rng = np.random.default_rng(3)
    base = rng.lognormal(6.5, 0.2, 400)
    # the middle stays, the slowest 10% get twice as slow: the rank test barely moves
    longer = np.where(base > np.quantile(base, 0.9), base * 2, base)
    assert tail_test(base, longer, 0.95) < 1e-6
    assert mann_whitney_u(base, longer) > 0.01
    assert tail_test(base, rng.lognormal(6.5, 0.2, 400), 0.95) > 0.05
    # 0 of 10 against 3 of 10 above the pooled p95 cannot be significant: honest for few calls
    assert tail_test(np.arange(10.0), np.arange(10.0) + 100, 0.95) > 0.05
    assert tail_test([], [1.0], 0.95) == 1.0


# ------------------------------------------------------------------ thresholds


def test_a_threshold_is_exceeded_beyond_every_limit_that_is_set() -> None:
    both = Threshold(relative=0.2, absolute=50)
    assert both.exceeded(1000, 201) and not both.exceeded(1000, 199)
    assert not both.exceeded(100, 45)  # 45% but only 45 ms: below the absolute limit
    assert both.exceeded(100, -60)  # either direction
    assert Threshold().exceeded(3, 1) and not Threshold().exceeded(3, 0)
    assert Threshold(relative=0.05).exceeded(0, 1)  # from nothing: any amount is relative inf
    assert both.describe() == ">20% and >50" and Threshold().describe() == "any change"


def test_a_scenario_override_replaces_only_the_limits_it_sets() -> None:
    settings = RegressionSettings(latency=Threshold(relative=0.2, absolute=50))
    own = ScenarioRegression.model_validate({"latency": {"relative": 0.5}, "ignore": ["cost"]})
    merged = Thresholds(settings, {"s": own}).for_scenario("s")
    assert merged.latency == Threshold(relative=0.5, absolute=50)
    assert merged.ignore == [Metric.COST]
    assert Thresholds(settings, {"s": own}).for_scenario("other").latency.relative == 0.2


def test_project_thresholds_come_from_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        "[tool.harness.regression]\nalpha = 0.05\n"
        "latency = { relative = 0.3, absolute = 100 }\ntokens = { absolute = 10 }\n",
        encoding="utf-8",
    )
    settings = load_settings(tmp_path, env={}).regression
    assert settings.alpha == 0.05
    assert settings.latency == Threshold(relative=0.3, absolute=100)
    assert settings.tokens == Threshold(absolute=10)
    assert settings.llm_calls == Threshold()  # untouched: the default


def test_a_scenario_file_carries_its_own_thresholds(tmp_path: Path) -> None:
    path = tmp_path / "scenarios" / "slow.yaml"
    path.parent.mkdir()
    workflow = Path(__file__).parent / "data" / "workflows" / "intake.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "name": "slow one",
                "workflow": str(workflow),
                "turns": [{"start": {}}],
                "regression": {"latency": {"relative": 1.0}, "ignore": ["scores"]},
            }
        ),
        encoding="utf-8",
    )
    [loaded] = load_scenarios([path], root=tmp_path)
    thresholds = Thresholds.of(RegressionSettings(), [loaded])
    assert loaded.id is not None
    own = thresholds.for_scenario(loaded.id)
    assert own.latency == Threshold(relative=1.0, absolute=50)
    assert own.ignore == [Metric.SCORES]


# ------------------------------------------------------------------ compare, single runs


def test_thirty_percent_more_tokens_on_one_node_is_flagged_by_name() -> None:
    base = Baseline.from_summary(batch(booking(tokens=100)))
    report = compare(batch(booking(tokens=130)), base)
    found = by_metric(report.regressions)
    node = found[("clinic/booking", 1, "confirm", "tokens")]
    assert (node.baseline, node.current, node.delta, node.delta_pct) == (100, 130, 30, 30.0)
    assert node.method == "exact count"
    assert ("clinic/booking", None, None, "tokens") in found  # the scenario's total too
    assert ("clinic/booking", 0, "greet", "tokens") not in found
    assert report.has_regressions
    text = report.to_text()
    assert "clinic/booking turns[1] confirm  tokens  100 -> 130 (+30, +30.0%)" in text


def test_thirty_percent_more_latency_single_run_uses_thresholds_and_says_not_tested() -> None:
    base = Baseline.from_summary(batch(booking(latency=800.0)))
    report = compare(batch(booking(latency=1040.0)), base)
    found = by_metric(report.regressions)
    p50 = found[("clinic/booking", 1, "confirm", "latency_p50")]
    assert p50.delta == pytest.approx(240.0) and p50.delta_pct == pytest.approx(30.0)
    assert p50.method == SINGLE_RUN
    assert ("clinic/booking", 1, "confirm", "latency_p95") in found
    assert not [c for c in report.regressions if c.metric == "tokens"]
    assert "single run, not tested" in report.to_text()


def test_an_unchanged_batch_is_clean_and_small_moves_stay_under_thresholds() -> None:
    base = Baseline.from_summary(batch(booking()))
    assert not compare(batch(booking()), base).has_regressions
    report = compare(batch(booking(tokens=104, latency=900.0)), base)  # 4% tokens, 12.5% latency
    assert report.regressions == [] and report.improvements == []


def test_improvements_are_reported_and_do_not_fail() -> None:
    base = Baseline.from_summary(batch(booking(tokens=100, latency=800.0)))
    report = compare(batch(booking(tokens=60, latency=400.0)), base)
    assert not report.has_regressions
    metrics = {(c.node, c.metric) for c in report.improvements}
    assert {("confirm", "tokens"), ("confirm", "latency_p50")} <= metrics


def test_a_node_that_appears_costs_its_calls_and_one_that_goes_away_saves_them() -> None:
    base = Baseline.from_summary(batch(booking()))
    extra = scenario(
        "clinic/booking",
        [
            attempt(
                0, [{"greet": (50, [300.0])}, {"confirm": (100, [800.0]), "check": (40, [90.0])}]
            )
        ],
    )
    found = by_metric(compare(batch(extra), base).regressions)
    assert found[("clinic/booking", 1, "check", "llm_calls")].delta == 1
    assert found[("clinic/booking", None, None, "llm_calls")].delta == 1
    assert ("clinic/booking", 1, "check", "latency_p50") not in found  # nothing to compare with
    report = compare(batch(booking()), Baseline.from_summary(batch(extra)))
    assert ("clinic/booking", 1, "check", "llm_calls") in by_metric(report.improvements)


def test_new_removed_skipped_and_errored_scenarios_are_listed() -> None:
    skipped = scenario("api/only", [], verdict=Verdict.SKIPPED, error="tool mocks need the engine")
    broken = scenario(
        "clinic/broken",
        [AttemptResult(attempt=0, verdict=Verdict.ERROR, error="cassette miss at turn 2")],
        verdict=Verdict.ERROR,
    )
    old = batch(booking(), scenario("clinic/gone", [attempt(0, [{"a": (1, [1.0])}])]), skipped)
    old.results.append(scenario("clinic/broken", [attempt(0, [{"a": (1, [1.0])}])]))
    new = batch(
        booking(), scenario("clinic/new", [attempt(0, [{"a": (1, [1.0])}])]), skipped, broken
    )
    report = compare(new, Baseline.from_summary(old))
    assert report.new == ["clinic/new"] and report.removed == ["clinic/gone"]
    reasons = {s.scenario: s.reason for s in report.skipped}
    assert reasons["api/only"] == "skipped in this batch: tool mocks need the engine"
    assert reasons["clinic/broken"] == "error in this batch: cassette miss at turn 2"
    assert report.compared == 1
    text = report.to_text()
    for line in ("new scenarios", "clinic/new", "removed scenarios", "clinic/gone", "api/only"):
        assert line in text


def test_rows_are_sorted_by_severity() -> None:
    base = Baseline.from_summary(batch(booking(tokens=100, latency=800.0)))
    report = compare(batch(booking(tokens=200, latency=1000.0)), base)
    # tokens and cost +100% (20x their 5% allowance) before latency +25% (1.25x its 20%)
    assert {c.metric for c in report.regressions[:4]} == {"tokens", "cost_usd"}
    assert report.regressions[-1].metric.startswith("latency")
    severities = [c.severity for c in report.regressions]
    assert severities == sorted(severities, reverse=True)


def test_pass_rate_and_scores_are_compared() -> None:
    def judged(score: float, verdict: Verdict = Verdict.PASSED) -> ScenarioResult:
        return scenario(
            "clinic/judged", [attempt(0, [{"a": (10, [10.0])}], verdict, {"score": score})]
        )

    report = compare(batch(judged(0.6, Verdict.FAILED)), Baseline.from_summary(batch(judged(0.9))))
    found = by_metric(report.regressions)
    assert found[("clinic/judged", None, None, "pass_rate")].delta == -1.0
    assert found[("clinic/judged", None, None, "score:score")].delta == pytest.approx(-0.3)


def test_ignored_families_and_per_scenario_thresholds_apply() -> None:
    base = Baseline.from_summary(batch(booking(tokens=100, latency=800.0)))
    current = batch(booking(tokens=130, latency=1100.0))
    own = ScenarioRegression(
        ignore=[Metric.LATENCY], tokens=Threshold(relative=0.5), cost=Threshold(relative=0.5)
    )
    report = compare(current, base, Thresholds(RegressionSettings(), {"clinic/booking": own}))
    assert report.regressions == []


def test_reports_render_as_markdown_and_json() -> None:
    base = Baseline.from_summary(batch(booking(tokens=100)))
    report = compare(batch(booking(tokens=130), scenario("x/new", [])), base)
    markdown = report.to_markdown()
    assert "| 🔺 | `clinic/booking` | 1 | confirm | tokens | 100 | 130 | +30 (+30.0%) |" in markdown
    assert "x/new" in markdown
    data = json.loads(report.to_json())
    assert data["has_regressions"] is True
    row = next(r for r in data["regressions"] if (r["node"], r["metric"]) == ("confirm", "tokens"))
    assert row == row | {"scenario": "clinic/booking", "turn": 1, "metric": "tokens", "delta": 30}
    assert data["new"] == ["x/new"]


# ------------------------------------------------------------------ repeats and noise


def repeated(seed: int, runs: int, scale: float = 1.0, sigma: float = 0.25) -> RunSummary:
    """Three scenarios, two nodes each, `runs` attempts with lognormal latency noise."""
    rng = np.random.default_rng(seed)
    results = []
    for name in ("a", "b", "c"):
        attempts = [
            attempt(
                i,
                [
                    {"greet": (50, [float(rng.lognormal(math.log(300 * scale), sigma))])},
                    {"answer": (120, [float(rng.lognormal(math.log(900 * scale), sigma))])},
                ],
            )
            for i in range(runs)
        ]
        results.append(scenario(f"suite/{name}", attempts))
    return batch(*results, batch_id=f"20260101T000000-{seed:06d}")


def test_twenty_noisy_reruns_raise_no_false_alarm() -> None:
    base = Baseline.from_summary(repeated(seed=1000, runs=30))
    noise_seen = 0
    for seed in range(20):
        report = compare(repeated(seed=seed, runs=30), base)
        assert report.regressions == [], report.to_text()
        noise_seen += len(report.noise)
    # Some reruns do move a p50 or p95 beyond its 20% threshold: a threshold alone would have
    # raised those alarms; the tests put them down to noise.
    assert noise_seen > 0


def test_a_real_thirty_percent_latency_shift_is_caught_with_repeats() -> None:
    base = Baseline.from_summary(repeated(seed=1000, runs=30))
    for seed in range(5):
        report = compare(repeated(seed=seed, runs=30, scale=1.3), base)
        found = by_metric(report.regressions)
        for name in ("a", "b", "c"):
            p50 = found[(f"suite/{name}", 1, "answer", "latency_p50")]
            assert p50.method.startswith("Mann-Whitney U p=") and p50.p_value is not None
            assert p50.p_value < 0.01
            assert p50.delta_pct is not None and p50.delta_pct > 10
        assert not [c for c in report.regressions if c.metric in ("tokens", "llm_calls")]


def test_noise_beyond_the_threshold_is_listed_as_not_significant() -> None:
    # Five runs each, wildly noisy: medians move a lot but the test cannot tell them apart.
    base = Baseline.from_summary(repeated(seed=7, runs=5, sigma=0.8))
    report = compare(repeated(seed=8, runs=5, sigma=0.8), base)
    assert report.regressions == []
    assert report.noise and all("not significant (BH over" in c.method for c in report.noise)
    # Five calls a side: Mann-Whitney U bottoms out at p=0.0122 and a p95 of 5 or 10 calls
    # cannot be told apart at all, so those moves are counted as untestable, never flagged.
    assert report.untested["latency_p50"] > 0 and report.untested["latency_p95"] > 0
    assert "not tested, too few runs for a test to reach alpha 0.01" in report.to_text()
    # Tarone: only tests that can reach alpha widen the family: the scenario totals' p50 (10
    # calls a side) and the pass rates (5 runs a side).
    assert report.tests == 3 + 3
    assert "within noise" in report.to_text()


# ------------------------------------------------------------------ the baseline file


def test_a_baseline_file_round_trips_and_reads_one_line_per_node(tmp_path: Path) -> None:
    summary = batch(booking(), repeated(seed=1, runs=3).results[0])
    path = tmp_path / "baseline.json"
    write_baseline(summary, path)
    text = path.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["kind"] == "harness-baseline" and data["format_version"] == 1
    assert data["source"]["batch_id"] == summary.batch.batch_id
    entry = data["scenarios"]["clinic/booking"]
    assert entry["runs"] == 1 and entry["passed"] == 1
    assert entry["nodes"]["1/confirm"] == {
        "tokens": 100,
        "llm_calls": 1,
        "cost_usd": 0.0001,
        "latencies_ms": [800.0],
    }
    assert any(line.strip().startswith('"1/confirm": {"tokens": 100') for line in text.splitlines())
    loaded = load_baseline(str(path), root=tmp_path)
    assert not compare(summary, loaded).has_regressions
    assert compare(batch(booking(tokens=130)), loaded).has_regressions


def test_many_samples_are_kept_as_quantiles_with_exact_p50_and_p95(tmp_path: Path) -> None:
    latencies = [float(v) for v in np.random.default_rng(5).lognormal(6, 0.3, 500)]
    big = scenario("big/one", [attempt(0, [{"n": (10, latencies)}])])
    path = tmp_path / "baseline.json"
    write_baseline(batch(big), path)
    node = json.loads(path.read_text(encoding="utf-8"))["scenarios"]["big/one"]["nodes"]["0/n"]
    assert node["calls"] == 500 and len(node["latency_quantiles_ms"]) == 21
    assert SAMPLE_LIMIT < 500
    table = Baseline.read(path).usage
    index = table.keys.index(("big/one", 0, "n"))
    assert table.quantiles(0.5)[index] == pytest.approx(np.quantile(latencies, 0.5), abs=0.05)
    assert table.quantiles(0.95)[index] == pytest.approx(np.quantile(latencies, 0.95), abs=0.05)
    assert not compare(batch(big), Baseline.read(path)).has_regressions


def test_a_bad_baseline_file_is_refused_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"kind": "harness-baseline", "format_version": 99}', encoding="utf-8")
    with pytest.raises(HarnessError, match="format version 99") as caught:
        load_baseline(str(path), root=tmp_path)
    assert "harness baseline update" in (caught.value.hint or "")
    with pytest.raises(HarnessError, match="no baseline 'nope'"):
        load_baseline("nope", root=tmp_path)


# ------------------------------------------------------------------ the history


def record(store: HistoryStore, summary: RunSummary, branch: str = "main") -> None:
    info = summary.batch.model_copy(update={"git_branch": branch})
    store.record_batch(info)
    for result in summary.results:
        store.record_result(info.batch_id, result)
    store.finish_batch(summary.model_copy(update={"batch": info}))


def tables_equal(a: Baseline, b: Baseline) -> None:
    assert sorted(a.scenarios) == sorted(b.scenarios)
    for key in a.scenarios:
        left, right = a.scenarios[key], b.scenarios[key]
        assert (left.status, left.runs, left.passed, left.scores) == (
            right.status,
            right.runs,
            right.passed,
            right.scores,
        )
    order_a = {k: i for i, k in enumerate(a.usage.keys)}
    order_b = {k: i for i, k in enumerate(b.usage.keys)}
    assert set(order_a) == set(order_b)
    for key, i in order_a.items():
        j = order_b[key]
        assert a.usage.tokens[i] == pytest.approx(b.usage.tokens[j])
        assert a.usage.llm_calls[i] == pytest.approx(b.usage.llm_calls[j])
        assert a.usage.cost_usd[i] == pytest.approx(b.usage.cost_usd[j], nan_ok=True)
        assert list(a.usage.samples(i)) == pytest.approx(list(b.usage.samples(j)))


def test_a_batch_read_from_the_history_equals_the_batch_read_from_its_results(
    tmp_path: Path,
) -> None:
    errored = scenario(
        "suite/flaky",
        [
            attempt(0, [{"n": (10, [5.0])}]),
            AttemptResult(attempt=1, verdict=Verdict.ERROR, error="boom"),
        ],
    )
    judged = scenario("suite/judged", [attempt(0, [{"n": (7, [3.0, 4.0])}], scores={"score": 0.5})])
    skipped = scenario("suite/skipped", [], verdict=Verdict.SKIPPED, error="api only")
    summary = RunSummary.from_results(
        [*repeated(seed=2, runs=4).results, errored, judged, skipped],
        batch=BatchInfo(batch_id="20260101T000000-000002"),
    )
    path = tmp_path / "history.sqlite"
    with HistoryStore(path) as store:
        record(store, summary)
        connection = store.connection()
    try:
        from_history = baseline_from_history(connection, summary.batch.batch_id)
    finally:
        connection.close()
    tables_equal(from_history, Baseline.from_summary(summary))
    assert from_history.scenarios["suite/skipped"].reason == "api only"
    assert from_history.source["git_branch"] == "main"
    assert not compare(summary, from_history).has_regressions


def test_latest_branch_and_batch_ids_resolve_in_the_history(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "history.sqlite"
    old = batch(booking(tokens=100), batch_id="20260101T000000-000001")
    feature = batch(booking(tokens=150), batch_id="20260102T000000-000001")
    with HistoryStore(path) as store:
        record(store, old, branch="main")
        record(store, feature, branch="feature")
    now = batch(booking(tokens=150))
    assert compare(now, load_baseline("branch:main", root=tmp_path)).has_regressions
    assert not compare(now, load_baseline("latest", root=tmp_path)).has_regressions
    by_id = load_baseline("20260101T000000-000001", root=tmp_path)
    assert by_id.label == "20260101T000000-000001"
    with pytest.raises(HarnessError, match="no finished batch on branch 'nope'"):
        load_baseline("branch:nope", root=tmp_path)
    with pytest.raises(HarnessError, match=r"no batch 'x' in the history \(latest: 2026"):
        load_baseline("x", root=tmp_path)


def test_the_totals_row_is_the_sum_of_the_nodes() -> None:
    table = Baseline.from_summary(repeated(seed=3, runs=2)).usage
    index = {k: i for i, k in enumerate(table.keys)}
    total = index[("suite/a", TOTAL, "")]
    nodes = [index[("suite/a", 0, "greet")], index[("suite/a", 1, "answer")]]
    assert table.tokens[total] == sum(table.tokens[i] for i in nodes) == 170
    assert table.counts[total] == 4

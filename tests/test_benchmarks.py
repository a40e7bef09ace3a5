"""The benchmark suite's bookkeeping: argument defaults, alternation, JSON schema, summary table.

Nothing is timed here: timings belong to `make bench`, not to `make test`. The one workload run is
the engine benchmark's raw loop on the smoke profile, checked to do the engines' work.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from fedlib import benchresults as br

RUN_PY = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.fixture(scope="module")
def bench():
    """``benchmarks/run.py`` loaded from its path, as ``python benchmarks/run.py`` finds its modules."""
    spec = importlib.util.spec_from_file_location("fedlib_benchmarks_run", RUN_PY)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def harness(bench):
    return importlib.import_module("benchmarks.harness")


def fake_result(name="engine", **overrides) -> dict:
    result = {
        "schema": br.SCHEMA, "name": name, "title": "Engine overhead", "quick": False,
        "settings": {"rounds": 3}, "samples": {"raw_s": [1.0, 1.1], "inprocess_s": [1.02, 1.12]},
        "medians": {"raw_s": 1.05, "inprocess_s": 1.07},
        "checks": [
            br.check("inprocess / raw", 1.02, target="<= 1.05", detail="raw 1.05 s"),
            br.check("simulation / inprocess", 2.5, target=">= 3"),
            br.check("prompt / full", 0.0012, target="<= 0.005", unit="%"),
            br.check("threads 2 / 1", 1.6),
        ],
        "met": None,
        "machine": {"cpu_count": 2, "torch": "2.13.0", "torch_threads": 2, "platform": "Linux", "loadavg_1m": 0.2},
        "notes": ["a note | with a pipe"], "wall_s": 12.0, "error": None,
    }
    result["met"] = br.overall_met(result["checks"])
    result.update(overrides)
    return result


def test_check_parses_targets_and_decides_met():
    assert br.check("a", 1.0, target="<= 1.05")["met"] is True
    assert br.check("a", 2.0, target="<= 1.05")["met"] is False
    assert br.check("a", 3.5, target=">= 3")["target"] == {"op": ">=", "value": 3.0}
    assert br.check("a", 1.0)["met"] is None and br.check("a", None, target="<= 1")["met"] is None
    with pytest.raises(ValueError):
        br.check("a", 1.0, target="about 1")
    with pytest.raises(ValueError):
        br.check("a", 1.0, unit="MB")


def test_overall_met():
    met, missed, report = br.check("a", 1, target="<= 2"), br.check("b", 3, target="<= 2"), br.check("c", 1)
    assert br.overall_met([met, report]) is True
    assert br.overall_met([met, missed]) is False
    assert br.overall_met([report]) is None
    assert br.overall_met([br.check("d", None, target="<= 1")]) is False


def test_fake_result_matches_schema_and_round_trips(tmp_path):
    result = fake_result()
    assert br.validate(result) == []
    assert result["met"] is False  # simulation / inprocess missed its target
    path = br.write_result(result, tmp_path)
    assert path.name == "engine.json"
    assert json.loads(path.read_text()) == result
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"name": "x"}))
    assert [r["name"] for r in br.load_results(tmp_path)] == ["engine"]
    assert br.load_results(tmp_path / "missing") == []


def test_malformed_results_are_refused(tmp_path):
    result = fake_result()
    del result["machine"]["torch_threads"]
    result["checks"][0]["unit"] = "MB"
    problems = br.validate(result)
    assert any("torch_threads" in p for p in problems) and any("unit" in p for p in problems)
    with pytest.raises(ValueError):
        br.write_result(result, tmp_path)


def test_markdown_table_and_summary():
    results = [fake_result(), fake_result("book", title="Book build", checks=[], met=None,
                                           notes=["skipped in quick mode"])]
    table = br.markdown_table(results)
    lines = table.splitlines()
    assert lines[0] == "| " + " | ".join(br.COLUMNS) + " |"
    assert len(lines) == 2 + 4 + 1  # header, rule, four checks, one skipped benchmark
    assert all(line.count("|") == len(br.COLUMNS) + 1 for line in lines)
    assert "| 1.02× | ≤ 1.05× | met |" in table
    assert "| 2.5× | ≥ 3× | missed |" in table
    assert "| 0.12 % | ≤ 0.5 % | met |" in table
    assert "| 1.6× | — | report |" in table
    assert "2 cores, torch 2.13.0 (2 threads), load 0.2" in table
    assert "skipped" in table
    summary = br.summary_markdown(results)
    assert "engine: inprocess / raw = 1.02× (target ≤ 1.05×): met" in summary
    assert "engine: simulation / inprocess = 2.5× (target ≥ 3×): missed" in summary
    assert "a note | with a pipe" in summary
    assert br.summary_markdown([]).startswith("No benchmark results yet")
    failed = fake_result(error="RuntimeError: boom\ntraceback", checks=[], met=False)
    assert "| failed | RuntimeError: boom |" in br.markdown_table([failed])


def test_results_frame_has_one_row_per_check():
    frame = br.results_frame([fake_result()])
    assert list(frame.columns) == list(br.COLUMNS) and len(frame) == 4


def test_arguments(bench, tmp_path):
    args = bench.parse_args(["--quick"])
    assert args.quick and args.repeats == 2 and args.threads == 1
    assert args.only == list(bench.DEFAULT_NAMES) and "parity" not in args.only
    args = bench.parse_args(["--only", "engine,memory", "--repeats", "5", "--out", str(tmp_path)])
    assert args.only == ["engine", "memory"] and args.repeats == 5 and args.threads is None
    assert args.out == tmp_path
    with pytest.raises(SystemExit):
        bench.parse_args(["--only", "nonsense"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--repeats", "0"])


def test_arms_alternate_and_ratios_are_paired(harness):
    calls = []
    arms = [harness.Arm("a", lambda: calls.append("a") or 1.0, 3),
            harness.Arm("b", lambda: calls.append("b") or 2.0, 3),
            harness.Arm("c", lambda: calls.append("c") or 4.0, 1)]
    values = harness.alternate(arms)
    assert calls == ["a", "b", "c", "a", "b", "a", "b"]
    assert values == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0], "c": [4.0]}
    assert harness.paired_ratio([2.0, 4.0, 9.0], [1.0, 1.0, 3.0]) == 3.0  # median of 2, 4, 3
    assert harness.paired_ratio([4.0], [1.0, 2.0, 3.0]) == 2.0  # unequal counts: ratio of medians


def test_quick_mode_skips_the_book_without_running_anything(bench, tmp_path):
    opts = bench.Options(quick=True, repeats=1, book_repeats=1, out=tmp_path)
    result = bench.run_one("book", opts)
    assert br.validate(result) == [] and result["checks"] == [] and result["met"] is None
    assert any("skipped" in note for note in result["notes"])


def test_every_benchmark_has_its_module_and_the_committed_title(bench):
    committed = {r["name"]: r["title"] for r in br.load_results(RUN_PY.parent / "results")}
    assert tuple(bench.BENCHMARKS) == br.ORDER
    for name, module in bench.BENCHMARKS.items():
        assert callable(module.run)
        assert module.TITLE == committed.get(name, module.TITLE)  # the book renders these titles
    assert sorted(bench.CHILDREN) == ["memory", "scaling"]


def test_a_failing_benchmark_is_recorded_not_raised(harness, tmp_path):
    def broken(opts, result):
        raise RuntimeError("boom")

    opts = harness.Options(quick=True, repeats=1, book_repeats=1, out=tmp_path)
    result = harness.run_benchmark("engine", "Engine overhead", broken, opts)
    assert br.validate(result) == [] and result["met"] is False
    assert result["error"].startswith("RuntimeError: boom")


def test_raw_loop_does_the_engines_work_and_stops_early(bench, results_tmp):
    """The engine benchmark's baseline trains, averages and early-stops exactly as ``federate`` does."""
    from fedlib.data.tasks import NC_LANGUAGES
    from fedlib.experiment import ExperimentConfig
    from fedlib.federated import run_federated

    engine = bench.BENCHMARKS["engine"]
    cfg = ExperimentConfig(task="nc_standin", languages=NC_LANGUAGES[:2], profile="smoke", rounds=4, patience=1,
                           train_per_client=8, val_per_client=8, eval_per_client=8, seed=0)
    raw = engine.raw_fedavg(cfg)
    assert len(raw["rounds"]) < cfg.rounds  # patience 1 stopped it
    same = engine.same_work(raw, run_federated(dataclasses.replace(cfg, engine="inprocess")))
    assert same == {"same_keys": True, "max_abs_param_diff": 0.0, "same_rounds": True, "same_best_round": True,
                    "same_test_accuracy": True}

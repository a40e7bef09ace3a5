"""The command line as people expect it: every option's help shows its default, and an expected
failure (unknown name, invalid value, bad data, a hub that is not there) is one ``fedlib: ...`` line
on stderr with exit status 2, never a traceback. Unexpected errors still raise."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from fedlib import cli, config, paradigms, report  # report binds run_experiment at import: import it unpatched
from fedlib.cli import main
from fedlib.data import ChecksumMismatchError, get_task


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = cli._parser()
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


@pytest.mark.parametrize("command", ["run", "compare", "plan"])
def test_every_option_has_a_help_line_with_its_default(command):
    sub = _subparsers()[command]
    formatter = sub._get_formatter()
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        text = formatter._get_help_string(action) or ""
        assert action.help, f"{command} {action.option_strings} has no help"
        assert "(default: " in text or "(required)" in text, f"{command} {action.option_strings}: {text!r}"


def test_run_help_shows_the_defaults(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    for words in ("(default: federated)", "(default: prompt)", "(default: inprocess)", "(default: 0)",
                  "(default: the profile's value)", "(default: $FEDLIB_PROFILE, else cpu)",
                  "(default: $FEDLIB_BACKBONE, else the profile's backbone)", "--rounds ROUNDS"):
        assert words in out, words


def _refused(argv, capsys) -> str:
    """Run ``argv``; assert the expected refusal (exit 2, one stderr line, no traceback); return the line."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.startswith("fedlib: ")]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.fixture()
def no_work(monkeypatch, results_tmp):
    """No experiment may start (an expected error refuses before any work)."""
    for module in (paradigms, report):
        monkeypatch.setattr(module, "run_experiment", lambda *a, **k: pytest.fail("work started"))


@pytest.mark.parametrize("argv, words", [
    (["run", "--task", "nonsense"], "unknown task 'nonsense'"),
    (["run", "--task", "sib200", "--languages", "eng_Latn,xx_Fake"], "['xx_Fake'] are not in task 'sib200'"),
    (["run", "--task", "sib200", "--rounds", "0", "--lr", "0"],
     "invalid experiment config: rounds must be a positive integer (got 0); lr must be > 0"),
    (["compare", "--task", "nonsense"], "unknown task 'nonsense'"),
    (["compare", "--task", "sib200", "--languages", "kin_latn"], "['kin_latn'] are not in task"),
    (["compare", "--task", "sib200", "--arms", "telepathy"], "unknown arms ['telepathy']"),
    (["plan", "--task", "nonsense"], "no compute plan for task 'nonsense'"),
    (["plan", "--task", "nc_standin", "--arms", "telepathy"], "no arm 'telepathy'"),
])
def test_an_unknown_name_or_invalid_value_is_one_line(argv, words, capsys, no_work):
    assert words in _refused([*argv, *(["--profile", "smoke"] if argv[0] != "plan" else [])], capsys)


@pytest.mark.parametrize("command", ["run", "compare"])
def test_an_unknown_profile_in_the_environment_is_one_line(command, capsys, monkeypatch, no_work):
    monkeypatch.setenv("FEDLIB_PROFILE", "huge")
    assert "unknown profile 'huge'" in _refused([command, "--task", "sib200"], capsys)


def test_a_data_error_during_the_run_is_one_line(capsys, monkeypatch, results_tmp):
    def corrupt(*args, **kwargs):
        raise ChecksumMismatchError("sib200/eng_Latn/train.tsv.gz: checksum mismatch;\nrestore the files")

    monkeypatch.setattr(paradigms, "run_experiment", corrupt)
    line = _refused(["run", "--task", "sib200", "--languages", "eng_Latn", "--profile", "smoke"], capsys)
    assert line == "fedlib: sib200/eng_Latn/train.tsv.gz: checksum mismatch; restore the files"


def test_a_missing_data_folder_is_one_line(tmp_path, capsys, no_work):
    line = _refused(["run", "--data", str(tmp_path / "nowhere"), "--profile", "smoke"], capsys)
    assert "nowhere" in line


def test_an_unreachable_backbone_is_one_line_within_seconds(capsys, monkeypatch, results_tmp):
    import time

    from fedlib.backbone import configs

    for name in ("HF_HUB_OFFLINE", "FEDLIB_OFFLINE", "FEDLIB_BACKBONE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(configs, "_in_hub_cache", lambda name: False)
    monkeypatch.setattr(config, "hub_reachable", lambda *a, **k: False)  # the probe, faked: no network
    started = time.perf_counter()
    common = ["--task", "sib200", "--languages", "eng_Latn"]
    for argv in (["run", *common, "--profile", "smoke", "--backbone", "FacebookAI/xlm-roberta-base"],
                 ["compare", *common, "--profile", "paper"]):  # the paper profile's backbone
        line = _refused(argv, capsys)
        assert "backbone 'FacebookAI/xlm-roberta-base' could not be reached" in line
        assert "Hugging Face cache" in line and "FEDLIB_PROFILE=cpu" in line and "FEDLIB_BACKBONE" in line
    assert time.perf_counter() - started < 30  # not a minute of retries per command
    assert not list(results_tmp.rglob("*.json"))


def test_an_unshipped_language_offline_is_one_line_naming_the_shipped_ones(capsys, monkeypatch, results_tmp):
    monkeypatch.setenv("FEDLIB_OFFLINE", "1")
    line = _refused(["run", "--task", "sib200", "--languages", "eng_Latn,kin_Latn", "--profile", "smoke",
                     "--rounds", "1", "--seed", "7907"], capsys)
    assert "kin_Latn" in line and "FEDLIB_OFFLINE=1" in line and "--data DIR" in line
    assert all(lang in line for lang in get_task("sib200").languages)


@pytest.mark.parametrize("error", [RuntimeError("a bug"), ValueError("a bug deep in training")])
def test_unexpected_errors_still_raise(error, monkeypatch, results_tmp):
    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(paradigms, "run_experiment", broken)
    with pytest.raises(type(error), match="a bug"):
        main(["run", "--task", "sib200", "--languages", "eng_Latn", "--profile", "smoke"])


def test_python_m_fedlib_help():
    done = subprocess.run([sys.executable, "-m", "fedlib", "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert all(command in done.stdout for command in ("run", "compare", "plan"))

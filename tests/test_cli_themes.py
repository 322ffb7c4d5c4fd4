"""`digest themes classify|explain|evaluate|diff` and `digest tag`, through click's runner."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from digest.cli import cli
from digest.config import load_settings
from digest.store import Store

LAUNCH = "North Korea fired two ballistic missiles into the East Sea on Monday."


def run(config: Path, *args: str, stdin: str | None = None) -> click.testing.Result:
    # Wide enough that rich does not wrap the tables' cells.
    runner = CliRunner(env={"COLUMNS": "250"})
    return runner.invoke(cli, ["--config", str(config), *args], input=stdin)


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def edit_theme(config: Path, table: str, line: str) -> None:
    """Add a line under a theme's table in config.toml."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(f"[{table}]\n", f"[{table}]\n{line}\n", 1), encoding="utf-8")


def stored_tags(config: Path, theme: str) -> dict[int, float]:
    store = Store.open(load_settings(config).database_url)
    try:
        ids = [item.id for item in store.iter_items()]
        return {
            item_id: m.score
            for item_id, matches in store.tags_for(ids).items()
            for m in matches
            if m.theme == theme
        }
    finally:
        store.close()


def test_classify_writes_one_prediction_per_item(sample_config: Path, tmp_path: Path) -> None:
    items = write_jsonl(
        tmp_path / "items.jsonl",
        [
            {"id": "a", "title": "Launch", "summary": LAUNCH},
            {"id": "b", "title": "Rain", "summary": ""},
        ],
    )
    out = tmp_path / "pred.jsonl"
    result = run(sample_config, "themes", "classify", "--input", str(items), "--output", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(p["id"], p["labels"]) for p in lines] == [("a", ["missile_tests"]), ("b", [])]
    assert set(lines[0]["scores"]) == {"missile_tests", "china_influence", "alliance_coordination"}


def test_classify_names_the_line_of_bad_input(sample_config: Path, tmp_path: Path) -> None:
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": "a", "title": "x"}\nnot json\n')
    out = tmp_path / "pred.jsonl"
    result = run(sample_config, "themes", "classify", "--input", str(items), "--output", str(out))
    assert result.exit_code == 1
    assert "items.jsonl line 2: not JSON" in result.output and "Traceback" not in result.output


def test_explain_shows_every_theme_with_threshold_and_evidence(sample_config: Path) -> None:
    result = run(sample_config, "themes", "explain", LAUNCH)
    assert result.exit_code == 0, result.output
    for theme in ("missile_tests", "china_influence", "alliance_coordination"):
        assert theme in result.output
    assert "North Korea, fired, ballistic, missiles" in result.output and "0.40" in result.output


def test_explain_reads_text_from_a_file(sample_config: Path, tmp_path: Path) -> None:
    (tmp_path / "story.html").write_text(f"<p>{LAUNCH}</p>")
    result = run(sample_config, "themes", "explain", f"@{tmp_path / 'story.html'}")
    assert result.exit_code == 0 and "yes" in result.output


def test_explain_of_a_missing_file_is_one_clear_error(sample_config: Path, tmp_path: Path) -> None:
    result = run(sample_config, "themes", "explain", f"@{tmp_path / 'none.txt'}")
    assert result.exit_code == 1
    assert result.output.startswith("Error: Cannot read") and "Traceback" not in result.output


def test_evaluate_prints_quality_and_the_wrong_items(sample_config: Path, tmp_path: Path) -> None:
    labelled = write_jsonl(
        tmp_path / "gold.jsonl",
        [
            {"id": "ok", "title": "Launch", "summary": LAUNCH, "labels": ["missile_tests"]},
            {"id": "bad", "title": "Rain in Seoul", "summary": "", "labels": ["china_influence"]},
        ],
    )
    result = run(sample_config, "themes", "evaluate", str(labelled), "--folds", "2")
    assert result.exit_code == 0, result.output
    assert "macro-F1" in result.output and "2-fold cross-validation" in result.output
    assert "Wrong: 1 item" in result.output and "bad" in result.output


def test_evaluate_needs_labels(sample_config: Path, tmp_path: Path) -> None:
    unlabelled = write_jsonl(tmp_path / "items.jsonl", [{"id": "a", "title": "x", "summary": ""}])
    result = run(sample_config, "themes", "evaluate", str(unlabelled))
    assert result.exit_code == 1 and 'has no "labels" list' in result.output


def test_diff_shows_items_that_would_lose_a_theme_and_stores_nothing(sample_config: Path) -> None:
    assert run(sample_config, "ingest").exit_code == 0
    before = stored_tags(sample_config, "missile_tests")
    edit_theme(sample_config, "themes.missile_tests.exclusions", '"missile" = 5.0')
    result = run(sample_config, "themes", "diff")
    assert result.exit_code == 0, result.output
    assert "items would lose missile_tests" in result.output
    assert "changed" in result.output
    assert stored_tags(sample_config, "missile_tests") == before


def test_diff_shows_items_a_raised_threshold_would_drop(sample_config: Path) -> None:
    assert run(sample_config, "ingest").exit_code == 0
    scores = stored_tags(sample_config, "china_influence")
    dropped = [s for s in scores.values() if 0.35 <= s < 0.9]  # 0.35 is the shipped one
    assert dropped
    text = sample_config.read_text(encoding="utf-8")
    sample_config.write_text(text.replace("threshold = 0.35\n", "threshold = 0.9\n", 1))
    result = run(sample_config, "themes", "diff")
    assert result.exit_code == 0, result.output
    assert f"{len(dropped)} items would lose china_influence" in result.output


def test_tag_retags_only_the_changed_theme(sample_config: Path) -> None:
    assert run(sample_config, "ingest").exit_code == 0
    edit_theme(sample_config, "themes.missile_tests.exclusions", '"missile" = 5.0')
    result = run(sample_config, "tag")
    assert result.exit_code == 0, result.output
    assert "for missile_tests." in result.output
    assert "up to date" in run(sample_config, "tag").output


def test_tag_all_retags_every_theme(sample_config: Path) -> None:
    assert run(sample_config, "ingest").exit_code == 0
    result = run(sample_config, "tag", "--all")
    assert "missile_tests, china_influence, alliance_coordination" in result.output

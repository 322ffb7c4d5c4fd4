"""`digest themes classify|explain|evaluate|diff` and `digest tag`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from digest.cli.common import Context, counted, pass_context, table
from digest.config import Settings, load_settings
from digest.errors import DigestError
from digest.models import ThemeMatch
from digest.tag import diff_tags, retag
from digest.tagging import Tagger, build_tagger, explain
from digest.tagging.evaluate import (
    Evaluation,
    classify_items,
    cross_validate,
    evaluate,
    parse_jsonl,
    read_jsonl,
)


@click.group("themes")
def themes_group() -> None:
    """Classify, explain and evaluate with the configured themes, or preview a change."""


def _tagger(ctx: Context) -> tuple[Settings, Tagger]:
    """The themes of the active config, without opening the database."""
    settings = load_settings(ctx.config)
    return settings, build_tagger(settings.themes)


@themes_group.command("classify")
@click.option(
    "--input",
    "source",
    type=click.File("r", encoding="utf-8"),
    required=True,
    help='JSONL items, one {"id", "title", "summary"} a line ("-" for stdin).',
)
@click.option(
    "--output",
    "target",
    type=click.File("w", encoding="utf-8"),
    required=True,
    help='Where to write {"id", "labels", "scores"} lines ("-" for stdout).',
)
@pass_context
def classify(ctx: Context, source: IO[str], target: IO[str]) -> None:
    """Label JSONL items with the configured themes, one prediction line per item."""
    settings, tagger = _tagger(ctx)
    items = parse_jsonl(source, origin=source.name)
    count = 0
    for prediction in classify_items(tagger, list(settings.themes), items):
        target.write(json.dumps(prediction, ensure_ascii=False) + "\n")
        count += 1
    click.echo(f"Classified {counted(count, 'item')} into {target.name}.", err=True)


@themes_group.command("explain")
@click.argument("text")
@click.option("--title", default="", help="A title to score with the text (it counts more).")
@pass_context
def explain_text(ctx: Context, text: str, title: str) -> None:
    """Show every theme's score, threshold and evidence for TEXT (or @FILE, @- for stdin)."""
    settings, tagger = _tagger(ctx)
    body = _read_argument(text)
    rows = []
    for match in explain(tagger, list(settings.themes), title, body):
        threshold = tagger.threshold(match.theme)
        verdict = Text("yes", style="green") if match.score >= threshold else Text("no")
        rows.append((match.theme, f"{match.score:.3f}", f"{threshold:.2f}", verdict, _why(match)))
    ctx.console.print(table("Themes", ["theme", "score", "threshold", "tagged", "evidence"], rows))


def _read_argument(text: str) -> str:
    if not text.startswith("@"):
        return text
    if text == "@-":
        return sys.stdin.read()
    path = Path(text[1:])
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DigestError(
            f"Cannot read {path} ({exc.__class__.__name__}: {exc})",
            hint="Pass the text itself, @FILE with a readable UTF-8 file, or @- for stdin.",
        ) from None


def _why(match: ThemeMatch) -> Text:
    """Each sentence once, with what it added and the phrases that matched in it."""
    lines: list[Text] = []
    for evidence, style in ((match.evidence, ""), (match.penalties, "red")):
        by_sentence: dict[tuple[str, float], list[str]] = {}
        for e in evidence:
            by_sentence.setdefault((e.snippet, e.weight), []).append(e.phrase)
        for (snippet, weight), phrases in by_sentence.items():
            added = f"{weight:.2f}" if style else f"+{weight:.2f}"
            lines.append(
                Text.assemble((added, style), " ", (", ".join(phrases), "bold"), f": {snippet}")
            )
    return Text("\n").join(lines) if lines else Text("-")


@themes_group.command("evaluate")
@click.argument("labelled", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option(
    "--folds",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also cross-validate the thresholds over this many folds (0: do not).",
)
@click.option("--show", default=50, show_default=True, help="How many wrong items to list.")
@pass_context
def evaluate_file(ctx: Context, labelled: Path, folds: int, show: int) -> None:
    """Compare the themes' labels with LABELLED.jsonl: per-theme precision, recall and F1,
    micro- and macro-F1, and the items it got wrong."""
    settings, tagger = _tagger(ctx)
    themes = list(settings.themes)
    gold = read_jsonl(labelled)
    missing = [n for n, item in enumerate(gold, 1) if not isinstance(item.get("labels"), list)]
    if missing:
        raise DigestError(
            f'{labelled}: item {missing[0]} has no "labels" list',
            hint='Each line needs "id", "title", "summary" and "labels".',
        )
    predictions = list(classify_items(tagger, themes, gold))
    result = evaluate(gold, predictions, themes)
    ctx.console.print(_quality_table(f"{labelled.name}: {counted(result.items, 'item')}", result))
    if folds > 1:
        held_out, chosen = cross_validate(gold, predictions, themes, folds=folds)
        ctx.console.print(
            _quality_table(f"{folds}-fold cross-validation of the thresholds", held_out)
        )
        thresholds = ", ".join(
            f"{t} {min(c[t] for c in chosen):.2f}-{max(c[t] for c in chosen):.2f}" for t in themes
        )
        ctx.console.print(f"Thresholds chosen on the training folds: {thresholds}")
    wrong = [
        (w.id, w.title, ", ".join(w.expected) or "-", ", ".join(w.predicted) or "-")
        for w in result.wrong[:show]
    ]
    if wrong:
        title = f"Wrong: {counted(len(result.wrong), 'item')}" + (
            f" (first {show})" if len(result.wrong) > show else ""
        )
        ctx.console.print(table(title, ["id", "title", "expected", "predicted"], wrong))


def _quality_table(title: str, result: Evaluation) -> Table:
    rows: list[tuple[object, ...]] = [
        (
            q.theme,
            f"{q.precision:.3f}",
            f"{q.recall:.3f}",
            f"{q.f1:.3f}",
            q.support,
            f"{q.true_positives}/{q.false_positives}/{q.false_negatives}",
        )
        for q in result.themes
    ]
    for name, value in (
        ("micro-F1", result.micro_f1),
        ("macro-F1", result.macro_f1),
        ("exact match", result.exact_match),
    ):
        rows.append((Text(name, style="bold"), "", "", f"{value:.3f}", "", ""))
    return table(title, ["theme", "precision", "recall", "F1", "support", "tp/fp/fn"], rows)


@themes_group.command("diff")
@click.option("--theme", "only", multiple=True, help="Only this theme (repeatable).")
@click.option("--show", default=20, show_default=True, help="How many items to list per change.")
@pass_context
def diff(ctx: Context, only: tuple[str, ...], show: int) -> None:
    """Dry-run the current themes on the stored archive: which items would gain or lose
    each theme if they were re-tagged now. Nothing is stored."""
    app = ctx.app(sync=False)  # syncing would re-tag, and leave nothing to compare
    unknown = [t for t in only if t not in app.settings.themes]
    if unknown:
        raise click.BadParameter(
            f'"{unknown[0]}" is not a theme; expected one of {", ".join(app.settings.themes)}',
            param_hint="--theme",
        )
    with _progress(ctx, "Comparing", app.store.count_items()) as advance:
        result = diff_tags(
            app.store, app.settings.themes, app.tagger, only=only or None, progress=advance
        )
    rows = [
        (
            theme,
            "changed" if theme in result.changed else "same",
            Text(f"+{len(result.gained(theme))}", style="green"),
            Text(f"-{len(result.lost(theme))}", style="red"),
        )
        for theme in result.themes
    ]
    ctx.console.print(
        table(
            f"Re-tagging {counted(result.items, 'stored item')} would change",
            ["theme", "definition", "gain", "lose"],
            rows,
        )
    )
    for theme in result.themes:
        for verb, changes in (("gain", result.gained(theme)), ("lose", result.lost(theme))):
            if not changes:
                continue
            listed = [
                (c.item_id, c.title, f"{c.before:.3f} -> {c.after:.3f}") for c in changes[:show]
            ]
            more = f" (first {show})" if len(changes) > show else ""
            ctx.console.print(
                table(
                    f"{counted(len(changes), 'item')} would {verb} {theme}{more}",
                    ["id", "title", "score"],
                    listed,
                )
            )
    if not result.changes:
        ctx.console.print("No stored item would gain or lose a theme.")


@click.command("tag")
@click.option("--all", "everything", is_flag=True, help="Re-tag every theme, changed or not.")
@pass_context
def tag(ctx: Context, everything: bool) -> None:
    """Re-tag stored items for the themes whose definition changed (--all: every theme)."""
    app = ctx.app(sync=False)  # syncing would re-tag without a progress bar
    with _progress(ctx, "Tagging", app.store.count_items()) as advance:
        changed = retag(
            app.store,
            app.settings.themes,
            app.tagger,
            app.clock(),
            force=everything,
            progress=advance,
        )
    if changed:
        ctx.console.print(
            f"Re-tagged {counted(app.store.count_items(), 'stored item')} for {', '.join(changed)}."
        )
    else:
        ctx.console.print("Every theme is up to date; nothing to re-tag (--all forces it).")


@contextmanager
def _progress(ctx: Context, verb: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar over `total` items; yields the function that advances it."""
    with Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=ctx.console,
        transient=True,
        disable=not ctx.console.is_terminal,
    ) as bar:
        task = bar.add_task("", total=total)
        yield lambda count: bar.update(task, advance=count)


def register(cli: click.Group) -> None:
    cli.add_command(themes_group)
    cli.add_command(tag)

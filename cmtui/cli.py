"""The ``cmtui`` command: the TUI by default, and a subcommand for everything else."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import __version__, cli_fields, cli_sources, cli_use
from .config import default_annotator, default_db_path
from .imports import ensure_sample, import_files
from .ingest import ImportFailed
from .private import InsecureFile
from .store import LabelNameError, Store, StoreError
from .textsafe import one_line
from .versions import ArtifactError


class CliError(Exception):
    """A one-line error for the user; ``code`` is the exit status."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def bar_shown() -> bool:
    """Whether ``progress_bar`` draws a bar (stderr is a terminal)."""
    return sys.stderr.isatty()


@contextlib.contextmanager
def progress_bar(label: str) -> Iterator[Callable[[str, float], None]]:
    """A transient progress bar on a terminal's stderr (rich, installed with textual);
    nothing when stderr is not a terminal."""
    if not bar_shown():
        yield lambda _stage, _fraction: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=1.0)
        yield lambda stage, fraction: bar.update(task, completed=fraction, description=f"{label}: {stage}")


def _confirm(question: str, yes: bool) -> bool:
    if yes:
        return True
    if not sys.stdin.isatty():
        raise CliError("refusing to delete without confirmation: stdin is not a terminal (pass --yes)")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", type=Path, default=None,
                        help="database file (default: $CMTUI_DB or ~/.local/share/cmtui/cmtui.duckdb)")
    common.add_argument("--annotator", default=None, help="your name on annotations (default: OS user)")
    common.add_argument("--dataset", default=None,
                        help="dataset name (may be left out when the database holds one)")
    parser = argparse.ArgumentParser(prog="cmtui", parents=[common],
                                     description="Train message classifiers from the terminal.")
    parser.add_argument("--version", action="version", version=f"cmtui {__version__}")
    sub = parser.add_subparsers(dest="command")
    _data_commands(sub, common)
    _tool_commands(sub, common)
    cli_use.add_commands(sub, common)
    cli_fields.add_commands(sub, common)
    return parser


def _data_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """The app, and the commands on messages, datasets and the taxonomy."""
    sub.add_parser("tui", parents=[common], help="open the terminal app (the default)")
    p = sub.add_parser("import", parents=[common],
                       help="import messages: CSV/TSV/JSONL files, chats, mbox, Maildir or .eml")
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out mails that cannot be read (listed) instead of importing nothing")
    p.add_argument("--source", default=None, help="source name (default: the dataset's name)")
    p.add_argument("--sentiment", action="store_true",
                   help="create the dataset with positive/negative sentiment")
    p.add_argument("--no-labels", action="store_true", help="ignore a labels column")

    p = sub.add_parser("export", parents=[common], help="export messages, labels and predictions")
    p.add_argument("--out", type=Path, required=True, help="FILE.csv, FILE.jsonl or FILE.parquet")

    cli_sources.add_commands(sub, common)
    p = sub.add_parser("delete-message", parents=[common], help="delete a message from its source")
    p.add_argument("message_id")
    p.add_argument("--yes", action="store_true")
    p = sub.add_parser("delete-dataset", parents=[common], help="delete a dataset (sources stay)")
    p.add_argument("name")
    p.add_argument("--yes", action="store_true")

    p = sub.add_parser("labels", parents=[common],
                       help="list labels (with counts and descriptions); add, rename, merge, delete, describe")
    p.add_argument("--json", action="store_true", help="list as JSON")
    change = p.add_mutually_exclusive_group()
    change.add_argument("--add", nargs="+", metavar="NAME",
                        help="add labels ('Parent > Child'); keys 1-9 follow the order labels were added "
                             "(a parent made for a child, named here, takes the next key)")
    change.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a label (with its children)")
    change.add_argument("--merge", nargs=2, metavar=("OLD", "INTO"), help="merge a label into another")
    change.add_argument("--delete", metavar="NAME", help="delete a label, its children and their annotations")
    change.add_argument("--describe", nargs=2, metavar=("NAME", "TEXT"), help="set a description ('' clears)")
    p.add_argument("--yes", action="store_true", help="delete without asking")

    sub.add_parser("undo", parents=[common],
                   help="undo your last step: a confirmation, a submit or a taxonomy change")


STATS_EPILOG = """\
coverage: the share of all messages with at least one informative label predicted at or
  above its balanced threshold (best F1 with precision >= 50%, fitted on every review
  scored by a model that did not see it). With a few hundred reviews the thresholds are
  estimates and move the figure by a few points from page to page.
expected coverage: the share of messages whose likeliest informative label is right, as
  the model's probabilities put it once calibrated on those same held-out reviews, of the
  messages that sample the mailbox: picked at random once there are 20, before that every
  review no mode chose by its content (Low confidence picks the worst covered, Discover a
  cluster's typical messages); none is shown until there are 20 such reviews. No
  thresholds: it moves with the model, and on most of our benchmark sets swung half as
  much from page to page; it reads a little low, so watch its trend.
informative labels: useful on their own (the ? screen of the app has the whole rule)."""


def _tool_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Sharing, figures, simulation and benchmarks."""
    p = sub.add_parser("db", parents=[common], help="share a database with a group, or make it private again")
    p.add_argument("action", choices=["share", "private", "check"])
    p.add_argument("path", type=Path, nargs="?", help="the database (default: --db, $CMTUI_DB or the default)")
    p.add_argument("--group", help="with share: the group whose members may read and write it")

    p = sub.add_parser("stats", parents=[common], help="validation figures of the current model",
                       formatter_class=argparse.RawDescriptionHelpFormatter, epilog=STATS_EPILOG)
    p.add_argument("--json", action="store_true")
    p.add_argument("--readiness", action="store_true",
                   help="when to stop training: each check, the labels holding the rating down, next steps")
    p.add_argument("--drift-days", type=int, default=None, metavar="N",
                   help="drift of the messages of the last N days (default: of the latest import)")

    p = sub.add_parser("discover", parents=[common],
                       help="clusters of the unreviewed messages (those no label covers, once trained)")
    p.add_argument("--clusters", type=int, default=30, help="how many clusters (default 30)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("simulate", parents=[common], help="an oracle annotator on a gold CSV")
    p.add_argument("gold", type=Path)
    p.add_argument("--test", type=Path, default=None)
    p.add_argument("--strategy", default="low-confidence",
                   choices=["low-confidence", "shuffle", "teach", "rebalance"])
    p.add_argument("--seed-size", type=int, default=40)
    p.add_argument("--start", choices=["random", "discover", "stratified"], default="random",
                   help="the seed set: random messages, the central messages of Discover's clusters, "
                        "or random messages drawn from every cluster by size")
    p.add_argument("--pages", type=int, default=25)
    p.add_argument("--page-size", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--json", action="store_true")
    p.add_argument("--fields", type=Path, default=None, metavar="GOLD_FIELDS.jsonl",
                   help="the oracle reviews general fields too (gold from python -m cmtui.sample --fields-gold); "
                        "precision and recall per field after 5 and 10 pages")
    p.add_argument("--learner", choices=["linear", "trees", "both"], default="both",
                   help="with --fields: the trained fields' classifier")

    p = sub.add_parser("bench", parents=[common], help="speed benchmarks on synthetic mailboxes")
    p.add_argument("--sizes", default="10000,100000")
    p.add_argument("--profile", choices=["short", "long", "both"], default="both")
    p.add_argument("--quick", action="store_true", help="10k messages only, under a minute")
    p.add_argument("--predict", action="store_true",
                   help="the speed and memory of cmtui predict instead (locally and on a local Dask cluster)")
    p.add_argument("--mail", action="store_true", help="the speed of importing an mbox instead")
    p.add_argument("--fields", action="store_true", help="the speed of finding general fields instead")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--json", action="store_true")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = run(args)
        sys.stdout.flush()  # a reader gone away shows here, not as a traceback at exit
        return code
    except CliError as exc:
        print(f"cmtui: {exc}", file=sys.stderr)
        return exc.code
    except (StoreError, InsecureFile, ArtifactError) as exc:
        print(f"cmtui: {exc}", file=sys.stderr)
        return 2
    except ImportFailed as exc:  # FILE:LINE: column: what is wrong, one line each
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (cmtui labels | head): no traceback, no message
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python flushes at exit
        return 1
    except OSError as exc:  # a file the user named cannot be read or written
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"cmtui: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


@dataclass
class Context:
    """What every command handler is given."""

    args: argparse.Namespace
    db: Path
    annotator: str
    store: Store

    def dataset(self) -> str:
        return _dataset(self.store, self.args.dataset, self.annotator)


def run(args: argparse.Namespace) -> int:
    db = args.db or default_db_path()
    ctx = Context(args, db, args.annotator or default_annotator(), Store(db))
    handler = HANDLERS.get(args.command or "tui")
    if handler is None:
        raise CliError(f"unknown command {args.command}")
    return handler(ctx)


def _tui(ctx: Context) -> int:
    from .tui.app import run_app
    from .workspace import Workspace

    if ctx.args.dataset is None:
        dataset = ensure_sample(ctx.store, ctx.annotator) or ctx.dataset()
    else:
        dataset = ctx.store.resolve_dataset(ctx.args.dataset)
    return run_app(Workspace(ctx.store, ctx.annotator), dataset)


def _import(ctx: Context) -> int:
    args = ctx.args
    if args.dataset is None:
        raise CliError("import needs --dataset NAME")
    held: list[str] = []  # under a live progress bar, printed once it is gone: it garbles lines
    hold = bar_shown()
    try:
        with progress_bar("import") as progress:
            for summary in import_files(ctx.store, args.files, args.dataset, source=args.source,
                                        annotator=ctx.annotator, with_labels=not args.no_labels,
                                        sentiment=True if args.sentiment else None, progress=progress,
                                        skip_bad=args.skip_bad):
                if hold:
                    held.append(summary)
                else:
                    print(summary)
    finally:
        print("\n".join(held), end="\n" if held else "")  # before a refused file's fault
    return 0


def _delete_dataset(ctx: Context) -> int:
    name = ctx.store.resolve_dataset(ctx.args.name)
    if not _confirm(f"Delete dataset {name!r} with its labels and annotations (sources stay)?", ctx.args.yes):
        print("not deleted")
        return 1
    ctx.store.delete_dataset(name)
    print(f"deleted dataset {name!r}")
    return 0


def _delete_message(ctx: Context) -> int:
    dataset, message_id = ctx.dataset(), ctx.args.message_id
    if not _confirm(f"Delete message {message_id!r} from its source and every dataset using it?", ctx.args.yes):
        print("not deleted")
        return 1
    ctx.store.delete_message(dataset, message_id, ctx.annotator)
    print(f"deleted message {message_id!r}")
    return 0


def _undo(ctx: Context) -> int:
    dataset = ctx.dataset()
    step = ctx.store.undo_last(dataset, ctx.annotator)
    if step is None:
        print(f"nothing of {ctx.annotator!r} to undo in dataset {dataset!r}")
        return 1
    what = f"label {step.label!r}" if step.label else f"{len(step.mids)} messages"
    print(f"undid {step.kind} ({what}) in dataset {dataset!r}")
    return 0


def _export(ctx: Context) -> int:
    from .export import build_export_frame, write_export
    from .model import load_predictions

    out = ctx.args.out
    if out.suffix.lower() not in (".csv", ".jsonl", ".parquet"):
        raise CliError(f"{out}: use a .csv, .jsonl or .parquet file name")
    if not out.parent.is_dir():
        raise CliError(f"{out}: no folder {out.parent}")
    dataset = ctx.dataset()
    from .fields.fields import load_values

    frame = build_export_frame(ctx.store, dataset, load_predictions(ctx.store.path, dataset),
                               fields=load_values(ctx.store, dataset))
    write_export(frame, out)
    print(f"{out}: {frame.height} messages exported from dataset {dataset!r}")
    return 0


def _stats(ctx: Context) -> int:
    from .metrics import format_report
    from .session import Session

    session = Session.open(ctx.store, ctx.dataset(), ctx.annotator)
    session.retrain()
    report = session.state.report
    if ctx.args.drift_days is not None:
        if ctx.args.drift_days < 1:
            raise CliError(f"--drift-days: at least 1 (got {ctx.args.drift_days})")
        newest = session.timestamps.max() if len(session.timestamps) else 0
        new = session.timestamps > newest - ctx.args.drift_days * 86400
        report["drift"] = session.trainer.drift(new, f"last {ctx.args.drift_days} days",
                                                session.row_of.present_rows(session.reviewed))
    if ctx.args.readiness:
        from .session import format_readiness, readiness

        ready = readiness(report, session.review_modes, session.page_size)
        print(json.dumps(ready, indent=2) if ctx.args.json else format_readiness(ready))
        return 0
    print(json.dumps(report, indent=2) if ctx.args.json else format_report(report))
    return 0


def _discover(ctx: Context) -> int:
    from .session import Session

    if ctx.args.clusters < 1:
        raise CliError(f"--clusters: must be at least 1 (got {ctx.args.clusters})")
    session = Session.open(ctx.store, ctx.dataset(), ctx.annotator)
    if session.labels and session.reviewed:
        session.retrain(persist=False)  # so that what the model covers is left out
    found = session.discover(ctx.args.clusters)
    rows: list[dict[str, Any]] = []
    for cluster in found.open():
        shown = session.rows(cluster.rows)
        rows.append({"id": cluster.id, "size": cluster.size, "terms": cluster.terms,
                     "messages": [{"id": r.id, "subject": r.subject or "", "copies": n}
                                  for r, n in zip(shown, cluster.copies, strict=True)]})
    if ctx.args.json:
        print(json.dumps({"dataset": session.dataset, "candidates": found.candidates,
                          "uncovered_only": found.uncovered, "clusters": rows}, indent=2))
        return 0
    what = "unreviewed messages no informative label covers" if found.uncovered else "unreviewed messages"
    print(f"{len(rows)} clusters of {found.candidates} {what} in dataset {session.dataset!r}")
    for row in rows:
        print(f"\n#{row['id']}  {row['size']} messages  {', '.join(row['terms'])}")
        for message in row["messages"]:
            copies = f"  (x{message['copies']})" if message["copies"] > 1 else ""
            print(f"  {message['id']}  {one_line(message['subject'], 70)}{copies}")
    return 0


def _simulate(ctx: Context) -> int:
    from .simulate import run_simulation

    return run_simulation(ctx.args)


def _bench(ctx: Context) -> int:
    from .bench import run_bench

    return run_bench(ctx.args)


HANDLERS: dict[str, Callable[[Context], int]] = {
    "tui": _tui, "import": _import, "datasets": cli_sources.datasets_command,
    "sources": cli_sources.sources_command, "delete-dataset": _delete_dataset,
    "delete-message": _delete_message, "export": _export, "stats": _stats, "simulate": _simulate,
    "discover": _discover, "models": cli_use.models_command, "predict": cli_use.predict_command,
    "stream": cli_use.stream_command, "report": cli_use.report_command, "fields": cli_fields.fields_command,
    "bench": _bench, "undo": _undo,
    "labels": lambda ctx: _labels_command(ctx.store, ctx.dataset(), ctx.annotator, ctx.args),
    "db": lambda ctx: _db_command(ctx.args.path or ctx.db, ctx.args.action, ctx.args.group),
}


def _db_command(path: Path, action: str, group: str | None) -> int:
    from . import private

    if not path.exists():
        raise CliError(f"{path}: no such database")
    Store(path).schema_version()  # a cmtui database, readable, and trusted as it is
    if action == "check":
        private.check_database(path)
        print(f"{path}: {'shared with group ' + _group_of(path) if private.is_shared(path) else 'private'}; "
              "no file others could change")
        return 0
    if action == "share":
        if not group:
            raise CliError("db share needs --group GROUP")
        changed = private.share(path, group)
        print(f"{path}: shared with group {group!r} ({len(changed)} files and folders); "
              f"`cmtui db private {path}` reverses it")
    else:
        changed = private.make_private(path)
        print(f"{path}: private to its owner again ({len(changed)} files and folders)")
    return 0


def _group_of(path: Path) -> str:
    import grp

    gid = path.stat().st_gid
    try:
        return repr(grp.getgrgid(gid).gr_name)
    except KeyError:
        return f"gid {gid}"


def _dataset(store: Store, name: str | None, annotator: str) -> str:
    """The dataset to use; when several exist and none is named, the annotator's last,
    said on stderr so nobody works on the wrong one unawares."""
    dataset = store.resolve_dataset(name, annotator)
    if name is None and len(store.dataset_names()) > 1:
        print(f"cmtui: dataset {dataset!r} (the one {annotator!r} used last; --dataset to choose)",
              file=sys.stderr)
    return dataset


def _labels_command(store: Store, dataset: str, annotator: str, args: argparse.Namespace) -> int:
    try:
        if args.add:
            added, keyed = store.add_labels(dataset, args.add, annotator)  # keyed: parents made for a child
            print(f"added {len(added)} label{'s' * (len(added) != 1)}" + (f": {', '.join(added)}" if added else
                  " (every one was there already)" if not keyed else "")
                  + (f"; a number key for {', '.join(keyed)}" if keyed else "")
                  + ("; `cmtui undo` reverts it" if added or keyed else ""))
        elif args.rename:
            old, new = args.rename
            moved = store.move_label(dataset, old, new, annotator)
            print(f"renamed {old!r} to {new!r} ({moved} annotations); `cmtui undo` reverts it")
        elif args.merge:
            old, into = args.merge
            moved = store.move_label(dataset, old, into, annotator, merge=True)
            print(f"merged {old!r} into {into!r} ({moved} annotations); `cmtui undo` reverts it")
        elif args.delete:
            if not _confirm(f"Delete label {args.delete!r}, its children and their annotations?", args.yes):
                print("not deleted")
                return 1
            removed = store.delete_label(dataset, args.delete, annotator)
            print(f"deleted {args.delete!r} ({removed} annotations); `cmtui undo` reverts it")
        elif args.describe:
            name, text = args.describe
            store.describe_label(dataset, name, text, annotator)
            print(f"described {name!r}")
        else:
            return _list_labels(store, dataset, args.json)
    except LabelNameError as exc:
        raise CliError(str(exc)) from None
    return 0


def _list_labels(store: Store, dataset: str, as_json: bool) -> int:
    from .metrics import closure

    taxonomy, descriptions, created = store.taxonomy(dataset)
    key = {name: n for n, name in enumerate(created[:9], start=1)}  # the app's number keys
    counts = dict.fromkeys(taxonomy, 0)
    for assigned in store.effective_reviews(dataset)[0].values():
        for name in closure(taxonomy, set(assigned)):
            counts[name] = counts.get(name, 0) + 1
    rows = [{"name": n, "reviewed_messages": counts.get(n, 0), "description": descriptions.get(n),
             "key": key.get(n)} for n in taxonomy]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'key':>3}  {'reviewed':>8}  label")
    for row in rows:
        text = f"  {row['description']}" if row["description"] else ""
        print(f"{row['key'] or '':>3}  {row['reviewed_messages']:8d}  {row['name']}{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Commands that use a trained model: ``models``, ``predict``, ``stream`` and ``report``."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .store import ModelVersion
from .textsafe import one_line

if TYPE_CHECKING:
    from .cli import Context

CHANGE = 0.02  # a figure that moved at least this much between versions is marked


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("models", parents=[common], help="model versions: list, pin, unpin, compare, export")
    models = p.add_subparsers(dest="models_command")
    p.add_argument("--json", action="store_true", help="list as JSON")
    q = models.add_parser("list", parents=[common], help="list versions (the default)")
    q.add_argument("--json", action="store_true")
    q = models.add_parser("pin", parents=[common], help="keep a version's files, optionally under a tag")
    q.add_argument("version")
    q.add_argument("--tag", default=None)
    q = models.add_parser("unpin", parents=[common], help="let a version's files be pruned again")
    q.add_argument("version")
    q = models.add_parser("compare", parents=[common], help="two versions' figures side by side")
    q.add_argument("a")
    q.add_argument("b")
    q = models.add_parser("export", parents=[common], help="write a version as a self-contained model directory")
    q.add_argument("version")
    q.add_argument("--out", type=Path, required=True, help="a new directory")

    p = sub.add_parser("predict", parents=[common], help="score message files with a model version")
    p.add_argument("files", nargs="+", type=Path, help="CSV, TSV, JSONL or Parquet files; - reads JSONL from stdin")
    p.add_argument("--model", required=True, help="a version number, a tag, or a directory from models export")
    p.add_argument("--out", default="-", help="FILE.jsonl, FILE.csv, FILE.parquet, or - for JSONL on stdout")
    p.add_argument("--skip-bad", action="store_true", help="leave faulty rows out (listed in --rejects) and go on")
    p.add_argument("--rejects", type=Path, default=None, help="where --skip-bad lists them (default OUT.rejects.jsonl)")
    p.add_argument("--cluster", default=None,
                   help="score Parquet files on a Dask cluster (tcp://HOST:8786); needs cmtui[cluster]")
    _report_parser(sub, common)

    p = sub.add_parser("stream", parents=[common], help="streams: new messages with predictions, for a consumer")
    streams = p.add_subparsers(dest="stream_command", required=True)
    q = streams.add_parser("create", parents=[common], help="a stream of a dataset's messages, with a pinned model")
    q.add_argument("name")
    q.add_argument("--model", required=True, help="version number or tag (it is pinned)")
    q.add_argument("--filter", action="append", default=[], metavar="FIELD=VALUE",
                   help="source=NAME, after=TIME, before=TIME, property.NAME=VALUE (repeatable; all must hold)")
    q = streams.add_parser("fetch", parents=[common], help="the next messages after the cursor, as JSONL")
    q.add_argument("name")
    q.add_argument("--size", type=int, default=100)
    q = streams.add_parser("advance", parents=[common], help="move the cursor past a sequence id (when done)")
    q.add_argument("name")
    q.add_argument("sequence_id", type=int)
    q = streams.add_parser("reset", parents=[common], help="move the cursor to a time or a sequence id")
    q.add_argument("name")
    q.add_argument("--to", required=True, help="TIME (re-read from it) or a sequence id")
    streams.add_parser("list", parents=[common], help="list streams").add_argument("--json", action="store_true")
    q = streams.add_parser("delete", parents=[common], help="delete a stream (its model stays pinned)")
    q.add_argument("name")
    q = streams.add_parser("exception", parents=[common],
                           help="mark a message the automation could not handle (annotators see it in Exceptions)")
    q.add_argument("name")
    q.add_argument("message_id")
    q.add_argument("--type", required=True, dest="kind", help="what went wrong, e.g. 'missing policy number'")


def _report_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("report", parents=[common],
                       help="analytics: label volumes over time, sentiment, label pairs (tables, JSON, HTML or PNG)")
    p.add_argument("--out", default="-", help="report.html (self-contained page), report.png, or - for tables on stdout")
    p.add_argument("--json", action="store_true", help="the figures as JSON on stdout")
    p.add_argument("--by", choices=["day", "week", "month"], default=None,
                   help="period of the volumes (default: chosen from the messages' span)")
    p.add_argument("--source", default=None, help="only the messages of this source")
    p.add_argument("--since", default=None, metavar="TIME", help="only messages from this date or time (UTC)")
    p.add_argument("--until", default=None, metavar="TIME", help="only messages before this date or time (UTC)")
    p.add_argument("--where", default=None, metavar="KEY=VALUE", help="only messages with this user property value")


# ---- report -----------------------------------------------------------------------------
def report_command(ctx: Context) -> int:
    """The analytics figures of the model of the current reviews (fitted now, as ``stats``
    does, but not recorded as a version)."""
    from .analytics import format_tables, parse_filters
    from .cli import CliError
    from .report import ReportError, check_destination, write_report
    from .session import Session

    args = ctx.args
    filters = parse_filters(args.source, args.since, args.until, args.where)
    out = None if args.out == "-" else Path(args.out)
    try:
        if out is not None:
            check_destination(out)  # before fitting a model, not after
    except ReportError as exc:
        raise CliError(str(exc)) from None
    session = Session.open(ctx.store, ctx.dataset(), ctx.annotator)
    if session.labels and session.reviewed:
        session.retrain(persist=False)
    figures = session.analytics(filters, args.by)
    if out is not None:
        try:
            write_report(figures, out)
        except ReportError as exc:
            raise CliError(str(exc)) from None
        print(f"{out}: report of dataset {figures.dataset!r} ({figures.filters.describe()})", file=sys.stderr)
    if args.json:
        print(json.dumps(figures.to_json(), indent=2))
    elif out is None:
        print(format_tables(figures))
    return 0


# ---- models -----------------------------------------------------------------------------
def models_command(ctx: Context) -> int:
    args = ctx.args
    dataset = ctx.dataset()
    store = ctx.store
    action = args.models_command or "list"
    if action == "list":
        return _list(store.model_versions(dataset), dataset, args.json, ctx)
    if action == "compare":
        a, b = store.resolve_version(dataset, args.a), store.resolve_version(dataset, args.b)
        by_number = {v.version: v for v in store.model_versions(dataset)}
        print(format_compare(by_number[a], by_number[b]))
        return 0
    version = store.resolve_version(dataset, args.version)
    if action == "pin":
        store.pin_version(dataset, version, args.tag)
        _check_files(ctx, dataset, version)
        print(f"version {version} pinned" + (f" as {args.tag!r}" if args.tag else "") + "; its files are kept")
    elif action == "unpin":
        store.unpin_version(dataset, version)
        print(f"version {version} unpinned (its files go once it is not among the last 10)")
    else:
        _export(ctx, dataset, version, args.out)
    return 0


def _check_files(ctx: Context, dataset: str, version: int) -> None:
    from .versions import version_dir

    if not version_dir(ctx.store.path, dataset, version).is_dir():
        print(f"cmtui: version {version}'s files were pruned before it was pinned: it can be compared, "
              "not used to predict", file=sys.stderr)


def _export(ctx: Context, dataset: str, version: int, out: Path) -> None:
    from .cli import CliError
    from .predict import load_model

    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise CliError(f"{out}: exists and is not an empty directory")
    load_model(ctx.store, dataset, str(version))  # complete and readable, or a clear error
    from .versions import version_dir

    if out.exists():
        out.rmdir()
    tmp = out.with_name(out.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(version_dir(ctx.store.path, dataset, version), tmp)
    tmp.rename(out)
    print(f"{out}: model version {version} of dataset {dataset!r} (cmtui predict --model {out})")


def _list(versions: list[ModelVersion], dataset: str, as_json: bool, ctx: Context) -> int:
    from .versions import version_dir

    rows = [{"version": v.version, "at": v.at.strftime("%Y-%m-%d %H:%M:%S"), "reviewed": v.reviewed,
             "coverage": v.report.get("coverage"), "map": v.report.get("map"), "rating": v.report.get("rating"),
             "rating_band": v.report.get("rating_band"), "labels": len(v.report.get("label_names", [])),
             "pinned": v.pinned, "tag": v.tag, "files": version_dir(ctx.store.path, dataset, v.version).is_dir()}
            for v in versions]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"dataset {dataset!r}: no model versions yet (each validation after a submitted page makes one)")
        return 0
    print(f"{'version':>7}  {'when (UTC)':19}  {'reviewed':>8}  {'coverage':>8}  {'MAP':>5}  rating     pinned")
    for r in rows:
        cov = f"{r['coverage'] * 100:.1f}%" if r["coverage"] is not None else "-"
        ap = f"{r['map']:.3f}" if r["map"] is not None else "-"
        rating = f"{r['rating_band'] or '-'} {r['rating'] if r['rating'] is not None else ''}".strip()
        pin = ("pinned" + (f" ({one_line(str(r['tag']), 30)})" if r["tag"] else "")) if r["pinned"] else ""
        gone = "" if r["files"] else "  (files pruned)"
        print(f"{r['version']:7d}  {r['at']:19}  {r['reviewed']:8d}  {cov:>8}  {ap:>5}  {rating:9}  {pin}{gone}")
    return 0


def format_compare(a: ModelVersion, b: ModelVersion) -> str:
    """Per-label AP, precision and recall of two versions side by side; a figure that moved
    by ``CHANGE`` or more is marked ``+`` or ``-`` (and coloured on a terminal)."""
    colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")

    def mark(old: float | None, new: float | None) -> str:
        if old is None or new is None or abs(new - old) < CHANGE:
            return " "
        sign = "+" if new > old else "-"
        return f"\x1b[{'32' if sign == '+' else '31'}m{sign}\x1b[0m" if colour else sign

    def num(x: float | None) -> str:
        return f"{x:.3f}" if x is not None else "  -  "

    def cell(old: float | None, new: float | None) -> str:
        return f"{num(old):>5} {num(new):>5}{mark(old, new)}"

    la = {r["name"]: r for r in a.report.get("labels", [])}
    lb = {r["name"]: r for r in b.report.get("labels", [])}
    names = list(dict.fromkeys([*la, *lb]))
    width = min(40, max([len(n) for n in names] + [5]))
    head = f"{'':{width}}  {'AP':^12}  {'precision':^12}  {'recall':^12}"
    lines = [f"version {a.version} ({a.reviewed} reviewed) against version {b.version} ({b.reviewed} reviewed)",
             "", head, f"{'label':{width}}  " + "  ".join(f"{a.version:>5} {b.version:>5} " for _ in range(3))]
    for name in names:
        ra, rb = la.get(name, {}), lb.get(name, {})
        lines.append(f"{one_line(name, width):{width}}  " + "  ".join(
            cell(ra.get(k), rb.get(k)) for k in ("ap", "precision", "recall")))
    lines.append("")
    for key, label in (("map", "MAP"), ("coverage", "coverage")):
        lines.append(f"{label:{width}}  {cell(a.report.get(key), b.report.get(key))}")
    ra_, rb_ = a.report.get("rating"), b.report.get("rating")
    moved = mark(None if ra_ is None else ra_ / 100, None if rb_ is None else rb_ / 100)
    lines.append(f"{'rating':{width}}  {a.report.get('rating_band')} {ra_} -> {b.report.get('rating_band')} {rb_} {moved}")
    return "\n".join(lines)


# ---- predict ----------------------------------------------------------------------------
def predict_command(ctx: Context) -> int:
    from .cli import CliError
    from .predict import load_model, run_predict

    args = ctx.args
    dataset = None
    if not Path(args.model).is_dir():
        dataset = ctx.dataset()
    scoring = load_model(ctx.store if dataset else None, dataset, args.model)
    for path in args.files:
        if str(path) != "-" and not path.exists():
            raise CliError(f"{path}: no such file")
    out = None if args.out == "-" else Path(args.out)
    rejects_path = args.rejects or (out.with_name(out.name + ".rejects.jsonl") if out else Path("rejects.jsonl"))
    if args.cluster:
        from .cluster import predict_on_cluster

        model_dir = Path(args.model) if dataset is None else _model_dir(ctx, dataset)
        scored, rejects = predict_on_cluster(args.cluster, model_dir, list(args.files), out, args.skip_bad)
    else:
        scored, rejects = run_predict(scoring, list(args.files), out, args.skip_bad)
    if rejects.faults:
        rejects_path.write_text("".join(json.dumps(f) + "\n" for f in rejects.faults))
    where = "stdout" if out is None else str(out)
    skipped = f"; {len(rejects.faults)} faulty rows skipped (listed in {rejects_path})" if rejects.faults else ""
    print(f"{scored} messages scored with version {scoring.info.get('version')} into {where}{skipped}",
          file=sys.stderr)
    return 0


# ---- streams ----------------------------------------------------------------------------
def stream_command(ctx: Context) -> int:
    from . import streams

    args, store = ctx.args, ctx.store
    action = args.stream_command
    if action == "create":
        info = streams.create(store, args.name, ctx.dataset(), args.model, streams.parse_conditions(args.filter))
        print(f"stream {info.name!r} of dataset {info.dataset!r} with model version {info.version} (pinned)")
    elif action == "fetch":
        for row in streams.fetch(store, args.name, args.size):
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
    elif action == "advance":
        cursor = streams.advance(store, args.name, args.sequence_id)
        moved = "" if cursor == args.sequence_id else f" (it was past {args.sequence_id} already)"
        print(f"stream {args.name!r}: cursor at {cursor}{moved}")
    elif action == "reset":
        print(f"stream {args.name!r}: cursor at {streams.reset(store, args.name, args.to)}")
    elif action == "list":
        rows = [streams.describe(store, info) for info in store.streams()]
        if args.json:
            print(json.dumps(rows, indent=2))
        for r in [] if args.json else rows:
            filters = f"  [{', '.join(r['filters'])}]" if r["filters"] else ""
            print(f"{one_line(r['name'], 30):30}  {one_line(r['dataset'], 20):20}  version {r['model_version']:<4} "
                  f"cursor {r['cursor']:<8} {r['pending']} pending{filters}")
        if not rows and not args.json:
            print("no streams (cmtui stream create NAME --model TAG)")
    elif action == "delete":
        store.delete_stream(args.name)
        print(f"deleted stream {args.name!r}")
    else:
        mid = store.add_exception(args.name, args.message_id, args.kind)
        print(f"message {args.message_id!r} (sequence id {mid}) marked {args.kind!r}; annotators see it in Exceptions")
    return 0


def _model_dir(ctx: Context, dataset: str) -> Path:
    from .versions import version_dir

    return version_dir(ctx.store.path, dataset, ctx.store.resolve_version(dataset, ctx.args.model))

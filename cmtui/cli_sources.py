"""Commands on sources and datasets: ``sources`` (list, rename, delete) and ``datasets``
(list, create, add-source). A source is a collection of raw messages; a dataset is
sources + a taxonomy + reviews + a model, and a source can feed several datasets."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from .store import validate_name

if TYPE_CHECKING:
    from .cli import Context


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sources", parents=[common], help="sources of messages: list, rename, delete")
    sources = p.add_subparsers(dest="sources_command")
    sources.add_parser("list", parents=[common], help="list sources (the default)")
    q = sources.add_parser("rename", parents=[common], help="rename a source")
    q.add_argument("old")
    q.add_argument("new")
    q = sources.add_parser("delete", parents=[common], help="delete a source and its messages")
    q.add_argument("name")
    q.add_argument("--force", action="store_true",
                   help="also when datasets use it: its messages leave them, with their reviews")
    q.add_argument("--yes", action="store_true", help="delete without asking")

    p = sub.add_parser("datasets", parents=[common], help="datasets: list, create, add-source")
    datasets = p.add_subparsers(dest="datasets_command")
    datasets.add_parser("list", parents=[common], help="list datasets (the default)")
    q = datasets.add_parser("create", parents=[common], help="a new dataset fed by sources")
    q.add_argument("name")
    q.add_argument("--sources", default="", help="comma-separated source names (created when new)")
    q.add_argument("--sentiment", action="store_true", help="labels carry positive/negative sentiment")
    q = datasets.add_parser("add-source", parents=[common], help="feed a dataset from more sources")
    q.add_argument("name", help="the dataset")
    q.add_argument("sources", help="comma-separated source names")


def _names(text: str, what: str) -> list[str]:
    return [validate_name(name.strip(), what) for name in text.split(",") if name.strip()]


def sources_command(ctx: Context) -> int:
    from .cli import _confirm

    args, store = ctx.args, ctx.store
    action = args.sources_command or "list"
    if action == "rename":
        store.rename_source(args.old, args.new)
        print(f"renamed source {args.old!r} to {args.new!r}")
        return 0
    if action == "delete":
        datasets = store.source_datasets(args.name)  # an unknown source is said before any question
        if datasets and not args.force:
            store.delete_source(args.name)  # raises: says which datasets and what --force does
        used = f" and from dataset{'s' if len(datasets) > 1 else ''} {', '.join(datasets)}" if datasets else ""
        if not _confirm(f"Delete source {args.name!r} and its messages{used}? This cannot be undone.", args.yes):
            print("not deleted")
            return 1
        count, datasets = store.delete_source(args.name, force=args.force)
        print(f"deleted source {args.name!r} ({count} messages)"
              + (f"; removed from {', '.join(datasets)}" if datasets else ""))
        return 0
    rows = store.sources()
    if not rows:
        print(f"{ctx.db}: no sources")
        return 0
    print(f"{'source':20} {'messages':>9}  {'first':16}  {'last':16}  datasets")
    for info in rows:
        first = f"{info.first:%Y-%m-%d %H:%M}" if info.first else "-"
        last = f"{info.last:%Y-%m-%d %H:%M}" if info.last else "-"
        print(f"{info.name:20} {info.messages:9d}  {first:16}  {last:16}  {', '.join(info.datasets) or '-'}")
    return 0


def datasets_command(ctx: Context) -> int:
    args, store = ctx.args, ctx.store
    action = args.datasets_command or "list"
    if action == "create":
        validate_name(args.name, "dataset")
        if args.name in store.dataset_names():
            from .cli import CliError

            raise CliError(f"dataset {args.name!r} exists already")
        sources = _names(args.sources, "source")
        store.create_dataset(args.name, sentiment=args.sentiment, sources=sources)
        print(f"created dataset {args.name!r}" + (f" fed by {', '.join(sources)}" if sources else "")
              + (" with sentiment" if args.sentiment else ""))
        return 0
    if action == "add-source":
        sources = _names(args.sources, "source")
        store.add_sources(args.name, sources)
        print(f"dataset {args.name!r} now also reads {', '.join(sources)}")
        return 0
    rows = store.datasets()
    if not rows:
        print(f"{ctx.db}: no datasets")
        return 0
    print(f"{'dataset':20} {'messages':>9} {'reviewed':>9} {'labels':>7}  sentiment  sources")
    for info in rows:
        print(f"{info.name:20} {info.messages:9d} {info.reviewed:9d} {info.labels:7d}  "
              f"{'on' if info.sentiment else 'off':9}  {', '.join(info.sources)}")
    return 0

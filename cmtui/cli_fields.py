"""``cmtui fields``: list, add, rename, delete a dataset's general fields, say which labels
expect each, and find them in every message."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .textsafe import one_line

if TYPE_CHECKING:
    from .cli import Context

EXAMPLES = 3  # values shown per field by `fields find`


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("fields", parents=[common],
                       help="general fields (dates, amounts, references...): list, add, rename, delete, attach, find")
    fields = p.add_subparsers(dest="fields_command")
    q = fields.add_parser("list", parents=[common], help="the built-in fields and the dataset's own (the default)")
    q.add_argument("--json", action="store_true")
    q = fields.add_parser("add", parents=[common], help="a field of the dataset's own")
    q.add_argument("name")
    q.add_argument("--like", required=True,
                   help="date, money, percentage, email, phone, url, reference, reference:SHAPE (A a letter, "
                        "9 a digit: HM-9999999) or regex:PATTERN")
    q.add_argument("--labels", default="", help="comma-separated labels that expect this field")
    q = fields.add_parser("rename", parents=[common], help="rename a field")
    q.add_argument("old")
    q.add_argument("new")
    q = fields.add_parser("delete", parents=[common], help="delete a field")
    q.add_argument("name")
    q.add_argument("--yes", action="store_true", help="delete without asking")
    q = fields.add_parser("attach", parents=[common], help="the labels that expect a field (replaces them)")
    q.add_argument("name")
    q.add_argument("--labels", required=True, help="comma-separated label names ('' for none)")
    q = fields.add_parser("find", parents=[common], help="every field's values in every message: counts and examples")
    q.add_argument("--json", action="store_true", help="one JSON object per value found")
    q.add_argument("--region", default=None, help="country of phone numbers written without a code (default GB)")


def fields_command(ctx: Context) -> int:
    from .cli import _confirm
    from .fields.fields import dataset_fields, parse_like

    args = ctx.args
    dataset = ctx.dataset()
    store = ctx.store
    action = args.fields_command or "list"
    labels = [n.strip() for n in getattr(args, "labels", "").split(",") if n.strip()]
    if action == "add":
        kind, shape = parse_like(args.like)
        store.add_field(dataset, args.name, kind, shape, labels, ctx.annotator)
        print(f"field {args.name!r} added ({args.like})")
    elif action == "rename":
        store.rename_field(dataset, args.old, args.new, ctx.annotator)
        print(f"field {args.old!r} renamed {args.new!r}")
    elif action == "delete":
        if not _confirm(f"Delete field {args.name!r}?", args.yes):
            print("not deleted")
            return 1
        store.delete_field(dataset, args.name, ctx.annotator)
        print(f"field {args.name!r} deleted")
    elif action == "attach":
        store.attach_field(dataset, args.name, labels, ctx.annotator)
        print(f"field {args.name!r} expected by {', '.join(labels) or 'no label'}")
    elif action == "find":
        return _find(ctx, dataset, args.json, args.region)
    else:
        fields = dataset_fields(store, dataset)
        if args.json:
            print(json.dumps([{"name": f.name, "kind": f.kind, "shape": f.shape, "labels": list(f.labels),
                               "builtin": f.builtin} for f in fields], indent=2))
        else:
            for f in fields:
                expected = f"  expected by {', '.join(f.labels)}" if f.labels else ""
                print(f"{one_line(f.name, 40):<24} {f.describe()}{expected}")
    return 0


def _find(ctx: Context, dataset: str, as_json: bool, region: str | None) -> int:
    from .cli import progress_bar
    from .fields.fields import dataset_fields, find_in_dataset
    from .fields.kinds import DEFAULT_REGION

    fields = dataset_fields(ctx.store, dataset)
    with progress_bar("finding fields") as bar:
        found = find_in_dataset(ctx.store, dataset, fields, region or DEFAULT_REGION,
                                lambda f: bar("messages", f))
    if as_json:
        ids = dict(ctx.store.messages_frame(dataset, "mid, id").iter_rows())
        for row in found.iter_rows(named=True):
            print(json.dumps({"id": ids.get(row["mid"]), **{k: v for k, v in row.items() if k != "mid"}}))
        return 0
    messages = ctx.store.messages_frame(dataset, "mid").height
    print(f"{messages:,} messages of dataset {dataset!r}:")
    for field in fields:
        rows = found.filter(found["field"] == field.name)
        examples = ", ".join(one_line(v, 30) for v in rows["value"].unique(maintain_order=True).head(EXAMPLES))
        print(f"  {one_line(field.name, 30):<24} {rows['mid'].n_unique():>8,} messages  {rows.height:>8,} values"
              + (f"  e.g. {examples}" if examples else ""))
    print("(cached beside the database until the fields or the messages change)", file=sys.stderr)
    return 0

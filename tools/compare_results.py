"""Compare two NodeScope results folders value by value (for refactors that must not change results).

    python tools/compare_results.py BEFORE_DIR AFTER_DIR [--ignore-key run_parameters]
                                    [--ignore-column counterstain_ring_low]

Every table (``summary.csv``, each image's ``cells.csv`` and ``deposits.csv``) and every
``summary.json`` value is compared; ``nodescope.log``, ``report.html`` and the pictures
are not (they hold timestamps or are drawn). Keys present on one side only are listed.
Exit status 0 when everything compared is identical, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd


def _compare_tables(a: Path, b: Path, ignore_columns) -> list[str]:
    ta, tb = pd.read_csv(a, dtype=str, keep_default_na=False), pd.read_csv(b, dtype=str, keep_default_na=False)
    problems = []
    only_a = [c for c in ta.columns if c not in tb.columns and c not in ignore_columns]
    only_b = [c for c in tb.columns if c not in ta.columns and c not in ignore_columns]
    if only_a or only_b:
        problems.append(f"{b}: columns only before {only_a}, only after {only_b}")
    common = [c for c in ta.columns if c in tb.columns and c not in ignore_columns]
    if len(ta) != len(tb):
        return problems + [f"{b}: {len(ta)} rows before, {len(tb)} after"]
    for c in common:
        diff = (ta[c] != tb[c]).to_numpy()
        if diff.any():
            i = int(diff.argmax())
            problems.append(f"{b}: column {c!r} differs in {int(diff.sum())} row(s), first row {i}: "
                            f"{ta[c].iloc[i]!r} -> {tb[c].iloc[i]!r}")
    return problems


def _compare_json(a, b, where: str, ignore_keys) -> tuple[list[str], list[str]]:
    problems, notes = [], []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in ignore_keys:
                continue
            if k not in b:
                problems.append(f"{where}.{k}: only before")
            elif k not in a:
                notes.append(f"{where}.{k}: new key (value {json.dumps(b[k])[:80]})")
            else:
                p, n = _compare_json(a[k], b[k], f"{where}.{k}", ignore_keys)
                problems += p
                notes += n
    elif a != b:
        problems.append(f"{where}: {json.dumps(a)[:80]} -> {json.dumps(b)[:80]}")
    return problems, notes


def compare(before: Path, after: Path, *, ignore_keys=(), ignore_columns=()) -> tuple[list[str], list[str]]:
    """(problems, notes) of comparing two results folders."""
    problems, notes = [], []
    problems += _compare_tables(before / "summary.csv", after / "summary.csv", ignore_columns)
    for folder in sorted(p for p in before.iterdir() if p.is_dir()):
        other = after / folder.name
        if not other.is_dir():
            problems.append(f"{other}: missing")
            continue
        for table in ("cells.csv", "deposits.csv"):
            problems += _compare_tables(folder / table, other / table, ignore_columns)
        sa = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        sb = json.loads((other / "summary.json").read_text(encoding="utf-8"))
        p, n = _compare_json(sa, sb, folder.name, set(ignore_keys))
        problems += p
        notes += n
    return problems, notes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--ignore-key", action="append", default=[], help="summary.json key to skip")
    ap.add_argument("--ignore-column", action="append", default=[], help="table column to skip")
    args = ap.parse_args(argv)
    problems, notes = compare(args.before, args.after, ignore_keys=args.ignore_key,
                              ignore_columns=args.ignore_column)
    for line in notes:
        print("note:", line)
    for line in problems:
        print("DIFFERENT:", line)
    n_images = sum(1 for p in args.before.iterdir() if p.is_dir())
    print(f"{n_images} image(s) compared: {'identical' if not problems else f'{len(problems)} difference(s)'}"
          + (f" (ignored keys {args.ignore_key}, columns {args.ignore_column})"
             if args.ignore_key or args.ignore_column else ""))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

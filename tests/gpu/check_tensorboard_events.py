#!/usr/bin/env python3
"""Loads the event files `hnet upload --to tensorboard --dir DIR` wrote, with
TensorBoard's own reader (EventAccumulator), and prints the scalar count per run and tag.

    check_tensorboard_events.py DIR [--db results.db]

With --db, every run folder (NAME-ID) is compared with results.db: each metric point of
run ID must be there as a scalar (tag "split/name", same step, same value as float32)
and nothing else. Exit status 0 when every file loaded (and matched), 1 otherwise.
Needs the tensorboard package (installed on the GPU machine)."""
import math
import os
import sqlite3
import struct
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def main():
    args = sys.argv[1:]
    db = None
    if "--db" in args:
        i = args.index("--db")
        db = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        return 2
    root = args[0]
    folders = sorted({d for d, _, files in os.walk(root) if any("tfevents" in f for f in files)})
    if not folders:
        print("no event files under", root)
        return 1
    con = sqlite3.connect(db) if db else None
    ok = True
    total = 0
    for folder in folders:
        acc = EventAccumulator(folder, size_guidance={"scalars": 0})  # 0: keep every point
        acc.Reload()
        tags = acc.Tags()["scalars"]
        got = {}
        for tag in tags:
            for ev in acc.Scalars(tag):
                got[(tag, ev.step)] = ev.value
        total += len(got)
        print("%s: %d scalars, %d tags: %s" % (folder, len(got), len(tags),
                                               ", ".join("%s=%d" % (t, len(acc.Scalars(t))) for t in tags)))
        if con is None:
            continue
        run_id = int(os.path.basename(folder).rsplit("-", 1)[1])
        want = {}
        for split, name, step, value in con.execute(
                "SELECT split, name, step, value FROM metrics WHERE run_id = ?", (run_id,)):
            want[(split + "/" + name, step)] = float("nan") if value is None else f32(value)
        missing = [k for k in want if k not in got]
        extra = [k for k in got if k not in want]
        wrong = [k for k in want if k in got and not (
            (math.isnan(want[k]) and math.isnan(got[k])) or want[k] == got[k])]
        if missing or extra or wrong:
            ok = False
            print("  MISMATCH with run %d: %d missing, %d extra, %d different (e.g. %s)" % (
                run_id, len(missing), len(extra), len(wrong), (missing or extra or wrong)[:3]))
        else:
            print("  matches run %d of %s: %d points" % (run_id, db, len(want)))
    print("total: %d scalars in %d run folders" % (total, len(folders)))
    return 0 if ok and total > 0 else 1


if __name__ == "__main__":
    sys.exit(main())

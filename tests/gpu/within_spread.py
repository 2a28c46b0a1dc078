"""within_spread.py PLAIN1.db PLAIN2.db OTHER.db K FLOOR CAP: whether OTHER's train and
valid BPB curve is as close to the plain runs' as they are to each other. The GPU step is
not bit-reproducible (float atomics in some backward kernels; dynamic chunking turns a
last-bit difference into a moved boundary), so two plain runs differ, and how much varies
run to run. OTHER passes when its largest relative difference from the nearer plain run
is at most max(K * spread, FLOOR), capped at CAP, where spread is the plain runs'
difference from each other. Prints the numbers; exits 1 otherwise (or when the runs
logged different BPB points)."""
import sqlite3
import sys


def curve(path):
    db = sqlite3.connect(path)
    rows = db.execute("select split, step, value from metrics where name = 'bpb'").fetchall()
    db.close()
    return {(split, step): value for split, step, value in rows}


def worst(a, b):
    if not a or a.keys() != b.keys():
        print(f"different BPB points: {len(a)} and {len(b)}, {len(a.keys() & b.keys())} in common")
        sys.exit(1)
    return max(abs(a[k] - b[k]) / abs(a[k]) for k in a)


p1, p2, other = (curve(p) for p in sys.argv[1:4])
k, floor, cap = (float(x) for x in sys.argv[4:7])
spread = worst(p1, p2)
diff = min(worst(p1, other), worst(p2, other))
tol = min(max(k * spread, floor), cap)
print(f"{len(p1)} BPB points: {diff:.3e} relative from the nearer plain run; the plain runs "
      f"differ by {spread:.3e}; tolerance {tol:.3e} = min(max({k:g} x spread, {floor:g}), {cap:g})")
sys.exit(0 if diff <= tol else 1)

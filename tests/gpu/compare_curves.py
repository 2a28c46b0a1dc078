"""compare_curves.py A.db B.db TOL: the largest relative difference of train and valid BPB
between two runs' curves, step by step (each db holds one run). Exits 1 when the runs
logged different BPB points or differ by more than TOL; prints the difference either way.
(python3's own sqlite3: the GPU machine may have no sqlite3 command.)"""
import sqlite3
import sys


def curve(path):
    db = sqlite3.connect(path)
    rows = db.execute("select split, step, value from metrics where name = 'bpb'").fetchall()
    db.close()
    return {(split, step): value for split, step, value in rows}


a, b, tol = curve(sys.argv[1]), curve(sys.argv[2]), float(sys.argv[3])
if not a or a.keys() != b.keys():
    print(f"different BPB points: {len(a)} and {len(b)}, {len(a.keys() & b.keys())} in common")
    sys.exit(1)
worst = max(abs(a[k] - b[k]) / abs(a[k]) for k in a)
print(f"{len(a)} BPB points, max relative difference {worst:.3e} (tolerance {tol:g})")
sys.exit(0 if worst <= tol else 1)

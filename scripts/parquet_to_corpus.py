#!/usr/bin/env python3
"""parquet_to_corpus.py SHARD.parquet... OUT.txt [--column text] [--separator '\\n\\n']

Turns parquet shards (FineWeb-Edu's, or any dataset with a text column) into one
corpus file for hnet: every row's text, in file and row order, each followed by the
separator (default: a blank line, so document boundaries stay visible), UTF-8.
Streams record batches, so a 2 GB shard needs little memory. Needs pyarrow
(`python3 -m pip install pyarrow`); parquet is read by pyarrow, not by hnet.

    python3 scripts/parquet_to_corpus.py 000_00000.parquet fineweb-edu.txt
    gzip -9 fineweb-edu.txt      # optional: hnet reads .gz directly
"""
import argparse
import sys


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("inputs", nargs="+", metavar="SHARD.parquet")
    ap.add_argument("output", metavar="OUT.txt")
    ap.add_argument("--column", default="text")
    ap.add_argument("--separator", default="\n\n")
    a = ap.parse_args(argv)
    try:
        import pyarrow.parquet as pq
    except ImportError:
        sys.exit("parquet_to_corpus: needs pyarrow: python3 -m pip install pyarrow")
    sep = a.separator.encode("utf-8").decode("unicode_escape").encode("utf-8")
    rows = 0
    with open(a.output, "wb") as out:
        for path in a.inputs:
            f = pq.ParquetFile(path)
            if a.column not in f.schema_arrow.names:
                sys.exit(f"parquet_to_corpus: {path} has no column {a.column!r} "
                         f"(it has: {', '.join(f.schema_arrow.names)})")
            for batch in f.iter_batches(columns=[a.column]):
                for text in batch.column(0).to_pylist():
                    if text is None:
                        continue
                    out.write(text.encode("utf-8"))
                    out.write(sep)
                    rows += 1
    print(f"{a.output}: {rows} documents", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])

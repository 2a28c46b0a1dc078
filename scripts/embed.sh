#!/bin/sh
# embed.sh SYMBOL FILE: prints a C file defining `const char SYMBOL[]` (NUL-terminated)
# and `const unsigned long SYMBOL_len` with FILE's bytes. Uses od, which every
# system has, instead of xxd.
set -e
sym=$1
file=$2
echo "/* generated from $file by scripts/embed.sh; do not edit */"
echo "const char $sym[] = {"
od -An -v -tx1 "$file" | awk '{ line = ""; for (i = 1; i <= NF; i++) line = line "0x" $i ","; print line }'
echo "0x00 };"
echo "const unsigned long ${sym}_len = sizeof $sym - 1;"

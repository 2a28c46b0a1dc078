# Every in-tree plugin exports its entry and nothing of hnet's core: `nm -D` of each
# shared object lists hn_plugin_entry as its one hn_ symbol, none of the symbols that
# build/libhnet.a defines, and the object needs none of them (core reaches a plugin
# through the host API table, runtime/plugin/host_api.h).
. tests/e2e/lib.sh
BUILD=$(dirname "$HNET")
command -v nm >/dev/null || skip "nm is not installed"
nm --defined-only "$BUILD/libhnet.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBR]/ {print $3}' |
    sort -u >"$TMP/core"
[ -s "$TMP/core" ] || fail "no symbols read from $BUILD/libhnet.a"
n=0
for so in "$BUILD"/layers/*.so "$BUILD"/plugins/*.so; do
    [ -f "$so" ] || continue
    n=$((n + 1))
    nm -D --defined-only "$so" | awk '{print $NF}' | sort -u >"$TMP/exported"
    grep -qx hn_plugin_entry "$TMP/exported" || fail "$so does not export hn_plugin_entry"
    extra=$(grep '^hn_' "$TMP/exported" | grep -vx hn_plugin_entry | head -5 | tr '\n' ' ')
    [ -z "$extra" ] || fail "$so exports core-like symbols: $extra"
    shared=$(comm -12 "$TMP/exported" "$TMP/core" | head -5 | tr '\n' ' ')
    [ -z "$shared" ] || fail "$so carries a copy of core: $shared"
    needed=$(nm -D --undefined-only "$so" | awk '{print $NF}' | sort -u | comm -12 - "$TMP/core" |
        head -5 | tr '\n' ' ')
    [ -z "$needed" ] || fail "$so needs core symbols from its host: $needed"
done
[ "$n" -ge 4 ] || fail "found only $n plugins under $BUILD/layers and $BUILD/plugins"
echo "ok: $n plugins export hn_plugin_entry and nothing of core"

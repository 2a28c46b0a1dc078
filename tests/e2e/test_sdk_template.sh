# The plugin SDK end to end: `make install PREFIX=...` into a temporary prefix; the
# layer template (templates/layer) copied to a temporary folder and built there against
# the installed headers through pkg-config; the installed hnet's test kit passes it
# (and fails a copy with a wrong backward); the installed hnet loads it beside its own
# plugins and trains a model of its letter from an experiment file.
. tests/e2e/lib.sh
command -v pkg-config >/dev/null || skip "pkg-config is not installed"
BUILD=$(dirname "$HNET")
case "$BUILD" in
    build-san) MODE="SANITIZE=1" ;;
    build) MODE="" ;;
    *) skip "the install test runs on build/ or build-san/, not $BUILD" ;;
esac
PREFIX=$TMP/prefix
make -s install PREFIX="$PREFIX" $MODE >"$TMP/install.log" 2>&1 || { cat "$TMP/install.log"; fail "make install"; }
for f in bin/hnet lib/hnet/attention.so lib/hnet/dc.so lib/pkgconfig/hnet.pc \
    include/hnet/plugin/plugin.h include/hnet/plugin/host_api.h include/hnet/backend/backend.h; do
    [ -f "$PREFIX/$f" ] || fail "make install did not install $f"
done
export PKG_CONFIG_PATH=$PREFIX/lib/pkgconfig
cflags=$(pkg-config --cflags hnet) || fail "pkg-config does not find hnet in $PKG_CONFIG_PATH"
case "$cflags" in *"$PREFIX/include/hnet"*) ;; *) fail "pkg-config --cflags hnet: $cflags" ;; esac
echo "ok: installed into a temporary prefix; pkg-config --cflags hnet: $cflags"

# out of the tree: nothing of the checkout is on the include path
WORK=$TMP/plugin-src/linmix
mkdir -p "$WORK" && cp templates/layer/* "$WORK/"
make -s -C "$WORK" >"$TMP/build.log" 2>&1 || { cat "$TMP/build.log"; fail "the template does not build out of tree"; }
[ -f "$WORK/linmix.so" ] || fail "the template's Makefile made no linmix.so"
echo "ok: the template builds out of tree against the installed headers"

"$PREFIX/bin/hnet" plugins --check "$WORK/linmix.so" >"$TMP/check" 2>&1 || { cat "$TMP/check"; fail "the test kit fails the template"; }
grep -q "^ok   input x" "$TMP/check" && grep -q "^ok   weight" "$TMP/check" &&
    grep -q "every check passed" "$TMP/check" || { cat "$TMP/check"; fail "the kit's report"; }
echo "ok: hnet plugins --check passes the template"

# the kit has teeth: the weight gradient doubled is caught
BROKEN=$TMP/plugin-src/broken
mkdir -p "$BROKEN" && cp templates/layer/* "$BROKEN/"
sed -i 's/1.0f, dy, s->x, 1.0f, s->gw/2.0f, dy, s->x, 1.0f, s->gw/' "$BROKEN/linmix.c"
grep -q '2.0f, dy, s->x' "$BROKEN/linmix.c" || fail "could not break the template's backward"
make -s -C "$BROKEN" >/dev/null 2>&1 || fail "the broken copy does not build"
expect_fail "a wrong weight gradient" "^FAIL weight" "$PREFIX/bin/hnet" plugins --check "$BROKEN/linmix.so"

HNET_PLUGIN_PATH=$WORK "$PREFIX/bin/hnet" plugins >"$TMP/list" 2>&1 || { cat "$TMP/list"; fail "hnet plugins"; }
grep -q "^linmix .*l=linmix L=linmix+mlp *$WORK/linmix.so" "$TMP/list" &&
    grep -q "^attention .*$PREFIX/bin/../lib/hnet/attention.so" "$TMP/list" || { cat "$TMP/list"; fail "the installed hnet's plugins"; }
echo "ok: the installed hnet loads the template beside its own plugins"

HNET_RESULTS=$TMP/results HNET_PLUGIN_PATH=$WORK "$PREFIX/bin/hnet" run "$WORK/experiment.lua" \
    --db "$TMP/r.db" --quiet >"$TMP/run" 2>&1 || { cat "$TMP/run"; fail "training the template's experiment"; }
status=$(sqlite3 "$TMP/r.db" "select status from runs where name = 'linmix-tiny'")
[ "$status" = finished ] || { cat "$TMP/run"; fail "the run's status is '$status'"; }
layout=$(sqlite3 "$TMP/r.db" "select config_json from runs where name = 'linmix-tiny'" | grep -o '"linmix"' | head -1)
[ -n "$layout" ] || fail "the run's config has no linmix section"
echo "ok: an experiment file uses the template's letter and trains"

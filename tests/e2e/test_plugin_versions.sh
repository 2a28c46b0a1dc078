# Host API versions (runtime/plugin/host_api.h): a plugin built for an older host loads
# into this one; a plugin that needs a newer host is refused with a message naming both
# versions; a plugin of the old API (entry hn_layer_plugin_v1) is refused by name; a
# layer table of a newer ABI version is refused naming both versions; a plugin whose
# entry registers two ops of one name (kernel registry) is refused, naming them.
. tests/e2e/lib.sh
CC=${CC:-cc}
version=$(sed -n 's/^#define HN_HOST_API_VERSION \([0-9]*\)u$/\1/p' runtime/plugin/host_api.h)
[ -n "$version" ] || fail "no HN_HOST_API_VERSION in runtime/plugin/host_api.h"
build() { # DIR MIN_HOST [CFLAGS]
    mkdir -p "$TMP/$1"
    $CC -std=c11 -shared -fPIC -fvisibility=hidden -Wl,-z,defs -Iruntime -DMIN_HOST="$2" ${3:-} \
        -o "$TMP/$1/versioned.so" tests/plugins/versioned.c -lm || fail "cannot build the test plugin"
}
build old 1
HNET_PLUGIN_PATH=$TMP/old $HNET plugins >"$TMP/out" 2>&1 || { cat "$TMP/out"; fail "a plugin for host API 1 is refused"; }
grep -q "^versioned .*$TMP/old/versioned.so" "$TMP/out" || { cat "$TMP/out"; fail "the plugin for host API 1 is not listed"; }
echo "ok: a plugin needing host API 1 loads into host API $version"

build new $((version + 1))
expect_fail "a plugin needing a newer host" \
    "layer plugin versioned \\($TMP/new/versioned.so\\) needs host API version $((version + 1)), but this hnet provides version $version" \
    env HNET_PLUGIN_PATH="$TMP/new" $HNET plugins

mkdir -p "$TMP/v1"
printf 'int hn_layer_plugin_v1(void) { return 0; }\n' >"$TMP/v1/old.c"
$CC -shared -fPIC -o "$TMP/v1/old.so" "$TMP/v1/old.c" || fail "cannot build the old-API plugin"
expect_fail "a plugin of the old API" "old plugin API \\(it exports 'hn_layer_plugin_v1', not 'hn_plugin_entry'\\)" \
    env HNET_PLUGIN_PATH="$TMP/v1" $HNET plugins

abi=$(sed -n 's/^#define HN_LAYER_ABI_VERSION \([0-9]*\)u$/\1/p' runtime/plugin/layer_abi.h)
build newabi 1 -DABI=$((abi + 1))
expect_fail "a layer table of a newer ABI version" \
    "layer plugin versioned \\($TMP/newabi/versioned.so\\): layer ABI version $((abi + 1)) is newer than this hnet's \\(version $abi\\)" \
    env HNET_PLUGIN_PATH="$TMP/newabi" $HNET plugins

build dupops 4 -DDUP_OPS
expect_fail "a plugin registering two ops of one name" \
    "kernel registry: $TMP/dupops/versioned.so registers two ops named .versioned.op." \
    env HNET_PLUGIN_PATH="$TMP/dupops" $HNET plugins

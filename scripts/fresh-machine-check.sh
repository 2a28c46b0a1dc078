#!/bin/sh
# fresh-machine-check.sh [COMMIT]: the README's two commands on a fresh Debian 12.
# Builds a clean Debian 12 (bookworm) chroot with debootstrap (minbase: none of hnet's
# packages), puts a clean clone of this repository at COMMIT (default HEAD) into
# /root/hnet with nothing beside it (no corpora, no shared folder, no HNET_* variables),
# and runs, timing each:
#     sh scripts/deps.sh && make run
#     sh scripts/deps.sh && make test
# Needs root, debootstrap and a Debian mirror (DEBIAN_MIRROR, default deb.debian.org).
# The bare base system is cached as /tmp/hnet-debian12-base.tar (HNET_FRESH_CACHE), so a
# second check skips debootstrap. The chroot is removed at the end (--keep keeps it).
set -eu
keep=0
[ "${1:-}" = "--keep" ] && { keep=1; shift; }
commit=${1:-HEAD}
repo=$(cd "$(dirname "$0")/.." && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${HNET_FRESH_CACHE:-/tmp/hnet-debian12-base.tar}
[ "$(id -u)" = 0 ] || { echo "fresh-machine-check: needs root (chroot, debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "fresh-machine-check: apt-get install debootstrap" >&2; exit 1; }

root=$(mktemp -d /tmp/hnet-fresh.XXXXXX)
chmod 755 "$root" # the chroot's /: mktemp's 0700 would lock out its system users (munge's
                  # postinst runs a shell as munge)
cleanup() {
    for m in dev/pts dev proc sys; do umount "$root/$m" 2>/dev/null || true; done
    [ $keep = 1 ] && echo "chroot kept: $root" || rm -rf "$root"
}
trap cleanup EXIT INT TERM

if [ -f "$cache" ]; then
    echo "== base system from $cache"
    tar -C "$root" -xf "$cache"
else
    echo "== debootstrap bookworm (minbase) from $mirror"
    t0=$(date +%s)
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
        { tail -20 "$root.debootstrap.log"; exit 1; }
    rm -f "$root.debootstrap.log"
    echo "   $(( $(date +%s) - t0 )) s"
    tar -C "$root" -cf "$cache" .
fi
chmod 755 "$root" # again: a base cached from a 0700 root brings its mode back with "."
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount -t sysfs sys "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

# a clean clone at COMMIT: tracked files only, nothing beside it
git clone -q --no-hardlinks "$repo" "$root/root/hnet"
git -C "$root/root/hnet" checkout -q "$commit"
rm -rf "$root/root/hnet/.git/refs/remotes"
echo "== clone of $(git -C "$repo" rev-parse --short "$commit") in /root/hnet; beside it: $(ls -A "$root/root" | tr '\n' ' ')"

in_chroot() {
    chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        /bin/sh -c "cd /root/hnet && $1"
}
status=0
for cmd in "sh scripts/deps.sh && make run" "sh scripts/deps.sh && make test"; do
    echo "== $cmd"
    t0=$(date +%s)
    log="$root.$(echo "$cmd" | tr -c 'a-z' '_').log"
    if in_chroot "$cmd" >"$log" 2>&1; then r=0; else r=$?; status=1; fi
    secs=$(( $(date +%s) - t0 ))
    tail -25 "$log"
    echo "== exit $r, wall time ${secs} s ($(( secs / 60 )) min $(( secs % 60 )) s); full log: $log"
done
exit $status

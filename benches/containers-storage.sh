#!/usr/bin/env bash
# benches/containers-storage.sh — a containers-storage root of 200 images (issue 33), on
# the overlay driver as podman keeps it: oci-audit with and without --verify-layers,
# against the hash ceiling (one core's openssl rate over every layer file) and against
# `podman system check` (podman 5.4 from Debian trixie; bookworm's 4.3 has no `system
# check`, and trixie's binary needs glibc 2.38, so it runs in a debootstrapped trixie
# chroot), with and without --quick.
#
# Usage: benches/containers-storage.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e)
#   --quick   20 images, one run each: a smoke test of the script, not figures.
# Env: RUNS (best of, default 5). Warm cache: every command runs once before timing.
# The store: benches/tar_layout.py's layout of 200 images (3 tar layers of 16 files of
# 64 KiB each, all distinct), copied by skopeo into containers-storage:[overlay@ROOT+RUN].
# podman writes into the store it checks (db.sql, libpod/, volumes/), so it checks a copy.
# Needs root (overlay mounts, the chroot), skopeo, debootstrap, openssl, GNU time.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v openssl >/dev/null || missing+=(openssl)
need_debian "${missing[@]}"
build_release

images=200
[ -z "$quick" ] || images=20
layout=$work/cs-layout-$images
[ -e "$layout/index.json" ] || python3 benches/tar_layout.py "$layout" "$images" 3 16 65536

cs=$work/containers-storage-$images
root=$cs/root
trixie=$work/trixie
mounted=()
cleanup() {
  local m
  for ((i=${#mounted[@]}-1; i>=0; i--)); do umount "${mounted[$i]}" 2>/dev/null || true; done
  # containers-storage bind-mounts its overlay directory onto itself.
  for m in "$root/overlay" "$cs/podman/overlay"; do
    while mountpoint -q "$m"; do umount "$m"; done
  done
}
trap cleanup EXIT
copied=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))))' "$root/overlay-images/images.json" 2>/dev/null || echo 0)
if [ "$copied" -lt "$images" ]; then
  for i in $(seq 0 $((images - 1))); do
    skopeo copy -q "oci:$layout:img-$i" "containers-storage:[overlay@$root+$cs/run]localhost/bench/img-$i"
  done
fi
# The root must audit clean with --verify-layers, or the timing compares different work.
"$audit" -q --fail-on info --verify-layers "$root" >/dev/null

if ! chroot "$trixie" podman --version >/dev/null 2>&1; then
  rm -rf "$trixie"
  debootstrap --variant=minbase --include=podman trixie "$trixie" http://deb.debian.org/debian >/dev/null
fi
rm -rf "$cs/podman" && cp -a "$root" "$cs/podman"
mkdir -p "$trixie/store"
bind() { mount "$@"; mounted+=("${!#}"); }
bind -t proc proc "$trixie/proc"
bind --bind /sys "$trixie/sys"
bind --bind /dev "$trixie/dev"
bind -t tmpfs tmpfs "$trixie/run"
bind --bind "$cs" "$trixie/store"
podman() { chroot "$trixie" env PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman --root /store/podman --runroot /store/podman-run --storage-driver overlay "$@"; }
verdict=$(podman system check 2>&1 | grep -c '^Damaged layer' || true)

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "SHA-NI: $(grep -q sha_ni /proc/cpuinfo && echo yes || echo no)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); best of $runs, warm cache;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(podman --version), $(skopeo --version)"
files=$(find "$root/overlay" -path '*/diff/*' -type f | wc -l)
echo "store: $images images, $(ls "$root/overlay-layers"/*.tar-split.gz | wc -l) layers, $files layer files," \
  "$(du -sh --apparent-size "$root/overlay" | cut -f1) unpacked"
echo "podman system check on this fresh store: $verdict layers reported damaged; oci-audit --verify-layers: 0"
printf '%-9s %-52s %10s %10s %12s\n' store command time CPU "peak RSS"
current=cs-$images
timed "openssl dgst -sha256 of every layer file (one core)" bash -c "find '$root/overlay' -path '*/diff/*' -type f -print0 | xargs -0 openssl dgst -sha256 >/dev/null"; t_ceiling=$best
timed "oci-audit ROOT (metadata, big-data items)" "$audit" -q "$root"; t_plain=$best
timed "oci-audit --verify-layers ROOT" "$audit" -q --verify-layers "$root"; t_layers=$best
timed "podman system check (5.4, a copy)" bash -c "chroot '$trixie' env PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman --root /store/podman --runroot /store/podman-run --storage-driver overlay system check"; t_podman=$best
timed "podman system check --quick (5.4, a copy)" bash -c "chroot '$trixie' env PODMAN_IGNORE_CGROUPSV1_WARNING=1 podman --root /store/podman --runroot /store/podman-run --storage-driver overlay system check --quick"; t_quick=$best
echo "--verify-layers: $(ratio "$t_podman" "$t_layers")x faster than podman system check," \
  "$(ratio "$t_layers" "$t_ceiling") of one core's hash time over the layer files (two cores: 0.5 is the ceiling);" \
  "without it: $(ratio "$t_quick" "$t_plain")x faster than podman system check --quick"

#!/usr/bin/env bash
# benches/million.sh — a Distribution root of a million images: peak memory and time of
# oci-audit, with and without a ledger, and split in shards with a plan, against the
# registry's own `garbage-collect --dry-run` on the same root, in the same run.
#
# Usage: benches/million.sh [--quick] WORKDIR   (the root is made there once, by gen-store)
#   --quick   10,000 images: a smoke test of the script, not figures.
# Env: IMAGES (default 1000000; 100 images per repository, one tag each, a 64-byte layer,
#      as benches/memory.sh), SHARDS (default 4).
#
# The root has 11 directories and 8 files per image: 19 million inodes for a million
# images, and about 45 GB of directory blocks on a file system of 4 KiB blocks. Where the
# disk has neither, a loop-mounted ext4 of 1 KiB blocks whose small files and directories
# live in their inodes (inline data) holds it in about 9 GB. As root:
#   truncate -s 40G /var/tmp/m1.img
#   mkfs.ext4 -q -b 1024 -I 256 -N 21000000 -O inline_data,large_dir,^has_journal -m 0 \
#       /var/tmp/m1.img
#   mkdir -p /mnt/m1 && mount -o noatime "$(losetup --direct-io=on -f --show /var/tmp/m1.img)" /mnt/m1
#   bash benches/million.sh /mnt/m1
# (--direct-io keeps the file system's blocks cached once, not also as the image's pages.)
#
# One uncounted audit warms the cache; then each row is one run (the collector alone takes
# minutes here). CPU is user+sys, children included; peak RSS is GNU time's %M, the
# largest single process. The merged report of the shards is checked against the
# unsharded JSON before its row counts. Needs: cargo, GNU time, GNU parallel, Debian's
# docker-registry (installed from Debian when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick=
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
work=${1:?usage: benches/million.sh [--quick] WORKDIR}
images=${IMAGES:-1000000}
[ -z "$quick" ] || images=10000
shards=${SHARDS:-4}
cores=$(nproc)

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v parallel >/dev/null || missing+=(parallel)
command -v docker-registry >/dev/null || missing+=(docker-registry)
need_debian "${missing[@]}"

build_release
current=registry-$images
root=$work/$current
# The root needs 19 inodes an image; say so before writing half of it.
if [ ! -e "$root" ]; then
  free_inodes=$(df --output=iavail "$work" | tail -1)
  if [ "$free_inodes" -lt $((images * 19)) ]; then
    echo "$work has $free_inodes free inodes; a root of $images images needs about" \
      "$((images * 19)) (see the header of $0 for a file system that holds it)" >&2
    exit 2
  fi
fi
store "$current" --kind distribution --images "$images" --layers 1 --layer-size 64 \
  --repositories $((images / 100)) >/dev/null
# Everything the runs write goes beside the root, never into it.
out=$work/million-out
rm -rf "$out"
mkdir -p "$out"
config=$out/gc.yml
printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n' \
  "$root" > "$config"

# once LABEL CMD... — one run: wall, CPU, peak RSS and exit code; stdout to $out/last.out.
# Sets wall, cpu and rss (MiB).
once() {
  local label=$1; shift
  local code=0
  /usr/bin/time -o "$out/time" -f '%e %U %S %M' "$@" >"$out/last.out" 2>"$out/last.err" \
    || code=$?
  local e u s m
  read -r e u s m < <(tail -1 "$out/time")
  wall=$e cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.1f", u+s}')
  rss=$(awk -v k="$m" 'BEGIN{printf "%.1f", k/1024}')
  printf '%-58s %9.1f s %9s s %9s MiB %5s\n' "$label" "$wall" "$cpu" "$rss" "$code"
}

# sharded — the plan, $shards single-threaded shards as many at once as there are cores,
# the merge (JSON to stdout); each step's peak RSS in $out/steps.
sharded() {
  rm -f "$out"/part-* "$out/plan" "$out/steps"
  /usr/bin/time -a -o "$out/steps" -f 'plan %e %M' \
    "$audit" plan -q --plan "$out/plan" "$root" >/dev/null
  seq 0 $((shards - 1)) | parallel -j "$cores" --halt now,fail=1 \
    /usr/bin/time -a -o "$out/steps" -f "'shard {} %e %M'" \
    "$audit" -q -j 1 --plan "$out/plan" --shard {}/"$shards" --partial "$out/part-{}.json" "$root"
  /usr/bin/time -a -o "$out/steps" -f 'merge %e %M' \
    "$audit" merge --plan "$out/plan" --format json "$out"/part-*.json
}
export -f sharded
export audit out root shards cores

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo);" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?');" \
  "$(df --output=source,fstype "$root" | tail -1)"
echo "store: $current ($images images in $((images / 100)) repositories)"
"$audit" -q "$root" >/dev/null 2>&1 || true
printf '%-58s %11s %11s %13s %5s\n' command wall CPU "peak RSS" exit

once "oci-audit --format json" "$audit" -q --format json "$root"
grep -v '"elapsed_ms"' "$out/last.out" > "$out/whole.json"
audit_wall=$wall audit_rss=$rss
once "registry garbage-collect --dry-run" docker-registry garbage-collect --dry-run "$config"
gc_wall=$wall gc_rss=$rss
once "oci-audit --state LEDGER (first night: a new ledger)" \
  "$audit" -q --state "$out/ledger.db" "$root"
first_wall=$wall first_rss=$rss
once "oci-audit --state LEDGER (second night)" "$audit" -q --state "$out/ledger.db" "$root"
second_wall=$wall second_rss=$rss
once "plan, $shards x -j 1 --plan --shard I/$shards, merge --plan" bash -c sharded
grep -v '"elapsed_ms"' "$out/last.out" > "$out/merged.json"
if ! cmp -s "$out/whole.json" "$out/merged.json"; then
  echo "the merged report differs from the unsharded one:" >&2
  diff "$out/whole.json" "$out/merged.json" | head -20 >&2
  exit 2
fi
sharded_wall=$wall
sharded_rss=$(awk '{ if ($NF > m) m = $NF } END { printf "%.1f", m/1024 }' "$out/steps")
while read -r step rest; do
  read -r -a f <<<"$rest"
  if [ "$step" = shard ]; then step="shard ${f[0]}"; f=("${f[@]:1}"); fi
  printf '  %-56s %9.1f s %23.1f MiB\n' "$step" "${f[0]}" "$(awk -v k="${f[1]}" 'BEGIN{print k/1024}')"
done < "$out/steps"
echo "ledger: $(stat -c %s "$out/ledger.db") bytes; plan: $(stat -c %s "$out/plan") bytes"

echo
echo "against the collector (memory, time):"
echo "  oci-audit:                  $(ratio "$audit_rss" "$gc_rss")x, $(ratio "$audit_wall" "$gc_wall")x"
echo "  with a ledger, first night:  $(ratio "$first_rss" "$gc_rss")x, $(ratio "$first_wall" "$gc_wall")x"
echo "  with a ledger, second night: $(ratio "$second_rss" "$gc_rss")x, $(ratio "$second_wall" "$gc_wall")x"
echo "  $shards shards with a plan (largest process; end to end): $(ratio "$sharded_rss" "$gc_rss")x, $(ratio "$sharded_wall" "$gc_wall")x"

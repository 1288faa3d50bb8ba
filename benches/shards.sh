#!/usr/bin/env bash
# benches/shards.sh — what splitting an audit costs: N single-threaded `--shard I/N`
# processes run side by side, then `merge`, against one unsharded run with N threads, on the
# same machine in the same run. Every shard repeats the metadata pass (listing, documents,
# links, the graph) and hashes only its slice, so the difference is that repetition plus
# the merge. Also prints how evenly the digest slices spread each store's bytes.
#
# Usage: benches/shards.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e, shared
#                                                  with benches/e2e.sh, whose stores it reuses)
#   --quick   tiny stores, one run each: a smoke test of the script, not figures.
# Env: RUNS (best of, default 5), SHARDS (default: the number of cores).
#
# Stores (gen-store, as in e2e.sh): large (2 GiB in 8 blobs), meta (20,000 images of a
# layout), registry (Distribution root, 20,000 images in 100 repositories).
# Each timed command runs once before timing (warm cache). CPU is user+sys of the whole
# command, children included; peak RSS is GNU time's %M (the largest single process).
# Before timing, the merged JSON is checked against the unsharded JSON (elapsed aside).
# Needs: cargo, GNU time, GNU parallel (installed from Debian when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
shards=${SHARDS:-$(nproc)}

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v parallel >/dev/null || missing+=(parallel)
need_debian "${missing[@]}"

build_release --example slices
slices=$PWD/target/release/examples/slices
parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT

if [ -n "$quick" ]; then
  store large --kind layout --images 4 --layers 1 --layer-size $((8 << 20))
  store meta --kind layout --images 200 --layer-size 512
  store registry --kind distribution --images 200 --repositories 10 --layer-size 512
else
  store large --kind layout --images 8 --layers 1 --layer-size $((256 << 20))
  store meta --kind layout --images 20000 --layer-size 512
  store registry --kind distribution --images 20000 --repositories 100 --layer-size 512
fi

# sharded STORE — N single-threaded shards in parallel, then the merge; prints the merge's
# JSON and exits with its code.
sharded() {
  rm -f "$parts"/*.json
  seq 0 $((shards - 1)) | parallel -j "$shards" --halt now,fail=1 \
    "$audit" -q -j 1 --shard {}/"$shards" --partial "$parts"/{}.json "$1"
  "$audit" merge --format json "$parts"/*.json
}
export -f sharded
export audit shards parts

without_elapsed() { grep -v '"elapsed_ms"'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); best of $runs, warm cache;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?'); $shards shards"
printf '%-9s %-52s %10s %10s %12s\n' store command time CPU "peak RSS"

summary=()
for current in large meta registry; do
  root=$work/$current
  # The merged report must be the unsharded one, or the timing compares different work.
  set +e
  "$audit" -j "$shards" --format json "$root" | without_elapsed > "$parts/whole.out"; whole=${PIPESTATUS[0]}
  sharded "$root" | without_elapsed > "$parts/merged.out"; merged=${PIPESTATUS[0]}
  set -e
  if [ "$whole" != "$merged" ] || ! cmp -s "$parts/whole.out" "$parts/merged.out"; then
    echo "$current: the merged report differs from the unsharded one (exit $merged, not $whole)" >&2
    diff "$parts/whole.out" "$parts/merged.out" | head -20 >&2
    exit 2
  fi
  timed "oci-audit -j $shards (one process)" "$audit" -q -j "$shards" "$root"
  t_whole=$best c_whole=$cpu
  timed "$shards x oci-audit -j 1 --shard I/$shards, then merge" bash -c "sharded $root"
  t_sharded=$best c_sharded=$cpu
  rm -f "$parts"/*.json
  "$audit" -q -j 1 --shard 0/"$shards" --partial "$parts/0.json" "$root"
  timed "  one shard alone (-j 1 --shard 0/$shards)" "$audit" -q -j 1 --shard 0/"$shards" --partial "$parts/0.json" "$root"
  t_one=$best
  seq 1 $((shards - 1)) | parallel "$audit" -q -j 1 --shard {}/"$shards" --partial "$parts"/{}.json "$root"
  timed "  merge alone" "$audit" merge "$parts"/*.json
  t_merge=$best
  timed "  --no-verify -j 1 (the metadata pass every shard repeats)" "$audit" -q -j 1 --no-verify "$root"
  t_meta=$best
  summary+=("$current: $shards shards + merge take $(ratio "$t_sharded" "$t_whole")x the time and $(ratio "$c_sharded" "$c_whole")x the CPU of one $shards-thread run; the metadata pass is $(ratio "$t_meta" "$t_one") of one shard's time, the merge $(ratio "$t_merge" "$t_sharded") of the sharded total")
done

echo
echo "How evenly slices spread bytes (largest and smallest slice against an even share):"
for current in large meta registry; do
  "$audit" -q --shard 0/1 --partial "$parts/all.json" "$work/$current"
  "$slices" "$parts/all.json" 2 3 7 16 64 | sed "s|^$parts/all.json|$current|"
done

echo
printf '%s\n' "${summary[@]}"

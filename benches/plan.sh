#!/usr/bin/env bash
# benches/plan.sh — what a sharded audit that shares one metadata pass costs: `oci-audit
# plan`, then N single-threaded `--plan --shard I/N` processes (GNU parallel, as many at
# once as there are cores), then `merge --plan`, against one unsharded run with a thread
# per core, on the same machine in the same run. Also the plan-less split, which repeats
# the metadata pass in every shard, for comparison; how the largest slice compares with an
# even share of the bytes; and the size of the plan and of the parts per blob.
#
# Usage: benches/plan.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e, shared
#                                                with benches/e2e.sh and shards.sh)
#   --quick   tiny stores, one run each: a smoke test of the script, not figures.
# Env: RUNS (best of, default 3), COUNTS (shard counts, default "2 4 8"), PLANLESS=0 to
#      leave out the plan-less rows (each of N shards repeats the metadata pass: slow).
#
# Stores (gen-store): large (2 GiB in 8 layers of 256 MiB, as shards.sh), registry-100000
# (a Distribution root of 100,000 images in 1,000 repositories, 64-byte layers, as
# memory.sh). CPU is user+sys of the whole pipeline, children included; warm cache.
# Before timing, each merged JSON is checked against the unsharded JSON (elapsed aside).
# Needs: cargo, GNU time, GNU parallel, jq (installed from Debian when missing, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
runs=${RUNS:-3}
[ -z "$quick" ] || runs=1
counts=${COUNTS:-2 4 8}
cores=$(nproc)

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v parallel >/dev/null || missing+=(parallel)
command -v jq >/dev/null || missing+=(jq)
need_debian "${missing[@]}"

build_release
parts=$(mktemp -d)
trap 'rm -rf "$parts"' EXIT

if [ -n "$quick" ]; then
  store large --kind layout --images 4 --layers 1 --layer-size $((8 << 20))
  store registry-100000-quick --kind distribution --images 500 --layers 1 --layer-size 64 --repositories 10
  stores="large registry-100000-quick"
else
  store large --kind layout --images 8 --layers 1 --layer-size $((256 << 20))
  store registry-100000 --kind distribution --images 100000 --layers 1 --layer-size 64 --repositories 1000
  stores="large registry-100000"
fi

# planned ROOT N — the plan, N shards with it, the merge; prints the merge's JSON.
planned() {
  rm -f "$parts"/*.json "$parts/plan"
  "$audit" plan -q --plan "$parts/plan" "$1" >/dev/null
  seq 0 $(($2 - 1)) | parallel -j "$cores" --halt now,fail=1 \
    "$audit" -q -j 1 --plan "$parts/plan" --shard {}/"$2" --partial "$parts"/{}.json "$1"
  "$audit" merge --plan "$parts/plan" --format json "$parts"/[0-9]*.json
}
# unplanned ROOT N — N shards each repeating the metadata pass, the merge.
unplanned() {
  rm -f "$parts"/*.json "$parts/plan"
  seq 0 $(($2 - 1)) | parallel -j "$cores" --halt now,fail=1 \
    "$audit" -q -j 1 --shard {}/"$2" --partial "$parts"/{}.json "$1"
  "$audit" merge --format json "$parts"/[0-9]*.json
}
export -f planned unplanned
export audit parts cores

without_elapsed() { grep -v '"elapsed_ms"'; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $cores cores," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); best of $runs, warm cache;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-9s %-52s %10s %10s %12s\n' store command time CPU "peak RSS"

summary=()
sizes=()
for current in $stores; do
  root=$work/$current
  "$audit" -q -j "$cores" --format json "$root" | without_elapsed > "$parts/whole.out" || true
  timed "oci-audit -j $cores (one process)" "$audit" -q -j "$cores" "$root"
  c_whole=$cpu
  for n in $counts; do
    # The merged report must be the unsharded one, or the timing compares different work.
    set +e
    planned "$root" "$n" | without_elapsed > "$parts/merged.out"
    set -e
    if ! cmp -s "$parts/whole.out" "$parts/merged.out"; then
      echo "$current in $n with a plan: the merged report differs from the unsharded one" >&2
      diff "$parts/whole.out" "$parts/merged.out" | head -20 >&2
      exit 2
    fi
    blobs=$(zstd -dc "$parts/plan" | jq -s '[.[0].sets[].blobs | length] | add // 0')
    bytes=$(zstd -dc "$parts/plan" | jq -s '[.[0].sets[].blobs[].len] | add // 0')
    plan_size=$(stat -c %s "$parts/plan")
    part_max=$(stat -c %s "$parts"/[0-9]*.json | sort -n | tail -1)
    hashed_max=$(jq -s '[.[].verified.bytes] | max' "$parts"/[0-9]*.json)
    # The index lists alone, decoded from base64: what a part spends per blob it hashed.
    index_bytes=$(jq -rs '[.[].hashed] | .[]' "$parts"/[0-9]*.json | while read -r b; do
      printf '%s' "$b" | base64 -d | wc -c; done | awk '{s += $1} END {print s + 0}')
    sizes+=("$current N=$n: $blobs blobs to hash ($bytes B); plan $plan_size B ($(ratio "$plan_size" "$blobs") B/blob); largest part $part_max B; index lists $(ratio "$index_bytes" "$blobs") B/blob; largest slice $(ratio "$hashed_max" "$(awk -v b="$bytes" -v n="$n" 'BEGIN{print b/n}')")x an even share of the bytes")
    timed "plan, $n x -j 1 --plan --shard I/$n, merge --plan" bash -c "planned $root $n"
    c_planned=$cpu
    if [ "${PLANLESS:-1}" != 0 ]; then
      timed "  $n x -j 1 --shard I/$n (no plan), merge" bash -c "unplanned $root $n"
      without=", without $(ratio "$cpu" "$c_whole")x"
    else
      without=
    fi
    summary+=("$current, $n shards: with a plan $(ratio "$c_planned" "$c_whole")x the CPU of one run$without")
  done
  timed "  plan alone" "$audit" plan -q --plan "$parts/plan" "$root"
  # The plan's zstd level (3, the default) against level 9, on the plan's own JSON.
  zstd -q -dc "$parts/plan" > "$parts/plan.json"
  for level in 3 9; do
    timed "  zstd -$level of the plan's JSON ($(stat -c %s "$parts/plan.json") B)" \
      zstd -q -f -"$level" "$parts/plan.json" -o "$parts/plan-$level.zst"
    sizes+=("$current: the plan's JSON at zstd level $level: $(stat -c %s "$parts/plan-$level.zst") B")
  done
  rm -f "$parts"/*.json
  seq 0 1 | parallel "$audit" -q -j 1 --plan "$parts/plan" --shard {}/2 --partial "$parts"/{}.json "$root"
  timed "  merge --plan alone (2 parts)" "$audit" merge --plan "$parts/plan" "$parts"/0.json "$parts"/1.json
done

echo
printf '%s\n' "${sizes[@]}"
echo
printf '%s\n' "${summary[@]}"

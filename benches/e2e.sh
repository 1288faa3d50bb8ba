#!/usr/bin/env bash
# benches/e2e.sh — oci-audit end to end against the hardware ceiling and its peers, every
# ratio measured in the same run (these machines are shared and noisy: compare ratios,
# not absolute times).
#
# Usage: benches/e2e.sh [--quick] [--cold] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e)
#   --quick   tiny stores, one run each: a smoke test of the script (CI), not figures.
#   --cold    only the cold-cache runs: the page cache is dropped (sync; echo 3 >
#             /proc/sys/vm/drop_caches) before every timed run, as a nightly job meets a
#             registry larger than memory. Needs root; skipped, saying so, without it.
#             Stores: registry-100k (100,000 images in 1,000 repositories, 64-byte
#             layers: about 1.1 million directories), meta, large; against the
#             parallel-find floor (64 finds over the blob shards and repositories),
#             parallel cat (the disk's sequential floor), and the peers.
#
# Stores (generated once by `cargo run --example gen-store`, deterministic, reused):
#   large     OCI layout, 8 images x one 256 MiB layer (2 GiB of blobs)
#   meta      OCI layout, 20,000 images of a config, one 512-byte layer and a manifest
#   docs      10 layouts, 50,000 images: 100,000 manifests and configs
#   registry  Distribution root, 20,000 images in 100 repositories, 512-byte layers
#   registry-large  Distribution root, 8 images x one 256 MiB layer
# Commands (warm page cache: each is run once before timing; best of RUNS):
#   ceiling   openssl dgst -sha256 over every blob file, xargs -P $(nproc)
#   sha256sum coreutils over every blob file, xargs -P $(nproc) (what shell loops use)
#   oci-audit default; -j1; --no-verify
#   oci-image-tool validate --type image (Debian's oci-image-tool)
#   registry garbage-collect --dry-run (Debian's docker-registry)
# Peak RSS is GNU time's %M. Needs: cargo, openssl, GNU time; the peers are installed
# from Debian when missing (apt-get, as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick= cold=
if [ "${1:-}" = --quick ]; then quick=1; shift; fi
if [ "${1:-}" = --cold ]; then cold=1; shift; fi
work=${1:-/tmp/oci-audit-e2e}
runs=${RUNS:-5}
if [ -n "$quick" ]; then runs=1; work=${1:-/tmp/oci-audit-e2e-quick}; fi
jobs=$(nproc)

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v openssl >/dev/null || missing+=(openssl)
command -v oci-image-tool >/dev/null || missing+=(oci-image-tool)
command -v docker-registry >/dev/null || missing+=(docker-registry)
need_debian "${missing[@]}"

build_release

if [ -n "$quick" ]; then
  store large --kind layout --images 4 --layers 1 --layer-size $((8 << 20))
  store meta --kind layout --images 200 --layer-size 512
  store docs --kind layouts --images 500 --repositories 10 --layer-size 512
  store registry --kind distribution --images 200 --repositories 10 --layer-size 512
  store registry-large --kind distribution --images 4 --layer-size $((8 << 20))
else
  store large --kind layout --images 8 --layers 1 --layer-size $((256 << 20))
  store meta --kind layout --images 20000 --layer-size 512
  store docs --kind layouts --images 50000 --repositories 10 --layer-size 512
  store registry --kind distribution --images 20000 --repositories 100 --layer-size 512
  store registry-large --kind distribution --images 8 --layer-size $((256 << 20))
fi
gc_config() { # ROOT -> config file for garbage-collect
  printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n' "$1" \
    > "$work/gc-$(basename "$1").yml"
  echo "$work/gc-$(basename "$1").yml"
}

# measure LABEL CMD... — best wall time of $runs after one warm-up; sets $best, $rss (KiB).
measure() {
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true
  best= rss=0
  for _ in $(seq "$runs"); do
    local out
    /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>&1 || true
    out=$(tail -1 "$work/time.out")
    local t=${out% *} m=${out#* }
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%-16s %-44s %8.2f s %8.1f MiB\n' "$current" "$label" "$best" "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
}
blobs_of() { find "$1" -type f \( -path '*/blobs/*' \) -print0; }
ceiling() { blobs_of "$1" | xargs -0 -P "$jobs" -n 16 openssl dgst -sha256 >/dev/null; }
export -f blobs_of ceiling
export jobs

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "SHA-NI: $(grep -q sha_ni /proc/cpuinfo && echo yes || echo no)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); runs: best of $runs, $([ -n "$cold" ] && echo "cold cache (page cache dropped before each run)" || echo "warm cache")"
echo "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(openssl version | cut -d' ' -f1-2)," \
  "$(oci-image-tool --version 2>&1 | tail -1), docker-registry $(docker-registry --version 2>&1 | awk '{print $3}')"
printf '%-16s %-44s %10s %12s\n' store command time "peak RSS"

summary=()

# measure_cold LABEL CMD... — as measure, with the page cache dropped before every run.
measure_cold() {
  local label=$1; shift
  best= rss=0
  for _ in $(seq "$runs"); do
    sync; echo 3 > /proc/sys/vm/drop_caches
    /usr/bin/time -o "$work/time.out" -f '%e %M' "$@" >/dev/null 2>&1 || true
    local out t m
    out=$(tail -1 "$work/time.out"); t=${out% *}; m=${out#* }
    if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a<b)}'; then best=$t; fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%-16s %-44s %8.2f s %8.1f MiB\n' "$current" "$label (cold)" "$best" "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
}
# The floor for a walk: one find per blob shard and repository, 64 at a time.
find_floor() { # ROOT
  { ls -d "$1"/docker/registry/v2/blobs/*/*/ "$1"/docker/registry/v2/repositories/*/ 2>/dev/null \
      || ls -d "$1"/blobs/*/; } | xargs -P 64 -I{} find {} -type f | wc -l >/dev/null
}
# A floor that also reads what the audit must: every file (links, documents, small layers,
# startedat), 64 at a time, after the same walk.
read_floor() { # ROOT
  { ls -d "$1"/docker/registry/v2/blobs/*/*/ "$1"/docker/registry/v2/repositories/*/ 2>/dev/null \
      || ls -d "$1"/blobs/*/; } | xargs -P 64 -I@ find @ -type f -exec cat {} + >/dev/null
}
cat_floor() { # ROOT PARALLEL — read every blob file, PARALLEL at a time
  find "$1" -type f -path '*/blobs/*' -print0 | xargs -0 -P "$2" -n 64 cat >/dev/null
}
export -f find_floor read_floor cat_floor

if [ -n "$cold" ]; then
  if ! { [ -w /proc/sys/vm/drop_caches ] && echo 1 > /proc/sys/vm/drop_caches; } 2>/dev/null; then
    echo "cold: skipped: dropping the page cache needs root (writing /proc/sys/vm/drop_caches)"
    exit 0
  fi
  if [ -n "$quick" ]; then
    store registry-100k --kind distribution --images 1000 --layers 1 --layer-size 64 --repositories 10
  else
    store registry-100k --kind distribution --images 100000 --layers 1 --layer-size 64 --repositories 1000
  fi
  current=registry-100k
  root=$work/registry-100k
  config=$(gc_config "$root")
  measure_cold "find -type f" find "$root" -type f; t_find=$best
  measure_cold "64 finds in parallel (the floor)" bash -c "find_floor $root"; t_floor=$best
  measure_cold "64 finds, each cat-ing its files (reads what the audit reads)" bash -c "read_floor $root"; t_read=$best
  measure_cold "registry garbage-collect --dry-run" docker-registry garbage-collect --dry-run "$config"; t_gc=$best
  measure_cold "oci-audit" "$audit" -q "$root"; t_audit=$best; rss_cold=$rss
  measure_cold "oci-audit --io-concurrency 8" "$audit" -q --io-concurrency 8 "$root"
  measure_cold "oci-audit --io-concurrency 128" "$audit" -q --io-concurrency 128 "$root"
  measure_cold "oci-audit --io-concurrency 1 (one read at a time)" "$audit" -q --io-concurrency 1 "$root"
  measure_cold "oci-audit --io-concurrency $jobs (as before: one per core)" "$audit" -q --io-concurrency "$jobs" "$root"
  summary+=("registry-100k cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the parallel-find floor (target <= 1.25) and $(ratio "$t_audit" "$t_read")x the floor that also reads every file, $(ratio "$t_gc" "$t_audit")x faster than garbage-collect --dry-run (target >= 2); find alone $(ratio "$t_find" "$t_floor")x the floor; peak RSS $((rss_cold / 1024)) MiB")
  current=meta
  measure_cold "64 cats in parallel (the floor)" bash -c "cat_floor $work/meta 64"; t_floor=$best
  measure_cold "oci-audit" "$audit" -q "$work/meta"; t_audit=$best
  measure_cold "oci-image-tool validate --type image" oci-image-tool validate --type image "$work/meta"; t_oit=$best
  summary+=("meta cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the parallel-cat floor, $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool")
  current=large
  measure_cold "cat, $jobs in parallel (sequential floor)" bash -c "cat_floor $work/large $jobs"; t_floor=$best
  measure_cold "oci-audit" "$audit" -q "$work/large"; t_audit=$best
  measure_cold "oci-image-tool validate --type image" oci-image-tool validate --type image "$work/large"; t_oit=$best
  summary+=("large cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the sequential floor (parallel cat), $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool")
  echo
  printf '%s\n' "${summary[@]}"
  exit 0
fi

current=large
measure "ceiling: openssl dgst -sha256 | xargs -P$jobs" bash -c "ceiling $work/large"; t_ceiling=$best
measure "sha256sum | xargs -P$jobs" bash -c "blobs_of $work/large | xargs -0 -P $jobs -n 16 sha256sum >/dev/null"; t_coreutils=$best
measure "oci-audit" "$audit" -q "$work/large"; t_audit=$best; rss_large=$rss
measure "oci-audit -j1" "$audit" -q -j1 "$work/large"; t_audit1=$best
measure "oci-audit --no-mmap" "$audit" -q --no-mmap "$work/large"
measure "oci-image-tool validate --type image" oci-image-tool validate --type image "$work/large"; t_oit=$best
summary+=("large: oci-audit at $(ratio "$t_ceiling" "$t_audit") of the openssl ceiling (target >= 0.90)")
summary+=("large: 1 -> $jobs threads: $(ratio "$t_audit1" "$t_audit")x (target >= 1.8x); $(ratio "$t_coreutils" "$t_audit")x sha256sum")
summary+=("large: $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool; the ceiling allows $(ratio "$t_oit" "$t_ceiling")x, so $(ratio "$(ratio "$t_oit" "$t_audit")" "$(ratio "$t_oit" "$t_ceiling")") of it (target >= 0.9)")
summary+=("large: peak RSS $((rss_large / 1024)) MiB for $(du -sh --apparent-size "$work/large/blobs" | cut -f1) of blobs")

current=meta
measure "ceiling: openssl dgst -sha256 | xargs -P$jobs" bash -c "ceiling $work/meta"
measure "oci-audit" "$audit" -q "$work/meta"; t_audit=$best
measure "oci-image-tool validate --type image" oci-image-tool validate --type image "$work/meta"; t_oit=$best
summary+=("meta: $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool (target >= 10x)")

current=docs
measure "oci-audit" "$audit" -q "$work/docs"; t_docs=$best
measure "oci-audit -j1" "$audit" -q -j1 "$work/docs"
documents=$("$audit" --format json "$work/docs" | awk -F': ' '/"documents"/{gsub(",","",$2); print $2; exit}')
summary+=("docs: $documents documents in ${t_docs} s = $(awk -v d="$documents" -v t="$t_docs" 'BEGIN{printf "%.0f", d/t}') documents/s (target >= 50000)")

for current in registry registry-large; do
  root=$work/$current
  config=$(gc_config "$root")
  measure "registry garbage-collect --dry-run" docker-registry garbage-collect --dry-run "$config"; t_gc=$best
  measure "oci-audit" "$audit" -q "$root"; t_audit=$best
  measure "oci-audit --no-verify" "$audit" -q --no-verify "$root"; t_nv=$best
  measure "ceiling: openssl dgst -sha256 | xargs -P$jobs" bash -c "ceiling $root"
  summary+=("$current: oci-audit $(ratio "$t_gc" "$t_audit")x faster than garbage-collect --dry-run (target > 1); --no-verify $(ratio "$t_gc" "$t_nv")x (target >= 10x)")
done

echo
printf '%s\n' "${summary[@]}"

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
#             parallel cat (the disk's sequential floor), the peers, and read-probe
#             (benches/read_probe.rs): every file the audit reads, opened and read by 32
#             blocking threads or through io_uring, paths given. The commands of
#             a store run in alternation, one round per run, and each row also gives the
#             disk's read requests in its best run (/proc/diskstats) and the time per
#             request.
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

build_release --example read-probe
probe=$PWD/target/release/examples/read-probe

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
[ -n "$cold" ] || printf '%-16s %-44s %10s %12s\n' store command time "peak RSS"

summary=()

# The disk a store is on, as /proc/diskstats names it (empty when it has no line there:
# tmpfs, overlay). A device-mapper name (/dev/mapper/vg-root) is resolved to its node
# (dm-0), which is how diskstats names it.
disk_of() { # PATH
  local dev
  dev=$(basename "$(readlink -f "$(df --output=source "$1" | tail -1)")")
  if awk -v d="$dev" '$3 == d { found = 1 } END { exit !found }' /proc/diskstats 2>/dev/null; then
    echo "$dev"
  fi
}
# Read requests the disk has completed (field 4 of /proc/diskstats), or nothing.
disk_reads() { # DISK
  [ -z "$1" ] || awk -v d="$1" '$3 == d { print $4 }' /proc/diskstats
}

# cold_rounds DISK ROW... — each ROW is "LABEL|COMMAND LINE". Runs every row once per
# round, $runs rounds, dropping the page cache before each run: the rows of a store
# alternate, so an hour's drift on a shared machine falls on all of them alike. Keeps each
# row's best time (with the disk's read requests in that run) and largest peak RSS, then
# prints the rows with time per read request. Sets cold_best, cold_rss and cold_reads,
# keyed "STORE|LABEL" (STORE is $current).
declare -A cold_best cold_rss cold_reads
per_read() { awk -v t="$1" -v r="$2" 'BEGIN{printf "%.1f", t * 1e6 / r}'; } # SECONDS READS -> us
cold_rounds() {
  local disk=$1; shift
  local row label cmd before after out t m
  for _ in $(seq "$runs"); do
    for row in "$@"; do
      label=$current\|${row%%|*}; cmd=${row#*|}
      sync; echo 3 > /proc/sys/vm/drop_caches
      before=$(disk_reads "$disk")
      /usr/bin/time -o "$work/time.out" -f '%e %M' bash -c "$cmd" >/dev/null 2>&1 || true
      after=$(disk_reads "$disk")
      out=$(tail -1 "$work/time.out"); t=${out% *}; m=${out#* }
      if [ -z "${cold_best[$label]:-}" ] || awk -v a="$t" -v b="${cold_best[$label]}" 'BEGIN{exit !(a<b)}'; then
        cold_best[$label]=$t
        cold_reads[$label]=$([ -n "$before" ] && echo $((after - before)) || echo "")
      fi
      [ "$m" -gt "${cold_rss[$label]:-0}" ] && cold_rss[$label]=$m
    done
  done
  for row in "$@"; do
    label=$current\|${row%%|*}
    local reads=${cold_reads[$label]} per=n/a
    [ -n "$reads" ] && [ "$reads" -gt 0 ] && per=$(per_read "${cold_best[$label]}" "$reads")
    printf '%-16s %-66s %8.2f s %8.1f MiB %10s %8s\n' "$current" "${label#*|} (cold)" "${cold_best[$label]}" \
      "$(awk -v k="${cold_rss[$label]}" 'BEGIN{print k/1024}')" "${reads:-n/a}" "$per"
  done
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
  printf '%-16s %-66s %10s %12s %10s %8s\n' store command time "peak RSS" reads "us/read"
  current=registry-100k
  root=$work/registry-100k
  config=$(gc_config "$root")
  disk=$(disk_of "$root")
  # What the audit reads, for the probe: every file (links, documents, layers), listed
  # before the rounds so that the probe times reading alone.
  find "$root" -type f > "$work/registry-100k.files"
  cold_rounds "$disk" \
    "find -type f|find $root -type f" \
    "64 finds in parallel (the floor)|find_floor $root" \
    "64 finds cat-ing their files (reads what the audit reads)|read_floor $root" \
    "read-probe: 32 threads read every file, paths given|$probe $work/registry-100k.files threads 32" \
    "read-probe: the same through io_uring, 32 in flight|$probe $work/registry-100k.files uring 32" \
    "registry garbage-collect --dry-run|docker-registry garbage-collect --dry-run $config" \
    "oci-audit|$audit -q $root" \
    "oci-audit --io-concurrency 8|$audit -q --io-concurrency 8 $root" \
    "oci-audit --io-concurrency 128|$audit -q --io-concurrency 128 $root" \
    "oci-audit --io-concurrency 1 (one read at a time)|$audit -q --io-concurrency 1 $root" \
    "oci-audit --io-concurrency $jobs (as before: one per core)|$audit -q --io-concurrency $jobs $root"
  t_find=${cold_best["$current|find -type f"]} t_floor=${cold_best["$current|64 finds in parallel (the floor)"]}
  t_read=${cold_best["$current|64 finds cat-ing their files (reads what the audit reads)"]}
  t_gc=${cold_best["$current|registry garbage-collect --dry-run"]} t_audit=${cold_best["$current|oci-audit"]}
  r_floor=${cold_reads["$current|64 finds in parallel (the floor)"]} r_audit=${cold_reads["$current|oci-audit"]}
  r_gc=${cold_reads["$current|registry garbage-collect --dry-run"]}
  t_probe=${cold_best["$current|read-probe: 32 threads read every file, paths given"]}
  t_uring=${cold_best["$current|read-probe: the same through io_uring, 32 in flight"]}
  summary+=("registry-100k cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the parallel-find floor (target <= 1.25) and $(ratio "$t_audit" "$t_read")x the floor that also reads every file, $(ratio "$t_gc" "$t_audit")x faster than garbage-collect --dry-run (target >= 2); find alone $(ratio "$t_find" "$t_floor")x the floor; peak RSS $((cold_rss["$current|oci-audit"] / 1024)) MiB")
  [ -n "$r_audit" ] && summary+=("registry-100k cold: read requests: oci-audit $(ratio "$r_audit" "$r_floor")x the floor's and $(ratio "$r_audit" "$r_gc")x garbage-collect's; time per request $(ratio "$(per_read "$t_audit" "$r_audit")" "$(per_read "$t_floor" "$r_floor")")x the floor's")
  summary+=("registry-100k cold: oci-audit at $(ratio "$t_audit" "$t_probe")x the time 32 threads take only to open and read the files it reads, paths given; io_uring takes $(ratio "$t_uring" "$t_probe")x those threads' time")
  current=meta
  disk=$(disk_of "$work/meta")
  cold_rounds "$disk" \
    "64 cats in parallel (the floor)|cat_floor $work/meta 64" \
    "oci-audit|$audit -q $work/meta" \
    "oci-image-tool validate --type image|oci-image-tool validate --type image $work/meta"
  t_floor=${cold_best["$current|64 cats in parallel (the floor)"]} t_audit=${cold_best["$current|oci-audit"]}
  t_oit=${cold_best["$current|oci-image-tool validate --type image"]}
  summary+=("meta cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the parallel-cat floor, $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool")
  current=large
  disk=$(disk_of "$work/large")
  cold_rounds "$disk" \
    "cat, $jobs in parallel (sequential floor)|cat_floor $work/large $jobs" \
    "openssl dgst -sha256, $jobs in parallel (reads and hashes)|ceiling $work/large" \
    "oci-audit|$audit -q $work/large" \
    "oci-image-tool validate --type image|oci-image-tool validate --type image $work/large"
  t_floor=${cold_best["$current|cat, $jobs in parallel (sequential floor)"]} t_audit=${cold_best["$current|oci-audit"]}
  t_ceiling=${cold_best["$current|openssl dgst -sha256, $jobs in parallel (reads and hashes)"]}
  t_oit=${cold_best["$current|oci-image-tool validate --type image"]}
  summary+=("large cold: oci-audit at $(ratio "$t_audit" "$t_floor")x the sequential floor (parallel cat) and $(ratio "$t_audit" "$t_ceiling")x openssl reading and hashing the same files, $(ratio "$t_oit" "$t_audit")x faster than oci-image-tool")
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

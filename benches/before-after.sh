#!/usr/bin/env bash
# benches/before-after.sh — a change against the commit before it, measured in one run: the
# warm stores of benches/e2e.sh (large, meta, docs, registry) and the 100,000-image
# Distribution root and tree of layouts of benches/memory.sh. The two binaries run in
# alternating rounds (before first, then after first, each row warmed by an untimed run),
# so drift on a shared machine and a cold cache fall on both alike; each row gives the best wall time, the CPU time of that run and the largest
# peak RSS, and the after/before ratio.
#
# Usage: benches/before-after.sh BEFORE_REV [WORKDIR]      (default WORKDIR /tmp/oci-audit-e2e)
#   RUNS=5           rounds (best of)
#   ROWS="a b"       only these stores (of those named below)
#   SIZES="100000"   image counts of the memory stores ("" for none)
#   REFERRERS=1      also those stores, and the 20,000-image layout, with a third of the
#                    images signed (cosign tags) and a third with an SBOM (a referrer in
#                    a fallback tag): the supply-chain view's cost (issue 31)
#   BEFORE_BIN=PATH  an oci-audit already built at BEFORE_REV (else built here, in a git
#                    worktree and a target directory of its own under WORKDIR)
#   AFTER_BIN=PATH   an oci-audit already built at the change (else built here from the
#                    work tree), with GEN_BIN=PATH its gen-store example
# Stores are made by gen-store once and reused (shared with e2e.sh and memory.sh layouts).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

before_rev=${1:?usage: benches/before-after.sh BEFORE_REV [WORKDIR]}
work=${2:-/tmp/oci-audit-e2e}
runs=${RUNS:-5}
sizes=${SIZES-100000}
if [ -n "${AFTER_BIN:-}" ]; then
  after=$AFTER_BIN
  gen=${GEN_BIN:?AFTER_BIN needs GEN_BIN, the gen-store example}
  mkdir -p "$work"
else
  build_release
  after=$audit
fi
before=${BEFORE_BIN:-}
if [ -z "$before" ]; then
  tree=$work/before-$before_rev
  [ -e "$tree" ] || git worktree add --detach "$tree" "$before_rev" >/dev/null
  cargo build --release --quiet --bin oci-audit --manifest-path "$tree/Cargo.toml" \
    --target-dir "$work/before-target"
  before=$work/before-target/release/oci-audit
fi

store large --kind layout --images 8 --layers 1 --layer-size $((256 << 20))
store meta --kind layout --images 20000 --layer-size 512
store docs --kind layouts --images 50000 --repositories 10 --layer-size 512
store registry --kind distribution --images 20000 --repositories 100 --layer-size 512
rows=(large meta docs registry)
for images in $sizes; do
  store "registry-$images" --kind distribution --images "$images" --layers 1 \
    --layer-size 64 --repositories $((images / 100))
  store "layouts-$images" --kind layouts --images "$images" --layers 1 \
    --layer-size 64 --repositories $((images / 100))
  rows+=("registry-$images" "layouts-$images")
  if [ -n "${REFERRERS:-}" ]; then
    store "signed-registry-$images" --kind distribution --images "$images" --layers 1 \
      --layer-size 64 --repositories $((images / 100)) --signed-every 3 --sbom-every 3
    rows+=("signed-registry-$images")
  fi
done
if [ -n "${REFERRERS:-}" ]; then
  store signed-meta --kind layout --images 20000 --layer-size 512 --signed-every 3 --sbom-every 3
  rows+=(signed-meta)
fi
if [ -n "${ROWS:-}" ]; then read -r -a rows <<< "$ROWS"; fi

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); warm cache, best of $runs," \
  "alternating rounds"
if [ -n "${AFTER_BIN:-}" ]; then
  echo "before: $before_rev; after: $AFTER_BIN"
else
  echo "before: $before_rev; after: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with uncommitted changes)')"
fi

# one BINARY STORE — one timed run; prints "wall cpu rss_kib".
one() {
  /usr/bin/time -o "$work/time.out" -f '%e %U %S %M' "$1" -q "$work/$2" >/dev/null 2>&1 || true
  awk '{ printf "%s %.2f %s\n", $1, $2 + $3, $4 }' "$work/time.out" | tail -1
}

declare -A best cpu rss
for row in "${rows[@]}"; do
  for side in before after; do
    one "${!side}" "$row" >/dev/null # warm-up
    best[$side,$row]=
    rss[$side,$row]=0
  done
done
for round in $(seq "$runs"); do
  # Each side goes first in every other round, after an untimed run that brings the
  # store into the cache: stores larger than the page cache together evict one another,
  # and the first run of a row would otherwise always be the cold one.
  sides="before after"
  [ $((round % 2)) -eq 0 ] && sides="after before"
  for row in "${rows[@]}"; do
    one "$after" "$row" >/dev/null
    for side in $sides; do
      read -r t c m < <(one "${!side}" "$row")
      if [ -z "${best[$side,$row]}" ] || awk -v a="$t" -v b="${best[$side,$row]}" 'BEGIN{exit !(a<b)}'; then
        best[$side,$row]=$t
        cpu[$side,$row]=$c
      fi
      [ "$m" -gt "${rss[$side,$row]}" ] && rss[$side,$row]=$m
    done
  done
done

printf '%-16s %-7s %9s %9s %12s   %s\n' store binary wall cpu "peak RSS" "after/before (wall, RSS)"
for row in "${rows[@]}"; do
  for side in before after; do
    mib=$(awk -v k="${rss[$side,$row]}" 'BEGIN{printf "%.1f", k/1024}')
    extra=
    if [ "$side" = after ]; then
      extra="$(ratio "${best[after,$row]}" "${best[before,$row]}"), $(ratio "${rss[after,$row]}" "${rss[before,$row]}")"
    fi
    printf '%-16s %-7s %8.2fs %8.2fs %8s MiB   %s\n' "$row" "$side" "${best[$side,$row]}" \
      "${cpu[$side,$row]}" "$mib" "$extra"
  done
done

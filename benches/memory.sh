#!/usr/bin/env bash
# Peak memory at registry scale (issue 15): oci-audit's peak RSS, text and JSON, on
# Distribution roots and trees of layouts of growing size, against the registry's own
# `garbage-collect --dry-run` on the same roots; the slope per image is the figure.
#
# Usage: benches/memory.sh [WORKDIR]      (default WORKDIR /tmp/oci-audit-memory)
#   SIZES="10000 100000"  image counts (one tag each, 100 images per repository)
#   KINDS="registry layouts"  which stores (a 200,000-image one is about 15 GB)
# Stores are made by gen-store and kept in WORKDIR for the next run; a 100,000-image
# root is about 1.1 million directories. Needs GNU time and Debian's docker-registry.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/oci-audit-memory}
sizes=${SIZES:-10000 100000}
kinds=" ${KINDS:-registry layouts} "
mkdir -p "$work"
cargo build --release --quiet --bin oci-audit --example gen-store
audit=$PWD/target/release/oci-audit
gen=$PWD/target/release/examples/gen-store
registry=$(command -v docker-registry || command -v registry || true)

# peak LABEL CMD... — one warm-up run, then peak RSS (KiB) and wall time of one run.
peak() {
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true
  /usr/bin/time -o "$work/time.out" -f '%M %e' "$@" >/dev/null 2>&1 || true
  read -r kib secs < <(tail -1 "$work/time.out")
  printf '%-14s %-36s %9.1f MiB %8.2f s %8d B/image\n' "$store" "$label" \
    "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "$secs" $((kib * 1024 / images))
}

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-14s %-36s %13s %10s %16s\n' store command "peak RSS" time "RSS per image"
# audit NAME KIND — makes $work/NAME-$images (gen-store --kind KIND) unless it exists, then
# measures oci-audit on it in text and JSON; leaves $store and $root set.
audit() {
  store=$1-$images
  root=$work/$store
  [ -e "$root" ] || "$gen" --out "$root" --kind "$2" --images "$images" --layers 1 \
    --layer-size 64 --repositories "$repositories" >/dev/null
  peak "oci-audit" "$audit" -q "$root"
  peak "oci-audit --format json" "$audit" -q --format json "$root"
}
for images in $sizes; do
  repositories=$((images / 100))
  if [[ $kinds == *" registry "* ]]; then
    audit registry distribution
    if [ -n "$registry" ]; then
      config=$work/gc-$store.yml
      printf 'version: 0.1\nlog: {level: error}\nstorage:\n  filesystem: {rootdirectory: %s}\n' \
        "$root" > "$config"
      peak "registry garbage-collect --dry-run" "$registry" garbage-collect --dry-run "$config"
    fi
  fi
  if [[ $kinds == *" layouts "* ]]; then
    audit layouts layouts
  fi
done

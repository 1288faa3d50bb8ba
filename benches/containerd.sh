#!/usr/bin/env bash
# benches/containerd.sh — a containerd content store of 200 images (issue 33): oci-audit's
# full verify against the hash ceiling (one core's SHA-NI rate over the same bytes, and two
# cores' worth), against what an operator does today (`ctr content ls` for the digests,
# then `sha256sum` of every blob), and the metadata pass alone (`--no-verify`).
#
# Usage: benches/containerd.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e)
#   --quick   20 images, one run each: a smoke test of the script, not figures.
# Env: RUNS (best of, default 5); IMAGES (default 200) and LAYER_SIZE (bytes, default
# 1 MiB) for a node-sized meta.db (IMAGES=5000 LAYER_SIZE=1024: thousands of records,
# little content). Warm cache: every command runs once before timing.
# The store: gen-store's layout of 200 images (3 layers of 1 MiB each, distinct), tarred
# and imported with `ctr images import --no-unpack --base-name docker.io/bench/img` into
# a containerd on a root of its own, which runs during the timing (its collector only on
# demand) and is stopped by its PID at the end.
# Needs: cargo, GNU time, containerd and ctr (installed from Debian when missing, as root),
# openssl.
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v containerd >/dev/null || missing+=(containerd)
command -v openssl >/dev/null || missing+=(openssl)
need_debian "${missing[@]}"
build_release

images=${IMAGES:-200}
[ -z "$quick" ] || images=20
layer_size=${LAYER_SIZE:-$((1 << 20))}
name=ctd-layout-$images-$layer_size
store "$name" --kind layout --images "$images" --layers 3 --layer-size "$layer_size"
layout=$work/$name
archive=$work/$name.tar
[ -e "$archive" ] || (cd "$layout" && tar -cf "$archive" oci-layout index.json blobs)

ctd=$work/containerd-$images-$layer_size
root=$ctd/root
sock=$ctd/containerd.sock
mkdir -p "$ctd"
cat > "$ctd/config.toml" <<TOML
version = 2
root = "$root"
state = "$ctd/state"
[grpc]
  address = "$sock"
[plugins."io.containerd.gc.v1.scheduler"]
  deletion_threshold = 0
  mutation_threshold = 1000000
  pause_threshold = 0.00001
  startup_delay = "1h"
TOML
containerd --config "$ctd/config.toml" > "$ctd/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
ctr() { command ctr -a "$sock" "$@"; }
if [ "$(ctr images ls -q | wc -l)" -lt "$images" ]; then
  ctr images import --no-unpack --base-name docker.io/bench/img "$archive" >/dev/null
fi
# The import leaves the archive's own index.json for the collector: collect it now.
ctr leases delete --sync "$(ctr leases create | awk '{print $NF}')" >/dev/null
blobs=$root/io.containerd.content.v1.content/blobs/sha256
# The root must audit clean, or the timing compares different work.
"$audit" -q --fail-on info "$root" >/dev/null

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "SHA-NI: $(grep -q sha_ni /proc/cpuinfo && echo yes || echo no)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); best of $runs, warm cache;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(containerd --version | awk '{print $1, $3}')"
echo "store: $(ctr images ls -q | wc -l) images, $(ls "$blobs" | wc -l) blobs, $(du -sh --apparent-size "$blobs" | cut -f1)"
printf '%-9s %-52s %10s %10s %12s\n' store command time CPU "peak RSS"
current=ctd-$images
timed "openssl dgst -sha256 of every blob (one core's rate)" bash -c "cd '$blobs' && openssl dgst -sha256 -- * >/dev/null"; t_ceiling=$best
timed "ctr content ls + sha256sum of every blob" bash -c "command ctr -a '$sock' content ls -q >/dev/null && cd '$blobs' && sha256sum -- * >/dev/null"; t_naive=$best
timed "oci-audit ROOT (full verify)" "$audit" -q "$root"; t_full=$best
timed "oci-audit --no-verify ROOT (metadata pass alone)" "$audit" -q --no-verify "$root"; t_meta=$best
timed "oci-audit --no-verify LAYOUT (the same, no meta.db)" "$audit" -q --no-verify "$layout"; t_layout=$best
echo "full verify: $(ratio "$t_naive" "$t_full")x faster than ctr content ls + sha256sum;" \
  "$(ratio "$t_full" "$t_ceiling") of one core's hash time (two cores: 0.5 is the ceiling);" \
  "the metadata pass is $(ratio "$t_meta" "$t_full") of the full verify," \
  "$(ratio "$t_meta" "$t_layout")x the layout's it was imported from"

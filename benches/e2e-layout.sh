#!/usr/bin/env bash
# End-to-end throughput of a full verify of an OCI layout of large blobs, against the
# practical ceiling (`openssl dgst -sha256` over the same files, `xargs -P $(nproc)`) and
# coreutils `sha256sum`, measured in one run so the ratios hold on a noisy machine.
#
# Usage: benches/e2e-layout.sh [STORE_DIR] [LAYERS] [MIB_PER_LAYER] [RUNS]
#   defaults: /tmp/oci-audit-e2e-layout 6 256 5
# The store is generated once, deterministically (AES-CTR keystream of a fixed key), and
# reused; it is never committed. Needs: cargo, openssl, python3, GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."

store=${1:-/tmp/oci-audit-e2e-layout}
layers=${2:-6}
mib=${3:-256}
runs=${4:-5}
jobs=$(nproc)

command -v /usr/bin/time >/dev/null || { echo "needs GNU time: apt-get install -y time" >&2; exit 2; }
cargo build --release --quiet
bin=$PWD/target/release/oci-audit

if [ ! -f "$store/index.json" ]; then
  echo "generating $layers x $mib MiB in $store" >&2
  mkdir -p "$store/blobs/sha256"
  layer_list=()
  for i in $(seq 1 "$layers"); do
    tmp="$store/blobs/tmp-$i"
    key=$(printf '%032x' "$i")
    head -c "$((mib * 1024 * 1024))" /dev/zero \
      | openssl enc -aes-128-ctr -K "$key" -iv 00000000000000000000000000000000 -nosalt >"$tmp"
    digest=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$store/blobs/sha256/$digest"
    layer_list+=("$digest")
  done
  python3 - "$store" "${layer_list[@]}" <<'PY'
import hashlib, json, os, sys
store, layers = sys.argv[1], sys.argv[2:]
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(os.path.join(store, "blobs/sha256", d), "wb").write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
size = lambda d: os.path.getsize(os.path.join(store, "blobs/sha256", d))
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + d for d in layers]}}).encode())
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + d, "size": size(d)} for d in layers]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "annotations": {"org.opencontainers.image.ref.name": "big"}, **manifest}]}, open(os.path.join(store, "index.json"), "w"))
open(os.path.join(store, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
PY
fi
cat "$store"/blobs/sha256/* >/dev/null  # warm the page cache

bytes=$(du -sb "$store/blobs" | cut -f1)
timing=$(mktemp)
trap 'rm -f "$timing"' EXIT
# best (minimum) wall time of $runs runs, and the peak RSS of that run
measure() {
  local best="" rss=""
  for _ in $(seq 1 "$runs"); do
    local t m
    /usr/bin/time -o "$timing" -f '%e %M' "$@" >/dev/null 2>&1 || true
    read -r t m <"$timing"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; rss=$m; fi
  done
  echo "$best $rss"
}

echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $jobs cores, $(openssl version)"
echo "store: $store, $layers blobs, $bytes bytes; best of $runs runs, warm cache"
printf '%-34s %8s %10s %10s %10s\n' command seconds GB/s "vs openssl" "RSS MiB"
ceiling=""
row() {
  local name=$1; shift
  read -r t m < <(measure "$@")
  [ -n "$ceiling" ] || ceiling=$t
  # --no-verify hashes no layers: its time is below the timer's 10 ms resolution.
  printf '%-34s %8.2f %10s %10s %10.1f\n' "$name" "$t" \
    "$(awk "BEGIN{if ($t > 0) printf \"%.2f\", $bytes/$t/1e9; else print \"-\"}")" \
    "$(awk "BEGIN{if ($t > 0) printf \"%.2f\", $ceiling/$t; else print \"-\"}")" "$(awk "BEGIN{print $m/1024}")"
}
row "openssl dgst -sha256 (xargs -P$jobs)" sh -c "ls $store/blobs/sha256/* | xargs -P $jobs -n 1 openssl dgst -sha256"
row "sha256sum (xargs -P$jobs)" sh -c "ls $store/blobs/sha256/* | xargs -P $jobs -n 1 sha256sum"
row "oci-audit" "$bin" -q "$store"
row "oci-audit --no-mmap" "$bin" -q --no-mmap "$store"
row "oci-audit --threads 1" "$bin" -q --threads 1 "$store"
row "oci-audit --no-verify" "$bin" -q --no-verify "$store"

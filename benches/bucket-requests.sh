#!/usr/bin/env bash
# benches/bucket-requests.sh — the requests a sharded audit of a bucket makes against an
# unsharded one, counted by the server: Azurite (the Azure Storage emulator, npm) logs
# every request it serves with --debug. A Distribution root is uploaded with rclone; then
# one unsharded run, N plan-less shards (each lists the bucket and reads every document),
# and a plan with N shards (the plan lists and reads once; each shard reads its blobs).
#
# Usage: benches/bucket-requests.sh [--quick] [WORKDIR]
# Env: SHARDS (default 4), AZURITE (azurite-blob; default: installed with npm into
#      WORKDIR/azurite once).
# Needs: cargo, rclone, npm (Debian's rclone, nodejs and npm are installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
shards=${SHARDS:-4}
missing=()
command -v rclone >/dev/null || missing+=(rclone)
command -v npm >/dev/null || missing+=(nodejs npm)
need_debian "${missing[@]}"
build_release

azurite=${AZURITE:-$work/azurite/node_modules/.bin/azurite-blob}
[ -x "$azurite" ] || npm install --silent --no-audit --no-fund --prefix "$work/azurite" azurite@3.35.0

if [ -n "$quick" ]; then
  current=registry-requests-quick
  store "$current" --kind distribution --images 100 --repositories 5 --layer-size 4096
else
  current=registry-requests
  store "$current" --kind distribution --images 2000 --repositories 20 --layers 2 --layer-size 65536
fi

tmp=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$azurite" --blobHost 127.0.0.1 --blobPort "$port" --location "$tmp/data" --silent \
  --skipApiVersionCheck --loose --debug "$tmp/requests.log" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$tmp"' EXIT
until (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; do sleep 0.2; done

export RCLONE_CONFIG=/dev/null RCLONE_CONFIG_AZ_TYPE=azureblob RCLONE_CONFIG_AZ_USE_EMULATOR=true \
  RCLONE_CONFIG_AZ_ENDPOINT=http://127.0.0.1:$port/devstoreaccount1
rclone mkdir az:bench
rclone copy --transfers 16 "$work/$current" az:bench/root
export AZURE_STORAGE_ACCOUNT_NAME=devstoreaccount1 AZURE_STORAGE_USE_EMULATOR=true \
  AZURITE_BLOB_STORAGE_URL=http://127.0.0.1:$port \
  AZURE_STORAGE_ACCOUNT_KEY='Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
url=az://bench/root
objects=$(rclone lsf -R --files-only az:bench/root | wc -l)

# requests_so_far — how many requests the log holds; waits until it stops growing, since
# Azurite writes it behind the answers.
requests_so_far() {
  local before=-1 now
  now=$(grep -c 'RequestMethod=' "$tmp/requests.log" || true)
  while [ "$now" != "$before" ]; do
    sleep 1
    before=$now
    now=$(grep -c 'RequestMethod=' "$tmp/requests.log" || true)
  done
  echo "$now"
}

# counted LABEL CMD... — runs CMD; prints the requests the server logged meanwhile.
counted() {
  local label=$1; shift
  local start lists others
  requests_so_far >/dev/null
  start=$(wc -l < "$tmp/requests.log")
  "$@" >/dev/null
  requests_so_far >/dev/null
  tail -n +$((start + 1)) "$tmp/requests.log" | grep 'RequestMethod=' > "$tmp/run.log" || true
  lists=$(grep -c 'comp=list' "$tmp/run.log" || true)
  others=$(grep -vc 'comp=list' "$tmp/run.log" || true)
  printf '%-58s %8d %8d %8d\n' "$label" $((lists + others)) "$lists" "$others"
}
unsharded() { "$audit" -q --settle 0s "$url" || [ $? -eq 1 ]; }
plan_less() {
  for i in $(seq 0 $((shards - 1))); do
    "$audit" -q --settle 0s --shard "$i/$shards" --partial "$tmp/part-$i.json" "$url"
  done
}
planned() {
  "$audit" plan -q --settle 0s --plan "$tmp/plan" "$url"
  for i in $(seq 0 $((shards - 1))); do
    "$audit" -q --settle 0s --plan "$tmp/plan" --shard "$i/$shards" --partial "$tmp/planned-$i.json" "$url"
  done
}
plan_only() { "$audit" plan -q --settle 0s --plan "$tmp/plan" "$url"; }

echo "store: $current ($objects objects), Azurite 3.35 (npm), oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
printf '%-58s %8s %8s %8s\n' run requests LIST "GET/HEAD"
counted "oci-audit (unsharded)" unsharded
counted "$shards x --shard I/$shards (no plan)" plan_less
counted "plan, then $shards x --plan --shard I/$shards" planned
counted "  of which the plan" plan_only

#!/usr/bin/env bash
# benches/registry_api.sh — a registry audited over its HTTP API (issue 30), on loopback,
# against what users do today and against the floor, every figure from the same run.
#
# Usage: benches/registry_api.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e)
#
# Stores (gen-store, deterministic, reused), each served read-only by Debian's
# docker-registry on 127.0.0.1 with its access log on (what was asked, and how many bytes
# each answer carried):
#   registry-http        Distribution root, 10,000 images (tags) in 100 repositories, one
#                        4 KiB layer each (--quick: 200 in 10)
#   registry-http-large  16 images x one 64 MiB layer (1 GiB; --quick: 4 x 4 MiB)
# Rows:
#   oci-audit --no-verify   every tag resolved, every manifest and config fetched and
#                           checked, every layer asked with HEAD: manifests per second
#   oci-audit               the same, and every blob streamed and hashed once
#   oci-audit -c 64         64 requests in flight: peak memory
#   curl, 16 in parallel    every blob and manifest fetched once, to /dev/null, 16 curls
#                           of 50 URLs each on kept-alive connections: the floor
#   skopeo copy --all       of every tag of two repositories into a directory (what users
#                           do today to check a registry), against oci-audit of the same
#                           two repositories: requests and bytes from the access log
# Needs: cargo, docker-registry, skopeo, curl, GNU time (installed from Debian if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"
runs=${RUNS:-3}
[ -z "$quick" ] || runs=1

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v docker-registry >/dev/null || missing+=(docker-registry)
command -v skopeo >/dev/null || missing+=(skopeo)
command -v curl >/dev/null || missing+=(curl)
need_debian "${missing[@]}"
build_release

if [ -n "$quick" ]; then
  store registry-http --kind distribution --images 200 --repositories 10 --layer-size 4096
  store registry-http-large --kind distribution --images 4 --layer-size $((4 << 20))
else
  store registry-http --kind distribution --images 10000 --repositories 100 --layer-size 4096
  store registry-http-large --kind distribution --images 16 --layer-size $((64 << 20))
fi

pid=
stop() { [ -z "$pid" ] || { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=; }; }
trap stop EXIT

# serve ROOT — docker-registry on a free port of 127.0.0.1, read-only, its access log
# appended to $log; sets url.
serve() {
  stop
  local root=$1 port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  log=$work/access.log
  : > "$log"
  cat > "$work/registry.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: false}}
storage:
  filesystem: {rootdirectory: $root}
  redirect: {disable: true}
  maintenance: {uploadpurging: {enabled: false}, readonly: {enabled: true}}
http: {addr: 127.0.0.1:$port}
EOF
  env -u AWS_CA_BUNDLE docker-registry serve "$work/registry.yml" >> "$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null && break; sleep 0.1; done
  url=http://127.0.0.1:$port
}

# requests FROM — requests in the access log after line FROM, and the bytes their answers
# carried: "N requests (G GET, H HEAD), B bytes".
requests() {
  tail -n +"$(( $1 + 1 ))" "$log" | awk '
    / "(GET|HEAD) \/v2\// { n++; if ($6 == "\"GET") { g++; b += $10 } else h++ }
    END { printf "%d requests (%d GET, %d HEAD), %d bytes", n, g, h, b }'
}
lines() { wc -l < "$log"; }

# The blobs and manifests of ROOT as URLs, one each (a blob from a repository that links
# it), for the floor.
urls() {
  local v2=$1/docker/registry/v2
  ( cd "$v2/repositories" && for link in */_layers/sha256/*/link */_manifests/revisions/sha256/*/link; do
      repo=${link%%/_*}; digest=$(cat "$link")
      case $link in */_layers/*) kind=blobs ;; *) kind=manifests ;; esac
      echo "$digest $url/v2/$repo/$kind/$digest"
    done ) | sort -u -k1,1 | cut -d' ' -f2
}
floor() { xargs -P 16 -n 50 curl -s -o /dev/null -H 'Accept: application/vnd.oci.image.manifest.v1+json' < "$work/urls"; }
export -f floor
distinct_bytes() { find "$1/docker/registry/v2/blobs" -name data -type f -printf '%s\n' | awk '{s+=$1} END {print s}'; }

echo "# registry over HTTP, $(date -u +%F), $(nproc) cores; $(docker-registry --version 2>&1 | awk '{print $3}'), $(skopeo --version), $(curl --version | head -1 | cut -d' ' -f1-2)"
printf '%-9s %-52s %10s %10s %12s\n' store command wall cpu "peak RSS"

for current in registry-http registry-http-large; do
  root=$work/$current
  serve "$root"
  tags=$(find "$root/docker/registry/v2/repositories" -path '*/_manifests/tags/*/current/link' | wc -l)
  urls "$root" > "$work/urls"
  export work
  timed "curl, 16 in parallel (every blob and manifest once)" bash -c floor
  t_floor=$best
  timed "oci-audit --no-verify" "$audit" -q --no-verify "$url/"
  t_quick=$best
  timed "oci-audit (every blob hashed)" "$audit" -q "$url/"
  t_full=$best
  timed "oci-audit --io-concurrency 64" "$audit" -q --io-concurrency 64 "$url/"
  echo "  $tags tags: --no-verify $(awk -v t="$tags" -v s="$t_quick" 'BEGIN{printf "%.0f", t/s}') manifests/s; full verify $(ratio "$t_full" "$t_floor") x the curl floor"
  from=$(lines)
  "$audit" -q "$url/" >/dev/null || true
  echo "  one audit: $(requests "$from"); distinct blobs hold $(distinct_bytes "$root") bytes"
  from=$(lines)
  "$audit" -q --no-verify "$url/" >/dev/null || true
  echo "  one --no-verify audit: $(requests "$from")"
done

# What users do today: skopeo copy --all of every tag, into a directory, against oci-audit
# of the same repositories.
current=registry-http
root=$work/$current
serve "$root"
two=$(ls "$root/docker/registry/v2/repositories" | head -2)
printf '%s\n' $two > "$work/two.txt"
copy_all() {
  local out=$work/skopeo-copy
  for repo in $two; do
    for tag in $(ls "$root/docker/registry/v2/repositories/$repo/_manifests/tags"); do
      rm -rf "$out"
      skopeo copy --all --quiet --src-tls-verify=false "docker://${url#http://}/$repo:$tag" "dir:$out"
    done
  done
}
export -f copy_all
export work url two root
n=$(for repo in $two; do ls "$root/docker/registry/v2/repositories/$repo/_manifests/tags"; done | wc -l)
from=$(lines)
timed "skopeo copy --all, $n tags one by one" bash -c copy_all
echo "  skopeo ($runs+1 runs): $(requests "$from")"
from=$(lines)
timed "oci-audit --repositories (the same $n tags)" "$audit" -q --repositories "$work/two.txt" "$url/"
echo "  oci-audit ($runs+1 runs): $(requests "$from")"

#!/usr/bin/env bash
# make-registry-store.sh — a small Docker Distribution root written by a REAL registry:
# Debian's docker-registry (distribution 2.8) on 127.0.0.1, fed by skopeo pushes of the
# committed real-tool layouts in corpus/clean, plus one image umoci builds here.
#
# Usage:
#   corpus/tools/make-registry-store.sh OUTDIR      (e.g. corpus/distribution/registry-2.8)
#
# Writes OUTDIR/store (the registry's rootdirectory: store/docker/registry/v2/...) and
# OUTDIR/case.toml. Requires docker-registry, skopeo, umoci, curl, jq (Debian packages
# docker-registry skopeo umoci curl jq). Offline: nothing is pulled from the network.
#
# What the store holds, and why (each is a situation operators meet):
#   library/multi:latest      an OCI image index (linux/amd64, arm64/v8, arm/v7), copy --all
#   library/app:v1            a 3-layer OCI image ...
#   team/web/app:v1           ... the same image in a second, nested repository
#   library/app:v0            re-tagged: first a 2-layer image, then the 3-layer one, so the
#                             first manifest is an untagged revision (kept by GC's default
#                             mode, removed by --delete-untagged)
#   library/docker:v2s2       the 2-layer image converted to Docker schema 2 by skopeo
#   library/gone              an image pushed then deleted by digest (skopeo delete): its
#                             blobs are what garbage collection reclaims
#   library/app/_uploads/<id> an upload started and left unfinished (curl POST + PATCH).
#                             Its startedat is pinned to SOURCE_DATE_EPOCH so that the
#                             committed store reads the same next year: a stale upload.
# The registry is started on 127.0.0.1 only and stopped by its PID.
set -euo pipefail

OUT=${1:?usage: make-registry-store.sh OUTDIR}
HERE=$(cd "$(dirname "$0")" && pwd)
CLEAN="$HERE/../clean"
export SOURCE_DATE_EPOCH=1700000000
CREATED=2023-11-14T22:13:20Z
umask 022
export TZ=UTC LC_ALL=C

REGISTRY=$(command -v docker-registry || command -v registry || true)
[ -n "$REGISTRY" ] || { echo "missing tool: docker-registry" >&2; exit 1; }
for t in skopeo umoci curl jq; do
	command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
PID=
cleanup() {
	if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT
ROOT="$WORK/root"
mkdir -p "$ROOT"

# A free port on loopback.
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$WORK/config.yml" <<EOF
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $ROOT
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$PORT
EOF
"$REGISTRY" serve "$WORK/config.yml" >"$WORK/registry.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null && break
	sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/v2/" >/dev/null || { cat "$WORK/registry.log" >&2; exit 1; }

REG="127.0.0.1:$PORT"
PUSH=(skopeo --insecure-policy copy --quiet --preserve-digests --dest-tls-verify=false)

"${PUSH[@]}" --all "oci:$CLEAN/skopeo-multiplatform/store:multi" "docker://$REG/library/multi:latest"
"${PUSH[@]}" "oci:$CLEAN/skopeo-copy/store:v1" "docker://$REG/library/app:v1"
"${PUSH[@]}" "oci:$CLEAN/skopeo-copy/store:v1" "docker://$REG/team/web/app:v1"
"${PUSH[@]}" "oci:$CLEAN/skopeo-copy/store:v0" "docker://$REG/library/app:v0"
"${PUSH[@]}" "oci:$CLEAN/skopeo-copy/store:v1" "docker://$REG/library/app:v0"
skopeo --insecure-policy copy --quiet --dest-tls-verify=false --format v2s2 \
	"oci:$CLEAN/skopeo-copy/store:v0" "docker://$REG/library/docker:v2s2"

# An image of its own, so that deleting it leaves blobs nothing else uses.
umoci init --layout "$WORK/gone"
umoci new --image "$WORK/gone:v1"
umoci config --image "$WORK/gone:v1" --no-history --created "$CREATED" --os linux --architecture amd64
mkdir -p "$WORK/bundle"
umoci unpack --image "$WORK/gone:v1" "$WORK/bundle" >/dev/null
printf 'deleted by digest\n' > "$WORK/bundle/rootfs/gone.txt"
find "$WORK/bundle/rootfs" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
umoci repack --image "$WORK/gone:v1" --history.created "$CREATED" --history.created_by "gone" "$WORK/bundle" >/dev/null
"${PUSH[@]}" "oci:$WORK/gone:v1" "docker://$REG/library/gone:v1"
skopeo --insecure-policy delete --tls-verify=false "docker://$REG/library/gone:v1"

# An unfinished upload: POST opens it, PATCH writes some bytes, nothing completes it.
location=$(curl -fsS -X POST -D - -o /dev/null "http://$REG/v2/library/app/blobs/uploads/" |
	tr -d '\r' | sed -n 's/^[Ll]ocation: //p')
case $location in http*) ;; *) location="http://$REG$location" ;; esac
printf 'half of a layer' | curl -fsS -X PATCH -H 'Content-Type: application/octet-stream' \
	--data-binary @- -o /dev/null "$location"

kill "$PID"
wait "$PID" 2>/dev/null || true
PID=

for started in "$ROOT"/docker/registry/v2/repositories/library/app/_uploads/*/startedat; do
	printf '%s' "$CREATED" > "$started"
done

rm -rf "$OUT/store"
cp -a "$ROOT" "$OUT/store"
echo "wrote: $OUT/store (registry: $("$REGISTRY" --version 2>&1 | head -1))"

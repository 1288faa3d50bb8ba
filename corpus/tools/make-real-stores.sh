#!/usr/bin/env bash
# make-real-stores.sh — build small, clean OCI image layouts with REAL tools
# (umoci + skopeo), for the oci-audit corpus.
#
# Usage:
#   corpus/tools/make-real-stores.sh [OUTDIR]      (default OUTDIR: corpus/clean)
#
# Requires: umoci, skopeo, jq, sha256sum (Debian: apt-get install umoci skopeo jq).
# Must run as root (umoci unpack/repack without --rootless). Works fully offline:
# images are built from scratch, nothing is pulled from a registry.
#
# Creates, under OUTDIR (each case dir is replaced if it already exists):
#   umoci-multilayer/      store/ = umoci layout, one tag (v1), 3 gzip layers
#                          (layer 3 contains a whiteout), `umoci gc`-ed.
#   skopeo-copy/           store/ = skopeo-written layout, tags v1 (3 layers)
#                          and v0 (2 layers, shares blobs with v1).
#   skopeo-multiplatform/  store/ = skopeo `copy --all` of an OCI image index
#                          (linux/amd64, linux/arm64/v8, linux/arm/v7), tag multi.
#   many-layouts/          store/library/alpine/ and store/team/app/web/ — one
#                          layout per repository, as zot keeps them.
#   each with case.toml (description, kind, expect).
#
# Determinism: file contents, mtimes (SOURCE_DATE_EPOCH), config "created",
# history "created" are fixed; re-running gives identical digests with the
# tool versions it was written against (umoci 0.4.7, skopeo 1.9.3).
set -euo pipefail

OUT=${1:-corpus/clean}
export SOURCE_DATE_EPOCH=1700000000
CREATED=2023-11-14T22:13:20Z
umask 022
export TZ=UTC LC_ALL=C

for t in umoci skopeo jq sha256sum; do
	command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

SKOPEO=(skopeo --insecure-policy copy --quiet --preserve-digests)

# add_layer LAYOUT TAG CREATED_BY CMD...  — unpack, run CMD inside rootfs, repack.
add_layer() {
	local layout=$1 tag=$2 by=$3
	shift 3
	rm -rf bundle
	umoci unpack --image "$layout:$tag" bundle >/dev/null
	(cd bundle/rootfs && "$@")
	find bundle/rootfs -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
	umoci repack --image "$layout:$tag" \
		--history.created "$CREATED" --history.created_by "$by" bundle
	rm -rf bundle
}

# blob_put LAYOUT FILE — store FILE as a blob, print "sha256:<hex> <size>".
blob_put() {
	local layout=$1 f=$2 h s
	h=$(sha256sum "$f" | cut -d' ' -f1)
	s=$(stat -c %s "$f")
	cp "$f" "$layout/blobs/sha256/$h"
	echo "sha256:$h $s"
}

blob() { echo "$1/blobs/sha256/${2#sha256:}"; }

# manifest_of LAYOUT TAG — print the manifest digest for TAG.
manifest_of() {
	jq -r --arg t "$2" '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t) | .digest' "$1/index.json"
}

# set_variant LAYOUT TAG VARIANT — umoci 0.4.7 has no --variant, so add it to the
# config blob by hand and re-hash config -> manifest -> index.json entry.
set_variant() {
	local layout=$1 tag=$2 variant=$3 m c cd cs md ms
	m=$(manifest_of "$layout" "$tag")
	c=$(jq -r .config.digest "$(blob "$layout" "$m")")
	jq -cj --arg v "$variant" '.variant = $v' "$(blob "$layout" "$c")" > cfg.json
	read -r cd cs < <(blob_put "$layout" cfg.json)
	jq -cj --arg d "$cd" --argjson s "$cs" '.config.digest = $d | .config.size = $s' \
		"$(blob "$layout" "$m")" > man.json
	read -r md ms < <(blob_put "$layout" man.json)
	jq -cj --arg t "$tag" --arg d "$md" --argjson s "$ms" \
		'(.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $t)) |= (.digest = $d | .size = $s)' \
		"$layout/index.json" > idx.json
	mv idx.json "$layout/index.json"
	rm -f cfg.json man.json
}

write_case() { # DIR KIND DESCRIPTION
	cat > "$1/case.toml" <<EOF
description = "$3"
kind = "$2"
expect = []
EOF
}

fresh_case() { rm -rf "${OUT:?}/$1"; mkdir -p "$OUT/$1"; }

# ---------------------------------------------------------------- build (umoci)
umoci init --layout build
umoci new --image build:v1
umoci config --image build:v1 --no-history --created "$CREATED" \
	--author "oci-audit corpus" --os linux --architecture amd64
umoci config --image build:v1 --config.env PATH=/usr/bin:/bin \
	--config.cmd /app/run.sh --config.workingdir /app \
	--history.created "$CREATED" --history.created_by "umoci config (cmd, env, workdir)" \
	--history.comment "empty layer"

add_layer build v1 "layer 1: /etc" sh -c '
	mkdir -p etc
	printf "Welcome to the oci-audit corpus.\n" > etc/motd
	printf "ID=corpus\nVERSION_ID=1\n" > etc/os-release
	chmod 0644 etc/motd etc/os-release'
add_layer build v1 "layer 2: /app" sh -c '
	mkdir -p app
	printf "#!/bin/sh\ncat /app/hello.txt\n" > app/run.sh
	printf "hello from layer 2\n" > app/hello.txt
	chmod 0755 app/run.sh; chmod 0644 app/hello.txt'
umoci tag --image build:v1 v0
add_layer build v1 "layer 3: rm /etc/motd, add /app/VERSION" sh -c '
	rm etc/motd
	printf "1.0.0\n" > app/VERSION
	chmod 0644 app/VERSION'
umoci gc --layout build

# ------------------------------------------------------- case: umoci-multilayer
fresh_case umoci-multilayer
cp -a build "$OUT/umoci-multilayer/store"
umoci rm --image "$OUT/umoci-multilayer/store:v0"
umoci gc --layout "$OUT/umoci-multilayer/store"
write_case "$OUT/umoci-multilayer" oci-layout \
	"umoci 0.4.7 layout: one tag (v1), 3 gzip layers built by unpack/repack (layer 3 has a whiteout), config history incl. empty_layer, umoci gc'd"

# ------------------------------------------------------------ case: skopeo-copy
fresh_case skopeo-copy
"${SKOPEO[@]}" oci:build:v1 "oci:$OUT/skopeo-copy/store:v1"
"${SKOPEO[@]}" oci:build:v0 "oci:$OUT/skopeo-copy/store:v0"
write_case "$OUT/skopeo-copy" oci-layout \
	"skopeo 1.9.3 copy of umoci images into a fresh layout: tags v1 (3 layers) and v0 (2 layers) sharing blobs"

# ---------------------------------------------------- build multi-platform index
umoci init --layout mp
plat_image() { # TAG ARCH LABEL
	umoci new --image "mp:$1"
	umoci config --image "mp:$1" --no-history --created "$CREATED" \
		--os linux --architecture "$2" --config.cmd /bin/cat --config.cmd /etc/platform
	add_layer mp "$1" "platform file" sh -c "mkdir -p etc; printf '%s\n' '$3' > etc/platform; chmod 0644 etc/platform"
}
plat_image amd64 amd64 linux/amd64
plat_image arm64 arm64 linux/arm64/v8
plat_image armv7 arm linux/arm/v7
set_variant mp arm64 v8
set_variant mp armv7 v7

desc() { # TAG -> descriptor JSON (digest, size) of its manifest
	local d; d=$(manifest_of mp "$1")
	jq -c --arg d "$d" '.manifests[] | select(.digest == $d) | {mediaType, digest, size}' mp/index.json
}
jq -cjn \
	--argjson a "$(desc amd64)" --argjson b "$(desc arm64)" --argjson c "$(desc armv7)" \
	'{schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [
		($a + {platform: {architecture: "amd64", os: "linux"}}),
		($b + {platform: {architecture: "arm64", os: "linux", variant: "v8"}}),
		($c + {platform: {architecture: "arm", os: "linux", variant: "v7"}})]}' > index-blob.json
read -r IDX_D IDX_S < <(blob_put mp index-blob.json)
jq -cjn --arg d "$IDX_D" --argjson s "$IDX_S" \
	'{schemaVersion: 2, manifests: [{mediaType: "application/vnd.oci.image.index.v1+json",
		digest: $d, size: $s, annotations: {"org.opencontainers.image.ref.name": "multi"}}]}' > mp/index.json
umoci gc --layout mp

# -------------------------------------------------- case: skopeo-multiplatform
fresh_case skopeo-multiplatform
"${SKOPEO[@]}" --all oci:mp:multi "oci:$OUT/skopeo-multiplatform/store:multi"
got=$(jq -r '.manifests[0].digest' "$OUT/skopeo-multiplatform/store/index.json")
[ "$got" = "$IDX_D" ] || { echo "skopeo changed the index digest: $got != $IDX_D" >&2; exit 1; }
write_case "$OUT/skopeo-multiplatform" oci-layout \
	"skopeo 1.9.3 copy --all of an OCI image index (linux/amd64, linux/arm64/v8, linux/arm/v7) whose images umoci built"

# ---------------------------------------------------------- case: many-layouts
fresh_case many-layouts
mkdir -p "$OUT/many-layouts/store/library" "$OUT/many-layouts/store/team/app"
"${SKOPEO[@]}" oci:build:v1 "oci:$OUT/many-layouts/store/library/alpine:latest"
"${SKOPEO[@]}" oci:build:v0 "oci:$OUT/many-layouts/store/library/alpine:v0"
"${SKOPEO[@]}" --all oci:mp:multi "oci:$OUT/many-layouts/store/team/app/web:v1"
write_case "$OUT/many-layouts" oci-layouts \
	"zot-style tree of skopeo 1.9.3 layouts, one per nested repository: library/alpine (2 tags), team/app/web (multi-platform index)"

echo "wrote: $OUT/{umoci-multilayer,skopeo-copy,skopeo-multiplatform,many-layouts}"

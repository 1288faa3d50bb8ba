#!/usr/bin/env bash
# make-archives.sh — write small image ARCHIVES (oci-archive and docker-archive tars,
# plus gzip/zstd-compressed copies) with the REAL skopeo, for the oci-audit corpus.
#
# Usage:
#   corpus/tools/make-archives.sh [OUTDIR]         (default OUTDIR: corpus/archive)
#
# Written against:  skopeo version 1.9.3   (Debian skopeo 1.9.3+ds1-1+b10,
#                   containers/image 5.23.1), gzip 1.12, zstd v1.5.4.
# Requires: skopeo, gzip, zstd, sha256sum. Works offline; needs no root.
#
# Inputs (read only; copied to a temp dir first so nothing is written under corpus/clean):
#   corpus/clean/umoci-multilayer/store      one manifest, ref "v1": 3 gzip layers
#                                            (layer 3 has a whiteout), config 28f0f4cf…
#   corpus/clean/skopeo-multiplatform/store  one OCI image index, ref "multi":
#                                            linux/amd64, linux/arm64/v8, linux/arm/v7
#
# Outputs, under OUTDIR (each is deleted and rewritten on every run):
#   oci-multiplatform.tar           skopeo copy --all oci:<multiplatform>:multi oci-archive:…
#                                   (index.json -> the image index; no ref.name annotation)
#   oci-single.tar                  skopeo copy oci:<umoci-multilayer>:v1 oci-archive:…
#                                   (layers stay gzip blobs; no ref.name annotation)
#   docker-single.tar               skopeo copy oci:<umoci-multilayer>:v1
#                                   docker-archive:…:example.com/audit/single:1.0
#   docker-multiplatform-amd64.tar  skopeo --override-arch amd64 --override-os linux copy
#                                   oci:<multiplatform>:multi docker-archive:…:example.com/audit/multi:latest
#   oci-single.tar.gz, docker-single.tar.gz    gzip -n -9
#   oci-single.tar.zst, docker-single.tar.zst  zstd -19 -q
#   oci-single-gzip.tar             the same bytes as oci-single.tar.gz under a misleading
#                                   .tar name (format must be detected from content)
#
# Reproducibility (checked by running twice and comparing sha256sum):
#   - docker-archive outputs (and their .gz/.zst) ARE byte-identical across runs: skopeo
#     writes every member with mtime 0 (1970-01-01), uid/gid 0, no user names.
#   - oci-archive outputs (and oci-single.tar.gz/.zst/oci-single-gzip.tar) are NOT: skopeo
#     1.9.3 lays the image out in a temp dir and tars that dir as it is on disk, so
#     member mtimes are the wall-clock time of the run and uid/gid/uname/gname are those
#     of the user running the script (root/root here). Member names, order, modes, sizes
#     and blob contents are identical across runs; only tar headers differ. skopeo has no
#     option (and ignores SOURCE_DATE_EPOCH) to fix this, and the tars are kept exactly as
#     skopeo wrote them rather than being normalised afterwards.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$here/../.." && pwd)
OUT=${1:-$ROOT/corpus/archive}
CLEAN=$ROOT/corpus/clean
umask 022
export TZ=UTC LC_ALL=C

for t in skopeo gzip zstd sha256sum; do
	command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

ver=$(skopeo --version)
echo "$ver"
case $ver in
*" 1.9.3"*) ;;
*) echo "warning: written against skopeo 1.9.3; member layout and legacy ids may differ" >&2 ;;
esac

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK # skopeo's oci-archive staging dir goes here

cp -a "$CLEAN/umoci-multilayer/store" "$WORK/single"
cp -a "$CLEAN/skopeo-multiplatform/store" "$WORK/multi"
SINGLE=oci:$WORK/single:v1
MULTI=oci:$WORK/multi:multi

OUTPUTS=(
	oci-multiplatform.tar oci-single.tar docker-single.tar docker-multiplatform-amd64.tar
	oci-single.tar.gz oci-single.tar.zst docker-single.tar.gz docker-single.tar.zst
	oci-single-gzip.tar
)
for f in "${OUTPUTS[@]}"; do rm -f "${OUT:?}/$f"; done

SKOPEO=(skopeo --insecure-policy)
COPY=(copy --quiet --preserve-digests)

"${SKOPEO[@]}" "${COPY[@]}" --all "$MULTI" "oci-archive:$OUT/oci-multiplatform.tar"
"${SKOPEO[@]}" "${COPY[@]}" "$SINGLE" "oci-archive:$OUT/oci-single.tar"
# docker-archive stores layers uncompressed, so --preserve-digests cannot be used here.
"${SKOPEO[@]}" copy --quiet "$SINGLE" \
	"docker-archive:$OUT/docker-single.tar:example.com/audit/single:1.0"
"${SKOPEO[@]}" --override-arch amd64 --override-os linux copy --quiet "$MULTI" \
	"docker-archive:$OUT/docker-multiplatform-amd64.tar:example.com/audit/multi:latest"

for f in oci-single docker-single; do
	gzip -n -9 -c "$OUT/$f.tar" > "$OUT/$f.tar.gz"
	zstd -19 -q -c "$OUT/$f.tar" > "$OUT/$f.tar.zst"
done
cp "$OUT/oci-single.tar.gz" "$OUT/oci-single-gzip.tar"

chmod 0644 "${OUTPUTS[@]/#/$OUT/}"
cd "$OUT"
ls -l "${OUTPUTS[@]}"
sha256sum "${OUTPUTS[@]}"

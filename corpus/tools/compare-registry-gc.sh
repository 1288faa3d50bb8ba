#!/usr/bin/env bash
# compare-registry-gc.sh — the blobs oci-audit reports as reclaimable on a Distribution
# root must be exactly those `registry garbage-collect --dry-run` lists (Debian's
# docker-registry, distribution 2.8). With --delete-untagged, ours must be a subset of
# theirs: distribution 2.8 also deletes the configs and layers of a tagged index's
# children (distribution#3178), which we keep; the difference is printed.
#
# Usage: corpus/tools/compare-registry-gc.sh ROOT [OCI_AUDIT]
# ROOT is the registry's rootdirectory. The garbage collector runs on a copy, in dry-run
# mode, so ROOT is never touched.
set -euo pipefail
ROOT=$1
AUDIT=${2:-target/release/oci-audit}
REGISTRY=$(command -v docker-registry || command -v registry)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -a "$ROOT" "$WORK/root"
cat > "$WORK/config.yml" <<EOC
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $WORK/root}
EOC

theirs() { # [--delete-untagged]
	"$REGISTRY" garbage-collect --dry-run "$@" "$WORK/config.yml" 2>&1 |
		sed -n 's/^blob eligible for deletion: //p' | sort
}
ours() { # [--untagged]
	"$AUDIT" --format json "$@" "$ROOT" |
		jq -r '.findings[] | select(.rule == "blob-unreferenced") | .location.digest' | sort
}

theirs > "$WORK/theirs"
ours > "$WORK/ours"
if ! diff -u "$WORK/theirs" "$WORK/ours"; then
	echo "FAIL: oci-audit's reclaimable blobs differ from garbage-collect --dry-run" >&2
	exit 1
fi
echo "garbage-collect --dry-run: $(wc -l < "$WORK/theirs") blobs, identical to oci-audit's"

theirs --delete-untagged > "$WORK/theirs-untagged"
ours --untagged > "$WORK/ours-untagged"
extra=$(comm -13 "$WORK/theirs-untagged" "$WORK/ours-untagged")
if [ -n "$extra" ]; then
	echo "FAIL: oci-audit --untagged would reclaim blobs --delete-untagged keeps:" >&2
	echo "$extra" >&2
	exit 1
fi
echo "garbage-collect --dry-run --delete-untagged: $(wc -l < "$WORK/theirs-untagged") blobs;" \
	"oci-audit --untagged: $(wc -l < "$WORK/ours-untagged"), a subset. Kept on purpose (children of tagged indexes):"
comm -23 "$WORK/theirs-untagged" "$WORK/ours-untagged" | sed 's/^/  /'

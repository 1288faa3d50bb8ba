#!/usr/bin/env bash
# deploy/container-check.sh — builds the Containerfile's image and audits the committed
# registry root inside it, where Docker Hub is out of reach and containers cannot be
# started (this project's machines): the base image is a debootstrap of Debian 12 from its
# mirror, imported under the name the Containerfile uses, and the image is run through
# buildah's chroot isolation. Needs root, debootstrap, podman and buildah (Debian).
#
# Usage: deploy/container-check.sh [WORKDIR]   (default /tmp/oci-audit-container)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/oci-audit-container}
image=registry.example.com/tools/oci-audit:latest
storage=(--storage-driver vfs)
mkdir -p "$work"
cargo build --release --locked --quiet
if ! podman "${storage[@]}" image exists docker.io/library/debian:bookworm-slim; then
  [ -d "$work/rootfs" ] || debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$work/rootfs" -c . | podman "${storage[@]}" import - docker.io/library/debian:bookworm-slim >/dev/null
fi
podman "${storage[@]}" build --isolation chroot --network host -q -f Containerfile -t "$image" . >/dev/null
container=$(buildah "${storage[@]}" from "$image")
trap 'buildah "${storage[@]}" rm "$container" >/dev/null' EXIT
run() { buildah "${storage[@]}" run --isolation chroot "$@"; }
run "$container" -- /usr/local/bin/oci-audit --version
run "$container" -- test -s /etc/ssl/certs/ca-certificates.crt
run -v "$PWD/corpus/distribution/registry-2.8/store:/var/lib/registry:ro" "$container" -- \
  /usr/local/bin/oci-audit -q --coverage none --settle 0s /var/lib/registry
echo "the image audits the committed registry root"

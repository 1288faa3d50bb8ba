#!/usr/bin/env bash
# benches/first-build.sh — how long a first release build takes (a fresh target directory,
# the crates already downloaded), with the default features, without them, and with object
# storage alone, one after the other: the figures in the README's set-up section.
#
# Usage: benches/first-build.sh [WORKDIR]   (default /tmp/oci-audit-first-build)
# Needs: cargo, GNU time. Takes about a quarter of an hour on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/tmp/oci-audit-first-build}
mkdir -p "$work"
cargo fetch --locked --quiet
for build in "default:" "no-default:--no-default-features" \
             "object-store only:--no-default-features --features object-store"; do
  name=${build%%:*}; flags=${build#*:}
  rm -rf "$work/target"
  # shellcheck disable=SC2086
  CARGO_TARGET_DIR=$work/target /usr/bin/time -f "%e %U %S" -o "$work/time" \
    cargo build --release --locked --quiet $flags
  read -r wall user sys < "$work/time"
  printf '%-18s %8.0f s wall  %8.0f s CPU\n' "$name" "$wall" \
    "$(awk -v u="$user" -v s="$sys" 'BEGIN{print u+s}')"
done
rm -rf "$work/target"

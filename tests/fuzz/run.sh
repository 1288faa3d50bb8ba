#!/usr/bin/env bash
# Seeded, time-bounded fuzzing of every target (needs cargo-fuzz and a nightly toolchain).
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 30)
# Seeds come from the committed corpus: every JSON blob and link file under corpus/, and
# the image-spec vectors. Crashes land in tests/fuzz/artifacts/<target>/; each one found
# becomes a regression test in tests/builder.rs (fuzz_regressions).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}
seeds=$(mktemp -d)
trap 'rm -rf "$seeds"' EXIT
mkdir -p "$seeds/archive" "$seeds/document" "$seeds/grammar" "$seeds/link"
# Documents: small files under corpus/ that start like JSON.
find corpus -type f -size -64k | while read -r f; do
  case $(head -c1 "$f") in
    '{' | '[') cp "$f" "$seeds/document/$(sha256sum "$f" | cut -c1-16)" ;;
  esac
done
# Archives: skopeo's, plain and compressed (corpus/archive), and small layouts tarred.
cp corpus/archive/* "$seeds/archive/"
for layout in corpus/layout/descriptor-size-mismatch/store corpus/clean/skopeo-copy/store; do
  tar -C "$layout" -cf "$seeds/archive/$(echo "$layout" | sha256sum | cut -c1-16).tar" .
done
# Links and startedat files.
find corpus -type f \( -name link -o -name startedat \) | while read -r f; do
  cp "$f" "$seeds/link/$(sha256sum "$f" | cut -c1-16)"
done
# Grammar: digests, media types and names seen in the corpus.
{ grep -rhoE '"(sha256|sha512|blake3):[^"]*"|"application/[^"]*"' corpus 2>/dev/null || true; } \
  | tr -d '"' | sort -u | sed -n 1,500p | while read -r s; do
  printf '%s' "$s" > "$seeds/grammar/$(printf '%s' "$s" | sha256sum | cut -c1-16)"
done
for target in archive document grammar link; do
  echo "== fuzz $target for ${seconds}s ($(ls "$seeds/$target" | wc -l) seeds)"
  cargo +nightly fuzz run --fuzz-dir tests/fuzz "$target" "$seeds/$target" -- \
    -max_total_time="$seconds" -max_len=1048576 -timeout=10 -print_final_stats=1 2>&1 \
    | grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ *DONE)|ERROR|panicked|SUMMARY" || true
  if ls tests/fuzz/artifacts/"$target"/crash-* >/dev/null 2>&1; then
    echo "crash found in $target: tests/fuzz/artifacts/$target" >&2
    exit 1
  fi
done

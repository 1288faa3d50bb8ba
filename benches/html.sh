#!/usr/bin/env bash
# benches/html.sh — the HTML report of the 100,000-image Distribution root (benches/e2e.sh
# generates it): its size and the time a browser takes to render it, in summary form (the
# default) and with --coverage full (every tag by platform, behind a toggle), against the
# text and JSON reports of the same run.
#
# Usage: benches/html.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e)
# Needs: Debian's chromium and chromium-driver, and a Python with selenium
# ($OCI_AUDIT_PYTHON, default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh
quick_or_full "$@"
python=${OCI_AUDIT_PYTHON:-python3}
build_release
if [ -n "$quick" ]; then
  store registry-1000 --kind distribution --images 1000 --layers 1 --layer-size 64 --repositories 10
  root=$work/registry-1000
else
  store registry-100000 --kind distribution --images 100000 --layers 1 --layer-size 64 --repositories 1000
  root=$work/registry-100000
fi
out=$work/html
mkdir -p "$out"
for run in "text:" "json:" "html:" "html:--coverage full"; do
  format=${run%%:*}; extra=${run#*:}
  name=$format${extra:+-full}
  # shellcheck disable=SC2086
  /usr/bin/time -f "%e %M" -o "$out/$name.time" "$audit" -q --no-verify --format "$format" $extra \
    --output "$out/$name.$format" "$root" || true
  read -r wall rss < "$out/$name.time"
  printf '%-10s %12s bytes  %6.2f s  %6.1f MiB\n' "$name" "$(stat -c %s "$out/$name.$format")" "$wall" \
    "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
done
"$python" benches/html_render.py "$out/html.html" "$out/html-full.html"

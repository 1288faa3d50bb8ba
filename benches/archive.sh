#!/usr/bin/env bash
# benches/archive.sh — image archives read in one streaming pass: a 2 GiB OCI archive (the
# `large` store of e2e.sh, 8 layers of 256 MiB, tarred) from a file and from a pipe, against
# one core's hash rate (`sha256sum` of the same file) and `oci-image-tool validate` of the
# same archive, in the same run, with one core's SHA-NI rate (`openssl dgst -sha256`) as the
# rate to beat: members are hashed in parallel. Also: one hashing worker (`-j 1`, what the
# parallel workers buy), a zstd-compressed copy, and the peak memory of an archive of many
# small members (what is kept in memory has a budget).
#
# Usage: benches/archive.sh [--quick] [WORKDIR]   (default WORKDIR /tmp/oci-audit-e2e,
#                                                  shared with e2e.sh, whose store it tars)
#   --quick   a 32 MiB store, one run each: a smoke test of the script, not figures.
# Env: RUNS (best of, default 5). Warm cache: every command runs once before timing.
# CPU is user+sys of the whole command (the pipe's cat included); peak RSS is GNU time's %M.
# Needs: cargo, GNU time, tar; zstd, openssl and oci-image-tool are installed from Debian
# when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
. benches/lib.sh

quick_or_full "$@"

missing=()
command -v /usr/bin/time >/dev/null || missing+=(time)
command -v zstd >/dev/null || missing+=(zstd)
command -v openssl >/dev/null || missing+=(openssl)
command -v oci-image-tool >/dev/null || missing+=(oci-image-tool)
need_debian "${missing[@]}"

build_release
if [ -n "$quick" ]; then
  store large --kind layout --images 4 --layers 1 --layer-size $((8 << 20))
else
  store large --kind layout --images 8 --layers 1 --layer-size $((256 << 20))
fi
archive=$work/large.tar
# Member names without "./", as skopeo and docker write them (oci-image-tool needs that).
[ -e "$archive" ] || (cd "$work/large" && tar -cf "$archive" oci-layout index.json blobs)
[ -e "$archive.zst" ] || zstd -q -1 -T0 "$archive" -o "$archive.zst"
# The archive must audit clean, or the timing compares different work.
"$audit" -q "$archive" >/dev/null

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores," \
  "SHA-NI: $(grep -q sha_ni /proc/cpuinfo && echo yes || echo no)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo); best of $runs, warm cache;" \
  "oci-audit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(oci-image-tool --version 2>&1 | tail -1)"
size=$(stat -c %s "$archive")
echo "archive: $archive, $(awk -v b="$size" 'BEGIN{printf "%.2f GiB", b/1073741824}') ($(tar -tf "$archive" | wc -l) members)"
printf '%-9s %-52s %10s %10s %12s\n' store command time CPU "peak RSS"

current=large.tar
timed "sha256sum FILE (coreutils: what shell loops use)" sha256sum "$archive"; t_sum=$best
timed "openssl dgst -sha256 FILE (one core's SHA-NI rate)" openssl dgst -sha256 "$archive"; t_ssl=$best
timed "oci-audit FILE" "$audit" -q "$archive"; t_file=$best; rss_file=$rss
timed "oci-audit -j 1 FILE (one hashing worker)" "$audit" -q -j 1 "$archive"; t_one=$best
timed "cat FILE | oci-audit -" bash -c "cat '$archive' | '$audit' -q -"; t_pipe=$best; rss_pipe=$rss
timed "zstdcat FILE.zst | sha256sum" bash -c "zstdcat '$archive.zst' | sha256sum"; t_zsum=$best
timed "oci-audit FILE.zst (decompressed in the pass)" "$audit" -q "$archive.zst"; t_zst=$best
# Debian's oci-image-tool (1.0.0-rc1) fails on every archive at once ("find failed: unable
# to walk: end of walk", its tar walker); what its users do instead is extract and validate
# the directory. Both are timed; the failure is shown, not timed.
if oci-image-tool validate --type image "$archive" >/dev/null 2>"$work/oit.err"; then
  timed "oci-image-tool validate --type image FILE" oci-image-tool validate --type image "$archive"; t_oit=$best
else
  printf '%-9s %-52s %s\n' "$current" "oci-image-tool validate --type image FILE" "fails: $(grep -o 'find failed[^"]*' "$work/oit.err" | head -1)"
  extract() { rm -rf "$work/extracted" && mkdir "$work/extracted" && tar -C "$work/extracted" -xf "$1" \
    && oci-image-tool validate --type image "$work/extracted"; }
  export -f extract; export work
  timed "tar -x FILE, then oci-image-tool validate DIR" bash -c "extract '$archive'"; t_oit=$best
  timed "  oci-image-tool validate DIR (already extracted)" oci-image-tool validate --type image "$work/extracted"
  rm -rf "$work/extracted"
fi

if [ -z "$quick" ]; then
  # An archive made to fill memory with what an auditor keeps: 20,000 members of 64 KiB
  # of zeros (about 2 MB gzip-compressed). Only its peak RSS matters.
  small=$work/small-members.tar.gz
  [ -e "$small" ] || python3 - "$small" <<'PY'
import io, sys, tarfile
data = bytes(65536)
with tarfile.open(sys.argv[1], "w:gz") as archive:
    for i in range(20000):
        info = tarfile.TarInfo(f"blobs/sha256/{i:064x}")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
PY
  current=small
  timed "oci-audit FILE.tar.gz (20,000 members of 64 KiB of zeros)" "$audit" -q "$small"
fi

rate() { awk -v b="$size" -v t="$1" 'BEGIN{ if (t > 0) printf "%.2f GB/s", b/t/1e9; else print "n/a" }'; }
echo
echo "one core hashes at $(rate "$t_ssl") (openssl), sha256sum at $(rate "$t_sum")"
echo "large.tar from a file: $(rate "$t_file"), $(ratio "$t_ssl" "$t_file")x one core (openssl), $(ratio "$t_sum" "$t_file")x sha256sum, $(ratio "$t_oit" "$t_file")x faster than extracting and validating with oci-image-tool; $(ratio "$t_one" "$t_file")x one hashing worker; peak RSS $(awk -v k="$rss_file" 'BEGIN{printf "%.1f MiB", k/1024}')"
echo "large.tar from a pipe: $(rate "$t_pipe"), $(ratio "$t_ssl" "$t_pipe")x one core (openssl), $(ratio "$t_sum" "$t_pipe")x sha256sum, $(ratio "$t_oit" "$t_pipe")x faster than extracting and validating; peak RSS $(awk -v k="$rss_pipe" 'BEGIN{printf "%.1f MiB", k/1024}')"
echo "large.tar.zst: $(ratio "$t_zsum" "$t_zst")x zstdcat | sha256sum"

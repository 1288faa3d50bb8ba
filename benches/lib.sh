# benches/lib.sh — what the bench scripts share: installing missing peers from Debian,
# generating stores once, timing a command, ratios. Sourced, not run:
#   . "$(dirname "$0")/lib.sh"
# Callers set: work (the stores' directory), runs (best of), current (the row's store),
# gen (the gen-store binary).

# need_debian PACKAGE... — install what is missing (as root, from Debian), without letting
# a package's service start.
need_debian() {
  [ $# -gt 0 ] || return 0
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  local made_policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; made_policy=1
  fi
  apt-get install -y -qq "$@" >/dev/null
  [ -z "$made_policy" ] || rm -f /usr/sbin/policy-rc.d
}

# quick_or_full "$@" — the arguments [--quick] [WORKDIR]: sets quick, work and runs ($RUNS,
# default 5; one run of tiny stores in their own directory with --quick).
quick_or_full() {
  quick=
  if [ "${1:-}" = --quick ]; then quick=1; shift; fi
  work=${1:-/tmp/oci-audit-e2e}
  runs=${RUNS:-5}
  if [ -n "$quick" ]; then runs=1; work=${1:-/tmp/oci-audit-e2e-quick}; fi
}

# build_release [--example NAME]... — oci-audit and gen-store (and more examples) in release
# mode; sets audit and gen, and makes $work.
build_release() {
  cargo build --release --quiet --bin oci-audit --example gen-store "$@"
  audit=$PWD/target/release/oci-audit
  gen=$PWD/target/release/examples/gen-store
  mkdir -p "$work"
}

# store NAME ARGS... — generate $work/NAME with gen-store once, and reuse it.
store() {
  local name=$1; shift
  [ -e "$work/$name" ] || "$gen" --out "$work/$name" "$@"
}

# timed LABEL CMD... — best wall time of $runs after one warm-up; sets $best (s), $cpu
# (user+sys of the best run, s) and $rss (the largest peak RSS, KiB); prints a row.
timed() {
  local label=$1; shift
  "$@" >/dev/null 2>&1 || true
  best= cpu= rss=0
  for _ in $(seq "$runs"); do
    /usr/bin/time -o "$work/time.out" -f '%e %U %S %M' "$@" >/dev/null 2>&1 || true
    local e u s m
    read -r e u s m < <(tail -1 "$work/time.out")
    if [ -z "$best" ] || awk -v a="$e" -v b="$best" 'BEGIN{exit !(a<b)}'; then
      best=$e; cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.2f", u+s}')
    fi
    [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%-9s %-52s %8.2f s %8.2f s %8.1f MiB\n' "$current" "$label" "$best" "$cpu" \
    "$(awk -v k="$rss" 'BEGIN{print k/1024}')"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "n/a" }'; }

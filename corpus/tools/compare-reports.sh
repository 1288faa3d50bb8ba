#!/usr/bin/env bash
# compare-reports.sh — evidence that a refactor left oci-audit's behaviour unchanged.
#
# Runs one oci-audit binary over the whole committed corpus and writes every JSON report it
# prints, normalised, with its exit code, into OUTDIR. Run it with the binary built at the
# commit before a refactor and with the one built after, then --diff the two directories:
# no difference means every corpus case, every archive and every sharded-then-merged audit
# gives the same report, byte for byte, and the same exit code.
#
#   git worktree add /tmp/before REV && cargo build --release --manifest-path /tmp/before/Cargo.toml --target-dir /tmp/before-target
#   bash corpus/tools/compare-reports.sh /tmp/before-target/release/oci-audit /tmp/reports-before
#   cargo build --release && bash corpus/tools/compare-reports.sh target/release/oci-audit /tmp/reports-after
#   bash corpus/tools/compare-reports.sh --diff /tmp/reports-before /tmp/reports-after
#
# Run this copy of the script (the one in the tree being checked) for both binaries: the
# corpus is read from the repository that holds the script, so both runs audit the same
# stores. (If the refactor changes the corpus itself, the diff shows it, as "Only in" or as
# differing files.) Remove /tmp/before with `git worktree remove /tmp/before` afterwards.
#
# What it runs, from the repository root, so every path in a report is relative:
# - audit/GROUP/CASE.json: `oci-audit --format json CASE/store` for every case folder
#   corpus/GROUP/CASE holding a case.toml and a store/, with --zot where case.toml says
#   `zot = true` (as tests/corpus.rs does) and the default policy (--fail-on error).
# - archive/NAME.json and archive/NAME.stdin.json: every file in corpus/archive, audited
#   from the file and from standard input (`oci-audit --format json - < NAME`).
# - merge/GROUP/CASE.N.json: every case store audited as N = 1, 2, 3 and 7 shards
#   (`--shard I/N --partial PART`, one after another), then `oci-audit merge --format json
#   PART...` (archives are left out: they refuse --shard). The partials go to a temporary
#   directory that is removed on exit.
# Every run has `--settle 0s` (a committed store does not change under the audit, so
# confirming a finding need not wait; the tests set OCI_AUDIT_SETTLE=0s for the same
# reason) and -q. Beside each report, NAME.rc holds the exit code (for a sharded audit,
# each shard's and then merge's), and NAME.stderr what the run wrote to standard error,
# when it wrote anything. Exit 1 (findings at or above --fail-on) and exit 2 (the audit
# could not run) are recorded, not treated as failures of this script; a summary of the
# exit codes is printed at the end.
#
# Normalised, and nothing else (the reports are kept as the binary wrote them: pretty,
# keys in its order, numbers as it printed them):
# - `"elapsed_ms": N` in stats is set to 0: wall-clock time, the one field that differs
#   between two runs of one binary (tests/support's normalize() masks the same).
# - the temporary directory of the partials is written <parts>, and the repository's
#   path <repo>, wherever they appear (error messages naming a partial file).
# The masking edits the text (perl), not the parsed document: jq 1.6 would round integers
# above 2^53 and re-escape strings. Every report that is not empty is then checked with jq
# to be one JSON document whose stats.elapsed_ms is 0, so a masking that missed fails loudly.
#
# JOBS=N sets how many runs go at once (default: the number of cores).
# Needs bash, perl, jq, xargs. 388 reports, about 30 s on 2 cores.
#
# --diff lists the files that differ or exist on one side only, then prints the first 400
# lines of `diff -ru`; it exits 0 when the two directories are identical, 1 when not, and
# 2 when either is not an output directory of this script.
#
# Usage: corpus/tools/compare-reports.sh BINARY OUTDIR
#        corpus/tools/compare-reports.sh --diff DIR_A DIR_B   (exit 1 on any difference)
set -euo pipefail
export LC_ALL=C

usage() {
	sed -n 's/^# Usage: //p; s/^#        //p' "$0" | sed 's/^/usage: /' >&2
	exit 2
}

SHARD_COUNTS=(1 2 3 7)
MARKER=.compare-reports

# Masks what differs between runs: reads stdin, writes stdout.
normalise() {
	perl -pe '
		s/^(    "elapsed_ms": )\d+(,?)$/${1}0$2/;
		s/\Q$ENV{CR_PARTS}\E/<parts>/g;
		s/\Q$ENV{CR_ROOT}\E/<repo>/g;
	'
}

# Runs "$@" (an oci-audit command line), normalising stdout into $1.json and stderr into
# $1.stderr (kept only when not empty); prints the exit code.
# Called as: run_one BASE INPUT_OR_EMPTY -- COMMAND...
run_one() {
	local base=$1 input=$2 rc=0
	shift 3
	if [ -n "$input" ]; then
		"$@" <"$input" >"$base.raw-out" 2>"$base.raw-err" || rc=$?
	else
		"$@" </dev/null >"$base.raw-out" 2>"$base.raw-err" || rc=$?
	fi
	normalise <"$base.raw-out" >"$base.json"
	if [ -s "$base.raw-err" ]; then
		normalise <"$base.raw-err" >>"$base.stderr"
	fi
	rm -f "$base.raw-out" "$base.raw-err"
	echo "$rc"
}

# A report is one JSON document with its elapsed time masked, or empty (exit 2).
check_json() {
	local file=$1
	[ -s "$file" ] || return 0
	if ! jq -e '.stats.elapsed_ms == 0' "$file" >/dev/null; then
		echo "compare-reports: $file: not a JSON report with stats.elapsed_ms masked" >&2
		return 1
	fi
}

zot_flag() { # CASE_DIR: prints --zot when its case.toml says zot = true
	if grep -Eq '^[[:space:]]*zot[[:space:]]*=[[:space:]]*true[[:space:]]*(#.*)?$' "$1/case.toml"; then
		echo --zot
	fi
}

# One unit of work, run by xargs in a child of this script. The environment holds CR_BIN,
# CR_OUT, CR_PARTS and CR_ROOT; the working directory is the repository root.
task() {
	local kind=$1 arg=$2
	local bin=$CR_BIN out=$CR_OUT
	local common=(--format json -q --settle 0s)
	case $kind in
	audit)
		local base=$out/audit/${arg#corpus/} zot
		zot=$(zot_flag "$arg")
		mkdir -p "$(dirname "$base")"
		run_one "$base" "" -- "$bin" "${common[@]}" $zot "$arg/store" >"$base.rc"
		check_json "$base.json"
		;;
	archive)
		local base=$out/archive/$(basename "$arg")
		mkdir -p "$out/archive"
		run_one "$base" "" -- "$bin" "${common[@]}" "$arg" >"$base.rc"
		check_json "$base.json"
		run_one "$base.stdin" "$arg" -- "$bin" "${common[@]}" - >"$base.stdin.rc"
		check_json "$base.stdin.json"
		;;
	merge)
		local case_dir=${arg%:*} count=${arg##*:}
		local base=$out/merge/${case_dir#corpus/}.$count zot i rc
		local parts_dir=$CR_PARTS/${case_dir#corpus/}.$count
		zot=$(zot_flag "$case_dir")
		mkdir -p "$(dirname "$base")" "$parts_dir"
		local parts=()
		: >"$base.rc"
		for ((i = 0; i < count; i++)); do
			parts+=("$parts_dir/part-$i.json")
			rc=$(run_one "$base.shard-$i" "" -- "$bin" -q --settle 0s $zot \
				--shard "$i/$count" --partial "$parts_dir/part-$i.json" "$case_dir/store")
			echo "shard $i/$count: $rc" >>"$base.rc"
			# A shard prints nothing: keep its output only when it did.
			[ -s "$base.shard-$i.json" ] || rm -f "$base.shard-$i.json"
		done
		rc=$(run_one "$base" "" -- "$bin" merge --format json "${parts[@]}")
		echo "merge: $rc" >>"$base.rc"
		check_json "$base.json"
		rm -rf "$parts_dir"
		;;
	*)
		echo "compare-reports: unknown task $kind" >&2
		return 1
		;;
	esac
}

diff_dirs() {
	local a=$1 b=$2 dir
	for dir in "$a" "$b"; do
		if [ ! -f "$dir/$MARKER" ]; then
			echo "compare-reports: $dir is not an output directory of this script (no $MARKER)" >&2
			exit 2
		fi
	done
	local listing
	listing=$(diff -rq "$a" "$b" || true)
	if [ -z "$listing" ]; then
		echo "identical: $(find "$a" -type f ! -name "$MARKER" | wc -l) files in $a and $b"
		exit 0
	fi
	echo "$(echo "$listing" | wc -l) differences between $a and $b:"
	echo "$listing" | sed 's/^/  /'
	echo
	diff -ru "$a" "$b" | head -n 400 || true
	exit 1
}

case ${1:-} in
--task)
	[ $# -eq 3 ] || usage
	task "$2" "$3"
	exit
	;;
--diff)
	[ $# -eq 3 ] || usage
	diff_dirs "$2" "$3"
	;;
-h | --help | "")
	usage
	;;
esac
[ $# -eq 2 ] || usage

SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
ROOT=$(cd "$(dirname "$SELF")/../.." && pwd)
BIN=$1
OUT=$2
case $BIN in /*) ;; */*) BIN=$PWD/$BIN ;; *) BIN=$(command -v "$BIN") ;; esac
[ -x "$BIN" ] || { echo "compare-reports: $1 is not an executable" >&2; exit 2; }
command -v jq >/dev/null || { echo "compare-reports: needs jq" >&2; exit 2; }

# OUTDIR: new, empty, or an earlier output of this script (whose contents are replaced).
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ ! -f "$OUT/$MARKER" ]; then
	echo "compare-reports: $OUT is not empty and not an output directory of this script" >&2
	exit 2
fi
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
find "$OUT" -mindepth 1 -delete
echo "oci-audit corpus reports, written by corpus/tools/compare-reports.sh" >"$OUT/$MARKER"

PARTS=$(mktemp -d "${TMPDIR:-/tmp}/compare-reports.XXXXXX")
trap 'rm -rf "$PARTS"' EXIT

# Nothing from the caller's environment changes a run.
unset OCI_AUDIT_SETTLE JOB_COMPLETION_INDEX
export CR_BIN=$BIN CR_OUT=$OUT CR_PARTS=$PARTS CR_ROOT=$ROOT

cd "$ROOT"
cases=()
for dir in corpus/*/*/; do
	dir=${dir%/}
	if [ -f "$dir/case.toml" ] && [ -d "$dir/store" ]; then
		cases+=("$dir")
	fi
done
archives=()
for file in corpus/archive/*; do
	[ -f "$file" ] && archives+=("$file")
done
if [ ${#cases[@]} -eq 0 ] || [ ${#archives[@]} -eq 0 ]; then
	echo "compare-reports: no corpus under $ROOT/corpus" >&2
	exit 2
fi

start=$SECONDS
{
	# The slowest first (7 shards), so the last runs to finish are short ones.
	for count in $(printf '%s\n' "${SHARD_COUNTS[@]}" | sort -rn); do
		for dir in "${cases[@]}"; do printf 'merge\0%s:%s\0' "$dir" "$count"; done
	done
	for dir in "${cases[@]}"; do printf 'audit\0%s\0' "$dir"; done
	for file in "${archives[@]}"; do printf 'archive\0%s\0' "$file"; done
} | xargs -0 -n 2 -P "${JOBS:-$(nproc)}" bash "$SELF" --task

audits=$(find "$OUT/audit" -name '*.json' | wc -l)
from_archives=$(find "$OUT/archive" -name '*.json' | wc -l)
merged=$(find "$OUT/merge" -name '*.json' ! -name '*.shard-*' | wc -l)
echo "$OUT: $audits case audits, $from_archives archive audits (file and stdin)," \
	"$merged merged sharded audits ($((audits + from_archives + merged)) reports) in $((SECONDS - start)) s"
echo "exit codes (code x runs):"
for kind in audit archive merge; do
	echo "  $kind/: $(find "$OUT/$kind" -name '*.rc' -exec cat {} + | sed 's/^shard .*: /shard: /' |
		sort | uniq -c | awk '{ n = $1; $1 = ""; printf "%s%s x %d", sep, substr($0, 2), n; sep = ", " }')"
done
odd=$(grep -rlvE '^(0|1|shard [0-9]+/[0-9]+: 0|merge: [01])$' --include='*.rc' "$OUT" | sort || true)
if [ -n "$odd" ]; then
	echo "$(echo "$odd" | wc -l) runs exited 2 or more, or had a shard that did not exit 0 (recorded; see their .stderr):"
	echo "$odd" | head -n 20 | sed "s|^$OUT/|  |"
	[ "$(echo "$odd" | wc -l)" -le 20 ] || echo "  ..."
fi

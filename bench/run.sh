#!/usr/bin/env bash
# Compares pex with ninja and make on generated workspaces of the same graph
# and writes a table of medians to bench/RESULTS.md. See bench/README.md.
#
#   bench/run.sh                      1k, 10k and 50k rules, and hashing
#   bench/run.sh --quick              1k rules, no hashing: under a minute
#   bench/run.sh --sizes 1000,10000   chosen sizes (rules)
#   bench/run.sh --baseline OLD       also time another pex binary (before
#                                     a change), side by side in the same run
#
# It installs what it misses from Debian (ninja-build, make, hyperfine, time,
# b3sum), builds pex into bench/.bin, and keeps hyperfine's JSON exports in
# bench/.results.
set -euo pipefail

JOBS=2
RULES_PER_PACKAGE=10
TOOLS=(pex ninja make)
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
BIN=$BENCH_DIR/.bin
RESULTS=$BENCH_DIR/.results
PEX=$BIN/pex
GEN=$BIN/gen

SIZES=1000,10000,50000
QUICK=0
HASH=1
KEEP=0
PEX_GIVEN=
BASELINE=
OUT_FILE=$BENCH_DIR/RESULTS.md

usage() {
	cat <<EOF
usage: bench/run.sh [--quick] [--sizes N,N,...] [--no-hash] [--pex FILE] [--baseline FILE] [--out FILE] [--keep]

  --quick        1000 rules only, fewer runs, no hashing (under a minute)
  --sizes LIST   comma-separated workspace sizes in rules (default $SIZES)
  --hash         measure hashing throughput (default, except with --quick)
  --no-hash      skip the hashing throughput measurement
  --pex FILE     benchmark this pex binary instead of building ./cmd/pex
  --baseline FILE  also time this pex binary (say, main before a change) in
                 the same run, on its own copy of each workspace
  --out FILE     where to write the table (default bench/RESULTS.md)
  --keep         keep the generated workspaces (their path is printed)
EOF
}

die() {
	echo "bench: $*" >&2
	exit 1
}

log() {
	echo "==> $*" >&2
}

have() {
	command -v "$1" >/dev/null 2>&1
}

parse_args() {
	local sizes_set=0 hash_set=0
	while (($#)); do
		case $1 in
		--quick) QUICK=1 ;;
		--sizes)
			[[ $# -ge 2 ]] || die "--sizes needs a value"
			SIZES=$2 sizes_set=1
			shift
			;;
		--sizes=*) SIZES=${1#*=} sizes_set=1 ;;
		--hash) HASH=1 hash_set=1 ;;
		--no-hash) HASH=0 hash_set=1 ;;
		--pex)
			[[ $# -ge 2 ]] || die "--pex needs a value"
			PEX_GIVEN=$2
			shift
			;;
		--baseline)
			[[ $# -ge 2 ]] || die "--baseline needs a value"
			BASELINE=$2
			shift
			;;
		--out)
			[[ $# -ge 2 ]] || die "--out needs a value"
			OUT_FILE=$2
			shift
			;;
		--keep) KEEP=1 ;;
		-h | --help)
			usage
			exit 0
			;;
		*)
			usage >&2
			exit 2
			;;
		esac
		shift
	done
	if ((QUICK)); then
		((sizes_set)) || SIZES=1000
		((hash_set)) || HASH=0
	fi
	[[ $SIZES =~ ^[0-9]+(,[0-9]+)*$ ]] || die "--sizes: want numbers separated by commas, got $SIZES"
}

# --- tools -----------------------------------------------------------------

APT_UPDATED=0

as_root() {
	if ((EUID == 0)); then
		"$@"
	elif have sudo; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

apt_update() {
	((APT_UPDATED)) && return
	have apt-get || die "missing tools and no apt-get: install ninja, make, hyperfine, GNU time"
	log "apt-get update"
	as_root apt-get update -qq
	APT_UPDATED=1
}

# ensure_tools installs from Debian whichever of the tools is missing. b3sum
# is optional: without a Debian package the hashing table says so.
ensure_tools() {
	local need=()
	have ninja || need+=(ninja-build)
	have make || need+=(make)
	have hyperfine || need+=(hyperfine)
	[[ -x /usr/bin/time ]] || need+=(time)
	if ((HASH)) && ! have b3sum; then
		apt_update
		if apt-cache show b3sum >/dev/null 2>&1; then need+=(b3sum); fi
	fi
	if ((${#need[@]})); then
		apt_update
		log "apt-get install ${need[*]}"
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	fi
	have go || die "go is needed to build pex"
}

build_binaries() {
	mkdir -p "$BIN"
	if [[ -n $PEX_GIVEN ]]; then
		[[ -x $PEX_GIVEN ]] || die "--pex $PEX_GIVEN: not an executable"
		log "using $PEX_GIVEN; building the generator into bench/.bin"
		cp "$PEX_GIVEN" "$PEX"
	else
		log "building pex and the generator into bench/.bin"
		# As `make build` does: static, no cgo (see the Makefile).
		(cd "$ROOT" && CGO_ENABLED=0 go build -o "$PEX" ./cmd/pex) || die "pex does not build"
	fi
	(cd "$ROOT" && go build -o "$GEN" ./bench/gen) || die "bench/gen does not build"
	if [[ -n $BASELINE ]]; then
		[[ -x $BASELINE ]] || die "--baseline $BASELINE: not an executable"
		cp "$BASELINE" "$BIN/pex-before"
		TOOLS=(pex before ninja make)
	fi
}

# --- workspaces ------------------------------------------------------------

declare -A CMD
WS=

# setup_size generates the workspace of the given size once and copies it
# for each tool, so that their outputs and state never mix, then writes the
# prepare scripts hyperfine runs.
setup_size() {
	local size=$1 packages=$(((size + RULES_PER_PACKAGE - 1) / RULES_PER_PACKAGE))
	WS=$WORK/$size
	log "generating $((packages * RULES_PER_PACKAGE)) rules in $packages packages: $WS"
	"$GEN" -packages "$packages" -rules "$RULES_PER_PACKAGE" -out "$WS/pex"
	cp -a "$WS/pex" "$WS/ninja"
	cp -a "$WS/pex" "$WS/make"
	[[ -z $BASELINE ]] || cp -a "$WS/pex" "$WS/before"
	# shellcheck source=/dev/null
	source "$WS/pex/bench.env"
	export PEX_CACHE_DIR=$WS/pex-cache
	CMD[pex]="$PEX -C $WS/pex -j $JOBS build //..."
	CMD[ninja]="ninja -C $WS/ninja -j $JOBS"
	CMD[make]="make -C $WS/make -j $JOBS"
	# The baseline shares the store (its keys are its own; a clean build
	# of either empties it first) and runs without a wrapper, as pex does.
	CMD[before]="$BIN/pex-before -C $WS/before -j $JOBS build //..."
	write_prepare_scripts
}

# write_prepare_scripts writes, per tool, clean-TOOL.sh (remove every output
# and the tool's state; for pex also empty its content store),
# change-TOOL.sh (append a line to the leaf source) and touch-TOOL.sh
# (update the leaf source's mtime only).
write_prepare_scripts() {
	local tool state
	for tool in "${TOOLS[@]}"; do
		case $tool in
		pex | before) state="rm -rf .pex '$PEX_CACHE_DIR' && mkdir -p '$PEX_CACHE_DIR'" ;;
		ninja) state="rm -f .ninja_log .ninja_deps" ;;
		make) state=":" ;;
		esac
		cat >"$WS/clean-$tool.sh" <<EOF
set -e
cd '$WS/$tool'
find . -name '*.out' -type f -delete
$state
EOF
		printf "set -e\necho changed >> '%s'\n" "$WS/$tool/$LEAF_SRC" >"$WS/change-$tool.sh"
		printf "set -e\ntouch '%s'\n" "$WS/$tool/$LEAF_SRC" >"$WS/touch-$tool.sh"
	done
}

# build runs one build with tool, failing loudly with its output's tail.
build() {
	local tool=$1 out=$WS/build-$1.log
	# shellcheck disable=SC2086 # CMD holds a command line
	if ! ${CMD[$tool]} >"$out" 2>&1; then
		tail -n 30 "$out" >&2
		die "$tool: build failed in $WS/$tool (log: $out)"
	fi
}

# verify_outputs checks that every tool wrote the same bytes to every output.
verify_outputs() {
	local tool
	for tool in "${TOOLS[@]}"; do
		(cd "$WS/$tool" && find . -name '*.out' -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) >"$WS/sums-$tool"
	done
	local count
	count=$(wc -l <"$WS/sums-pex")
	((count == RULES)) || die "pex wrote $count outputs, want $RULES ($WS/pex)"
	for tool in "${TOOLS[@]:1}"; do
		if ! cmp -s "$WS/sums-pex" "$WS/sums-$tool"; then
			diff "$WS/sums-pex" "$WS/sums-$tool" | head -n 20 >&2
			die "outputs differ between pex and $tool ($WS/sums-pex, $WS/sums-$tool)"
		fi
	done
	log "outputs identical: $count files, $(IFS=/; echo "${TOOLS[*]}" | sed 's|/| = |g')"
}

# clean_build_and_verify builds from scratch with each tool and compares.
# When clean builds are timed once (see clean_once), these are the times.
clean_build_and_verify() {
	local tool start
	for tool in "${TOOLS[@]}"; do
		bash "$WS/clean-$tool.sh"
		start=$(date +%s%N)
		build "$tool"
		if clean_once; then
			record clean "$SIZE" "$tool" "$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }')"
		fi
	done
	verify_outputs
}

# clean_once says whether the clean build is timed once, by the verifying
# build, rather than repeated under hyperfine: with --quick, to stay under
# a minute, and from 50k rules up, where three tools times four clean
# builds would take over an hour on a 2-core machine.
clean_once() {
	((QUICK)) || ((SIZE >= 50000))
}

# resync_and_verify gives every copy the leaf source pex last built, rebuilds
# incrementally and compares: this catches a tool that missed a change.
resync_and_verify() {
	local tool
	for tool in "${TOOLS[@]:1}"; do
		cp "$WS/pex/$LEAF_SRC" "$WS/$tool/$LEAF_SRC"
	done
	for tool in "${TOOLS[@]}"; do
		build "$tool"
	done
	verify_outputs
}

# --- measurements ----------------------------------------------------------

# record appends one measurement: scenario, size, tool, value.
record() {
	printf '%s\t%s\t%s\t%s\n' "$@" >>"$TSV"
}

# value prints the recorded measurement of scenario, size and tool.
value() {
	awk -F'\t' -v s="$1" -v n="$2" -v t="$3" '$1 == s && $2 == n && $3 == t { print $4 }' "$TSV"
}

# time_scenario times tool's build with hyperfine and records the median in
# ms. Arguments: scenario, tool, prepare script (or ""). Run counts adapt:
# hyperfine runs each command for about 3 s, within the bounds runs_for sets.
time_scenario() {
	local scenario=$1 tool=$2 prepare=$3 warmup min max
	read -r warmup min max < <(runs_for "$scenario")
	local name=$SIZE-$scenario-$tool
	local args=(-N --style basic --warmup "$warmup" --min-runs "$min" --max-runs "$max"
		--export-json "$RESULTS/$name.json" --export-csv "$RESULTS/$name.csv"
		--command-name "$tool $scenario $SIZE")
	[[ -z $prepare ]] || args+=(--prepare "bash $WS/$prepare-$tool.sh")
	hyperfine "${args[@]}" "${CMD[$tool]}" >&2
	record "$scenario" "$SIZE" "$tool" "$(awk -F, 'NR == 2 { printf "%.1f", $4 * 1000 }' "$RESULTS/$name.csv")"
}

# measure_memory records the median over 5 runs of the no-op build's peak
# resident set size, in MB.
measure_memory() {
	local tool=$1 i kb=()
	for i in 1 2 3 4 5; do
		# shellcheck disable=SC2086 # CMD holds a command line
		/usr/bin/time -f %M -o "$WS/rss" ${CMD[$tool]} >/dev/null 2>&1 ||
			die "$tool: no-op build failed under /usr/bin/time"
		kb+=("$(tail -n 1 "$WS/rss")")
	done
	record memory "$SIZE" "$tool" "$(printf '%s\n' "${kb[@]}" | sort -n | awk 'NR == 3 { printf "%.1f", $1 / 1024 }')"
}

# count_noop_work records how many rules each tool would run, or ran, on a
# no-op build: it should be 0 for all three.
count_noop_work() {
	local n
	n=$("$PEX" -C "$WS/pex" -j "$JOBS" --json build //... 2>/dev/null | grep -c '"cache":"miss"' || true)
	record noop-work "$SIZE" pex "$n"
	if [[ -n $BASELINE ]]; then
		# shellcheck disable=SC2086 # CMD holds a command line
		n=$(${CMD[before]/ build / --json build } 2>/dev/null | grep -c '"cache":"miss"' || true)
		record noop-work "$SIZE" before "$n"
	fi
	n=$(ninja -C "$WS/ninja" -n -j "$JOBS" | grep -c '^\[' || true)
	record noop-work "$SIZE" ninja "$n"
	n=$(make -C "$WS/make" -n -j "$JOBS" | grep -c '^cat ' || true)
	record noop-work "$SIZE" make "$n"
}

# runs_for prints hyperfine's warm-up runs and minimum and maximum runs for
# a scenario. A clean build after the first verifying one needs no warm-up.
runs_for() {
	case $1:$QUICK in
	clean:*) echo "0 3 10" ;;
	noop:1) echo "1 5 20" ;;
	noop:0) echo "2 5 30" ;;
	*) echo "1 5 20" ;;
	esac
}

bench_size() {
	SIZE=$1
	setup_size "$SIZE"
	log "clean build with each tool, then compare outputs"
	clean_build_and_verify
	record leaf "$SIZE" all "$LEAF_SRC $LEAF_OUT $LEAF_DEPENDENTS"
	local tool scenario prepare
	for scenario in clean noop touch change; do
		if [[ $scenario == clean ]] && clean_once; then
			continue
		fi
		prepare=$scenario
		[[ $scenario != noop ]] || prepare=
		for tool in "${TOOLS[@]}"; do
			log "$SIZE rules, $scenario, $tool"
			time_scenario "$scenario" "$tool" "$prepare"
		done
		if [[ $scenario == noop ]]; then
			for tool in "${TOOLS[@]}"; do measure_memory "$tool"; done
			count_noop_work
		fi
	done
	log "incremental builds after the changes, then compare outputs"
	resync_and_verify
	((KEEP)) || rm -rf "$WS"
}

# --- hashing ---------------------------------------------------------------

# bench_hash measures single-threaded BLAKE3 throughput in MB/s: b3sum on a
# 1 GiB file, and pex's hashing (a pex command if one exists, else the
# cache package's BenchmarkHashFile).
bench_hash() {
	local big=$WORK/1GiB.bin mbps
	log "hashing: writing a 1 GiB file"
	head -c 1G /dev/urandom >"$big"
	if have b3sum; then
		hyperfine -N --style basic --warmup 1 --runs 5 --export-json "$RESULTS/hash-b3sum.json" \
			--export-csv "$RESULTS/hash-b3sum.csv" "b3sum --num-threads 1 $big" >&2
		record hash 1GiB b3sum "$(awk -F, 'NR == 2 { printf "%.0f", 1073.741824 / $4 }' "$RESULTS/hash-b3sum.csv")"
	else
		record hash 1GiB b3sum "n/a (no b3sum package)"
	fi
	if "$PEX" --help 2>/dev/null | grep -qE '^ +hash( |$)'; then
		hyperfine -N --style basic --warmup 1 --runs 5 --export-json "$RESULTS/hash-pex.json" \
			--export-csv "$RESULTS/hash-pex.csv" "$PEX hash $big" >&2
		record hash 1GiB pex "$(awk -F, 'NR == 2 { printf "%.0f", 1073.741824 / $4 }' "$RESULTS/hash-pex.csv")"
		record hash-how 1GiB pex "\`pex hash\`, 1 GiB file"
	else
		log "hashing: pex has no hash command; go test -bench BenchmarkHashFile ./cache/"
		if mbps=$(cd "$ROOT" && go test -run '^$' -bench '^BenchmarkHashFile$' -benchtime 5x -cpu 1 ./cache/ 2>&1 |
			tee "$RESULTS/hash-go-bench.txt" | awk '$1 ~ /^BenchmarkHashFile/ { for (i = 1; i < NF; i++) if ($(i + 1) == "MB/s") print $i }') &&
			[[ -n $mbps ]]; then
			record hash 1GiB pex "$mbps"
		else
			record hash 1GiB pex "n/a (go test failed: see bench/.results/hash-go-bench.txt)"
		fi
		record hash-how 1GiB pex "cache.HashFile, 256 MiB file (\`go test -bench BenchmarkHashFile -cpu 1 ./cache/\`)"
	fi
	rm -f "$big"
}

# --- report ----------------------------------------------------------------

# ratio prints a/b with two decimals, or – when either is not a number.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else printf "–" }'
}

# budget prints the issue's target for pex/ninja in a cell, if there is one.
budget() {
	case $1:$2 in
	noop:10000 | noop:50000) echo 0.5 ;;
	change:10000) echo 0.6 ;;
	clean:10000) echo 0.85 ;;
	memory:50000) echo 3 ;;
	esac
}

# verdict prints "≤ limit ✓" or "≤ limit ✗" for a ratio, or nothing.
verdict() {
	local r=$1 limit=$2
	[[ -n $limit && $r != – ]] || return 0
	awk -v r="$r" -v l="$limit" 'BEGIN { printf "≤ %s %s", l, (r <= l ? "✓" : "✗") }'
}

scenario_title() {
	case $1 in
	clean) echo "clean build (ms)" ;;
	noop) echo "no-op build (ms)" ;;
	change) echo "one leaf changed (ms)" ;;
	touch) echo "one leaf touched (ms)" ;;
	memory) echo "no-op peak RSS (MB)" ;;
	esac
}

report_table() {
	local scenario size p n m r
	if [[ -n $BASELINE ]]; then
		report_table_baseline
		return
	fi
	echo "| scenario | rules | pex | ninja | make | pex/ninja | pex/make | budget pex/ninja |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for scenario in clean noop change touch memory; do
		for size in ${SIZES//,/ }; do
			p=$(value "$scenario" "$size" pex) n=$(value "$scenario" "$size" ninja) m=$(value "$scenario" "$size" make)
			r=$(ratio "$p" "$n")
			echo "| $(scenario_title "$scenario") | $size | $p | $n | $m | $r | $(ratio "$p" "$m") | $(verdict "$r" "$(budget "$scenario" "$size")") |"
		done
	done
}

# report_table_baseline is the table with the baseline's column: pex
# before and after, each as a share of ninja, and after as a share of
# before.
report_table_baseline() {
	local scenario size p b n m r
	echo "| scenario | rules | pex | pex before | ninja | make | pex/ninja | before/ninja | pex/before | budget pex/ninja |"
	echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
	for scenario in clean noop change touch memory; do
		for size in ${SIZES//,/ }; do
			p=$(value "$scenario" "$size" pex) b=$(value "$scenario" "$size" before)
			n=$(value "$scenario" "$size" ninja) m=$(value "$scenario" "$size" make)
			r=$(ratio "$p" "$n")
			echo "| $(scenario_title "$scenario") | $size | $p | $b | $n | $m | $r | $(ratio "$b" "$n") | $(ratio "$p" "$b") | $(verdict "$r" "$(budget "$scenario" "$size")") |"
		done
	done
}

report_notes() {
	local size leaf out n p
	echo
	for size in ${SIZES//,/ }; do
		read -r leaf out n <<<"$(value leaf "$size" all)"
		echo -n "- $size rules: the leaf source is \`$leaf\`, read only by the rule of \`$out\` (transitive dependents: $n)."
		echo -n " Rules run by a no-op build: pex $(value noop-work "$size" pex),"
		[[ -z $BASELINE ]] || echo -n " pex before $(value noop-work "$size" before),"
		echo " ninja $(value noop-work "$size" ninja), make $(value noop-work "$size" make) (all should be 0)."
	done
	if [[ ,$SIZES, == *,10000,* && ,$SIZES, == *,50000,* ]]; then
		p=$(ratio "$(value noop 50000 pex)" "$(value noop 10000 pex)")
		echo -n "- no-op growth from 10k to 50k rules: pex ${p}× $(verdict "$p" 5.5),"
		echo " ninja $(ratio "$(value noop 50000 ninja)" "$(value noop 10000 ninja)")×, make $(ratio "$(value noop 50000 make)" "$(value noop 10000 make)")×."
	fi
}

report_hash() {
	((HASH)) || return 0
	local b p
	b=$(value hash 1GiB b3sum) p=$(value hash 1GiB pex)
	echo
	echo "| hashing, one thread | MB/s | pex/b3sum | budget |"
	echo "| --- | ---: | ---: | --- |"
	echo "| \`b3sum --num-threads 1\`, 1 GiB file | $b | | |"
	echo "| pex: $(value hash-how 1GiB pex) | $p | $(ratio "$p" "$b") | ≥ 0.85 $(awk -v r="$(ratio "$p" "$b")" 'BEGIN { if (r != "–") print (r >= 0.85 ? "✓" : "✗") }') |"
}

report_header() {
	local cpu mem rev
	cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
	mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
	rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
	git -C "$ROOT" diff --quiet 2>/dev/null || rev+="+dirty"
	cat <<EOF
# pex vs ninja vs make

Generated by \`bench/run.sh $ARGS\` on $(date -u '+%Y-%m-%d %H:%M UTC').
Medians of hyperfine runs at \`-j$JOBS\`; peak RSS is the median of 5 runs.
Graph (bench/gen): $RULES_PER_PACKAGE rules per package, each concatenating 3 sources
of its package and up to 2 outputs of earlier packages. bench/README.md says
what each scenario measures.

- Machine: $(nproc) CPUs ($cpu), $mem RAM, Linux $(uname -r); load average
  $LOAD_BEFORE before the run, $(cut -d' ' -f1-3 /proc/loadavg) after.
- pex $rev ($("$PEX" version 2>&1 | head -n 1))$([[ -z $BASELINE ]] || echo ", pex before: $BASELINE ($("$BIN/pex-before" version 2>&1 | head -n 1))"), ninja $(ninja --version), $(make --version | head -n 1),
  $(hyperfine --version), $(if have b3sum; then b3sum --version; else echo 'no b3sum'; fi), $(go version | cut -d' ' -f3).

EOF
}

write_report() {
	local tmp=$OUT_FILE.tmp
	{
		report_header
		report_table
		report_notes
		report_hash
	} >"$tmp"
	mv "$tmp" "$OUT_FILE"
	echo
	cat "$OUT_FILE"
	echo
	log "written to ${OUT_FILE#"$ROOT"/}; hyperfine exports in ${RESULTS#"$ROOT"/}"
}

# --- main ------------------------------------------------------------------

main() {
	ARGS="$*"
	LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
	parse_args "$@"
	ensure_tools
	build_binaries
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/pex-bench.XXXXXX")
	if ((KEEP)); then log "workspaces kept in $WORK"; else trap 'rm -rf "$WORK"' EXIT; fi
	TSV=$WORK/results.tsv
	: >"$TSV"
	rm -rf "$RESULTS"
	mkdir -p "$RESULTS"
	local size
	for size in ${SIZES//,/ }; do
		bench_size "$size"
	done
	((HASH)) && bench_hash
	cp "$TSV" "$RESULTS/results.tsv"
	write_report
}

main "$@"

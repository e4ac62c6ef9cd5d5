#!/usr/bin/env bash
# Fuzzes cdc-sentinel's parsers (fuzz/fuzz_targets/: trace classification, database targets
# and JDBC URLs, the TOML config, the state file, Kafka Connect JSON, TNS/PostgreSQL/MySQL
# replies, maintenance windows) with cargo-fuzz (libFuzzer), each target for SECONDS.
# Exits non-zero on a crash and prints its reproducer; keep each one as a unit test.
#
#   scripts/fuzz.sh                 # every target, 20 s each
#   scripts/fuzz.sh 60 config tns   # these targets, 60 s each
#
# Stable Rust only here: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags to the stable
# compiler. No sanitizer (-s none): the project forbids unsafe code, so AddressSanitizer finds
# little and doubles the build; panics, overflow checks and debug assertions are on, and those
# are the crashes a parser can have. The corpus grows in fuzz/corpus/ (not committed), seeded
# from fuzz/seeds/ (committed; regenerate with fuzz/make_seeds.py).
set -uo pipefail
cd "$(dirname "$0")/.."

secs=${1:-20}
shift || true
if ! [[ "$secs" =~ ^[0-9]+$ ]] || ((secs < 1)); then
  echo "fuzz.sh: SECONDS must be a positive number, not '$secs'" >&2
  exit 2
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz.sh: installing cargo-fuzz"
  cargo install cargo-fuzz --locked || { echo "fuzz.sh: could not install cargo-fuzz" >&2; exit 2; }
fi
export RUSTC_BOOTSTRAP=1
opts=(-s none)

targets=("$@")
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(cd fuzz && cargo fuzz list)
fi

t0=$SECONDS
echo "fuzz.sh: building ${#targets[@]} targets"
(cd fuzz && cargo fuzz build "${opts[@]}") || { echo "fuzz.sh: build failed" >&2; exit 2; }
echo "fuzz.sh: built in $((SECONDS - t0)) s"

crashed=()
logs=$(mktemp -d)
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t"
  before=$(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l)
  if (cd fuzz && cargo fuzz run "${opts[@]}" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1) >"$logs/$t.log" 2>&1; then
    runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$logs/$t.log" | grep -o '[0-9]*$')
    echo "fuzz.sh: $t: ${runs:-?} runs in ${secs}s, no crash"
  else
    crashed+=("$t")
    echo
    echo "fuzz.sh: $t: CRASH"
    grep -E "panicked|ERROR|SUMMARY|overflow|assert" "$logs/$t.log" | head -8
    for a in $(ls -t "fuzz/artifacts/$t" 2>/dev/null | head -n $(( $(ls "fuzz/artifacts/$t" 2>/dev/null | wc -l) - before ))); do
      f="fuzz/artifacts/$t/$a"
      echo "  reproducer: $f ($(wc -c <"$f") bytes), base64: $(base64 -w0 "$f")"
      echo "  run it:     (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none $t artifacts/$t/$a)"
    done
    echo "  full log:   $logs/$t.log"
  fi
done
echo "fuzz.sh: ${#targets[@]} targets, ${#crashed[@]} crashed, $((SECONDS - t0)) s in all"
((${#crashed[@]} == 0))

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (preset "fuzz") and runs each for a while.
# Usage: tools/fuzz.sh [SECONDS_PER_TARGET=600] [TARGET...]
# Seeds come from tests/fuzz/corpus/<name>/ (committed); the growing corpus lives in
# tests/fuzz/corpus-run/<name>/ and crashing inputs in tests/fuzz/artifacts/ (both ignored).
# A finding is fixed, then its input is copied into tests/fuzz/corpus/<name>/ so the
# replay test in the ordinary suite keeps it fixed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
cmake --preset fuzz >/dev/null
targets=("$@")
if ((${#targets[@]} == 0)); then
  for src in tests/fuzz/*_fuzzer.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi
cmake --build --preset fuzz --target "${targets[@]}"
mkdir -p tests/fuzz/artifacts
for target in "${targets[@]}"; do
  name="${target%_fuzzer}"
  run_corpus="tests/fuzz/corpus-run/$name"
  mkdir -p "$run_corpus"
  log="tests/fuzz/artifacts/$name.log"
  echo "[fuzz] $target for ${seconds}s"
  set +e
  "build/fuzz/tests/fuzz/$target" "$run_corpus" "tests/fuzz/corpus/$name" \
    -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="tests/fuzz/artifacts/$name-" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(grep -m1 "stat::number_of_executed_units" "$log" | awk '{print $2}')
  echo "[fuzz] $target: exit $rc, ${execs:-?} executions, corpus $(ls "$run_corpus" | wc -l) files"
  if [ "$rc" -ne 0 ]; then
    echo "[fuzz] $target found a problem: see $log and tests/fuzz/artifacts/$name-*"
  fi
done

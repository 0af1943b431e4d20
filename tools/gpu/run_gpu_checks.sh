#!/usr/bin/env bash
# duet's GPU checks on a lent GPU machine, in one call: configure + build tools/gpu (a standalone
# CMake project over the repository's own media-free sources) against the machine's pip torch,
# run the GPU tests (tests/gpu) and the nn unit tests (tests/unit/nn: CPU and CUDA paths), run
# the GPU attention benchmark and the CPU attention and fused-norm benchmarks, and write everything to $OUT.
#
# Usage
#   Here, once (needs apt + network; writes the git-ignored tools/gpu/deps, ~11 MiB):
#       tools/gpu/prepare_deps.sh
#   Then on the GPU machine, from the repository root of a copy of the working tree that
#   includes tools/gpu/deps (the machine needs its own CUDA torch, nvcc, CMake and ninja; no
#   network):
#       OUT=/some/folder tools/gpu/run_gpu_checks.sh
#   $OUT then holds gpu-report.txt (everything: machine, versions, build tail, test output,
#   summary, benchmark tables), duet_gpu_tests.json / duet_nn_tests.json (gtest), build.log,
#   configure.log, bench-*.txt.
#   Locally (no GPU) the same script works too: OUT defaults to build/gpu-out, CUDA tests skip.
#
# Exit status: 0 when every test passed; 1 when a test failed, a test binary did not build, or,
# on a machine with a visible GPU, a test was skipped (the CUDA path was not exercised; set
# DUET_GPU_ALLOW_SKIPS=1 to accept skips); 2 for setup errors (no torch, no deps). Benchmarks
# only report; their failures are listed but do not fail the run.
#
# Environment knobs: OUT, DUET_PYTHON (default python3), DUET_DEPS_MODE (PREBUILT | HEADERS;
# default: PREBUILT when this machine's glibc and libstdc++ can run Debian 12's prebuilt libfmt /
# libspdlog / libgtest, else HEADERS: header-only fmt/spdlog and GoogleTest from source),
# DUET_GPU_BUILD_DIR (default build/gpu), DUET_GPU_JOBS (default: nproc), DUET_GPU_BUDGET_S
# (whole-run budget, default 530 s: GPU runs are limited to 600 s per call), DUET_GPU_SKIP_BENCH=1.
set -euo pipefail

t0=$SECONDS
budget=${DUET_GPU_BUDGET_S:-530}
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
OUT="${OUT:-$repo/build/gpu-out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
report="$OUT/gpu-report.txt"
: > "$report"
# Everything printed from here on also lands in the report (even if the call is cut short).
exec > >(tee -a "$report") 2>&1
tee_pid=$!
# On exit, let tee write the report's last lines before $OUT is collected.
trap 'rc=$?; exec >&- 2>&-; wait "$tee_pid" 2>/dev/null; exit $rc' EXIT

build="${DUET_GPU_BUILD_DIR:-$repo/build/gpu}"
jobs="${DUET_GPU_JOBS:-$(nproc 2>/dev/null || echo 16)}"
py="${DUET_PYTHON:-python3}"
deps="$repo/tools/gpu/deps/usr"
failures=()
notes=()

section() { printf '\n===== %s  [t=%ds]\n' "$*" $((SECONDS - t0)); }
left() { echo $((budget - (SECONDS - t0))); }
# timeout for a step: what is left of the budget minus a reserve for the steps after it, at
# most $1 seconds, at least 10.
step_limit() {
  local want=$1 reserve=${2:-0} l
  l=$(( $(left) - reserve ))
  (( l > want )) && l=$want
  (( l < 10 )) && l=10
  echo "$l"
}
why() { if (( $1 == 124 )); then echo ' (timeout)'; fi; }  # always succeeds (set -e)
die() { echo "run_gpu_checks: ERROR: $*"; echo "RESULT: SETUP FAILED"; exit 2; }

section "duet GPU checks"
echo "date:    $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "host:    $(uname -srm), $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
echo "repo:    $repo ($(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
echo "out:     $OUT"
echo "budget:  ${budget}s, jobs $jobs"

section "nvidia-smi"
gpu_visible=0
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi 2>&1 | tee "$OUT/nvidia-smi.txt" || true
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap,clocks.max.sm --format=csv 2>&1 || true
  if nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then gpu_visible=1; fi
else
  echo "nvidia-smi: not found"
fi
echo "GPU visible: $gpu_visible"

section "toolchain"
command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -2 || echo "nvcc: not on PATH (CMake also looks in /usr/local/cuda/bin)"
cmake --version | head -1
command -v ninja >/dev/null 2>&1 && echo "ninja $(ninja --version)" || echo "ninja: not found (Makefiles)"
cxx="${CXX:-c++}"
"$cxx" --version | head -1 || true
glibc="$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')"
echo "glibc:   ${glibc:-unknown}"
torch_info="$("$py" -c 'import torch, torch.utils; print(torch.__version__, torch.version.cuda, torch.cuda.is_available(), torch.utils.cmake_prefix_path)' 2>"$OUT/torch-import.log" | tail -1)" \
  || true
[[ -n "$torch_info" ]] || { cat "$OUT/torch-import.log"; die "$py cannot import torch"; }
read -r torch_version torch_cuda torch_gpu torch_prefix <<<"$torch_info"
echo "torch:   $torch_version (CUDA $torch_cuda, cuda.is_available() = $torch_gpu)"
echo "cmake:   $torch_prefix"
[[ -f "$torch_prefix/Torch/TorchConfig.cmake" ]] || die "no TorchConfig.cmake under $torch_prefix/Torch"

section "dependencies"
[[ -d "$deps/include" ]] || die "tools/gpu/deps is missing: run tools/gpu/prepare_deps.sh on the development machine and copy tools/gpu/deps along"
[[ -f "$repo/tools/gpu/deps/MANIFEST" ]] && sed 's/^/  /' "$repo/tools/gpu/deps/MANIFEST"
mode="${DUET_DEPS_MODE:-}"
if [[ -z "$mode" ]]; then
  # Debian 12's libspdlog/libfmt/libgtest need glibc >= 2.34 and GLIBCXX_3.4.30 (gcc 12).
  libstdcxx="$(readlink -f "$("$cxx" -print-file-name=libstdc++.so.6)" 2>/dev/null || true)"
  mode=HEADERS
  if [[ -n "$glibc" ]] && printf '2.34\n%s\n' "$glibc" | sort -V -C \
     && [[ -f "$libstdcxx" ]] && grep -qa 'GLIBCXX_3\.4\.30' "$libstdcxx"; then
    mode=PREBUILT
  fi
  echo "libstdc++: ${libstdcxx:-not found}"
fi
echo "deps mode: $mode"
lib_dir="$deps/lib/x86_64-linux-gnu"
if [[ "$mode" == PREBUILT ]]; then
  export LD_LIBRARY_PATH="$lib_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
fi

section "configure"
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
if [[ -f "$build/CMakeCache.txt" ]] && ! grep -q "^CMAKE_HOME_DIRECTORY:INTERNAL=$repo/tools/gpu$" "$build/CMakeCache.txt"; then
  echo "stale cache from another tree in $build: removing it"; rm -rf "$build"
fi
if [[ -f "$build/CMakeCache.txt" && ${#gen[@]} -gt 0 ]] && ! grep -q '^CMAKE_GENERATOR:INTERNAL=Ninja$' "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
cfg_rc=0
timeout "$(step_limit 150 300)" cmake -S tools/gpu -B "$build" "${gen[@]}" \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDUET_CUDA=ON \
    -DTorch_DIR="$torch_prefix/Torch" \
    -DDUET_DEPS_PREFIX="$deps" -DDUET_DEPS_MODE="$mode" > "$OUT/configure.log" 2>&1 || cfg_rc=$?
grep -E 'duet|Found|CUDA|Error|error|Warning' "$OUT/configure.log" | grep -v '^-- Looking\|^-- Check\|^-- Detecting' | head -60
if (( cfg_rc != 0 )); then
  tail -40 "$OUT/configure.log"
  die "configure failed (rc $cfg_rc); see configure.log"
fi

section "build (-j$jobs)"
targets=(duet_gpu_tests duet_nn_tests)
[[ "${DUET_GPU_SKIP_BENCH:-0}" == 1 ]] || targets+=(duet_attention_gpu_bench duet_attention_bench duet_fused_norm_bench)
keep=()
[[ ${#gen[@]} -gt 0 ]] && keep=(-- -k 0)  # ninja: keep going, so a broken bench does not stop the tests
build_rc=0
timeout "$(step_limit 360 60)" cmake --build "$build" -j "$jobs" --target "${targets[@]}" "${keep[@]}" \
    > "$OUT/build.log" 2>&1 || build_rc=$?
grep -E 'error|FAILED' "$OUT/build.log" | head -40 || true
tail -5 "$OUT/build.log"
echo "build rc: $build_rc"
(( build_rc == 124 )) && failures+=("build ran out of time")

# Summarises a gtest JSON file: counts, failed tests with their messages, skipped tests.
summarise() {
  "$py" - "$1" <<'EOF' || true
import json, sys
data = json.load(open(sys.argv[1]))
passed = failed = skipped = 0
for suite in data.get("testsuites", []):
    for t in suite.get("testsuite", []):
        name = f'{suite["name"]}.{t["name"]}'
        if t.get("failures"):
            failed += 1
            print(f"  FAILED  {name}")
            for f in t["failures"]:
                print("          " + f.get("failure", "").replace("\n", "\n          ")[:2000])
        elif t.get("result") == "SKIPPED":
            skipped += 1
            print(f"  SKIPPED {name}")
        else:
            passed += 1
print(f"  {passed} passed, {failed} failed, {skipped} skipped")
print(f"SKIPPED_COUNT={skipped}")
EOF
}

for t in duet_gpu_tests duet_nn_tests; do
  section "test $t"
  bin="$build/$t"
  if [[ ! -x "$bin" ]]; then
    echo "$t did not build"
    failures+=("$t: did not build")
    continue
  fi
  rc=0
  timeout "$(step_limit 240 40)" "$bin" --gtest_color=no --gtest_output="json:$OUT/$t.json" > "$OUT/$t.log" 2>&1 || rc=$?
  # Full output in $t.log; the report keeps the summary and failures (and all of it on failure).
  grep -E '^\[ *(RUN|OK|FAILED|SKIPPED|PASSED) *\]|^\[==========\]' "$OUT/$t.log" | grep -v '^\[ RUN' || true
  if (( rc != 0 )); then
    echo "--- $t output (tail) ---"; tail -80 "$OUT/$t.log"
    failures+=("$t: exit $rc$(why "$rc")")
  fi
  if [[ -f "$OUT/$t.json" ]]; then
    s="$(summarise "$OUT/$t.json")"
    echo "$s" | grep -v '^SKIPPED_COUNT='
    skipped="$(echo "$s" | sed -n 's/^SKIPPED_COUNT=//p')"
    if (( gpu_visible == 1 && ${skipped:-0} > 0 )) && [[ "${DUET_GPU_ALLOW_SKIPS:-0}" != 1 ]]; then
      failures+=("$t: $skipped test(s) skipped on a machine with a GPU")
    fi
  elif (( rc == 0 )); then
    failures+=("$t: no JSON output")
  fi
done

if [[ "${DUET_GPU_SKIP_BENCH:-0}" != 1 ]]; then
  # CPU benchmarks (the GPU machine's host): small shapes so they fit the budget.
  # bench NAME SECONDS ARGS...: runs build/gpu/duet_NAME_bench into bench-NAME.txt.
  bench() {
    local name=$1 limit=$2 rc=0; shift 2
    section "bench duet_${name}_bench $*"
    if [[ ! -x "$build/duet_${name}_bench" ]]; then
      notes+=("duet_${name}_bench: did not build"); return
    fi
    if (( $(left) < 40 )); then
      notes+=("duet_${name}_bench: no time left"); return
    fi
    timeout "$(step_limit "$limit" 15)" "$build/duet_${name}_bench" "$@" > "$OUT/bench-$name.txt" 2>&1 || rc=$?
    cat "$OUT/bench-$name.txt"
    if (( rc != 0 )); then notes+=("duet_${name}_bench: exit $rc$(why "$rc")"); fi
  }
  # GPU attention first (it is what the machine is for): duet's flash kernel beside libtorch's.
  if (( gpu_visible == 1 )); then
    bench attention_gpu 150 --lens 4096,15000,32768 --dims 128,64 --reps 10
  fi
  bench fused_norm 90 --len 15000 --reps 3
  bench attention 120 --lens 4096 --reps 2
fi

section "summary"
echo "machine: $(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || echo 'no GPU'); torch $torch_version; deps $mode"
for n in "${notes[@]}"; do echo "note: $n"; done
if (( ${#failures[@]} > 0 )); then
  for f in "${failures[@]}"; do echo "FAIL: $f"; done
  echo "RESULT: FAILED  (total $((SECONDS - t0))s)"
  exit 1
fi
echo "RESULT: PASSED  (total $((SECONDS - t0))s)"

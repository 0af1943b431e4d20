// Fused norm kernels on the CPU (src/nn/fused_norm.h) against the unfused ATen chains they
// replace, at a Wan 14B / Ovi block's width over a 480p-sized sequence.
//
//   duet_fused_norm_bench [--len 15000] [--heads 24] [--head-dim 128] [--dtypes bf16,fp32]
//                         [--reps 3] [--threads N]
//
// Per op and dtype: one untimed call each, then --reps timed calls; the median wall time is
// printed with the bandwidth it implies. "GB/s" counts the bytes the fused op must move (each
// input read once, each output written once; the broadcast modulation rows and rope tables are
// left out), for both columns, so the unfused figure is the useful bandwidth of the chain, not
// what its temporaries actually move.
//
// Ops and dtypes, as the blocks call them ("bf16" = bf16 weights, the residual stream in fp32
// for Wan):
//   rms_norm_rope_qk     q, k [1, L, H*D] dtype -> [1, L, H, D] dtype, 3D rope over one grid
//   layer_norm_modulate  x [1, L, D] fp32, shift/scale [1, 1, D] fp32 -> dtype
//   gated_residual       x [1, L, D] fp32 + y [1, L, D] dtype * gate [1, 1, D] fp32 -> fp32
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "nn/fused_norm.h"
#include "nn/layers.h"
#include "nn/rope.h"

namespace {

using namespace duet;

struct Options {
  int64_t len = 15000;
  int64_t heads = 24;
  int64_t head_dim = 128;
  std::vector<std::string> dtypes = {"bf16", "fp32"};
  int reps = 3;
  int threads = 0;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) out.push_back(item);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--len")
      o.len = std::stoll(value);
    else if (flag == "--heads")
      o.heads = std::stoll(value);
    else if (flag == "--head-dim")
      o.head_dim = std::stoll(value);
    else if (flag == "--dtypes")
      o.dtypes = split(value);
    else if (flag == "--reps")
      o.reps = std::stoi(value);
    else if (flag == "--threads")
      o.threads = std::stoi(value);
    else
      DUET_FAIL("unknown flag {}", flag);
  }
  return o;
}

// Median wall milliseconds of `reps` calls after one untimed call.
double median_ms(const std::function<void()>& f, int reps) {
  f();
  std::vector<double> ms;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

void report(const std::string& op, const std::string& dtype, double bytes, double fused_ms,
            double unfused_ms) {
  std::printf("%-20s %-5s  fused %8.1f ms %6.1f GB/s   unfused %8.1f ms %6.1f GB/s   x%.2f\n",
              op.c_str(), dtype.c_str(), fused_ms, bytes / fused_ms / 1e6, unfused_ms,
              bytes / unfused_ms / 1e6, unfused_ms / fused_ms);
}

// A grid of exactly `len` tokens when len factors as F*H*W with small F; else one row.
nn::VideoGrid grid_for(int64_t len) {
  for (int64_t f = 21; f >= 1; --f) {
    if (len % f != 0) continue;
    const int64_t rest = len / f;
    for (int64_t h = 1; h * h <= rest; ++h) {
      if (rest % h == 0 && rest / h <= 1024 && h <= 1024 && f <= 1024) {
        const int64_t w = rest / h;
        if (h * 2 >= w / 2) return {f, h, w};
      }
    }
  }
  return {1, 1, std::min<int64_t>(len, 1024)};
}

void bench_dtype(const Options& o, at::ScalarType dtype, const std::string& name) {
  const int64_t dim = o.heads * o.head_dim;
  const double elem = static_cast<double>(o.len * dim);
  const double size = static_cast<double>(at::elementSize(dtype));
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  const auto q = at::randn({1, o.len, dim}, gen).to(dtype);
  const auto k = at::randn({1, o.len, dim}, gen).to(dtype);
  nn::RMSNorm nq, nk;
  nq.weight = (1 + 0.1 * at::randn({dim}, gen)).to(dtype);
  nk.weight = (1 + 0.1 * at::randn({dim}, gen)).to(dtype);
  const auto rope = nn::QkRope::of_video(nn::VideoRope::make(o.head_dim), {grid_for(o.len)});
  const auto prec = nn::RmsNormPrecision::kFloat32;
  const double rms_bytes = 2 * elem * (size + size);
  report(
      "rms_norm_rope_qk", name, rms_bytes,
      median_ms([&] { nn::rms_norm_rope_qk(q, k, nq, nk, prec, o.heads, rope); }, o.reps),
      median_ms([&] { nn::rms_norm_rope_qk_unfused(q, k, nq, nk, prec, o.heads, rope); }, o.reps));

  const auto x = at::randn({1, o.len, dim}, gen);
  const auto e = at::randn({1, 1, 6, dim}, gen);
  nn::LayerNorm norm;
  norm.init_plain(dim, 1e-6);
  const auto sh = e.select(2, 0), sc = e.select(2, 1), gate = e.select(2, 2);
  report("layer_norm_modulate", name, elem * (4 + size),
         median_ms([&] { nn::layer_norm_modulate(norm, x, sh, sc, dtype); }, o.reps),
         median_ms([&] { nn::layer_norm_modulate_unfused(norm, x, sh, sc, dtype); }, o.reps));

  const auto y = at::randn({1, o.len, dim}, gen).to(dtype);
  report("gated_residual", name, elem * (4 + size + 4),
         median_ms([&] { nn::gated_residual(x, y, gate); }, o.reps),
         median_ms([&] { nn::gated_residual_unfused(x, y, gate); }, o.reps));
}

}  // namespace

int main(int argc, char** argv) {
  const auto o = parse(argc, argv);
  if (o.threads > 0) at::set_num_threads(o.threads);
  at::NoGradGuard no_grad;
  const auto g = grid_for(o.len);
  std::printf("L=%lld heads=%lld head_dim=%lld threads=%d grid=(%lld,%lld,%lld) reps=%d\n",
              static_cast<long long>(o.len), static_cast<long long>(o.heads),
              static_cast<long long>(o.head_dim), at::get_num_threads(),
              static_cast<long long>(g[0]), static_cast<long long>(g[1]),
              static_cast<long long>(g[2]), o.reps);
  for (const auto& d : o.dtypes) {
    if (d == "bf16")
      bench_dtype(o, at::kBFloat16, d);
    else if (d == "fp32")
      bench_dtype(o, at::kFloat, d);
    else
      DUET_FAIL("unknown dtype {} (bf16, fp32)", d);
  }
  return 0;
}

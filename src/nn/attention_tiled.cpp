#include "nn/attention_tiled.h"

#include <ATen/Parallel.h>
#include <ATen/native/CPUBlas.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <vector>

#include "core/error.h"

namespace duet::nn {
namespace {

namespace cpublas = at::native::cpublas;

// Key tiles, and head dims on the bf16 path, come in whole multiples of 64: AMX tiles hold 16
// rows of 64 bytes (32 bf16), and these are the sizes tested here.
constexpr int64_t kPackWidth = 64;
// Lanes of the hand-split loops below. Without -ffast-math the compiler may not reorder a float
// sum or max, so the loops keep kLanes partial results themselves and the vectoriser maps them
// onto registers. 32, not 16: with 16 GCC narrows the bf16 stores to 256-bit halves and
// vectorises the whole softmax at 256 bits (measured: 512-bit code only from 32 up).
constexpr int64_t kLanes = 32;
constexpr float kLog2e = 1.4426950408889634f;

// The elementwise loops are compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the
// loader picks the best the CPU runs, so the library stays portable without -march flags.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define DUET_ISA_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define DUET_ISA_CLONES
#endif

// 2^x for x <= 0, branch-free so loops over it vectorise: a Taylor series of 2^r on
// r in [-0.5, 0.5] times 2^n built in the exponent bits. Degree 7 truncates at 5e-9, below fp32
// rounding; degree 5 at 2.4e-6, far below the bf16 rounding (2e-3) its results go through.
// Inputs under -126 are clamped: their weight (< 1.2e-38) cannot change an fp32 sum.
template <int kDegree>
[[gnu::always_inline]] inline float exp2_nonpositive(float x) {
  constexpr float kCoefficients[] = {1.0f,  // ln2^k / k!
                                     6.9314718055994531e-01f,
                                     2.4022650695910071e-01f,
                                     5.5504108664821580e-02f,
                                     9.6181291076284772e-03f,
                                     1.3333558146428443e-03f,
                                     1.5403530393381606e-04f,
                                     1.5252733804059841e-05f};
  static_assert(kDegree >= 1 && kDegree <= 7);
  x = std::max(x, -126.0f);
  const float n = (x + 12582912.0f) - 12582912.0f;  // round to nearest via 1.5·2^23
  const float r = x - n;
  float p = kCoefficients[kDegree];
#pragma GCC unroll 8
  for (int k = kDegree - 1; k >= 0; --k) p = p * r + kCoefficients[k];
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// Round to nearest even, as at::BFloat16 does; the values here are finite.
[[gnu::always_inline]] inline uint16_t to_bf16_bits(float f) {
  const uint32_t u = std::bit_cast<uint32_t>(f);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

// One online-softmax step over a score block s: [rows, ld] whose first `cols` columns are
// valid. With the scores taken into the log2 domain (× scale2), the running row max m and row
// sum l are updated, alpha[i] = 2^(m_old - m_new) is what the accumulator row must be
// multiplied by, and p = 2^(s·scale2 - m_new) is written over s (fp32) or to p_bf16, with
// columns [cols, zero_to) set to 0. Inlined into the per-ISA wrappers below.
template <bool kToBf16, int kDegree = kToBf16 ? 5 : 7>
[[gnu::always_inline]] inline void online_softmax_step(float* __restrict s,
                                                       uint16_t* __restrict p_bf16, int64_t rows,
                                                       int64_t cols, int64_t zero_to, int64_t ld,
                                                       float scale2, float* m, float* l,
                                                       float* alpha) {
  const int64_t body = cols - cols % kLanes;
  for (int64_t i = 0; i < rows; ++i) {
    float* __restrict row = s + i * ld;
    uint16_t* __restrict out = kToBf16 ? p_bf16 + i * ld : nullptr;
    // scale2 > 0, so the max is taken on the raw scores and scaled once.
    float lane_max[kLanes];
    for (int64_t t = 0; t < kLanes; ++t) lane_max[t] = -std::numeric_limits<float>::infinity();
    for (int64_t j = 0; j < body; j += kLanes) {
      for (int64_t t = 0; t < kLanes; ++t) {
        lane_max[t] = row[j + t] > lane_max[t] ? row[j + t] : lane_max[t];
      }
    }
    float raw_max = -std::numeric_limits<float>::infinity();
    for (int64_t j = body; j < cols; ++j) raw_max = std::max(raw_max, row[j]);
    for (int64_t t = 0; t < kLanes; ++t) raw_max = std::max(raw_max, lane_max[t]);
    const float row_max = std::max(m[i], raw_max * scale2);

    float lane_sum[kLanes] = {};
    for (int64_t j = 0; j < body; j += kLanes) {
      for (int64_t t = 0; t < kLanes; ++t) {
        const float p = exp2_nonpositive<kDegree>(row[j + t] * scale2 - row_max);
        if constexpr (kToBf16) {
          out[j + t] = to_bf16_bits(p);
        } else {
          row[j + t] = p;
        }
        lane_sum[t] += p;
      }
    }
    float row_sum = 0.0f;
    for (int64_t j = body; j < cols; ++j) {
      const float p = exp2_nonpositive<kDegree>(row[j] * scale2 - row_max);
      if constexpr (kToBf16) {
        out[j] = to_bf16_bits(p);
      } else {
        row[j] = p;
      }
      row_sum += p;
    }
    for (int64_t t = 0; t < kLanes; ++t) row_sum += lane_sum[t];
    for (int64_t j = cols; j < zero_to; ++j) {
      if constexpr (kToBf16) {
        out[j] = 0;
      } else {
        row[j] = 0.0f;
      }
    }
    // m starts at -inf: 2^(-inf) is clamped to ~1e-38, harmless as l and acc start at 0.
    alpha[i] = exp2_nonpositive<7>(m[i] - row_max);
    m[i] = row_max;
    l[i] = l[i] * alpha[i] + row_sum;
  }
}

DUET_ISA_CLONES void softmax_step_f32(float* s, int64_t rows, int64_t cols, int64_t zero_to,
                                      int64_t ld, float scale2, float* m, float* l, float* alpha) {
  online_softmax_step<false>(s, nullptr, rows, cols, zero_to, ld, scale2, m, l, alpha);
}
// The bf16 path's second matmul takes p in bf16; writing it here saves a pass over the block.
DUET_ISA_CLONES void softmax_step_bf16(float* s, uint16_t* p_bf16, int64_t rows, int64_t cols,
                                       int64_t zero_to, int64_t ld, float scale2, float* m,
                                       float* l, float* alpha) {
  online_softmax_step<true>(s, p_bf16, rows, cols, zero_to, ld, scale2, m, l, alpha);
}

// The loops below run in whole blocks of kLanes with a fixed trip count and __restrict
// pointers: at -O2 GCC vectorises only loops that need neither a runtime alias check nor a
// remainder loop of its own.

// acc: [rows, dim] *= alpha per row
DUET_ISA_CLONES void rescale_rows(float* __restrict acc, int64_t rows, int64_t dim,
                                  const float* __restrict alpha) {
  const int64_t body = dim - dim % kLanes;
  for (int64_t i = 0; i < rows; ++i) {
    const float a = alpha[i];
    if (a == 1.0f) continue;
    float* __restrict row = acc + i * dim;
    for (int64_t d = 0; d < body; d += kLanes) {
      for (int64_t t = 0; t < kLanes; ++t) row[d + t] *= a;
    }
    for (int64_t d = body; d < dim; ++d) row[d] *= a;
  }
}

// acc row / l -> an output row of `dim` values (fp32 or bf16 bits).
DUET_ISA_CLONES void store_row_f32(const float* __restrict acc, float l, float* __restrict out,
                                   int64_t dim) {
  const float inv = 1.0f / l;
  const int64_t body = dim - dim % kLanes;
  for (int64_t d = 0; d < body; d += kLanes) {
    for (int64_t t = 0; t < kLanes; ++t) out[d + t] = acc[d + t] * inv;
  }
  for (int64_t d = body; d < dim; ++d) out[d] = acc[d] * inv;
}
DUET_ISA_CLONES void store_row_bf16(const float* __restrict acc, float l, uint16_t* __restrict out,
                                    int64_t dim) {
  const float inv = 1.0f / l;
  const int64_t body = dim - dim % kLanes;
  for (int64_t d = 0; d < body; d += kLanes) {
    for (int64_t t = 0; t < kLanes; ++t) out[d + t] = to_bf16_bits(acc[d + t] * inv);
  }
  for (int64_t d = body; d < dim; ++d) out[d] = to_bf16_bits(acc[d] * inv);
}

// Sizes shared by both paths. Inputs are contiguous [B, L, H, D], so consecutive tokens of one
// head are row_stride = H·D apart and each row's D values are contiguous.
struct Problem {
  int64_t batch, heads, q_len, k_len, dim;
  int64_t k_used;  // max(k_valid): keys past it are never read, so never rearranged either
  int64_t row_stride;
  float scale2;                  // softmax scale × log2(e): the kernels use 2^x, not e^x
  std::vector<int64_t> k_valid;  // [B] keys attended to per batch
  int64_t q_tiles;               // ceil(Lq / q_tile)
};

Problem make_problem(const at::Tensor& q, const at::Tensor& k,
                     const std::optional<at::Tensor>& k_lens, double scale,
                     const TiledAttentionConfig& config) {
  Problem p{};
  p.batch = q.size(0);
  p.heads = q.size(2);
  p.q_len = q.size(1);
  p.k_len = k.size(1);
  p.dim = q.size(3);
  p.row_stride = p.heads * p.dim;
  p.scale2 = static_cast<float>(scale) * kLog2e;
  p.q_tiles = (p.q_len + config.q_tile - 1) / config.q_tile;
  if (k_lens) {
    const auto lens = k_lens->to(at::kCPU, at::kLong).contiguous();
    p.k_valid.assign(lens.data_ptr<int64_t>(), lens.data_ptr<int64_t>() + p.batch);
  } else {
    p.k_valid.assign(static_cast<size_t>(p.batch), p.k_len);
  }
  p.k_used = *std::max_element(p.k_valid.begin(), p.k_valid.end());
  return p;
}

// Task t -> (b, h, query tile). Batch varies fastest so that batches of unequal key lengths
// spread over the threads' contiguous task ranges instead of landing on one.
struct Task {
  int64_t b, h, q0;
};
Task task_of(int64_t t, const Problem& p, const TiledAttentionConfig& config) {
  const int64_t b = t % p.batch;
  const int64_t h = (t / p.batch) % p.heads;
  const int64_t qt = t / (p.batch * p.heads);
  return {b, h, qt * config.q_tile};
}

// Per-thread scratch: the query tile, one score block, the fp32 accumulator and the softmax
// state of a tile. The query rows are copied out of [B, L, H, D] because their stride there
// (H·D elements, a multiple of 4 KiB for the usual head counts) makes the micro-kernel's
// loads collide in the same cache sets.
struct Scratch {
  std::vector<float> q, scores, acc, m, l, alpha;
  std::vector<at::BFloat16> q_bf16;
  std::vector<uint16_t> p_bf16;
  Scratch(const TiledAttentionConfig& c, int64_t dim, bool bf16)
      : q(bf16 ? 0 : static_cast<size_t>(c.q_tile * dim)),
        scores(static_cast<size_t>(c.q_tile * c.k_tile)),
        acc(static_cast<size_t>(c.q_tile * dim)),
        m(static_cast<size_t>(c.q_tile)),
        l(static_cast<size_t>(c.q_tile)),
        alpha(static_cast<size_t>(c.q_tile)),
        q_bf16(bf16 ? static_cast<size_t>(c.q_tile * dim) : 0),
        p_bf16(bf16 ? static_cast<size_t>(c.q_tile * c.k_tile) : 0) {}
  void reset(int64_t rows, int64_t dim) {
    std::fill_n(acc.begin(), rows * dim, 0.0f);
    std::fill_n(m.begin(), rows, -std::numeric_limits<float>::infinity());
    std::fill_n(l.begin(), rows, 0.0f);
  }
};

// rows query rows of one head, `stride` elements apart -> dst [rows, dim]
template <typename T>
void gather_rows(const T* src, int64_t rows, int64_t stride, int64_t dim, T* dst) {
  for (int64_t i = 0; i < rows; ++i) std::copy_n(src + i * stride, dim, dst + i * dim);
}

void store_tile(const Scratch& s, const Problem& p, const Task& t, int64_t rows, void* out,
                bool out_bf16) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t offset = ((t.b * p.q_len + t.q0 + i) * p.heads + t.h) * p.dim;
    const float* acc = s.acc.data() + i * p.dim;
    if (out_bf16) {
      store_row_bf16(acc, s.l[static_cast<size_t>(i)], static_cast<uint16_t*>(out) + offset, p.dim);
    } else {
      store_row_f32(acc, s.l[static_cast<size_t>(i)], static_cast<float*>(out) + offset, p.dim);
    }
  }
}

// ---- fp32 path: fp32 operands, oneDNN's fp32 micro-kernel (or MKL where it has none) ----
//
// k and v are rearranged once per call (O(L·D)) so that the micro-kernel's right-hand sides are
// row-major with short rows: k^T per key tile [D, k_tile] (zero-padded past k_used) and v per
// head [k_used, D]. Read in place, both would be strided by H·D, which thrashes the cache (see
// Scratch; v read in place measured 10-25% slower).

// q: [B, Lq, H, D] fp32; kt: [B, H, key tiles, D, k_tile]; v: [B, H, k_used, D];
// out: [B, Lq, H, D] fp32 or bf16.
void fp32_attention(const float* q, const float* kt, const float* v, void* out, bool out_bf16,
                    const Problem& p, const TiledAttentionConfig& c) {
  const int64_t k_tiles = (p.k_used + c.k_tile - 1) / c.k_tile;
  at::parallel_for(0, p.batch * p.heads * p.q_tiles, 1, [&](int64_t begin, int64_t end) {
    Scratch s(c, p.dim, /*bf16=*/false);
    for (int64_t ti = begin; ti < end; ++ti) {
      const Task t = task_of(ti, p, c);
      const int64_t rows = std::min(c.q_tile, p.q_len - t.q0);
      const int64_t n_valid = p.k_valid[static_cast<size_t>(t.b)];
      const int64_t bh = t.b * p.heads + t.h;
      gather_rows(q + ((t.b * p.q_len + t.q0) * p.heads + t.h) * p.dim, rows, p.row_stride, p.dim,
                  s.q.data());
      s.reset(rows, p.dim);
      for (int64_t tile = 0; tile * c.k_tile < n_valid; ++tile) {
        const int64_t k0 = tile * c.k_tile;
        const int64_t nk = std::min(c.k_tile, n_valid - k0);
        // scores [rows, nk] = q [rows, D] · k^T [D, nk]
        cpublas::brgemm(rows, nk, p.dim, p.dim, c.k_tile, c.k_tile, /*add_C=*/false, s.q.data(),
                        kt + (bh * k_tiles + tile) * p.dim * c.k_tile, s.scores.data(),
                        /*is_vnni=*/false);
        softmax_step_f32(s.scores.data(), rows, nk, nk, c.k_tile, p.scale2, s.m.data(), s.l.data(),
                         s.alpha.data());
        rescale_rows(s.acc.data(), rows, p.dim, s.alpha.data());
        // acc [rows, D] += p [rows, nk] · v [nk, D]
        cpublas::brgemm(rows, p.dim, nk, c.k_tile, p.dim, p.dim, /*add_C=*/true, s.scores.data(),
                        v + (bh * p.k_used + k0) * p.dim, s.acc.data(), /*is_vnni=*/false);
      }
      store_tile(s, p, t, rows, out, out_bf16);
    }
  });
}

// ---- bf16 path: bf16 operands on AMX / AVX512-bf16, fp32 accumulation ----
//
// The micro-kernel wants its right-hand side in the VNNI layout: rows paired, [K/2, N, 2]. k
// and v are repacked so once per call (O(L·D), in parallel), not once per query tile: per key
// tile, k^T [D, k_tile] and v [k_tile, D], keys past k_used zero-filled up to a whole tile. One
// micro-kernel call then covers a whole tile (N = k_tile, resp. N = D).

struct Packed {
  at::Tensor k;     // [B·H, key tiles, D/2, k_tile, 2]: k^T per tile
  at::Tensor v;     // [B·H, key tiles, k_tile/2, D, 2]: v per tile
  int64_t k_tiles;  // ceil(k_used / k_tile)
};

// bf16 pairs move as one 32-bit word: the VNNI layout keeps each pair together.
void pack_key_tile(const uint32_t* k, int64_t row_stride, int64_t keys, int64_t dim, int64_t k_tile,
                   uint32_t* out) {
  // k: `keys` rows of D/2 words, row_stride words apart -> out [D/2, k_tile]: a transpose,
  // 16 keys at a time so the reads stay in a few cache lines and the writes are contiguous.
  constexpr int64_t kBlock = 16;
  const int64_t words = dim / 2;
  int64_t j0 = 0;
  for (; j0 + kBlock <= keys; j0 += kBlock) {
    for (int64_t d = 0; d < words; ++d) {
      for (int64_t j = 0; j < kBlock; ++j) out[d * k_tile + j0 + j] = k[(j0 + j) * row_stride + d];
    }
  }
  for (int64_t d = 0; d < words; ++d) {
    for (int64_t j = j0; j < keys; ++j) out[d * k_tile + j] = k[j * row_stride + d];
    std::fill_n(out + d * k_tile + keys, k_tile - keys, 0u);
  }
}

DUET_ISA_CLONES void pack_value_tile(const uint16_t* __restrict v, int64_t row_stride, int64_t keys,
                                     int64_t dim, int64_t k_tile, uint32_t* __restrict out) {
  // v: `keys` rows of D, row_stride apart -> out [k_tile/2, D] words (low half: even key)
  for (int64_t j = 0; j < k_tile; j += 2) {
    const uint16_t* even = v + j * row_stride;
    const uint16_t* odd = even + row_stride;
    uint32_t* dst = out + (j / 2) * dim;
    if (j + 1 < keys) {
      for (int64_t d = 0; d < dim; ++d) dst[d] = even[d] | (static_cast<uint32_t>(odd[d]) << 16);
    } else if (j < keys) {
      for (int64_t d = 0; d < dim; ++d) dst[d] = even[d];
    } else {
      std::fill_n(dst, dim, 0u);
    }
  }
}

Packed pack_keys_values(const at::BFloat16* k, const at::BFloat16* v, const Problem& p,
                        const TiledAttentionConfig& c) {
  Packed packed;
  packed.k_tiles = (p.k_used + c.k_tile - 1) / c.k_tile;
  const int64_t tile_elems = p.dim * c.k_tile;
  const auto opts = at::TensorOptions().dtype(at::kBFloat16);
  packed.k = at::empty({p.batch * p.heads, packed.k_tiles, tile_elems}, opts);
  packed.v = at::empty({p.batch * p.heads, packed.k_tiles, tile_elems}, opts);
  auto* k_out = packed.k.data_ptr<at::BFloat16>();
  auto* v_out = packed.v.data_ptr<at::BFloat16>();
  at::parallel_for(0, p.batch * p.heads * packed.k_tiles, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t bh = task / packed.k_tiles, tile = task % packed.k_tiles;
      const int64_t b = bh / p.heads, h = bh % p.heads;
      const int64_t k0 = tile * c.k_tile;
      const int64_t keys = std::min(c.k_tile, p.k_used - k0);
      const int64_t first = ((b * p.k_len + k0) * p.heads + h) * p.dim;
      pack_key_tile(reinterpret_cast<const uint32_t*>(k + first), p.row_stride / 2, keys, p.dim,
                    c.k_tile, reinterpret_cast<uint32_t*>(k_out + task * tile_elems));
      pack_value_tile(reinterpret_cast<const uint16_t*>(v + first), p.row_stride, keys, p.dim,
                      c.k_tile, reinterpret_cast<uint32_t*>(v_out + task * tile_elems));
    }
  });
  return packed;
}

void bf16_attention(const at::BFloat16* q, const Packed& packed, at::BFloat16* out,
                    const Problem& p, const TiledAttentionConfig& c) {
  const int64_t tile_elems = p.dim * c.k_tile;
  const auto* k_packed = packed.k.data_ptr<at::BFloat16>();
  const auto* v_packed = packed.v.data_ptr<at::BFloat16>();
  at::parallel_for(0, p.batch * p.heads * p.q_tiles, 1, [&](int64_t begin, int64_t end) {
    Scratch s(c, p.dim, /*bf16=*/true);
    const auto* p_tile = reinterpret_cast<const at::BFloat16*>(s.p_bf16.data());
    for (int64_t ti = begin; ti < end; ++ti) {
      const Task t = task_of(ti, p, c);
      const int64_t rows = std::min(c.q_tile, p.q_len - t.q0);
      const int64_t n_valid = p.k_valid[static_cast<size_t>(t.b)];
      const int64_t bh = t.b * p.heads + t.h;
      gather_rows(q + ((t.b * p.q_len + t.q0) * p.heads + t.h) * p.dim, rows, p.row_stride, p.dim,
                  s.q_bf16.data());
      s.reset(rows, p.dim);
      for (int64_t tile = 0; tile * c.k_tile < n_valid; ++tile) {
        const int64_t nk = std::min(c.k_tile, n_valid - tile * c.k_tile);
        const int64_t packed_tile = (bh * packed.k_tiles + tile) * tile_elems;
        // scores [rows, k_tile] = q [rows, D] · k^T [D, k_tile]
        cpublas::brgemm(rows, c.k_tile, p.dim, p.dim, c.k_tile, c.k_tile, /*add_C=*/false,
                        s.q_bf16.data(), k_packed + packed_tile, s.scores.data(), /*is_vnni=*/true);
        // Columns past nk (masked or padding keys) become exact zeros of p.
        softmax_step_bf16(s.scores.data(), s.p_bf16.data(), rows, nk, c.k_tile, c.k_tile, p.scale2,
                          s.m.data(), s.l.data(), s.alpha.data());
        rescale_rows(s.acc.data(), rows, p.dim, s.alpha.data());
        // acc [rows, D] += p [rows, k_tile] · v [k_tile, D]
        cpublas::brgemm(rows, p.dim, c.k_tile, c.k_tile, p.dim, p.dim, /*add_C=*/true, p_tile,
                        v_packed + packed_tile, s.acc.data(), /*is_vnni=*/true);
      }
      store_tile(s, p, t, rows, out, /*out_bf16=*/true);
    }
    cpublas::brgemm_release(/*is_vnni=*/true);  // frees this thread's AMX tile state
  });
}

// The bf16 micro-kernel needs AMX or AVX512-bf16 (could_pack); other head dims take fp32.
bool use_bf16_path(const at::Tensor& q, const TiledAttentionConfig& c) {
  return c.bf16_matmul && q.scalar_type() == at::kBFloat16 && q.size(3) % kPackWidth == 0 &&
         cpublas::could_pack(at::kBFloat16);
}

}  // namespace

bool tiled_attention_supported(const at::Tensor& q, const at::Tensor& k) {
  const auto dtype = q.scalar_type();
  return q.is_cpu() && k.is_cpu() && (dtype == at::kFloat || dtype == at::kBFloat16);
}

at::Tensor tiled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::optional<at::Tensor>& k_lens, double scale) {
  return tiled_attention(
      q, k, v, k_lens, scale,
      tiled_attention_config(q.size(0) * q.size(2), q.size(1), at::get_num_threads()));
}

at::Tensor tiled_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const std::optional<at::Tensor>& k_lens, double scale,
                           const TiledAttentionConfig& config) {
  DUET_CHECK(scale > 0, "tiled attention: the softmax scale must be positive, got {}", scale);
  DUET_CHECK(config.q_tile > 0 && config.k_tile > 0 && config.k_tile % kPackWidth == 0,
             "tiled attention: tiles must be positive and k_tile a multiple of {}, got {} x {}",
             kPackWidth, config.q_tile, config.k_tile);
  const Problem p = make_problem(q, k, k_lens, scale, config);
  auto out = at::empty(q.sizes(), q.options().memory_format(at::MemoryFormat::Contiguous));
  if (use_bf16_path(q, config)) {
    const auto qc = q.contiguous(), kc = k.contiguous(), vc = v.contiguous();
    const Packed packed =
        pack_keys_values(kc.data_ptr<at::BFloat16>(), vc.data_ptr<at::BFloat16>(), p, config);
    bf16_attention(qc.data_ptr<at::BFloat16>(), packed, out.data_ptr<at::BFloat16>(), p, config);
    return out;
  }
  // fp32 operands; bf16 inputs on CPUs without bf16 matmul units are widened here, which costs
  // O(L·D) memory like the packing above.
  const int64_t k_tiles = (p.k_used + config.k_tile - 1) / config.k_tile;
  const auto q32 = q.to(at::kFloat).contiguous();
  const auto k_read = k.narrow(1, 0, p.k_used).to(at::kFloat);  // [B, k_used, H, D]
  const auto v32 = v.narrow(1, 0, p.k_used).to(at::kFloat).transpose(1, 2).contiguous();
  const auto kt = at::constant_pad_nd(k_read, {0, 0, 0, 0, 0, k_tiles * config.k_tile - p.k_used})
                      .view({p.batch, k_tiles, config.k_tile, p.heads, p.dim})
                      .permute({0, 3, 1, 4, 2})
                      .contiguous();  // [B, H, key tiles, D, k_tile]
  fp32_attention(q32.data_ptr<float>(), kt.data_ptr<float>(), v32.data_ptr<float>(), out.data_ptr(),
                 q.scalar_type() == at::kBFloat16, p, config);
  return out;
}

}  // namespace duet::nn

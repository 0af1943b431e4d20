#pragma once
// Flash-attention forward on the sm_80 tensor cores (mma.sync m16n8k16, fp32 accumulators), in
// the shape of FlashAttention-2: one block of 4 warps owns 64 query rows of one (batch, head);
// each warp keeps its 16 rows' Q fragments, running max, running sum and output in registers and
// walks the keys in tiles of 64 staged in shared memory. Scores never leave registers: the C
// fragments of S = Q·Kᵀ are, element for element, the A fragments of O += P·V.
//
// Pipeline (one K and one V buffer): V_j is fetched while S_j = Q·K_jᵀ is computed, K_{j+1}
// while O += P_j·V_j is; cp.async writes shared memory without passing through registers.
// Shared rows are XOR-swizzled in 16-byte chunks so that ldmatrix's 8 row addresses fall in 8
// different bank groups (rows are 128 or 256 bytes, which would otherwise all start in bank 0).
//
// Instantiated once per (element type, head dim) by the generated flash_fwd_*_sm80.cu files.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "attention/flash_attention_params.h"

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ < 800
#error "the flash-attention kernels need sm_80 or newer (CMAKE_CUDA_ARCHITECTURES)"
#endif

namespace duet::kernels::flash {

constexpr int kBlockM = 64;  // query rows per block: 4 warps x 16
constexpr int kBlockN = 64;  // keys per tile
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;

template <int D>
constexpr int shared_bytes() {
  return (kBlockM + 2 * kBlockN) * D * 2;  // Q, K, V tiles of 16-bit elements
}

// Element offset of (row, 16-byte chunk) in a [rows, D] tile.
template <int D>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * D + ((chunk ^ (row & 7)) << 3);
}

__device__ __forceinline__ uint32_t smem_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; zero-filled (nothing read) when !valid.
__device__ __forceinline__ void cp_async_16(void* smem, const void* gmem, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(smem)),
               "l"(gmem), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::); }

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address));
}

// d += a·b for one m16n8k16 tile: a row-major 16x16, b column-major 16x8, d 16x8 fp32.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                          uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, "
        "{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as one register of two 16-bit values, `lo` in the low half (the lower column).
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  } else {
    __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&v);
  }
}

// Rows [row0, row0 + 64) of a [rows, D] matrix (row stride `stride`) into a swizzled tile;
// rows past `rows` become zeros, so masked keys meet finite values.
template <typename T, int D>
__device__ __forceinline__ void load_tile(T* tile, const T* g, int64_t stride, int row0, int rows) {
  constexpr int kChunks = D / 8;
#pragma unroll
  for (int i = 0; i < kBlockN * kChunks / kThreads; ++i) {
    const int idx = static_cast<int>(threadIdx.x) + i * kThreads;
    const int r = idx / kChunks, c = idx % kChunks;
    const bool valid = row0 + r < rows;
    const T* src = valid ? g + static_cast<int64_t>(row0 + r) * stride + c * 8 : g;
    cp_async_16(tile + swizzle<D>(r, c), src, valid);
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) flash_fwd_kernel(const FlashAttentionParams p) {
  static_assert(D % 16 == 0 && kBlockM == kBlockN, "one tile loader serves Q, K and V");
  constexpr int kDk = D / 16;      // k16 steps of Q·Kᵀ
  constexpr int kDn = D / 8;       // n8 tiles of the output
  constexpr int kSn = kBlockN / 8; // n8 tiles of a score tile
  extern __shared__ __align__(16) unsigned char shared_raw[];
  T* s_q = reinterpret_cast<T*>(shared_raw);
  T* s_k = s_q + kBlockM * D;
  T* s_v = s_k + kBlockN * D;

  const int batch = static_cast<int>(blockIdx.z), head = static_cast<int>(blockIdx.y);
  const int q0 = static_cast<int>(blockIdx.x) * kBlockM;
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int group = lane / 4, quad = lane % 4;  // mma fragment row and column pair
  int len_k = p.len_k;
  if (p.k_lens != nullptr) len_k = min(max(p.k_lens[batch], 1), p.len_k);

  const T* q = static_cast<const T*>(p.q) + batch * p.q_batch_stride + head * p.q_head_stride;
  const T* k = static_cast<const T*>(p.k) + batch * p.k_batch_stride + head * p.k_head_stride;
  const T* v = static_cast<const T*>(p.v) + batch * p.v_batch_stride + head * p.v_head_stride;
  T* out = static_cast<T*>(p.out) + batch * p.out_batch_stride + head * p.out_head_stride;

  load_tile<T, D>(s_q, q, p.q_row_stride, q0, p.len_q);
  load_tile<T, D>(s_k, k, p.k_row_stride, 0, len_k);
  cp_async_commit();
  cp_async_wait_all();
  __syncthreads();

  // This warp's 16 query rows as A fragments, for every k16 step of the head dim.
  uint32_t q_frag[kDk][4];
#pragma unroll
  for (int kk = 0; kk < kDk; ++kk) {
    const int row = warp * 16 + lane % 16, chunk = kk * 2 + lane / 16;
    ldmatrix_x4(q_frag[kk], smem_address(s_q + swizzle<D>(row, chunk)));
  }

  float o[kDn][4];
#pragma unroll
  for (int n = 0; n < kDn; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  // Rows `group` and `group + 8` of the warp's 16: running max (log2 domain) and partial sum.
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  const float scale_log2 = p.scale * 1.4426950408889634f;
  const int tiles = (len_k + kBlockN - 1) / kBlockN;

  for (int j = 0; j < tiles; ++j) {
    const int k0 = j * kBlockN;
    load_tile<T, D>(s_v, v, p.v_row_stride, k0, len_k);
    cp_async_commit();

    // S = Q·K_jᵀ: [16, 64] per warp in kSn fragments.
    float s[kSn][4];
#pragma unroll
    for (int n = 0; n < kSn; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < kDk; ++kk) {
#pragma unroll
      for (int nn = 0; nn < kSn / 2; ++nn) {
        uint32_t b[4];
        const int key = nn * 16 + (lane / 16) * 8 + lane % 8, chunk = kk * 2 + (lane / 8) % 2;
        ldmatrix_x4(b, smem_address(s_k + swizzle<D>(key, chunk)));
        mma_16816<T>(s[2 * nn], q_frag[kk], b[0], b[1]);
        mma_16816<T>(s[2 * nn + 1], q_frag[kk], b[2], b[3]);
      }
    }

    // Masked keys (past len_k: only in the last tile) to -inf, then the online softmax.
    if (k0 + kBlockN > len_k) {
#pragma unroll
      for (int n = 0; n < kSn; ++n) {
        const int key = k0 + n * 8 + quad * 2;
        if (key >= len_k) s[n][0] = s[n][2] = -INFINITY;
        if (key + 1 >= len_k) s[n][1] = s[n][3] = -INFINITY;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float m = row_max[r];
#pragma unroll
      for (int n = 0; n < kSn; ++n) m = fmaxf(m, fmaxf(s[n][2 * r], s[n][2 * r + 1]) * scale_log2);
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 1));
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, 2));
      // Key 0 is never masked, so m is finite from the first tile on; exp2(-inf) = 0 rescales
      // the empty initial state.
      const float correction = exp2f(row_max[r] - m);
      row_max[r] = m;
      row_sum[r] *= correction;
#pragma unroll
      for (int n = 0; n < kDn; ++n) {
        o[n][2 * r] *= correction;
        o[n][2 * r + 1] *= correction;
      }
#pragma unroll
      for (int n = 0; n < kSn; ++n) {
        s[n][2 * r] = exp2f(s[n][2 * r] * scale_log2 - m);
        s[n][2 * r + 1] = exp2f(s[n][2 * r + 1] * scale_log2 - m);
        row_sum[r] += s[n][2 * r] + s[n][2 * r + 1];
      }
    }

    cp_async_wait_all();  // V_j has landed
    __syncthreads();      // ...for every warp, and no warp reads K_j any more
    if (j + 1 < tiles) {
      load_tile<T, D>(s_k, k, p.k_row_stride, k0 + kBlockN, len_k);
      cp_async_commit();
    }

    // O += P·V_j; P's C fragments become A fragments in place (two n8 tiles = one k16 step).
#pragma unroll
    for (int kc = 0; kc < kBlockN / 16; ++kc) {
      const uint32_t a[4] = {pack2<T>(s[2 * kc][0], s[2 * kc][1]),
                             pack2<T>(s[2 * kc][2], s[2 * kc][3]),
                             pack2<T>(s[2 * kc + 1][0], s[2 * kc + 1][1]),
                             pack2<T>(s[2 * kc + 1][2], s[2 * kc + 1][3])};
#pragma unroll
      for (int nn = 0; nn < kDn / 2; ++nn) {
        uint32_t b[4];
        const int key = kc * 16 + lane % 8 + ((lane / 8) % 2) * 8, chunk = nn * 2 + lane / 16;
        ldmatrix_x4_trans(b, smem_address(s_v + swizzle<D>(key, chunk)));
        mma_16816<T>(o[2 * nn], a, b[0], b[1]);
        mma_16816<T>(o[2 * nn + 1], a, b[2], b[3]);
      }
    }
    cp_async_wait_all();  // K_{j+1} has landed
    __syncthreads();      // ...and no warp reads V_j any more
  }

  // Each row's sum is spread over the 4 threads of its quad.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 1);
    row_sum[r] += __shfl_xor_sync(0xffffffffu, row_sum[r], 2);
  }
  const float inv[2] = {1.0f / row_sum[0], 1.0f / row_sum[1]};
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int row = q0 + warp * 16 + group + 8 * r;
    if (row >= p.len_q) continue;
    T* dst = out + static_cast<int64_t>(row) * p.out_row_stride + quad * 2;
#pragma unroll
    for (int n = 0; n < kDn; ++n) {
      *reinterpret_cast<uint32_t*>(dst + n * 8) =
          pack2<T>(o[n][2 * r] * inv[r], o[n][2 * r + 1] * inv[r]);
    }
  }
}

// Host side of one instantiation.
template <typename T, int D>
int launch_flash_fwd_sm80(const FlashAttentionParams& p) {
  constexpr int bytes = shared_bytes<D>();
  if constexpr (bytes > 48 * 1024) {
    const cudaError_t e = cudaFuncSetAttribute(
        flash_fwd_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
    if (e != cudaSuccess) return static_cast<int>(e);
  }
  const dim3 grid((p.len_q + kBlockM - 1) / kBlockM, p.heads, p.batch);
  flash_fwd_kernel<T, D><<<grid, kThreads, bytes, static_cast<cudaStream_t>(p.stream)>>>(p);
  return static_cast<int>(cudaGetLastError());
}

}  // namespace duet::kernels::flash

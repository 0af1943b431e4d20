#pragma once
// Rotary position embeddings as Wan (wan/modules/model.py rope_params / rope_apply) defines
// them: a head of D channels is D/2 interleaved complex pairs (x[2i], x[2i+1]); pair i at
// position p is rotated by the angle p * theta^(-2i/d) of its axis' table, whose angles are
// computed in float64 for positions 0..1023.
//
//   nn::VideoRope rope = nn::VideoRope::make(/*head_dim=*/128);   // 22 t, 21 h, 21 w pairs
//   auto q_rot = rope.apply(q, {{F, H, W}, ...});                 // one grid per sample
//
// Shared helpers (angle tables, rotation of the leading pairs) live here too so Ovi's 1D
// scaled audio RoPE can be added beside the 3D video one.
#include <ATen/ATen.h>

#include <array>
#include <cstdint>
#include <vector>

namespace duet::nn {

inline constexpr int64_t kRopeMaxPositions = 1024;
inline constexpr double kRopeTheta = 10000.0;

// Wan's rope_params: angles[p, i] = p * theta^(-2i/dim) for p < max_positions, i < dim/2,
// float64 [max_positions, dim/2]. `dim` is the number of channels of this axis (2 * pairs).
at::Tensor rope_angles(int64_t max_positions, int64_t dim, double theta = kRopeTheta);

// Rotates the first P interleaved pairs of every head, P = cos.size(-1) <= D/2; later pairs
// pass through unchanged. Computed in fp32 (fp64 for fp64 x).
// x: [B, L, H, D], cos/sin: broadcastable to [B, L, H, P] -> [B, L, H, D] fp32 (fp64 for fp64)
at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// Pairs per axis for Wan's 3D split of a head: (t, h, w) = (P - 2*(P/3), P/3, P/3) with
// P = head_dim/2, i.e. 22/21/21 for head dim 128 (model.py: d - 4*(d//6), 2*(d//6), 2*(d//6)).
std::array<int64_t, 3> video_rope_pairs(int64_t head_dim);

using VideoGrid = std::array<int64_t, 3>;  // (F, H, W) patches of one sample

// 3D RoPE over (frame, height, width) patch positions, tokens ordered f-major then h then w
// (the order of Conv3d's output flattened).
struct VideoRope {
  int64_t head_dim = 0;
  std::array<int64_t, 3> pairs{};  // (t, h, w)
  at::Tensor cos;  // [max_positions, head_dim/2] fp32, columns t pairs then h then w
  at::Tensor sin;

  static VideoRope make(int64_t head_dim, int64_t max_positions = kRopeMaxPositions,
                        double theta = kRopeTheta);
  VideoRope to(const at::Device& device) const;

  // cos/sin tables of one grid: [F*H*W, 1, head_dim/2] each.
  std::array<at::Tensor, 2> grid_tables(const VideoGrid& grid) const;

  // x: [B, L, H, D] -> [B, L, H, D] fp32. Sample b rotates its first F*H*W tokens by its
  // grid; tokens beyond (padding up to L) are returned unrotated, as the reference does.
  at::Tensor apply(const at::Tensor& x, const std::vector<VideoGrid>& grids) const;
};

// 1D RoPE over token positions with frequencies scaled by `scale`, rotating only the first
// `pairs` pairs of each head (Ovi's audio tower, ovi/modules/model.py rope_params(1024,
// d - 4*(d//6), freqs_scaling) + rope_apply_1d: 22 of 64 pairs for head dim 128, scale
// 0.19676 maps audio latents onto video latent frames).
struct SequenceRope {
  int64_t head_dim = 0;
  at::Tensor cos;  // [max_positions, pairs] fp32
  at::Tensor sin;

  // angles[p, i] = p * (scale * theta^(-2i/(2*pairs))), scaled before the product as Ovi does.
  static SequenceRope make(int64_t head_dim, int64_t pairs, double scale,
                           int64_t max_positions = kRopeMaxPositions, double theta = kRopeTheta);
  SequenceRope to(const at::Device& device) const;
  int64_t pairs() const { return cos.size(1); }

  // x: [B, L, H, D] -> [B, L, H, D] fp32. Sample b rotates its first lens[b] tokens; the
  // tokens beyond (padding) are returned unrotated, as the reference does.
  at::Tensor apply(const at::Tensor& x, const std::vector<int64_t>& lens) const;
};

}  // namespace duet::nn

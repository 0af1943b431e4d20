#include "nn/rope.h"

#include <algorithm>

#include "core/error.h"

namespace duet::nn {

at::Tensor rope_angles(int64_t max_positions, int64_t dim, double theta) {
  DUET_CHECK(dim > 0 && dim % 2 == 0, "rope: axis dim must be even and positive, got {}", dim);
  DUET_CHECK(max_positions > 0, "rope: max_positions must be positive, got {}", max_positions);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  // float64 as the reference: positions up to 1023 times frequencies need the mantissa.
  const auto inv_freq = 1.0 / at::pow(theta, at::arange(0, dim, 2, f64) / static_cast<double>(dim));
  return at::outer(at::arange(max_positions, f64), inv_freq);  // [max_positions, dim/2]
}

at::Tensor rotate_pairs(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  DUET_CHECK(x.dim() == 4 && x.size(3) % 2 == 0,
             "rope: x must be [B, L, H, D] with even D, got [{}]", fmt::join(x.sizes(), ", "));
  const int64_t half = x.size(3) / 2;
  const int64_t pairs = cos.size(-1);
  DUET_CHECK(pairs <= half && sin.sizes() == cos.sizes(),
             "rope: {} rotated pairs do not fit head dim {}", pairs, x.size(3));
  const auto acc = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const auto xp = x.to(acc).reshape({x.size(0), x.size(1), x.size(2), half, 2});
  const auto rotated = xp.narrow(3, 0, pairs);
  const auto re = rotated.select(4, 0);
  const auto im = rotated.select(4, 1);
  const auto c = cos.to(acc);
  const auto s = sin.to(acc);
  // (re + i im) * (c + i s), the complex product the reference takes in complex128.
  auto out = at::stack({re * c - im * s, re * s + im * c}, 4);
  if (pairs < half) out = at::cat({out, xp.narrow(3, pairs, half - pairs)}, 3);
  return out.flatten(3);
}

std::array<int64_t, 3> video_rope_pairs(int64_t head_dim) {
  DUET_CHECK(head_dim >= 6 && head_dim % 2 == 0, "rope: head dim must be even and >= 6, got {}",
             head_dim);
  const int64_t pairs = head_dim / 2;
  return {pairs - 2 * (pairs / 3), pairs / 3, pairs / 3};
}

VideoRope VideoRope::make(int64_t head_dim, int64_t max_positions, double theta) {
  VideoRope rope;
  rope.head_dim = head_dim;
  rope.pairs = video_rope_pairs(head_dim);
  // Each axis has its own table over 2 * pairs channels (Wan's rope_params per axis).
  const auto angles = at::cat({rope_angles(max_positions, 2 * rope.pairs[0], theta),
                               rope_angles(max_positions, 2 * rope.pairs[1], theta),
                               rope_angles(max_positions, 2 * rope.pairs[2], theta)},
                              1);
  // cos/sin taken in float64, then kept in fp32: the rotation itself runs in fp32.
  rope.cos = at::cos(angles).to(at::kFloat);
  rope.sin = at::sin(angles).to(at::kFloat);
  return rope;
}

VideoRope VideoRope::to(const at::Device& device) const {
  VideoRope out = *this;
  out.cos = cos.to(device);
  out.sin = sin.to(device);
  return out;
}

std::array<at::Tensor, 2> VideoRope::grid_tables(const VideoGrid& grid) const {
  const auto [f, h, w] = grid;
  const int64_t max_pos = cos.size(0);
  DUET_CHECK(f > 0 && h > 0 && w > 0, "rope: grid ({}, {}, {}) has an empty axis", f, h, w);
  DUET_CHECK(f <= max_pos && h <= max_pos && w <= max_pos,
             "rope: grid ({}, {}, {}) exceeds the {} positions of the table", f, h, w, max_pos);
  std::array<at::Tensor, 2> out;
  const std::array<at::Tensor, 2> tables{cos, sin};
  for (size_t i = 0; i < 2; ++i) {
    const auto parts = tables[i].split_with_sizes({pairs[0], pairs[1], pairs[2]}, 1);
    const auto t = parts[0].narrow(0, 0, f).view({f, 1, 1, -1}).expand({f, h, w, -1});
    const auto y = parts[1].narrow(0, 0, h).view({1, h, 1, -1}).expand({f, h, w, -1});
    const auto x = parts[2].narrow(0, 0, w).view({1, 1, w, -1}).expand({f, h, w, -1});
    out[i] = at::cat({t, y, x}, 3).reshape({f * h * w, 1, head_dim / 2});
  }
  return out;
}

at::Tensor VideoRope::apply(const at::Tensor& x, const std::vector<VideoGrid>& grids) const {
  // x: [B, L, H, D] -> [B, L, H, D] fp32
  DUET_CHECK(x.dim() == 4 && x.size(3) == head_dim, "rope: x must be [B, L, H, {}], got [{}]",
             head_dim, fmt::join(x.sizes(), ", "));
  DUET_CHECK(static_cast<int64_t>(grids.size()) == x.size(0), "rope: {} grids for batch {}",
             grids.size(), x.size(0));
  const int64_t len = x.size(1);
  const bool uniform =
      std::all_of(grids.begin(), grids.end(), [&](const VideoGrid& g) { return g == grids[0]; });
  const int64_t batch_groups = uniform ? 1 : x.size(0);
  std::vector<at::Tensor> outs;
  for (int64_t g = 0; g < batch_groups; ++g) {
    const auto& grid = grids[g];
    const int64_t tokens = grid[0] * grid[1] * grid[2];
    DUET_CHECK(tokens <= len, "rope: grid ({}, {}, {}) has {} tokens but the sequence holds {}",
               grid[0], grid[1], grid[2], tokens, len);
    const auto xs = uniform ? x : x.narrow(0, g, 1);
    const auto [c, s] = grid_tables(grid);
    auto y = rotate_pairs(xs.narrow(1, 0, tokens), c.to(x.device()), s.to(x.device()));
    if (tokens < len) y = at::cat({y, xs.narrow(1, tokens, len - tokens).to(y.scalar_type())}, 1);
    outs.push_back(y);
  }
  return uniform ? outs[0] : at::cat(outs, 0);
}

SequenceRope SequenceRope::make(int64_t head_dim, int64_t pairs, double scale,
                                int64_t max_positions, double theta) {
  DUET_CHECK(head_dim > 0 && head_dim % 2 == 0 && pairs > 0 && pairs <= head_dim / 2,
             "rope: {} rotated pairs do not fit head dim {}", pairs, head_dim);
  DUET_CHECK(max_positions > 0, "rope: max_positions must be positive, got {}", max_positions);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  const int64_t dim = 2 * pairs;
  const auto inv_freq =
      scale * (1.0 / at::pow(theta, at::arange(0, dim, 2, f64) / static_cast<double>(dim)));
  const auto angles = at::outer(at::arange(max_positions, f64), inv_freq);
  SequenceRope rope;
  rope.head_dim = head_dim;
  rope.cos = at::cos(angles).to(at::kFloat);
  rope.sin = at::sin(angles).to(at::kFloat);
  return rope;
}

SequenceRope SequenceRope::to(const at::Device& device) const {
  SequenceRope out = *this;
  out.cos = cos.to(device);
  out.sin = sin.to(device);
  return out;
}

at::Tensor SequenceRope::apply(const at::Tensor& x, const std::vector<int64_t>& lens) const {
  // x: [B, L, H, D] -> [B, L, H, D] fp32
  DUET_CHECK(x.dim() == 4 && x.size(3) == head_dim, "rope: x must be [B, L, H, {}], got [{}]",
             head_dim, fmt::join(x.sizes(), ", "));
  DUET_CHECK(static_cast<int64_t>(lens.size()) == x.size(0), "rope: {} lengths for batch {}",
             lens.size(), x.size(0));
  const int64_t len = x.size(1);
  const bool uniform =
      std::all_of(lens.begin(), lens.end(), [&](int64_t n) { return n == lens[0]; });
  const int64_t batch_groups = uniform ? 1 : x.size(0);
  std::vector<at::Tensor> outs;
  for (int64_t g = 0; g < batch_groups; ++g) {
    const int64_t tokens = lens[static_cast<size_t>(g)];
    DUET_CHECK(tokens > 0 && tokens <= len && tokens <= cos.size(0),
               "rope: {} tokens do not fit a sequence of {} and a table of {} positions", tokens,
               len, cos.size(0));
    const auto xs = uniform ? x : x.narrow(0, g, 1);
    const auto c = cos.narrow(0, 0, tokens).unsqueeze(1).to(x.device());  // [tokens, 1, pairs]
    const auto s = sin.narrow(0, 0, tokens).unsqueeze(1).to(x.device());
    auto y = rotate_pairs(xs.narrow(1, 0, tokens), c, s);
    if (tokens < len) y = at::cat({y, xs.narrow(1, tokens, len - tokens).to(y.scalar_type())}, 1);
    outs.push_back(y);
  }
  return uniform ? outs[0] : at::cat(outs, 0);
}

}  // namespace duet::nn

// Tiled Wan VAE encoding (diffusers' tiled_encode) beyond its golden fixtures: when tiling is
// used at all, and that tiles are cut, encoded and put back where they belong. Blending of
// overlapping tiles is pinned by tests/golden/wan/wan_vae_test.cpp.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "models/wan/vae.h"
#include "support/test_support.h"

namespace duet::wan {
namespace {

using duet::test::relative_error;
using duet::test::tiny_dir;

const WanVae& vae(const std::string& version) {
  static auto v21 = load_wan_vae((tiny_dir() / "wan21/Wan2.1_VAE.pth").string());
  static auto v22 = load_wan_vae((tiny_dir() / "wan22-ti2v/Wan2.2_VAE.pth").string());
  return version == "wan21" ? *v21 : *v22;
}

at::Tensor random_video(int64_t frames, int64_t h, int64_t w, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::rand({1, 3, frames, h, w}, gen) * 2 - 1;
}

// Tiles of `tile` x `tile` patchified pixels every `stride` (the units of WanVaeTiling).
WanVaeTiling tiles(int64_t tile, int64_t stride) {
  WanVaeTiling t;
  t.enabled = true;
  t.min_height = t.min_width = tile;
  t.stride_height = t.stride_width = stride;
  return t;
}

class WanVaeTiledEncode : public ::testing::TestWithParam<std::string> {};

TEST_P(WanVaeTiledEncode, TileCoveringTheFrameEqualsUntiled) {
  const WanVae& v = vae(GetParam());
  const int64_t s = v.config().spatial_stride();
  // The patchified frame (2s / p pixels a side) fits in one tile of 2s, so tiling is not used.
  const at::Tensor video = random_video(5, 2 * s, 2 * s, 7);
  const at::Tensor plain = v.encode(video);
  EXPECT_TRUE(at::equal(v.encode(video, tiles(2 * s, 2 * s)), plain));
  EXPECT_TRUE(at::equal(v.encode(video, tiles(2 * s, s)), plain));
}

TEST_P(WanVaeTiledEncode, DisjointTilesEncodeLikeTheirOwnPieces) {
  // stride == tile: nothing to blend, so each latent tile is the plain encoding of its piece.
  const WanVae& v = vae(GetParam());
  const int64_t p = v.config().patch_size(), s = v.config().spatial_stride();
  const int64_t tile = 2 * s;      // patchified pixels
  const int64_t piece = tile * p;  // frame pixels
  // 2 x 3 tiles, the last column one latent wide.
  const at::Tensor video = random_video(5, 2 * piece, 2 * piece + s, 11);
  const at::Tensor tiled = v.encode(video, tiles(tile, tile));
  std::vector<at::Tensor> rows;
  for (int64_t i = 0; i < video.size(3); i += piece) {
    std::vector<at::Tensor> row;
    for (int64_t j = 0; j < video.size(4); j += piece) {
      row.push_back(v.encode(video.narrow(3, i, std::min(piece, video.size(3) - i))
                                 .narrow(4, j, std::min(piece, video.size(4) - j))));
    }
    ASSERT_EQ(row.size(), 3u);
    rows.push_back(at::cat(row, 4));
  }
  const at::Tensor ref = at::cat(rows, 3);
  ASSERT_EQ(tiled.sizes(), ref.sizes());
  ASSERT_EQ(tiled.sizes(), v.encode(video).sizes());
  EXPECT_LE(relative_error(tiled, ref), 1e-6);
}

TEST_P(WanVaeTiledEncode, OverlappingTilesKeepTheShape) {
  const WanVae& v = vae(GetParam());
  const int64_t s = v.config().spatial_stride();
  const at::Tensor video = random_video(1, 5 * s, 4 * s, 13);
  const at::Tensor tiled = v.encode(video, tiles(2 * s, s));
  const at::Tensor plain = v.encode(video);
  ASSERT_EQ(tiled.sizes(), plain.sizes());
  EXPECT_FALSE(at::equal(tiled, plain));  // the tiles see less context than the whole frame
}

INSTANTIATE_TEST_SUITE_P(Versions, WanVaeTiledEncode, ::testing::Values("wan21", "wan22"));

}  // namespace
}  // namespace duet::wan

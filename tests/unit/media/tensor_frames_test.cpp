// The tensor door: VAE layouts and dtypes into the writer chunk by chunk, reader output back
// to tensors. The CUDA case runs where a GPU is present and skips elsewhere.
#include "media/tensor_frames.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "core/error.h"
#include "media_probe.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

// [F, H, W, 3] uint8 with a distinct value per frame (flat colour, so lossy coding keeps it).
at::Tensor flat_frames(int64_t f, int64_t h, int64_t w) {
  at::Tensor t = at::empty({f, h, w, 3}, at::kByte);
  for (int64_t i = 0; i < f; ++i) t[i].fill_(20 + 20 * i);
  return t;
}

TEST(MediaTensor, LayoutsResolve) {
  EXPECT_EQ(resolve_layout(at::zeros({5, 8, 8, 3}, at::kByte), FrameLayout::kAuto),
            FrameLayout::kFHWC);
  EXPECT_EQ(resolve_layout(at::zeros({3, 5, 8, 8}), FrameLayout::kAuto), FrameLayout::kCFHW);
  EXPECT_EQ(resolve_layout(at::zeros({5, 3, 8, 8}), FrameLayout::kAuto), FrameLayout::kFCHW);
  EXPECT_EQ(resolve_layout(at::zeros({5, 8, 8, 3}), FrameLayout::kAuto), FrameLayout::kFHWC);
  EXPECT_EQ(resolve_layout(at::zeros({1, 3, 5, 8, 8}), FrameLayout::kAuto), FrameLayout::kCFHW);
  EXPECT_EQ(resolve_layout(at::zeros({3, 3, 8, 8}), FrameLayout::kAuto), FrameLayout::kCFHW);
  EXPECT_THROW(resolve_layout(at::zeros({5, 8, 8}), FrameLayout::kAuto), Error);
  EXPECT_THROW(resolve_layout(at::zeros({5, 4, 8, 8}), FrameLayout::kAuto), Error);
  EXPECT_THROW(resolve_layout(at::zeros({2, 3, 5, 8, 8}), FrameLayout::kAuto), Error);
}

TEST(MediaTensor, FloatLayoutsGiveTheSameBytes) {
  at::Tensor u8 = flat_frames(4, 6, 10);
  at::Tensor f = u8.to(at::kFloat).div(127.5).sub(1.0);  // [F,H,W,3] in [-1, 1]
  at::Tensor want = frames_to_rgb8(u8, FrameLayout::kAuto, 1, 2);
  EXPECT_TRUE(at::equal(frames_to_rgb8(f, FrameLayout::kFHWC, 1, 2), want));
  EXPECT_TRUE(at::equal(frames_to_rgb8(f.permute({3, 0, 1, 2}), FrameLayout::kAuto, 1, 2), want));
  EXPECT_TRUE(at::equal(frames_to_rgb8(f.permute({0, 3, 1, 2}), FrameLayout::kAuto, 1, 2), want));
  EXPECT_TRUE(at::equal(frames_to_rgb8(f.to(at::kBFloat16), FrameLayout::kFHWC, 1, 2), want) ||
              (frames_to_rgb8(f.to(at::kBFloat16), FrameLayout::kFHWC, 1, 2).to(at::kInt) -
               want.to(at::kInt))
                      .abs()
                      .max()
                      .item<int>() <= 1);
  // Out-of-range values clamp.
  at::Tensor loud = at::full({1, 2, 2, 3}, 3.0f);
  EXPECT_EQ(frames_to_rgb8(loud, FrameLayout::kFHWC, 0, 1).min().item<uint8_t>(), 255);
}

TEST(MediaTensor, WritesVaeOutputChunkByChunk) {
  TempDir dir;
  VideoWriterOptions o;
  o.path = dir / "t.mp4";
  o.width = 16;
  o.height = 12;
  o.preset = "ultrafast";
  o.crf = 10;
  o.audio_sample_rate = 16000;
  VideoWriter w(o);
  w.open();
  // [1, 3, F, H, W] float, as the Wan VAE returns it.
  at::Tensor frames =
      flat_frames(7, 12, 16).to(at::kFloat).div(127.5).sub(1.0).permute({3, 0, 1, 2}).unsqueeze(0);
  write_tensor_frames(w, frames, FrameLayout::kAuto, 3);
  write_tensor_audio(w, at::zeros({1, 1, 16000 * 7 / 24}));
  w.finish();
  auto v = probe::decode_video(o.path);
  ASSERT_EQ(v.frames(), 7u);
  EXPECT_NEAR(v.luma.back(), 20 + 20 * 6, 4);  // last frame's flat value (grey: Y ~ value)
}

TEST(MediaTensor, MismatchedShapesAreRejected) {
  TempDir dir;
  VideoWriterOptions o;
  o.path = dir / "t.mp4";
  o.width = 16;
  o.height = 12;
  o.audio_sample_rate = 16000;
  VideoWriter w(o);
  w.open();
  EXPECT_THROW(write_tensor_frames(w, flat_frames(2, 12, 20)), Error);
  VideoWriter w2(o);
  w2.open();
  EXPECT_THROW(write_tensor_audio(w2, at::zeros({2, 100})), Error);  // stereo into mono
}

TEST(MediaTensor, ReaderOutputToTensors) {
  RgbImage img;
  img.width = 3;
  img.height = 2;
  img.pixels = {0, 255, 128, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  at::Tensor t = image_to_tensor(img);
  EXPECT_EQ(t.sizes(), (at::IntArrayRef{2, 3, 3}));
  EXPECT_EQ(t[0][0][1].item<uint8_t>(), 255);
  at::Tensor f = image_to_float(img);
  EXPECT_EQ(f.sizes(), (at::IntArrayRef{3, 2, 3}));
  EXPECT_FLOAT_EQ(f[0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(f[1][0][0].item<float>(), 1.0f);

  VideoClip clip;
  clip.info.channels = 2;
  clip.info.width = 3;
  clip.info.height = 2;
  clip.frames = {img, img};
  clip.audio = {0.1f, -0.1f, 0.2f, -0.2f, 0.3f, -0.3f};
  EXPECT_EQ(clip_frames_to_tensor(clip).sizes(), (at::IntArrayRef{2, 2, 3, 3}));
  at::Tensor a = clip_audio_to_tensor(clip);
  EXPECT_EQ(a.sizes(), (at::IntArrayRef{2, 3}));
  EXPECT_FLOAT_EQ(a[1][2].item<float>(), -0.3f);
}

TEST(MediaTensor, CudaFramesConvertOnTheDevice) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  at::Tensor cpu = flat_frames(3, 8, 8).to(at::kFloat).div(127.5).sub(1.0).permute({3, 0, 1, 2});
  at::Tensor gpu = cpu.to(at::kCUDA).to(at::kHalf);
  at::Tensor got = frames_to_rgb8(gpu, FrameLayout::kAuto, 0, 3);
  EXPECT_EQ(got.device().type(), at::kCPU);
  EXPECT_LE((got.to(at::kInt) - frames_to_rgb8(cpu, FrameLayout::kAuto, 0, 3).to(at::kInt))
                .abs()
                .max()
                .item<int>(),
            1);
}

}  // namespace
}  // namespace duet::media

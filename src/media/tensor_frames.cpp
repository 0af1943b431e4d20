#include "media/tensor_frames.h"

#include <ATen/ATen.h>

#include <cstring>

#include "core/error.h"

namespace duet::media {

namespace {

at::Tensor drop_batch(const at::Tensor& t) {
  if (t.dim() == 5) {
    DUET_CHECK(t.size(0) == 1, "frames tensor has batch {}; write one clip at a time", t.size(0));
    return t.squeeze(0);
  }
  return t;
}

std::string shape_of(const at::Tensor& t) {
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

}  // namespace

FrameLayout resolve_layout(const at::Tensor& input, FrameLayout layout) {
  at::Tensor t = drop_batch(input);
  DUET_CHECK(t.dim() == 4,
             "frames tensor has shape {}; expected [F,H,W,3], [3,F,H,W] or "
             "[F,3,H,W]",
             shape_of(input));
  if (layout != FrameLayout::kAuto) return layout;
  if (t.scalar_type() == at::kByte) return FrameLayout::kFHWC;
  if (t.size(0) == 3) return FrameLayout::kCFHW;
  if (t.size(1) == 3) return FrameLayout::kFCHW;
  if (t.size(3) == 3) return FrameLayout::kFHWC;
  DUET_FAIL("frames tensor has shape {}: no axis of size 3 for RGB", shape_of(input));
}

at::Tensor frames_to_rgb8(const at::Tensor& input, FrameLayout layout, int64_t first,
                          int64_t count) {
  at::Tensor t = drop_batch(input);
  layout = resolve_layout(t, layout);
  // -> [F, H, W, 3]
  at::Tensor fhwc = layout == FrameLayout::kCFHW   ? t.permute({1, 2, 3, 0})
                    : layout == FrameLayout::kFCHW ? t.permute({0, 2, 3, 1})
                                                   : t;
  DUET_CHECK(fhwc.size(3) == 3, "frames tensor {} read as {} has {} colour channels, expected 3",
             shape_of(input), layout == FrameLayout::kFHWC ? "[F,H,W,3]" : "channels-first",
             fhwc.size(3));
  at::Tensor chunk = fhwc.narrow(0, first, count);
  if (chunk.scalar_type() != at::kByte) {
    DUET_CHECK(at::isFloatingType(chunk.scalar_type()),
               "frames tensor has dtype {}; expected uint8 or a float type",
               c10::toString(chunk.scalar_type()));
    // In float32 whatever the input precision: bf16 cannot hold 127.5 * x exactly.
    chunk = chunk.to(at::kFloat).add(1.0).mul_(127.5).clamp_(0.0, 255.0).round_().to(at::kByte);
  }
  return chunk.to(at::kCPU).contiguous();
}

void write_tensor_frames(VideoWriter& writer, const at::Tensor& frames, FrameLayout layout,
                         int64_t chunk) {
  at::Tensor t = drop_batch(frames);
  layout = resolve_layout(t, layout);
  const int64_t f_axis = layout == FrameLayout::kCFHW ? 1 : 0;
  const int64_t n = t.size(f_axis);
  const int64_t h = layout == FrameLayout::kFHWC ? t.size(1) : t.size(2);
  const int64_t w = layout == FrameLayout::kFHWC ? t.size(2) : t.size(3);
  const auto& o = writer.options();
  DUET_CHECK(w == o.width && h == o.height, "frames are {}x{} but the writer was opened for {}x{}",
             w, h, o.width, o.height);
  chunk = std::max<int64_t>(1, chunk);
  for (int64_t first = 0; first < n; first += chunk) {
    at::Tensor rgb = frames_to_rgb8(t, layout, first, std::min(chunk, n - first));
    const auto* data = rgb.data_ptr<uint8_t>();
    for (int64_t i = 0; i < rgb.size(0); ++i) {
      writer.write_frame(data + i * h * w * 3, static_cast<int>(w * 3));
    }
  }
}

void write_tensor_audio(VideoWriter& writer, const at::Tensor& pcm) {
  at::Tensor t = pcm;
  if (t.dim() == 3) {
    DUET_CHECK(t.size(0) == 1, "audio tensor has batch {}; write one clip at a time", t.size(0));
    t = t.squeeze(0);
  }
  if (t.dim() == 1) t = t.unsqueeze(0);
  DUET_CHECK(t.dim() == 2, "audio tensor has shape {}; expected [S], [C,S] or [1,C,S]",
             shape_of(pcm));
  const int channels = writer.options().audio_channels;
  DUET_CHECK(t.size(0) == channels, "audio tensor has {} channel(s) but the writer expects {}",
             t.size(0), channels);
  // [C, S] -> interleaved [S, C] float on the host.
  at::Tensor interleaved = t.to(at::kFloat).t().to(at::kCPU).contiguous();
  writer.write_audio(interleaved.data_ptr<float>(), interleaved.size(0));
}

at::Tensor image_to_tensor(const RgbImage& image) {
  at::Tensor t = at::empty({image.height, image.width, 3}, at::kByte);
  std::memcpy(t.data_ptr<uint8_t>(), image.pixels.data(), image.pixels.size());
  return t;
}

at::Tensor image_to_float(const RgbImage& image) {
  return image_to_tensor(image)
      .permute({2, 0, 1})
      .to(at::kFloat)
      .div_(127.5)
      .sub_(1.0)
      .contiguous();
}

at::Tensor clip_frames_to_tensor(const VideoClip& clip) {
  if (clip.frames.empty()) return at::empty({0, clip.info.height, clip.info.width, 3}, at::kByte);
  const RgbImage& first = clip.frames.front();
  at::Tensor t = at::empty({static_cast<int64_t>(clip.frames.size()), first.height, first.width, 3},
                           at::kByte);
  auto* out = t.data_ptr<uint8_t>();
  for (const RgbImage& f : clip.frames) {
    DUET_CHECK(f.width == first.width && f.height == first.height,
               "clip changes size mid-stream ({}x{} -> {}x{})", first.width, first.height, f.width,
               f.height);
    std::memcpy(out, f.pixels.data(), f.pixels.size());
    out += f.pixels.size();
  }
  return t;
}

at::Tensor clip_audio_to_tensor(const VideoClip& clip) {
  const int64_t ch = std::max(1, clip.info.channels);
  const auto samples = static_cast<int64_t>(clip.audio.size()) / ch;
  at::Tensor t = at::empty({samples, ch}, at::kFloat);
  std::memcpy(t.data_ptr<float>(), clip.audio.data(), samples * ch * sizeof(float));
  return t.t().contiguous();
}

}  // namespace duet::media

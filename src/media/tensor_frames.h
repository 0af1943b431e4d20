#pragma once
// The door between tensors and the torch-free media layer: VAE output (float in [-1, 1], CPU
// or CUDA) or uint8 frames into a VideoWriter, chunk by chunk; reader output back to tensors.
#include <ATen/core/Tensor.h>

#include <cstdint>

#include "media/image_reader.h"
#include "media/video_reader.h"
#include "media/video_writer.h"

namespace duet::media {

enum class FrameLayout {
  kAuto,  // uint8 [F,H,W,3]; float [3,F,H,W] (the VAE's own layout), [F,3,H,W] or [F,H,W,3]
  kFHWC,  // [F, H, W, 3]
  kFCHW,  // [F, 3, H, W]
  kCFHW,  // [3, F, H, W]
};

// The layout kAuto picks for a 4-D shape (a leading batch of 1 is dropped first). Shapes that
// fit two layouts ([3,3,H,W]) resolve to the VAE's [3,F,H,W]; pass a layout to override.
FrameLayout resolve_layout(const at::Tensor& frames, FrameLayout layout);

// Frames [first, first + count) as a contiguous CPU uint8 [count, H, W, 3] tensor. Float
// input is mapped with round((x + 1) * 127.5), clamped, on the tensor's device, so a CUDA
// tensor crosses to the host as bytes, a quarter of the float size.
at::Tensor frames_to_rgb8(const at::Tensor& frames, FrameLayout layout, int64_t first,
                          int64_t count);

// Writes every frame, `chunk` frames at a time (host memory holds one chunk).
void write_tensor_frames(VideoWriter& writer, const at::Tensor& frames,
                         FrameLayout layout = FrameLayout::kAuto, int64_t chunk = 8);

// Audio as [S], [C, S] or [1, C, S] float (any float dtype, any device).
void write_tensor_audio(VideoWriter& writer, const at::Tensor& pcm);

// [H, W, 3] uint8, and [3, H, W] float in [-1, 1] for conditioning.
at::Tensor image_to_tensor(const RgbImage& image);
at::Tensor image_to_float(const RgbImage& image);

// [F, H, W, 3] uint8 and [C, S] float from a read clip.
at::Tensor clip_frames_to_tensor(const VideoClip& clip);
at::Tensor clip_audio_to_tensor(const VideoClip& clip);

}  // namespace duet::media

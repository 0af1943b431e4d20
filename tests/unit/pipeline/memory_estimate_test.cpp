// The memory estimate that refuses clips before compute: stage arithmetic, per-device peaks,
// and the options the refusal names.
#include <gtest/gtest.h>

#include "core/error.h"
#include "pipeline/memory_estimate.h"

namespace duet {
namespace {

constexpr uint64_t kGiB = uint64_t{1} << 30;

// Ovi 720x720_5s as released: 11.66B fusion, umT5-XXL, Wan2.2 VAE, MMAudio + BigVGAN.
MemoryRequest ovi_on_gpu() {
  MemoryRequest r;
  r.text_params = 5'680'000'000;
  r.denoiser_params = 11'660'753'108;
  r.video_vae_params = 704'688'668;
  r.audio_params = 270'000'000;
  r.denoiser_bytes = 2;
  r.denoiser_on_cuda = true;
  r.tokens = 31 * 22 * 22 + 157;
  r.width = r.height = 704;
  r.vae_stride = 16;
  r.audio_samples = 80384;
  return r;
}

TEST(MemoryEstimate, StagesAddWeightsAndWorkingSets) {
  const MemoryRequest r = ovi_on_gpu();
  const MemoryEstimate e = estimate_memory(r);
  ASSERT_EQ(e.stages.size(), 4u);
  EXPECT_EQ(e.stages[0].stage, "text");
  EXPECT_EQ(e.stages[0].weights, 5'680'000'000ull * 2);
  EXPECT_EQ(e.stages[1].stage, "denoise");
  EXPECT_EQ(e.stages[1].weights, 11'660'753'108ull * 2);
  // Residual + per-token modulation in fp32, attention and FFN buffers in bf16, x1.5, + 256 MiB.
  const double per_token = 6.0 * 3072 * 4 + 2.0 * 3072 * 4 + (4.0 * 3072 + 2.0 * 14336) * 2;
  EXPECT_NEAR(static_cast<double>(e.stages[1].activations),
              1.5 * per_token * static_cast<double>(r.tokens) + 256.0 * (1 << 20), 2.0);
  // Everything on the GPU: the peak is the largest stage, the denoiser's.
  EXPECT_EQ(e.device_peak, e.stages[1].total());
  EXPECT_EQ(e.host_peak, 0u);
  // Keeping models loaded (batches) holds every weight at once.
  MemoryRequest keep = r;
  keep.keep_models_loaded = true;
  EXPECT_GT(estimate_memory(keep).device_peak, e.device_peak + e.stages[0].weights);
}

TEST(MemoryEstimate, TextEncoderOnTheCpuMovesItsStageToTheHost) {
  MemoryRequest r = ovi_on_gpu();
  r.text_on_denoiser_device = false;
  const MemoryEstimate e = estimate_memory(r);
  EXPECT_EQ(e.host_peak, e.stages[0].total());
  EXPECT_FALSE(e.stages[0].on_cuda);
}

TEST(MemoryEstimate, TilingAndSmallerDtypesShrinkTheirStages) {
  MemoryRequest r = ovi_on_gpu();
  r.denoiser_on_cuda = false;
  r.width = 1280;
  r.height = 704;
  const uint64_t decode = estimate_memory(r).stages[3].activations;
  r.vae_tiling = true;
  EXPECT_LT(estimate_memory(r).stages[3].activations * 4, decode);
  r.denoiser_bytes = 4;
  EXPECT_GT(estimate_memory(r).stages[1].weights, 11'660'753'108ull * 4 - 1);
}

TEST(MemoryEstimate, RefusalNamesEstimateAndWhatWouldFit) {
  const MemoryRequest r = ovi_on_gpu();  // ~26 GiB for the denoising stage
  EXPECT_NO_THROW(check_memory(r, 64 * kGiB, 80 * kGiB, "cuda:0"));
  try {
    check_memory(r, 64 * kGiB, 24 * kGiB, "cuda:0");
    FAIL() << "a 24 GiB GPU accepted the bf16 Ovi";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("not enough memory on cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find("denoise"), std::string::npos) << m;
    EXPECT_NE(m.find("24.0 GiB is available"), std::string::npos) << m;
    EXPECT_NE(m.find("a smaller size such as"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
  }
  // fp32 on a CPU with 64 GiB: bf16 halves the weights and fits.
  MemoryRequest cpu = r;
  cpu.denoiser_on_cuda = false;
  cpu.denoiser_bytes = 4;
  try {
    check_memory(cpu, 40 * kGiB, 0, "cpu");
    FAIL() << "46 GiB of fp32 weights fit in 40 GiB";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("would fit: --dtype bf16"), std::string::npos) << e.what();
  }
}

TEST(MemoryEstimate, ParsesAndFormatsSizes) {
  EXPECT_EQ(parse_bytes("24G", "--max-memory"), 24 * kGiB);
  EXPECT_EQ(parse_bytes("24GiB", "--max-memory"), 24 * kGiB);
  EXPECT_EQ(parse_bytes("512m", "--max-memory"), 512ull << 20);
  EXPECT_EQ(parse_bytes("1.5G", "--max-memory"), 3 * kGiB / 2);
  EXPECT_EQ(parse_bytes("4096", "--max-memory"), 4096u);
  for (const char* bad : {"", "G", "-1G", "12X", "nan"}) {
    EXPECT_THROW(parse_bytes(bad, "--max-memory"), Error) << bad;
  }
  EXPECT_EQ(format_bytes(3 * kGiB / 2), "1.5 GiB");
  EXPECT_EQ(format_bytes(812ull << 20), "812 MiB");
}

}  // namespace
}  // namespace duet

#pragma once
// duet's library API: text (and optionally a first frame) in, a finished video file with
// synchronized sound out. The `duet` program is built on exactly this.
//
// Complete example (tools/examples/duet_example.cpp builds it in CI):
//
//   #include <duet/duet.h>
//   #include <cstdio>
//
//   int main() {
//     duet::EngineOptions options;
//     options.model = "ckpts";          // Ovi or Wan folder, or a preset name (configs/);
//                                       // empty: the embedded duet-tiny model
//     options.progress = [](const duet::Progress& p) {
//       std::fprintf(stderr, "%s %lld/%lld\n", p.stage.c_str(), (long long)p.step,
//                    (long long)p.total);
//     };
//     try {
//       duet::Engine engine(options);   // recognises the folder; weights load lazily
//       duet::GenerateRequest request;
//       request.prompt = "A man looks up and says <S>It is raining again.<E> "
//                        "<AUDCAP>male voice, rain on a tin roof<ENDAUDCAP>";
//       request.seed = 42;
//       request.output = "rain.mp4";
//       duet::ClipPlan plan = engine.plan(request);   // every check, no compute
//       std::printf("%lldx%lld, %lld frames, seed %llu\n", (long long)plan.width,
//                   (long long)plan.height, (long long)plan.frames,
//                   (unsigned long long)plan.seed);
//       duet::GenerateResult r = engine.render(plan);
//       std::printf("wrote %s (%.1f s)\n", r.path.c_str(), r.total_seconds);
//     } catch (const std::exception& e) {  // one line naming the file, field or value
//       std::fprintf(stderr, "error: %s\n", e.what());
//       return 1;
//     }
//   }
//
// Link with find_package(duet REQUIRED) and target_link_libraries(app PRIVATE duet::duet).
// Errors are thrown as std::runtime_error subclasses with a one-line message; a failed or
// cancelled render leaves no file under the output name.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace duet {

// One clip as users spell it. Unset fields take the model preset's defaults.
struct GenerateRequest {
  std::string prompt;
  std::optional<std::string> negative_prompt;        // video negative
  std::optional<std::string> audio_negative_prompt;  // joint audio-video models
  std::optional<std::string> style;                  // a name from configs/styles.json
  std::optional<std::string> size;                   // "WIDTHxHEIGHT" (or width / height)
  std::optional<int64_t> width, height, frames, steps;
  std::optional<int64_t> slg_layer;                  // skip-layer guidance block (0: none)
  std::optional<double> duration, fps, shift, guidance, audio_guidance, guidance_high_noise;
  std::optional<std::string> sampler;                // unipc, euler, dpm++
  std::optional<uint64_t> seed;                      // random when unset; always reported
  std::optional<std::string> image;                  // first frame (image-conditioned)
  std::optional<std::string> output;                 // file to write (.mp4, .webm, ...)
  std::optional<std::string> preview;                // also an animated preview (.webp, .gif)
  std::optional<std::string> watermark;
  std::optional<int> crf;
};

struct Progress {
  std::string stage;  // "text", "image", "denoise", "audio", "decode"
  int64_t step = 0;
  int64_t total = 0;
};
using ProgressCallback = std::function<void(const Progress&)>;

struct EngineOptions {
  std::string model;                        // folder or preset name; empty: duet-tiny
  std::string device = "auto";              // auto, cpu, cuda, cuda:N
  std::string dtype = "auto";               // auto, fp32, bf16, fp16
  std::string text_encoder_device = "same"; // same, cpu, cuda
  std::string attention = "auto";           // auto or a backend name
  bool vae_tiling = false;
  bool keep_models_loaded = false;          // batches: load once, keep between clips
  // plan() estimates the memory a clip needs and refuses one that cannot fit, naming the
  // options that would; max_memory_bytes caps what counts as available (0: what is free now).
  bool memory_check = true;
  uint64_t max_memory_bytes = 0;
  ProgressCallback progress;
};

namespace detail {
struct PlanDetail;
}

// A request with every value decided and checked: what render() will make.
struct ClipPlan {
  std::string model;  // the model's variant, e.g. "Ovi 720x720_5s"
  std::string prompt, negative_prompt, audio_negative_prompt;
  int64_t width = 0, height = 0, frames = 0, steps = 0;
  double fps = 0;
  bool has_audio = false;
  int64_t audio_samples = 0;
  int audio_sample_rate = 0;
  uint64_t seed = 0;
  std::string output;   // the file render() writes
  std::string preview;  // and its animated preview, when asked for (may be set before render())
  std::shared_ptr<const detail::PlanDetail> detail;
};

struct GenerateResult {
  std::string path;
  std::string preview_path;  // empty without a preview
  ClipPlan plan;
  int64_t frames_written = 0;
  int64_t audio_samples_written = 0;
  double total_seconds = 0;
  std::vector<std::pair<std::string, double>> stage_seconds;  // in pipeline order
};

class Engine {
 public:
  explicit Engine(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Validates and fills defaults and checks the memory estimate; no weights are read. A missing
  // output gets a name made of the prompt's first words and the seed.
  ClipPlan plan(const GenerateRequest& request) const;
  // Runs the plan into its output file (written to a temporary name, renamed when complete).
  // An output folder that is missing or not writable fails before any compute.
  GenerateResult render(const ClipPlan& plan);
  // plan() + render().
  GenerateResult generate(const GenerateRequest& request) { return render(plan(request)); }

  std::string model_variant() const;  // "Ovi 720x720_5s", "Wan2.1 T2V 1.3B", "duet-tiny"
  std::string model_path() const;
  std::string family() const;         // "ovi" (video with sound) or "wan" (video)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Asks a running render to stop at its next checkpoint (signal-safe); render() then throws
// and leaves no output file.
void request_cancel() noexcept;

}  // namespace duet

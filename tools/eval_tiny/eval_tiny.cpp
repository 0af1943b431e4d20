// duet_eval_tiny: scores duet-tiny on held-out scene captions (src/scenes, is_held_out). Each
// clip is generated from a caption the model never trained on, decoded back from its MP4 and
// analysed (clip_analysis.h) against the scene's ground truth:
//   colour  the main object's colour is the caption's (target >= 90% of clips)
//   motion  falls / rolls left / rolls right / still as captioned (target >= 80%)
//   sync    audio onsets within +-1 frame of the visual impacts in the generated picture
//           (target >= 80% of impacts)
//   quiet   still scenes' sound: RMS in dBFS and the fraction below --quiet-dbfs
// --oracle analyses the scene generator's own renders instead: the analyser's baseline.
// --decoders passes those renders through the model's autoencoders (video VAE encode + decode;
// log-mel, audio VAE encode + decode, vocoder): the best the generator could score if the
// fusion model produced the true latents. --decoders=video or --decoders=audio passes only that
// half through its autoencoders and keeps the other as rendered: which half loses what.
// --clip FILE.mp4 analyses one clip (any prompt, e.g. the README's): the object's colour and
// motion, the visual impacts and audio onsets with their times, the sound's level; --strip PNG
// writes its frame strip.
//
//   duet_eval_tiny --clip clip.mp4 [--strip clip.png] [--json FILE]
//   duet_eval_tiny [--model DIR] [--count 40] [--first-seed 1000000] [--steps N]
//                  [--guidance G] [--audio-guidance G] [--slg-layer N] [--shift S] [--sampler NAME]
//                  [--out DIR] [--json FILE] [--oracle | --decoders[=video|audio]]
#include <ATen/core/grad_mode.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "clip_analysis.h"
#include "core/error.h"
#include "core/paths.h"
#include "duet/duet.h"
#include "io/model_dir.h"
#include "media/image_reader.h"
#include "media/scene_clip.h"
#include "media/video_reader.h"
#include "models/mmaudio/bigvgan.h"
#include "models/mmaudio/mel.h"
#include "models/mmaudio/vae.h"
#include "models/wan/vae.h"
#include "scenes/scene.h"

namespace {

using namespace duet;
namespace fs = std::filesystem;

constexpr double kColorTarget = 0.90, kMotionTarget = 0.80, kSyncTarget = 0.80;

struct Options {
  std::string model;
  int count = 40;
  uint64_t first_seed = 1000000;
  std::optional<int64_t> steps, slg_layer;
  std::optional<double> guidance, audio_guidance, shift;
  std::optional<std::string> sampler;
  std::string out, json, device = "auto";
  int strips = 0;  // PNG strips (every 12th frame) of the first N clips, beside them
  std::string clip, strip;  // --clip: one clip analysed; --strip: its frame strip
  bool oracle = false;
  std::string decoders;  // --decoders: "both", "video" or "audio" (the halves decoded); empty: off
  bool keep_oracle_files = false;  // --oracle with --out: through the MP4 round trip
  double quiet_dbfs = -40.0;
};

// The evaluation's scene format: duet-tiny's trained size and length.
scenes::SceneOptions scene_options() {
  return {.width = 128, .height = 128, .frames = 121, .fps = 24.0};
}

// Held-out scenes with the motions in turn (falls, left, right, still), so every motion, still
// scenes included, is a quarter of the clips whatever --count is.
std::vector<std::pair<uint64_t, scenes::SceneSpec>> pick_scenes(const Options& o) {
  std::vector<std::pair<uint64_t, scenes::SceneSpec>> out;
  uint64_t seed = o.first_seed;
  for (int i = 0; i < o.count; ++i) {
    const auto want = static_cast<scenes::Motion>(i % 4);
    for (;; ++seed) {
      uint64_t found = 0;
      scenes::SceneSpec spec = scenes::next_scene(seed, scene_options(), true, &found);
      seed = found;
      if (spec.objects.front().motion == want) {
        out.emplace_back(found, std::move(spec));
        ++seed;
        break;
      }
    }
  }
  return out;
}

// A clip as the analyser takes it: frames concatenated, mono audio.
struct Decoded {
  std::vector<uint8_t> frames;
  std::vector<float> audio;
  int width = 0, height = 0, sample_rate = 16000;
  double fps = 24.0;
};

Decoded decode(const std::string& path) {
  media::VideoReaderOptions ro;
  ro.audio_sample_rate = 16000;
  ro.audio_channels = 1;
  media::VideoClip clip = media::read_video(path, ro);
  DUET_CHECK(!clip.frames.empty(), "'{}' has no video frames", path);
  Decoded d;
  d.width = clip.info.width;
  d.height = clip.info.height;
  d.fps = clip.info.fps.value();
  d.sample_rate = clip.info.has_audio ? clip.info.sample_rate : 16000;
  for (const auto& f : clip.frames)
    d.frames.insert(d.frames.end(), f.pixels.begin(), f.pixels.end());
  d.audio = std::move(clip.audio);
  return d;
}

Decoded from_scene(const scenes::Scene& s) {
  return {s.frames, s.audio, s.spec.width, s.spec.height, s.spec.sample_rate, s.spec.fps};
}

// The model's autoencoders, loaded once from its package (--decoders).
class Decoders {
 public:
  explicit Decoders(const std::string& model) {
    const ModelDir dir = detect_model_dir(model.empty() ? default_model_dir().string() : model);
    auto file = [&](const char* role) {
      for (const auto& c : dir.components) {
        if (c.role == role && c.present && !c.files.empty()) return c;
      }
      DUET_FAIL("model '{}' has no {} component", dir.path, role);
    };
    video_ = wan::load_wan_vae(file("video_vae").files.front());
    audio_ = mmaudio::load_mmaudio_vae(file("audio_vae").files.front());
    const ModelComponent voc = file("vocoder");
    vocoder_ = mmaudio::load_bigvgan(voc.files.front(), {}, voc.key_prefix);
  }

  // The scene's frames and sound through encode + decode of each autoencoder (the halves not
  // asked for stay as rendered).
  Decoded round_trip(const scenes::Scene& s, bool video, bool audio) const {
    at::NoGradGuard no_grad;
    Decoded d = from_scene(s);
    if (video) d.frames = video_round_trip(s);
    if (audio) d.audio = audio_round_trip(s);
    return d;
  }

 private:
  std::vector<uint8_t> video_round_trip(const scenes::Scene& s) const {
    const int64_t f = s.spec.frames, h = s.spec.height, w = s.spec.width;
    // [F, H, W, 3] uint8 -> [1, 3, F, H, W] in [-1, 1] -> back
    const at::Tensor pixels =
        at::from_blob(const_cast<uint8_t*>(s.frames.data()), {f, h, w, 3}, at::kByte);
    const at::Tensor x = pixels.permute({3, 0, 1, 2}).to(at::kFloat).div(127.5).sub(1).unsqueeze(0);
    const at::Tensor y = video_->decode(video_->encode(x))[0];  // [3, F, H, W]
    const at::Tensor out = y.add(1).mul(127.5).round().clamp(0, 255).to(at::kByte)
                               .permute({1, 2, 3, 0}).contiguous();
    return {out.data_ptr<uint8_t>(), out.data_ptr<uint8_t>() + out.numel()};
  }

  std::vector<float> audio_round_trip(const scenes::Scene& s) const {
    // [N] -> log-mel [1, 80, T] (T even) -> latents -> mel -> [N']
    const at::Tensor pcm = at::from_blob(const_cast<float*>(s.audio.data()),
                                         {1, static_cast<int64_t>(s.audio.size())}, at::kFloat);
    at::Tensor mel = mel_.forward(pcm);
    mel = mel.narrow(2, 0, mel.size(2) / 2 * 2);
    const at::Tensor sound =
        vocoder_->forward(audio_->decode(audio_->encode(mel))).reshape({-1}).contiguous();
    // The vocoder alone on the true mel: tells the audio VAE's loss from the vocoder's.
    const double vocoder_only_dbfs =
        20 * std::log10(vocoder_->forward(mel).pow(2).mean().sqrt().item<double>() + 1e-12);
    const double truth_dbfs = 20 * std::log10(pcm.pow(2).mean().sqrt().item<double>() + 1e-12);
    std::printf("         audio: scene %.1f dBFS, vocoder on the true mel %.1f dBFS, "
                "through the audio VAE %.1f dBFS\n",
                truth_dbfs, vocoder_only_dbfs,
                20 * std::log10(sound.pow(2).mean().sqrt().item<double>() + 1e-12));
    return {sound.data_ptr<float>(), sound.data_ptr<float>() + sound.numel()};
  }

  std::unique_ptr<wan::WanVae> video_;
  std::unique_ptr<mmaudio::MMAudioVae> audio_;
  std::unique_ptr<mmaudio::BigVgan> vocoder_;
  mmaudio::MelConverter mel_{mmaudio::mel_16k()};
};

struct ClipResult {
  uint64_t seed = 0;
  std::string caption, want_color, want_motion, got_motion;
  eval::ClipAnalysis analysis;
  bool color_ok = false, motion_ok = false, still = false;
  size_t true_impacts = 0;
};

ClipResult score(uint64_t seed, const scenes::SceneSpec& spec, const Decoded& d,
                 size_t true_impacts) {
  ClipResult r;
  r.seed = seed;
  r.caption = scenes::caption_of(spec);
  const scenes::ObjectSpec& obj = spec.objects.front();
  r.want_color = obj.color.name;
  r.want_motion = scenes::motion_name(obj.motion);
  r.still = obj.motion == scenes::Motion::kStill;
  r.true_impacts = true_impacts;
  r.analysis = eval::analyse_clip({d.frames, d.width, d.height, d.fps, d.audio, d.sample_rate});
  r.got_motion = r.analysis.motion ? scenes::motion_name(*r.analysis.motion) : "none";
  r.color_ok = r.analysis.color == r.want_color;
  r.motion_ok = r.analysis.motion == obj.motion;
  return r;
}

void print_clip(const ClipResult& r) {
  const eval::ClipAnalysis& a = r.analysis;
  std::printf("%-8llu %-7s %-11s colour %-6s %s  motion %-11s %s  sync %d/%d  rms %6.1f dBFS\n",
              static_cast<unsigned long long>(r.seed), r.want_color.c_str(), r.want_motion.c_str(),
              a.color.empty() ? "none" : a.color.c_str(), r.color_ok ? "ok " : "BAD",
              r.got_motion.c_str(), r.motion_ok ? "ok " : "BAD", a.sync.matched, a.sync.impacts,
              a.audio_rms_dbfs);
  std::fflush(stdout);
}

nlohmann::json clip_json(const ClipResult& r) {
  const eval::ClipAnalysis& a = r.analysis;
  return {{"seed", r.seed},
          {"caption", r.caption},
          {"color",
           {{"want", r.want_color},
            {"got", a.color},
            {"rgb", {a.rgb[0], a.rgb[1], a.rgb[2]}},
            {"delta_e", a.color_distance},
            {"ok", r.color_ok}}},
          {"motion", {{"want", r.want_motion}, {"got", r.got_motion}, {"ok", r.motion_ok}}},
          {"frames_with_object", a.frames_found},
          {"visual_impacts", a.visual_impacts},
          {"audio_onsets", a.audio_onsets},
          {"true_impacts", r.true_impacts},
          {"sync",
           {{"impacts", a.sync.impacts},
            {"matched", a.sync.matched},
            {"chance_fraction", a.sync_control.fraction}}},
          {"audio_rms_dbfs", a.audio_rms_dbfs}};
}

struct Summary {
  int clips = 0, color_ok = 0, motion_ok = 0, impacts = 0, matched = 0, stills = 0, quiet = 0;
  int control_impacts = 0, control_matched = 0;  // onsets shifted +-5 frames: chance level
  std::vector<double> still_dbfs;
};

Summary summarise(const std::vector<ClipResult>& results, double quiet_dbfs) {
  Summary s;
  for (const auto& r : results) {
    ++s.clips;
    s.color_ok += r.color_ok;
    s.motion_ok += r.motion_ok;
    s.impacts += r.analysis.sync.impacts;
    s.matched += r.analysis.sync.matched;
    s.control_impacts += r.analysis.sync_control.impacts;
    s.control_matched += r.analysis.sync_control.matched;
    if (!r.still) continue;
    ++s.stills;
    s.still_dbfs.push_back(r.analysis.audio_rms_dbfs);
    s.quiet += r.analysis.audio_rms_dbfs < quiet_dbfs;
  }
  std::sort(s.still_dbfs.begin(), s.still_dbfs.end());
  return s;
}

double ratio(int a, int b) { return b == 0 ? 0.0 : static_cast<double>(a) / b; }

void print_summary(const Summary& s, const Options& o, const std::string& model) {
  auto verdict = [](double v, double target) { return v >= target ? "pass" : "FAIL"; };
  const double color = ratio(s.color_ok, s.clips), motion = ratio(s.motion_ok, s.clips);
  const double sync = ratio(s.matched, s.impacts);
  std::printf("\n%s: %d held-out clips (128x128, 121 frames, 24 fps)\n", model.c_str(), s.clips);
  std::printf("  colour  %3d/%-3d = %5.1f%%  (target >= %.0f%%)  %s\n", s.color_ok, s.clips,
              100 * color, 100 * kColorTarget, verdict(color, kColorTarget));
  std::printf("  motion  %3d/%-3d = %5.1f%%  (target >= %.0f%%)  %s\n", s.motion_ok, s.clips,
              100 * motion, 100 * kMotionTarget, verdict(motion, kMotionTarget));
  std::printf(
      "  sync    %3d/%-3d = %5.1f%% of visual impacts with an audio onset within +-1 frame"
      " (+0.5 frame for quantisation)  (target >= %.0f%%)  %s\n",
      s.matched, s.impacts, 100 * sync, 100 * kSyncTarget,
      s.impacts == 0 ? "no impacts" : verdict(sync, kSyncTarget));
  std::printf("          %5.1f%% by chance (the same onsets shifted 5 frames earlier or later)\n",
              100 * ratio(s.control_matched, s.control_impacts));
  if (s.stills == 0) {
    std::printf("  quiet   no still clips (--count 4 or more includes them)\n");
    return;
  }
  std::printf(
      "  quiet   %3d/%-3d still clips below %.0f dBFS RMS (median %.1f, loudest %.1f dBFS)\n",
      s.quiet, s.stills, o.quiet_dbfs, s.still_dbfs[s.still_dbfs.size() / 2], s.still_dbfs.back());
}

nlohmann::json summary_json(const Summary& s, const Options& o) {
  return {
      {"clips", s.clips},
      {"color",
       {{"ok", s.color_ok}, {"fraction", ratio(s.color_ok, s.clips)}, {"target", kColorTarget}}},
      {"motion",
       {{"ok", s.motion_ok}, {"fraction", ratio(s.motion_ok, s.clips)}, {"target", kMotionTarget}}},
      {"sync",
       {{"impacts", s.impacts},
        {"matched", s.matched},
        {"fraction", ratio(s.matched, s.impacts)},
        {"target", kSyncTarget},
        {"tolerance_frames", 1.5},
        {"chance_fraction", ratio(s.control_matched, s.control_impacts)}}},
      {"still",
       {{"clips", s.stills},
        {"quiet", s.quiet},
        {"threshold_dbfs", o.quiet_dbfs},
        {"rms_dbfs", s.still_dbfs}}}};
}

std::unique_ptr<Engine> make_engine(const Options& o) {
  EngineOptions eo;
  eo.model = o.model;  // empty: the embedded duet-tiny
  eo.device = o.device;
  eo.keep_models_loaded = true;  // one model, many clips
  return std::make_unique<Engine>(eo);
}

Decoded generate(Engine& engine, const Options& o, uint64_t seed, const std::string& caption) {
  GenerateRequest req;
  req.prompt = caption;
  req.seed = seed;
  req.width = 128;
  req.height = 128;
  req.frames = 121;
  req.fps = 24.0;
  req.steps = o.steps;
  req.guidance = o.guidance;
  req.audio_guidance = o.audio_guidance;
  req.slg_layer = o.slg_layer;
  req.shift = o.shift;
  req.sampler = o.sampler;
  req.output = (fs::path(o.out) / fmt::format("{}.mp4", seed)).string();
  return decode(engine.generate(req).path);
}

// Every 12th frame side by side: what a clip shows at a glance (README, reports).
void write_strip(const Decoded& d, const std::string& path) {
  const int step = 12, n = static_cast<int>(d.frames.size() / (3u * d.width * d.height) + step - 1) / step;
  media::RgbImage strip;
  strip.width = d.width * n;
  strip.height = d.height;
  strip.pixels.assign(static_cast<size_t>(strip.width) * d.height * 3, 0);
  const size_t row = static_cast<size_t>(d.width) * 3, frame = row * d.height;
  for (int k = 0; k < n; ++k) {
    for (int y = 0; y < d.height; ++y) {
      const auto* src = d.frames.data() + static_cast<size_t>(k) * step * frame + y * row;
      std::copy(src, src + row, strip.pixels.begin() + y * strip.width * 3 + k * row);
    }
  }
  media::write_png(path, strip);
}

std::string seconds_list(const std::vector<double>& times) {
  std::string s;
  for (double t : times) s += fmt::format("{}{:.2f}", s.empty() ? "" : " ", t);
  return s.empty() ? "none" : s;
}

// Level of the loudest 10 ms hop, dBFS: how loud the loudest sound is, where the RMS over the
// clip mixes it with the silence around it.
double peak_window_dbfs(const std::vector<float>& audio, int sample_rate) {
  const std::vector<double> energy = eval::hop_energies(audio, sample_rate);
  const double best = energy.empty() ? 0.0 : *std::max_element(energy.begin(), energy.end());
  return 10 * std::log10(best + 1e-12);
}

// --clip: one clip, whatever its prompt, described by the same analyser.
int describe_clip(const Options& o) {
  const Decoded d = decode(o.clip);
  if (!o.strip.empty()) write_strip(d, o.strip);
  const eval::ClipAnalysis a =
      eval::analyse_clip({d.frames, d.width, d.height, d.fps, d.audio, d.sample_rate});
  const size_t frames = d.frames.size() / (3u * d.width * d.height);
  const std::string motion = a.motion ? scenes::motion_name(*a.motion) : "none";
  std::printf("%s: %dx%d, %zu frames at %.2f fps, %.2f s of sound at %d Hz\n", o.clip.c_str(),
              d.width, d.height, frames, d.fps,
              static_cast<double>(d.audio.size()) / d.sample_rate, d.sample_rate);
  std::printf("  object   %s (median RGB %.0f %.0f %.0f, delta E %.1f), in %d of %zu frames\n",
              a.color.empty() ? "none" : a.color.c_str(), a.rgb[0], a.rgb[1], a.rgb[2],
              a.color_distance, a.frames_found, frames);
  std::printf("  motion   %s\n", motion.c_str());
  std::printf("  impacts  seen at %s s\n", seconds_list(a.visual_impacts).c_str());
  std::printf("  onsets   heard at %s s\n", seconds_list(a.audio_onsets).c_str());
  std::printf("  sync     %d/%d impacts with an onset within +-1 frame\n", a.sync.matched,
              a.sync.impacts);
  const double peak = peak_window_dbfs(d.audio, d.sample_rate);
  std::printf("  sound    RMS %.1f dBFS, loudest 10 ms %.1f dBFS\n", a.audio_rms_dbfs, peak);
  if (!o.json.empty()) {
    const nlohmann::json report = {{"clip", o.clip},
                                   {"color", a.color},
                                   {"rgb", {a.rgb[0], a.rgb[1], a.rgb[2]}},
                                   {"frames_with_object", a.frames_found},
                                   {"motion", motion},
                                   {"visual_impacts", a.visual_impacts},
                                   {"audio_onsets", a.audio_onsets},
                                   {"sync", {{"impacts", a.sync.impacts}, {"matched", a.sync.matched}}},
                                   {"audio_rms_dbfs", a.audio_rms_dbfs},
                                   {"audio_peak_dbfs", peak}};
    std::ofstream f(o.json);
    f << report.dump(2) << "\n";
    DUET_CHECK(f.good(), "cannot write '{}'", o.json);
  }
  return 0;
}

int run(const Options& o) {
  if (!o.clip.empty()) return describe_clip(o);
  DUET_CHECK(o.strip.empty(), "--strip goes with --clip (use --strips N with generated clips)");
  DUET_CHECK(o.count > 0, "--count must be positive");
  DUET_CHECK(!(o.oracle && !o.decoders.empty()), "--oracle and --decoders exclude each other");
  if (!o.oracle || o.keep_oracle_files) fs::create_directories(o.out);
  const bool decoding = !o.decoders.empty();
  std::unique_ptr<Engine> engine = o.oracle || decoding ? nullptr : make_engine(o);
  std::unique_ptr<Decoders> decoders = decoding ? std::make_unique<Decoders>(o.model) : nullptr;
  const std::string model =
      o.oracle ? "oracle (the scene generator's own renders)"
      : decoding
          ? (o.decoders == "both"
                 ? std::string("decoders (the renders through the model's autoencoders)")
                 : fmt::format("decoders, {} only (the other half as rendered)", o.decoders))
          : engine->model_variant();
  std::vector<ClipResult> results;
  for (const auto& [seed, spec] : pick_scenes(o)) {
    const std::string caption = scenes::caption_of(spec);
    const scenes::Scene truth = scenes::render_scene(spec);
    Decoded d;
    if (o.oracle && o.keep_oracle_files) {
      const std::string path = (fs::path(o.out) / fmt::format("{}.mp4", seed)).string();
      // The oracle through the same MP4 round trip as generated clips, so codec losses are in
      // the baseline too.
      media::write_scene_clip(truth, path, caption);
      d = decode(path);
    } else if (decoding) {
      d = decoders->round_trip(truth, o.decoders != "audio", o.decoders != "video");
      const std::string path = (fs::path(o.out) / fmt::format("{}.mp4", seed)).string();
      scenes::Scene shown = truth;  // written as generated clips are, to be watched and heard
      shown.frames = d.frames;
      shown.audio = d.audio;
      media::write_scene_clip(shown, path, caption);
    } else {
      d = o.oracle ? from_scene(truth) : generate(*engine, o, seed, caption);
    }
    if (static_cast<int>(results.size()) < o.strips) {
      write_strip(d, (fs::path(o.out) / fmt::format("{}.png", seed)).string());
    }
    results.push_back(score(seed, spec, d, truth.impacts.size()));
    print_clip(results.back());
  }
  const Summary s = summarise(results, o.quiet_dbfs);
  print_summary(s, o, model);
  if (!o.json.empty()) {
    nlohmann::json clips = nlohmann::json::array();
    for (const auto& r : results) clips.push_back(clip_json(r));
    nlohmann::json report = {{"model", model},
                             {"first_seed", o.first_seed},
                             {"summary", summary_json(s, o)},
                             {"clips", clips}};
    std::ofstream f(o.json);
    f << report.dump(2) << "\n";
    DUET_CHECK(f.good(), "cannot write '{}'", o.json);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "Scores duet-tiny on held-out scene captions: colour, motion, audio-visual sync, quiet "
      "stills");
  Options o;
  o.out = (fs::temp_directory_path() / "duet_eval_tiny").string();
  app.add_option("--model", o.model, "Model folder (default: the embedded duet-tiny)");
  app.add_option("--count", o.count, "Number of held-out scenes")->capture_default_str();
  app.add_option("--first-seed", o.first_seed, "Scene seed to search from")->capture_default_str();
  app.add_option("--steps", o.steps, "Denoising steps (default: the model's)");
  app.add_option("--guidance", o.guidance, "Video guidance scale (default: the model's)");
  app.add_option("--audio-guidance", o.audio_guidance, "Audio guidance scale (default: the model's)");
  app.add_option("--slg-layer", o.slg_layer, "Skip-layer guidance block (default: the model's)");
  app.add_option("--shift", o.shift, "Noise schedule shift (default: the model's)");
  app.add_option("--sampler", o.sampler, "unipc, euler or dpm++ (default: the model's)");
  app.add_option("--strips", o.strips, "Write OUT/<seed>.png strips (every 12th frame) of the first N clips");
  app.add_option("--device", o.device, "auto, cpu, cuda, cuda:N")->capture_default_str();
  app.add_option("--out", o.out, "Folder the clips are kept in")->capture_default_str();
  app.add_option("--json", o.json, "Also write the report as JSON to this file");
  app.add_option("--quiet-dbfs", o.quiet_dbfs, "Still scenes count as quiet below this RMS")
      ->capture_default_str();
  app.add_flag("--oracle", o.oracle,
               "Analyse the scene generator's own renders instead of generating (the analyser's "
               "baseline); with --out, through the same MP4 round trip as generated clips");
  app.add_flag("--decoders{both}", o.decoders,
               "Pass the renders through the model's autoencoders (video VAE; audio VAE and "
               "vocoder) instead of generating: what the decoders allow at best; "
               "--decoders=video or =audio decodes that half only")
      ->check(CLI::IsMember({"both", "video", "audio"}));
  app.add_option("--clip", o.clip, "Analyse this MP4 (any prompt) instead of scoring: colour, "
                 "motion, impact and onset times, sound level")->check(CLI::ExistingFile);
  app.add_option("--strip", o.strip, "With --clip: write its frame strip (every 12th frame) as PNG");
  CLI11_PARSE(app, argc, argv);
  o.keep_oracle_files = o.oracle && app.count("--out") > 0;
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_eval_tiny: error: %s\n", e.what());
    return 1;
  }
}

// Encode time and peak memory of the media writer per codec, on synthetic moving content
// with 16 kHz mono audio, at the sizes the pipelines produce (121 frames 720x720, 241 frames
// 960x960, 24 fps). Each run is a forked child, so its peak RSS (ru_maxrss from wait4) is
// its own; a "frames only" run gives the baseline of making the frames without encoding.
//
//   duet_media_bench [--out DIR] [--codecs h264,h265,av1,vp9] [--runs 121x720,241x960]
//                    [--threads N] [--preset NAME]
// Prints a Markdown table (the one in BENCHMARKS.md, section "Media encoding").
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "media/output_format.h"
#include "media/video_writer.h"

namespace {

using namespace duet::media;
namespace fs = std::filesystem;

struct Run {
  int frames, size;
};

struct Args {
  fs::path out = fs::temp_directory_path() / "duet_media_bench";
  std::vector<std::string> codecs = {"h264", "h265", "av1", "vp9"};
  std::vector<Run> runs = {{121, 720}, {241, 960}};
  int threads = 0;
  std::string preset;
};

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(sep, start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto value = [&]() -> std::string {
      DUET_CHECK(i + 1 < argc, "{} needs a value", k);
      return argv[++i];
    };
    if (k == "--out") {
      a.out = value();
    } else if (k == "--codecs") {
      a.codecs = split(value(), ',');
    } else if (k == "--runs") {
      a.runs.clear();
      for (const auto& r : split(value(), ',')) {
        int f = 0, s = 0;
        DUET_CHECK(std::sscanf(r.c_str(), "%dx%d", &f, &s) == 2 && f > 0 && s > 0,
                   "run '{}' should be FRAMESxSIZE, e.g. 121x720", r);
        a.runs.push_back({f, s});
      }
    } else if (k == "--threads") {
      a.threads = std::stoi(value());
    } else if (k == "--preset") {
      a.preset = value();
    } else {
      DUET_FAIL("unknown option '{}'; see the comment at the top of media_bench.cpp", k);
    }
  }
  return a;
}

// A texture twice the frame size: smooth colour fields, fine detail and mild grain, so the
// encoders see something like footage. Frames are windows panning across it plus a moving
// bright disc, so there is real motion to estimate.
class Scene {
 public:
  explicit Scene(int size) : size_(size), tex_w_(2 * size), texture_(size_t(4) * size * size * 3) {
    uint32_t h = 12345;
    for (int y = 0; y < 2 * size; ++y) {
      for (int x = 0; x < tex_w_; ++x) {
        h = h * 1664525u + 1013904223u;
        int grain = static_cast<int>(h >> 28) - 8;
        double u = x / double(size), v = y / double(size);
        uint8_t* p = &texture_[(size_t(y) * tex_w_ + x) * 3];
        p[0] = clamp(128 + 90 * std::sin(2.1 * u + 0.7) * std::cos(1.3 * v) + grain);
        p[1] = clamp(120 + 80 * std::sin(3.7 * v + 1.1 * u) + 20 * std::sin(40 * u) + grain);
        p[2] = clamp(110 + 100 * std::cos(2.9 * u - 1.7 * v) + grain);
      }
    }
    frame_.resize(size_t(size) * size * 3);
  }

  const uint8_t* frame(int i) {
    int ox = (i * 3) % size_, oy = (i * 2) % size_;
    for (int y = 0; y < size_; ++y) {
      std::memcpy(&frame_[size_t(y) * size_ * 3], &texture_[(size_t(y + oy) * tex_w_ + ox) * 3],
                  size_t(size_) * 3);
    }
    int cx = static_cast<int>(size_ * (0.5 + 0.35 * std::sin(i * 0.11)));
    int cy = static_cast<int>(size_ * (0.5 + 0.35 * std::cos(i * 0.07)));
    int r = size_ / 10;
    for (int y = std::max(0, cy - r); y < std::min(size_, cy + r); ++y) {
      for (int x = std::max(0, cx - r); x < std::min(size_, cx + r); ++x) {
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) < r * r) {
          std::memset(&frame_[(size_t(y) * size_ + x) * 3], 235, 3);
        }
      }
    }
    return frame_.data();
  }

 private:
  static uint8_t clamp(double v) { return static_cast<uint8_t>(std::min(255.0, std::max(0.0, v))); }
  int size_, tex_w_;
  std::vector<uint8_t> texture_, frame_;
};

struct Result {
  bool ok = false;
  double seconds = 0;
  long peak_kib = 0;
  double cpu_seconds = 0;  // user + system of the whole child, frame synthesis included
  uintmax_t bytes = 0;
  char encoder[32] = {};
  char error[200] = {};
};

// Runs in the child: writes the clip (or only makes the frames when codec is empty).
Result encode(const Args& args, const Run& run, const std::string& codec) {
  Result r;
  Scene scene(run.size);
  const int rate = 16000;
  const int64_t samples = static_cast<int64_t>(run.frames) * rate / 24;
  std::vector<float> pcm(samples);
  for (int64_t i = 0; i < samples; ++i) {
    pcm[i] = 0.3f * std::sin(2 * M_PI * 220.0 * i / rate) * std::sin(M_PI * i / rate);
  }
  VideoWriterOptions o;
  o.width = o.height = run.size;
  o.fps = {24, 1};
  o.codec = codec.empty() ? VideoCodec::kAuto : parse_video_codec(codec);
  o.preset = args.preset;
  o.threads = args.threads;
  o.audio_sample_rate = rate;
  o.path = (args.out / (std::to_string(run.frames) + "x" + std::to_string(run.size) + "_" +
                        (codec.empty() ? "frames" : codec) + (codec == "vp9" ? ".webm" : ".mp4")))
               .string();
  auto t0 = std::chrono::steady_clock::now();
  if (codec.empty()) {
    uint64_t sum = 0;
    for (int i = 0; i < run.frames; ++i) sum += scene.frame(i)[i % 7];
    r.bytes = sum & 1;  // keeps the loop from being optimised away
  } else {
    VideoWriter w(o);
    w.open();
    w.write_audio(pcm.data(), samples);
    for (int i = 0; i < run.frames; ++i) w.write_frame(scene.frame(i));
    w.finish();
    std::snprintf(r.encoder, sizeof(r.encoder), "%s", w.info().video_encoder.c_str());
    r.bytes = fs::file_size(o.path);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.ok = true;
  return r;
}

Result run_child(const Args& args, const Run& run, const std::string& codec) {
  int fds[2];
  DUET_CHECK(pipe(fds) == 0, "pipe failed");
  std::fflush(stdout);
  pid_t pid = fork();
  DUET_CHECK(pid >= 0, "fork failed");
  if (pid == 0) {
    close(fds[0]);
    Result r;
    try {
      r = encode(args, run, codec);
    } catch (const std::exception& e) {
      std::snprintf(r.error, sizeof(r.error), "%s", e.what());
    }
    ssize_t n = write(fds[1], &r, sizeof(r));
    _exit(n == sizeof(r) ? 0 : 1);
  }
  close(fds[1]);
  Result r;
  if (read(fds[0], &r, sizeof(r)) != sizeof(r))
    std::snprintf(r.error, sizeof(r.error), "child died");
  close(fds[0]);
  int status = 0;
  struct rusage usage {};
  wait4(pid, &status, 0, &usage);
  r.peak_kib = usage.ru_maxrss;
  r.cpu_seconds = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
                  usage.ru_stime.tv_usec / 1e6;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    Args args = parse_args(argc, argv);
    fs::create_directories(args.out);
    std::printf(
        "| Clip | Codec (encoder) | Encode s | Frames/s | CPU s | Peak RSS MiB | File MiB | "
        "Mbit/s |\n");
    std::printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (const Run& run : args.runs) {
      std::vector<std::string> codecs = args.codecs;
      codecs.insert(codecs.begin(), "");  // baseline: frames only
      for (const std::string& codec : codecs) {
        Result r = run_child(args, run, codec);
        std::string clip = std::to_string(run.frames) + " x " + std::to_string(run.size) + "²";
        if (!r.ok) {
          std::printf("| %s | %s | failed: %s | | | | | |\n", clip.c_str(), codec.c_str(), r.error);
          continue;
        }
        if (codec.empty()) {
          std::printf("| %s | frames only (baseline) | %.2f | | %.1f | %.0f | | |\n", clip.c_str(),
                      r.seconds, r.cpu_seconds, r.peak_kib / 1024.0);
          continue;
        }
        double duration = run.frames / 24.0;
        std::printf("| %s | %s (%s) | %.1f | %.1f | %.1f | %.0f | %.2f | %.2f |\n", clip.c_str(),
                    codec.c_str(), r.encoder, r.seconds, run.frames / r.seconds, r.cpu_seconds,
                    r.peak_kib / 1024.0, r.bytes / 1048576.0, r.bytes * 8 / duration / 1e6);
        std::fflush(stdout);
      }
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "duet_media_bench: %s\n", e.what());
    return 1;
  }
}

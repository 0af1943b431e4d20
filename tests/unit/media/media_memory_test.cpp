// Streaming: frames go to the encoder as they come, so peak memory does not grow with the
// number of frames. Each run happens in a forked child so its peak (VmHWM) is its own.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "media/video_writer.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

using test::TempDir;

long vm_hwm_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// Peak RSS in KiB of a child process that writes `frames` frames (+ audio) with `o`.
long peak_kib_writing(VideoWriterOptions o, int frames) {
  int fds[2];
  if (pipe(fds) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    long result = -1;
    try {
      const int64_t samples = static_cast<int64_t>(frames / o.fps.value() * o.audio_sample_rate);
      auto pcm = test_util::tone(samples, o.audio_sample_rate);
      VideoWriter w(o);
      w.open();
      w.write_audio(pcm.data(), samples);
      std::vector<uint8_t> frame;
      for (int i = 0; i < frames; ++i) {
        frame = test_util::gradient_frame(o.width, o.height, i);  // as a VAE hands them over
        w.write_frame(frame.data());
      }
      w.finish();
      result = vm_hwm_kib();
    } catch (...) {
    }
    ssize_t n = write(fds[1], &result, sizeof(result));
    _exit(n == sizeof(result) ? 0 : 1);
  }
  close(fds[1]);
  long result = -1;
  if (read(fds[0], &result, sizeof(result)) != sizeof(result)) result = -1;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return result;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kAddressSanitizer = true;
#elif defined(__has_feature)
constexpr bool kAddressSanitizer = __has_feature(address_sanitizer);
#else
constexpr bool kAddressSanitizer = false;
#endif

TEST(MediaMemory, PeakDoesNotGrowWithFrameCount) {
  // ASan's quarantine keeps freed blocks resident, so every frame buffer would count.
  if (kAddressSanitizer) GTEST_SKIP() << "peak RSS is not meaningful under AddressSanitizer";
  TempDir dir;
  auto o = test_util::small_options(dir / "m.mp4", 192, 192);
  o.preset = "veryfast";  // with lookahead and B-frames, as in real use
  o.audio_sample_rate = 16000;
  long few = peak_kib_writing(o, 60);
  o.path = dir / "m2.mp4";
  long many = peak_kib_writing(o, 480);
  ASSERT_GT(few, 0);
  ASSERT_GT(many, 0);
  // 420 more frames of 192x192 RGB are 46 MB; streaming keeps the difference to a few MB
  // (the muxer's sample tables and the queued compressed audio).
  EXPECT_LT(many - few, 8 * 1024) << "peak " << few << " KiB for 60 frames, " << many
                                  << " KiB for 480 frames";
  RecordProperty("peak_60_kib", std::to_string(few));
  RecordProperty("peak_480_kib", std::to_string(many));
}

}  // namespace
}  // namespace duet::media

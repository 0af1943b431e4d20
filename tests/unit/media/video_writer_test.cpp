// VideoWriter, decoded back with libavformat/libavcodec (media_probe.h): streams, codecs,
// pixel format, sizes, frame counts, audio format and length, tags, the AI-generated label,
// errors, and the no-partial-file guarantee.
#include "media/video_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <functional>

#include "core/error.h"
#include "media/color_convert.h"
#include "media/encoder_setup.h"
#include "media/metadata.h"
#include "media_probe.h"
#include "media_test_util.h"
#include "support/test_support.h"

namespace duet::media {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using namespace test_util;

// Files in `dir` (to check that nothing partial or temporary is left behind).
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(MediaWriter, Mp4DefaultsAreH264HighYuv420pWithAacLc) {
  TempDir dir;
  auto o = small_options(dir / "clip.mp4", 64, 48);
  o.audio_sample_rate = 16000;
  WriterInfo info = write_clip(o, 12, 8000);
  EXPECT_EQ(info.video_encoder, nvenc_driver_present() ? "h264_nvenc" : "libx264");
  EXPECT_EQ(info.audio_encoder, "aac");

  auto f = probe::probe_file(dir / "clip.mp4");
  ASSERT_EQ(f.streams.size(), 2u);
  const auto& v = f.first(AVMEDIA_TYPE_VIDEO);
  EXPECT_EQ(v.codec, "h264");
  EXPECT_EQ(v.profile, FF_PROFILE_H264_HIGH);
  EXPECT_EQ(v.pix_fmt, "yuv420p");
  EXPECT_EQ(v.width, 64);
  EXPECT_EQ(v.height, 48);
  EXPECT_EQ(v.nb_frames, 12);
  EXPECT_EQ(v.avg_frame_rate.num * 1, 24 * v.avg_frame_rate.den);
  EXPECT_NEAR(v.duration, 0.5, 1e-3);
  const auto& a = f.first(AVMEDIA_TYPE_AUDIO);
  EXPECT_EQ(a.codec, "aac");
  EXPECT_EQ(a.profile, FF_PROFILE_AAC_LOW);
  EXPECT_EQ(a.sample_rate, 16000);
  EXPECT_EQ(a.channels, 1);
  EXPECT_EQ(a.channel_layout, "mono");

  auto video = probe::decode_video(dir / "clip.mp4");
  EXPECT_EQ(video.frames(), 12u);
  // 8000 samples were given for 0.5 s of video at 16 kHz: exactly the video's length. The
  // edit list says so to the sample; a libav decode also returns the AAC encoder's padding
  // in the last frame (FFmpeg 5.1 trims only the start), so at most one AAC frame more.
  EXPECT_NEAR(a.duration, 0.5, 1e-6);
  auto audio = probe::decode_audio(dir / "clip.mp4");
  EXPECT_GE(audio.duration(), 0.5 - 1e-6);
  EXPECT_LE(audio.duration(), 0.5 + 1024.0 / 16000);
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"clip.mp4"});
}

TEST(MediaWriter, NoAudioMeansExactlyOneStream) {
  TempDir dir;
  write_clip(small_options(dir / "silent.mp4"), 5, 0);
  auto f = probe::probe_file(dir / "silent.mp4");
  ASSERT_EQ(f.streams.size(), 1u);
  EXPECT_EQ(f.streams[0].type, AVMEDIA_TYPE_VIDEO);
}

TEST(MediaWriter, ResamplesSixteenKhzMonoToFortyEightKhzStereo) {
  TempDir dir;
  auto o = small_options(dir / "resampled.mp4");
  o.audio_sample_rate = 16000;
  o.audio_out_sample_rate = 48000;
  o.audio_out_channels = 2;
  write_clip(o, 24, 16000);
  auto a = probe::probe_file(dir / "resampled.mp4").first(AVMEDIA_TYPE_AUDIO);
  EXPECT_EQ(a.sample_rate, 48000);
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.channel_layout, "stereo");
  EXPECT_NEAR(a.duration, 1.0, 1e-6);
  auto audio = probe::decode_audio(dir / "resampled.mp4");
  // Mono goes to both sides at full level (not -3 dB): peak of the 0.2 tone survives.
  float peak_l = 0, peak_r = 0;
  for (int64_t i = 0; i < audio.count(); ++i) {
    peak_l = std::max(peak_l, std::abs(audio.samples[2 * i]));
    peak_r = std::max(peak_r, std::abs(audio.samples[2 * i + 1]));
  }
  EXPECT_NEAR(peak_l, 0.2f, 0.03f);
  EXPECT_NEAR(peak_r, 0.2f, 0.03f);
}

TEST(MediaWriter, AudioIsPaddedOrCutToTheVideoLength) {
  TempDir dir;
  auto o = small_options(dir / "short.mp4");
  o.audio_sample_rate = 16000;
  auto audio_duration = [&](const std::string& name) {
    auto a = probe::probe_file(dir / name).first(AVMEDIA_TYPE_AUDIO);
    double decoded = probe::decode_audio(dir / name).duration();
    EXPECT_GE(decoded, a.duration - 1e-6);
    EXPECT_LE(decoded, a.duration + 1024.0 / 16000);  // AAC end padding, see above
    return a.duration;
  };
  write_clip(o, 24, 4000);  // 0.25 s of sound for 1 s of video: padded with silence
  EXPECT_NEAR(audio_duration("short.mp4"), 1.0, 1e-6);
  o.path = dir / "long.mp4";
  write_clip(o, 12, 32000);  // 2 s of sound for 0.5 s of video: cut
  EXPECT_NEAR(audio_duration("long.mp4"), 0.5, 1e-6);
  o.path = dir / "kept.mp4";
  o.audio_fit = AudioFit::kKeep;
  write_clip(o, 12, 32000);
  EXPECT_NEAR(audio_duration("kept.mp4"), 2.0, 1e-6);
}

TEST(MediaWriter, TagsAndAiGeneratedLabelAreReadableThroughLibav) {
  TempDir dir;
  auto o = small_options(dir / "tagged.mp4");
  GenerationInfo g;
  g.prompt = "a cat playing piano, \"jazz\" <live> & loud";
  g.negative_prompt = "blurry";
  g.model = "ovi-11b";
  g.sampler = "unipc";
  g.seed = 1234567890123ull;
  g.steps = 50;
  g.guidance = 4.5;
  o.metadata = generation_metadata(g);
  write_clip(o, 3, 0);
  auto f = probe::probe_file(dir / "tagged.mp4");
  EXPECT_EQ(f.tags["prompt"], g.prompt);
  EXPECT_EQ(f.tags["negative_prompt"], "blurry");
  EXPECT_EQ(f.tags["model"], "ovi-11b");
  EXPECT_EQ(f.tags["sampler"], "unipc");
  EXPECT_EQ(f.tags["seed"], "1234567890123");
  EXPECT_EQ(f.tags["steps"], "50");
  EXPECT_EQ(f.tags["guidance"], "4.5");
  EXPECT_EQ(f.tags["title"], g.prompt);
  EXPECT_FALSE(f.tags["duet_version"].empty());
  EXPECT_EQ(f.tags[kAiGeneratedKey], kAiGeneratedValue);
  // XMP in the top-level uuid box, returned by the mov demuxer with export_xmp=1.
  ASSERT_TRUE(f.tags.count("xmp"));
  EXPECT_NE(f.tags["xmp"].find(std::string("Iptc4xmpExt:DigitalSourceType=\"") +
                               kDigitalSourceTypeUri + "\""),
            std::string::npos);
  EXPECT_NE(f.tags["xmp"].find("&quot;jazz&quot; &lt;live&gt; &amp; loud"), std::string::npos);
}

TEST(MediaWriter, LabelCanBeTurnedOff) {
  TempDir dir;
  auto o = small_options(dir / "plain.mp4");
  o.ai_generated_label = false;
  write_clip(o, 2, 0);
  auto f = probe::probe_file(dir / "plain.mp4");
  EXPECT_EQ(f.tags.count(kAiGeneratedKey), 0u);
  EXPECT_FALSE(probe::contains(probe::file_bytes(dir / "plain.mp4"), "trainedAlgorithmicMedia"));
}

TEST(MediaWriter, OddSizesArePaddedByEdgeReplication) {
  TempDir dir;
  auto o = small_options(dir / "odd.mp4", 33, 17);
  VideoWriter w(o);
  w.open();
  // Left half black, right half white: the padded column must repeat white, not add black.
  std::vector<uint8_t> rgb(33 * 17 * 3, 0);
  for (int y = 0; y < 17; ++y) {
    for (int x = 17; x < 33; ++x) std::fill_n(&rgb[(y * 33 + x) * 3], 3, 255);
  }
  w.write_frame(rgb.data());
  w.finish();
  EXPECT_EQ(w.info().width, 34);
  EXPECT_EQ(w.info().height, 18);
  auto v = probe::decode_video(dir / "odd.mp4");
  ASSERT_EQ(v.width, 34);
  ASSERT_EQ(v.height, 18);
  const uint8_t* corner = &v.first_rgb[(17 * 34 + 33) * 3];  // padded row and column
  EXPECT_GT(corner[0], 200);
}

TEST(MediaWriter, OddSizesCanBeRejectedWithTheReason) {
  TempDir dir;
  auto o = small_options(dir / "odd.mp4", 33, 17);
  o.odd_size = OddSizePolicy::kReject;
  VideoWriter w(o);
  try {
    w.open();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("33x17 is odd"), std::string::npos) << m;
    EXPECT_NE(m.find("34x18"), std::string::npos) << m;
    EXPECT_EQ(m.find('\n'), std::string::npos);
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

TEST(MediaWriter, FloatFramesFromAVaeAreMappedToBytes) {
  TempDir dir;
  auto o = small_options(dir / "float.mp4", 32, 32);
  VideoWriter w(o);
  w.open();
  std::vector<float> frame(32 * 32 * 3, 0.0f);  // mid grey: (0 + 1) * 127.5 = 128
  for (int i = 0; i < 4; ++i) w.write_frame(frame.data());
  w.finish();
  auto v = probe::decode_video(dir / "float.mp4");
  ASSERT_EQ(v.frames(), 4u);
  for (uint8_t px : v.first_rgb) EXPECT_NEAR(px, 128, 3);
}

TEST(MediaWriter, FloatToByteMapping) {
  const float in[] = {-1.0f, -2.0f, 1.0f, 5.0f, 0.0f, -0.5f, NAN};
  uint8_t out[7];
  FrameConverter::float_to_rgb8(in, 7, out);
  EXPECT_EQ(out[0], 0);
  EXPECT_EQ(out[1], 0);
  EXPECT_EQ(out[2], 255);
  EXPECT_EQ(out[3], 255);
  EXPECT_EQ(out[4], 128);  // 127.5 rounds to even
  EXPECT_EQ(out[5], 64);   // 63.75
  EXPECT_EQ(out[6], 0);
}

TEST(MediaWriter, FrameStrideIsHonoured) {
  TempDir dir;
  auto o = small_options(dir / "stride.mp4", 16, 16);
  VideoWriter w(o);
  w.open();
  const int stride = 16 * 3 + 13;  // rows padded, as a tensor slice might be
  std::vector<uint8_t> rgb(static_cast<size_t>(stride) * 16, 7);
  for (int y = 0; y < 16; ++y) std::fill_n(&rgb[y * stride], 16 * 3, 200);
  w.write_frame(rgb.data(), stride);
  w.finish();
  auto v = probe::decode_video(dir / "stride.mp4");
  for (uint8_t px : v.first_rgb) EXPECT_NEAR(px, 200, 3);
}

TEST(MediaWriter, H265Av1AndVp9) {
  TempDir dir;
  struct Case {
    VideoCodec codec;
    const char* file;
    const char* want;
  };
  for (Case c :
       {Case{VideoCodec::kH265, "h265.mp4", "hevc"}, Case{VideoCodec::kAv1, "av1.mp4", "av1"},
        Case{VideoCodec::kVp9, "vp9.webm", "vp9"}, Case{VideoCodec::kAv1, "av1.webm", "av1"},
        Case{VideoCodec::kVp9, "vp9.mkv", "vp9"}, Case{VideoCodec::kH264, "h264.mkv", "h264"}}) {
    SCOPED_TRACE(c.file);
    auto o = small_options(dir / c.file, 64, 64);
    o.codec = c.codec;
    o.preset = "medium";  // with B-frames: reordered timestamps in every container
    o.audio_sample_rate = 16000;
    write_clip(o, 6, 4000);
    auto f = probe::probe_file(dir / c.file);
    ASSERT_EQ(f.streams.size(), 2u);
    const auto& v = f.first(AVMEDIA_TYPE_VIDEO);
    EXPECT_EQ(v.codec, c.want);
    EXPECT_EQ(v.pix_fmt, "yuv420p");
    auto decoded = probe::decode_video(dir / c.file);
    ASSERT_EQ(decoded.frames(), 6u);
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(decoded.times[i], i / 24.0, 0.0006) << i;
    bool webm = std::string(c.file).ends_with(".webm");
    EXPECT_EQ(f.first(AVMEDIA_TYPE_AUDIO).codec, webm ? "opus" : "aac");
    if (webm) EXPECT_EQ(f.first(AVMEDIA_TYPE_AUDIO).sample_rate, 48000);
    if (c.codec == VideoCodec::kH265) EXPECT_EQ(v.codec_tag, MKTAG('h', 'v', 'c', '1'));
    EXPECT_EQ(probe::lower_tags(f)[kAiGeneratedKey], kAiGeneratedValue);
  }
}

TEST(MediaWriter, WebmCarriesTagsAndXmp) {
  TempDir dir;
  auto o = small_options(dir / "t.webm");
  o.metadata = generation_metadata({.prompt = "rain on a tin roof", .seed = 7});
  write_clip(o, 3, 0);
  auto f = probe::probe_file(dir / "t.webm");
  EXPECT_EQ(f.streams.size(), 1u);
  auto tags = probe::lower_tags(f);
  EXPECT_EQ(tags["prompt"], "rain on a tin roof");
  EXPECT_EQ(tags["seed"], "7");
  EXPECT_EQ(tags[kAiGeneratedKey], kAiGeneratedValue);
  EXPECT_NE(tags["xmp"].find(kDigitalSourceTypeUri), std::string::npos);
}

TEST(MediaWriter, NvencIsUsedOnlyWhenItOpens) {
  TempDir dir;
  auto o = small_options(dir / "nv.mp4");
  o.codec = VideoCodec::kNvenc;
  if (nvenc_driver_present()) {
    GTEST_SKIP() << "an NVIDIA driver is present; the fallback path is not reachable here";
  }
  VideoWriter w(o);
  try {
    w.open();
    FAIL() << "nvenc cannot open without a GPU";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("h264_nvenc"), std::string::npos) << m;
    EXPECT_NE(m.find("--codec h264"), std::string::npos) << m;
  }
  EXPECT_TRUE(listing(dir.path()).empty());
  // auto falls back to libx264 silently.
  o.codec = VideoCodec::kAuto;
  EXPECT_EQ(write_clip(o, 2, 0).video_encoder, "libx264");
}

TEST(MediaWriter, ErrorsAreOneLineAndSayWhatToDo) {
  TempDir dir;
  auto expect_error = [](const std::function<void()>& fn, const std::string& part) {
    try {
      fn();
      ADD_FAILURE() << "expected an error containing: " << part;
    } catch (const Error& e) {
      std::string m = e.what();
      EXPECT_NE(m.find(part), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
  };
  expect_error([] { parse_video_codec("mpeg2"); }, "use auto, h264, h265, av1, vp9 or nvenc");
  expect_error(
      [&] {
        VideoWriter w(small_options(dir / "missing" / "x.mp4"));
        w.open();
      },
      "does not exist; create it");
  expect_error(
      [&] {
        test::write_file(dir / "file", "x");
        VideoWriter w(small_options(dir / "file" / "x.mp4"));
        w.open();
      },
      "is not a folder");
  expect_error(
      [&] {
        auto o = small_options(dir / "x.webm");
        o.codec = VideoCodec::kH264;
        VideoWriter w(o);
        w.open();
      },
      "WebM holds VP9 or AV1");
  expect_error(
      [&] {
        auto o = small_options(dir / "x.mp4");
        o.audio_sample_rate = 16000;
        o.audio_codec = "no_such_encoder";
        VideoWriter w(o);
        w.open();
      },
      "audio encoder 'no_such_encoder' is not in this FFmpeg build");
  expect_error(
      [&] {
        auto o = small_options(dir / "x.mp4");
        o.audio_sample_rate = 11000;  // AAC has no 11 kHz
        VideoWriter w(o);
        w.open();
      },
      "resample to one of");
  expect_error(
      [&] {
        auto o = small_options(dir / "x.xyz");
        VideoWriter w(o);
        w.open();
      },
      "cannot tell the output format");
  expect_error(
      [&] {
        auto o = small_options(dir / "x.mp4");
        o.crf = 99;
        VideoWriter w(o);
        w.open();
      },
      "crf 99 is out of range");
  expect_error([&] { parse_rational("fast"); }, "use e.g. 24, 23.976 or 24000/1001");
  test::write_file(dir / "file", "");
  fs::remove(dir / "file");
  EXPECT_TRUE(listing(dir.path()).empty());
}

TEST(MediaWriter, UnwritableFolderIsReportedBeforeEncoding) {
  TempDir dir;
  fs::path folder = dir / "ro";
  fs::create_directory(folder);
  fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
  // Root ignores permission bits; sysfs refuses new files even to root.
  if (geteuid() == 0) folder = "/sys";
  if (!fs::is_directory(folder)) GTEST_SKIP() << "no unwritable folder to try";
  VideoWriter w(small_options(folder / "x.mp4"));
  try {
    w.open();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("choose a writable folder"), std::string::npos) << m;
  }
  fs::permissions(dir / "ro", fs::perms::owner_all);
}

TEST(MediaWriter, AFailureLeavesNoPartialFileUnderTheFinalName) {
  TempDir dir;
  test::write_file(dir / "clip.mp4", "previous good file");
  {
    auto o = small_options(dir / "clip.mp4");
    o.audio_sample_rate = 16000;
    VideoWriter w(o);
    w.open();
    auto frame = gradient_frame(64, 48, 0);
    w.write_frame(frame.data());
    // A mid-stream failure: a bad stride.
    EXPECT_THROW(w.write_frame(frame.data(), 5), Error);
    EXPECT_THROW(w.write_frame(frame.data()), Error);  // unusable afterwards
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_EQ(test::read_file(dir / "clip.mp4"), "previous good file");
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"clip.mp4"});
  {
    // Abandoned without finish(): nothing appears either.
    VideoWriter w(small_options(dir / "abandoned.mp4"));
    w.open();
    w.write_frame(gradient_frame(64, 48, 0).data());
  }
  EXPECT_EQ(listing(dir.path()), std::vector<std::string>{"clip.mp4"});
}

TEST(MediaWriter, FinishingWithoutFramesIsAnError) {
  TempDir dir;
  for (const char* name : {"empty.mp4", "empty.gif"}) {
    VideoWriter w(small_options(dir / name));
    w.open();
    EXPECT_THROW(w.finish(), Error);
  }
  EXPECT_TRUE(listing(dir.path()).empty());
}

TEST(MediaWriter, WavIsPcm16WithTagsAndXmp) {
  TempDir dir;
  auto pcm = tone(8000, 16000);
  write_wav(dir / "a.wav", pcm.data(), 8000, 16000, 1, {{"prompt", "birdsong"}});
  auto f = probe::probe_file(dir / "a.wav");
  ASSERT_EQ(f.streams.size(), 1u);
  EXPECT_EQ(f.streams[0].codec, "pcm_s16le");
  EXPECT_EQ(f.streams[0].sample_rate, 16000);
  auto a = probe::decode_audio(dir / "a.wav");
  ASSERT_EQ(a.count(), 8000);
  for (int64_t i = 0; i < 8000; ++i) ASSERT_NEAR(a.samples[i], pcm[i], 1.0 / 16384);
  auto bytes = probe::file_bytes(dir / "a.wav");
  EXPECT_TRUE(probe::contains(bytes, "_PMX"));
  EXPECT_TRUE(probe::contains(bytes, kDigitalSourceTypeUri));
  // RIFF size covers the appended chunk.
  uint32_t riff = bytes[4] | bytes[5] << 8 | bytes[6] << 16 | uint32_t(bytes[7]) << 24;
  EXPECT_EQ(riff, bytes.size() - 8);
}

TEST(MediaWriter, WavFromVideoOptionsIgnoresFrames) {
  TempDir dir;
  auto o = small_options(dir / "track.wav");
  o.audio_sample_rate = 16000;
  o.audio_channels = 2;
  WriterInfo info = write_clip(o, 4, 1600);
  EXPECT_EQ(info.frames, 0);
  auto a = probe::decode_audio(dir / "track.wav");
  EXPECT_EQ(a.channels, 2);
  EXPECT_EQ(a.count(), 1600);
}

TEST(MediaWriter, PngSequenceFollowsThePattern) {
  TempDir dir;
  fs::create_directory(dir / "frames");
  auto o = small_options((dir / "frames" / "f_%03d.png").string(), 21, 13);
  o.metadata = {{"prompt", "a red fox"}};
  write_clip(o, 3, 0);
  EXPECT_EQ(listing(dir / "frames"),
            (std::vector<std::string>{"f_000.png", "f_001.png", "f_002.png"}));
  auto f = probe::probe_file((dir / "frames" / "f_001.png").string());
  EXPECT_EQ(f.streams[0].codec, "png");
  EXPECT_EQ(f.streams[0].width, 21);  // PNG keeps odd sizes
  EXPECT_EQ(f.streams[0].height, 13);
  auto v = probe::decode_video((dir / "frames" / "f_002.png").string());
  EXPECT_EQ(v.first_rgb, gradient_frame(21, 13, 2));  // lossless
  auto bytes = probe::file_bytes(dir / "frames" / "f_000.png");
  EXPECT_TRUE(probe::contains(bytes, "XML:com.adobe.xmp"));
  EXPECT_TRUE(probe::contains(bytes, kDigitalSourceTypeUri));
  EXPECT_TRUE(probe::contains(bytes, "a red fox"));
}

TEST(MediaWriter, PngNeedsAPattern) {
  TempDir dir;
  VideoWriter w(small_options(dir / "one.png"));
  EXPECT_THROW(w.open(), Error);
}

TEST(MediaWriter, GifAndWebpPreviews) {
  TempDir dir;
  for (const char* name : {"p.gif", "p.webp"}) {
    SCOPED_TRACE(name);
    auto o = small_options(dir / name, 200, 100);
    o.preview_max_side = 100;
    o.audio_sample_rate = 16000;  // previews are silent
    WriterInfo info = write_clip(o, 5, 1000);
    EXPECT_EQ(info.width, 100);
    EXPECT_EQ(info.height, 50);
    bool gif = std::string(name).ends_with(".gif");
    auto f = probe::probe_file(dir / name);
    ASSERT_EQ(f.streams.size(), 1u);
    EXPECT_EQ(f.streams[0].codec, gif ? "gif" : "webp");
    if (gif) {
      // FFmpeg 5.1 has no animated WebP decoder; GIF decodes back frame by frame.
      auto v = probe::decode_video(dir / name);
      EXPECT_EQ(v.frames(), 5u);
      EXPECT_EQ(v.width, 100);
    }
    auto bytes = probe::file_bytes(dir / name);
    EXPECT_TRUE(probe::contains(bytes, gif ? "XMP DataXMP" : "XMP "));
    EXPECT_TRUE(probe::contains(bytes, kDigitalSourceTypeUri));
  }
}

TEST(MediaWriter, WatermarkMarksOnlyItsCorner) {
  TempDir dir;
  auto plain = small_options(dir / "plain.mp4", 128, 96);
  plain.crf = 4;  // near-lossless so differences are the watermark's
  auto marked = plain;
  marked.path = dir / "marked.mp4";
  marked.watermark = "AI";
  for (auto* o : {&plain, &marked}) {
    VideoWriter w(*o);
    w.open();
    auto grey = solid_frame(128, 96, 60, 60, 60);
    w.write_frame(grey.data());
    w.finish();
  }
  auto a = probe::decode_video(dir / "plain.mp4").first_rgb;
  auto b = probe::decode_video(dir / "marked.mp4").first_rgb;
  int changed_corner = 0, changed_elsewhere = 0;
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 128; ++x) {
      int d = std::abs(int(a[(y * 128 + x) * 3]) - int(b[(y * 128 + x) * 3]));
      bool corner = x >= 96 && y >= 72;
      if (d > 40) (corner ? changed_corner : changed_elsewhere)++;
    }
  }
  EXPECT_GT(changed_corner, 20);
  EXPECT_EQ(changed_elsewhere, 0);
}

TEST(MediaWriter, AudioOnlyMp4) {
  TempDir dir;
  VideoWriterOptions o;
  o.path = dir / "sound.m4a.mp4";
  o.audio_sample_rate = 16000;
  VideoWriter w(o);
  w.open();
  auto pcm = tone(16000, 16000);
  w.write_audio(pcm.data(), 16000);
  w.finish();
  auto f = probe::probe_file(dir / "sound.m4a.mp4");
  ASSERT_EQ(f.streams.size(), 1u);
  EXPECT_EQ(f.streams[0].type, AVMEDIA_TYPE_AUDIO);
  EXPECT_NEAR(probe::decode_audio(dir / "sound.m4a.mp4").duration(), 1.0, 0.05);
}

TEST(MediaRational, ParsesExactRates) {
  EXPECT_EQ(parse_rational("24").str(), "24");
  EXPECT_EQ(parse_rational("23.976").str(), "24000/1001");
  EXPECT_EQ(parse_rational("29.97").str(), "30000/1001");
  EXPECT_EQ(parse_rational("24000/1001").str(), "24000/1001");
  EXPECT_EQ(parse_rational("48/2").str(), "24");
  EXPECT_EQ(parse_rational("12.5").str(), "25/2");
  EXPECT_THROW(parse_rational("0"), Error);
  EXPECT_THROW(parse_rational("24/0"), Error);
  EXPECT_THROW(parse_rational("24fps"), Error);
}

TEST(MediaFormat, InfersFromExtension) {
  EXPECT_EQ(infer_output_format("a.MP4", OutputFormat::kAuto), OutputFormat::kMp4);
  EXPECT_EQ(infer_output_format("a.webm", OutputFormat::kAuto), OutputFormat::kWebm);
  EXPECT_EQ(infer_output_format("a.wav", OutputFormat::kAuto), OutputFormat::kWav);
  EXPECT_EQ(infer_output_format("d/%05d.png", OutputFormat::kAuto), OutputFormat::kPngSequence);
  EXPECT_EQ(infer_output_format("a.gif", OutputFormat::kAuto), OutputFormat::kGif);
  EXPECT_EQ(infer_output_format("a", OutputFormat::kAuto), OutputFormat::kMp4);
  EXPECT_EQ(infer_output_format("a.bin", OutputFormat::kMkv), OutputFormat::kMkv);
  EXPECT_EQ(parse_video_codec("HEVC"), VideoCodec::kH265);
  EXPECT_EQ(parse_output_format("matroska"), OutputFormat::kMkv);
}

}  // namespace
}  // namespace duet::media

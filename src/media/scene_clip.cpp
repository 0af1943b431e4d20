#include "media/scene_clip.h"

#include <fmt/format.h>

#include "media/metadata.h"
#include "media/video_writer.h"

namespace duet::media {

void write_scene_clip(const scenes::Scene& s, const std::string& path, const std::string& caption,
                      std::optional<int> crf) {
  VideoWriterOptions o;
  o.path = path;
  o.width = s.spec.width;
  o.height = s.spec.height;
  o.fps = parse_rational(fmt::format("{}", s.spec.fps));
  if (crf) o.crf = *crf;
  o.audio_sample_rate = s.spec.sample_rate;
  GenerationInfo info;
  info.prompt = caption;
  info.model = "duet scenes";
  o.metadata = generation_metadata(info);
  VideoWriter w(o);
  w.open();
  for (int f = 0; f < s.spec.frames; ++f) w.write_frame(s.frame(f));
  w.write_audio(s.audio.data(), static_cast<int64_t>(s.audio.size()));
  w.finish();
}

}  // namespace duet::media

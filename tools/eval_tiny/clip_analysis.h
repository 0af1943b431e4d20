#pragma once
// Measures what duet-tiny's evaluation checks in one clip, from its pixels and samples alone:
// the main object's colour and motion, the visual impacts (bounces, landings, wall hits), the
// audio onsets, their synchrony, and how quiet the sound is. Torch-free, so the same code scores
// generated clips (tools/eval_tiny) and the scene generator's own renders (the analyser's
// baseline, tests/unit/scenes/clip_analysis_test.cpp).
//
//   ClipAnalysis a = analyse_clip({scene.frames, w, h, fps, scene.audio, 16000});
//   a.color, a.motion, a.sync.fraction, a.audio_rms_dbfs
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "scenes/scene.h"

namespace duet::eval {

struct ClipInput {
  const std::vector<uint8_t>& frames;  // frames x height x width x 3, RGB
  int width = 0, height = 0;
  double fps = 24.0;
  const std::vector<float>& audio;  // mono
  int sample_rate = 16000;
};

struct AnalysisOptions {
  // Object pixels are those at least this far (Euclidean RGB, 0..441) from the backdrop-floor
  // colour segment; weights ramp from 0 at `min_distance` to 1 at `min_distance + ramp`, so edges
  // count by coverage and centroids move smoothly. Raised to 3x the backdrop's own noise.
  double min_distance = 8.0;
  double ramp = 24.0;
  // Motion thresholds, as fractions of the frame height (fall) and width (roll). The scenes'
  // smallest moves are a 0.39-height drop and a 0.09-width slide; below both: still.
  double fall_drop = 0.15;    // the centre drops at least this far (and more than sideways): falls
  double roll_travel = 0.05;  // the centre's first move this far sideways: rolls that way
  // A bounce or wall hit must reverse the centre by at least this many pixels (per 128 rows)
  // and by three times the track's jitter, so tracking noise makes no impacts.
  double reversal_pixels = 0.5;
  // ... and approach it over at least this fraction of the frame height: the last, tiny bounces
  // of a ball are too faint (in sound as in picture) to hold a clip to.
  double approach_fraction = 0.02;
  // Audio onsets: 10 ms hops; a rising hop whose energy is `onset_ratio` times the mean of the
  // 30 ms before it (the hop just before is skipped: an onset may start at its end) and above
  // `onset_floor_dbfs` starts an impact sound. 2.5 (4 dB) hears a ball hitting a wall over its
  // own rolling noise, at about 0.4 spurious onsets per clip of the scene generator (rolling
  // noise); ClipAnalysis::sync_control measures what such onsets score by chance.
  double onset_ratio = 2.5;
  double onset_floor_dbfs = -45.0;
  // Sync tolerance: one frame, plus half a frame for the quantisation of both times to frames
  // and hops.
  double sync_frames = 1.5;
};

struct TrackPoint {
  bool found = false;
  double x = 0, y = 0;                           // centroid in pixels (x right, y down)
  double weight = 0;                             // soft pixel count of the object's blob
  int left = 0, right = 0, top = 0, bottom = 0;  // blob bounding box
};

struct Sync {
  int impacts = 0;      // visual impacts
  int matched = 0;      // with an audio onset within the tolerance
  double fraction = 0;  // matched / impacts (1 when there are none)
};

struct ClipAnalysis {
  std::vector<TrackPoint> track;  // per frame
  int frames_found = 0;
  double rgb[3] = {0, 0, 0};             // per-channel median of the blob interior over all frames
  std::string color;                     // nearest of scenes::object_colors(); empty: no object
  double color_distance = 0;             // CIE76 delta E to that colour
  std::optional<scenes::Motion> motion;  // empty: no object or a track too broken to tell
  std::vector<double> visual_impacts;    // seconds
  std::vector<double> audio_onsets;      // seconds
  Sync sync;
  // The same matching with the onsets moved 5 frames earlier and, separately, later (pooled):
  // what onsets unrelated to the picture would score. Sync means something only well above it.
  Sync sync_control;
  double audio_rms_dbfs = -120.0;
};

ClipAnalysis analyse_clip(const ClipInput& clip, const AnalysisOptions& options = {});

// --- The steps, public for the tests and for reuse -----------------------------------------

// CIELAB (D65) of an sRGB colour; colour names are matched by CIE76 delta E, which treats
// lightness and hue about as people do, so a dark red is still red rather than brown.
void srgb_to_lab(const double rgb[3], double lab[3]);
// The nearest colour of `palette` and its delta E.
std::string nearest_color(const double rgb[3], const std::vector<scenes::NamedColor>& palette,
                          double* distance = nullptr);
// Motion from a centroid track (frames without an object are skipped).
std::optional<scenes::Motion> classify_motion(const std::vector<TrackPoint>& track, int width,
                                              int height, const AnalysisOptions& options = {});
// Bounces and landings (vertical) and wall hits (horizontal), in seconds.
std::vector<double> visual_impacts(const std::vector<TrackPoint>& track, int width, int height,
                                   double fps, const AnalysisOptions& options = {});
// Mean square of each 10 ms hop of `audio` (what onsets and peak levels are measured on).
std::vector<double> hop_energies(const std::vector<float>& audio, int sample_rate);
std::vector<double> audio_onsets(const std::vector<float>& audio, int sample_rate,
                                 const AnalysisOptions& options = {});
// For each impact, whether an onset lies within +-tolerance seconds.
Sync match_onsets(const std::vector<double>& impacts, const std::vector<double>& onsets,
                  double tolerance);
// match_onsets with the onsets shifted by -shift and +shift, pooled (fraction 0 without impacts).
Sync shifted_control(const std::vector<double>& impacts, const std::vector<double>& onsets,
                     double tolerance, double shift);
double rms_dbfs(const std::vector<float>& audio);  // -120 for digital silence

}  // namespace duet::eval

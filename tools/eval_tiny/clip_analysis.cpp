#include "clip_analysis.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace duet::eval {
namespace {

using Rgb = std::array<double, 3>;

// Per-channel histograms: medians of many pixels without sorting them.
struct Histogram {
  std::array<std::array<int64_t, 256>, 3> counts{};
  int64_t total = 0;
  void add(const uint8_t* p) {
    for (int c = 0; c < 3; ++c) ++counts[c][p[c]];
    ++total;
  }
  Rgb median() const {
    Rgb m{};
    for (int c = 0; c < 3; ++c) {
      int64_t seen = 0;
      for (int v = 0; v < 256; ++v) {
        seen += counts[c][v];
        if (2 * seen >= total) {
          m[c] = v;
          break;
        }
      }
    }
    return m;
  }
};

double distance(const uint8_t* p, const Rgb& c) {
  const double d0 = p[0] - c[0], d1 = p[1] - c[1], d2 = p[2] - c[2];
  return std::sqrt(d0 * d0 + d1 * d1 + d2 * d2);
}

// What is not the object: the backdrop (top rows) and the floor (bottom rows) of one frame.
// Medians keep an object that crosses those rows (a ball dropped from high up) out of them.
struct Backdrop {
  Rgb sky{}, floor{};
  double noise = 0;  // median distance of the top rows from their median: grain, blur, codec
};

Backdrop estimate_backdrop(const uint8_t* img, int w, int h) {
  const int rows = std::max(1, h / 20);
  Histogram top, bottom;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < w; ++x) {
      top.add(img + (static_cast<size_t>(y) * w + x) * 3);
      bottom.add(img + (static_cast<size_t>(h - 1 - y) * w + x) * 3);
    }
  }
  Backdrop b{top.median(), bottom.median(), 0};
  std::vector<double> d;
  d.reserve(static_cast<size_t>(rows) * w);
  for (int i = 0; i < rows * w; ++i) d.push_back(distance(img + static_cast<size_t>(i) * 3, b.sky));
  std::nth_element(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(d.size() / 2), d.end());
  b.noise = d[d.size() / 2];
  return b;
}

// Distance from the segment between backdrop and floor colours rather than from each: a blurred
// horizon mixes the two, and those mixtures are not an object.
double distance_from_backdrop(const uint8_t* p, const Backdrop& b) {
  Rgb ab{}, ap{};
  double len2 = 0, dot = 0;
  for (int c = 0; c < 3; ++c) {
    ab[c] = b.floor[c] - b.sky[c];
    ap[c] = p[c] - b.sky[c];
    len2 += ab[c] * ab[c];
    dot += ab[c] * ap[c];
  }
  const double t = len2 > 0 ? std::clamp(dot / len2, 0.0, 1.0) : 0.0;
  double d2 = 0;
  for (int c = 0; c < 3; ++c) d2 += (ap[c] - t * ab[c]) * (ap[c] - t * ab[c]);
  return std::sqrt(d2);
}

// The largest 4-connected blob of positive weight, as pixel indices. The largest rather than all
// object-coloured pixels: generated clips have specks and smears away from the object.
std::vector<int> largest_blob(const std::vector<float>& weight, int w, int h) {
  std::vector<int> label(weight.size(), -1), best, current, stack;
  double best_mass = 0;
  int next = 0;
  for (int start = 0; start < w * h; ++start) {
    if (weight[static_cast<size_t>(start)] <= 0 || label[static_cast<size_t>(start)] >= 0) continue;
    current.clear();
    double mass = 0;
    stack.assign(1, start);
    label[static_cast<size_t>(start)] = next;
    while (!stack.empty()) {
      const int i = stack.back();
      stack.pop_back();
      current.push_back(i);
      mass += weight[static_cast<size_t>(i)];
      const int x = i % w, y = i / w;
      const int nbrs[4] = {x > 0 ? i - 1 : -1, x + 1 < w ? i + 1 : -1, y > 0 ? i - w : -1,
                           y + 1 < h ? i + w : -1};
      for (int j : nbrs) {
        if (j < 0 || weight[static_cast<size_t>(j)] <= 0 || label[static_cast<size_t>(j)] >= 0)
          continue;
        label[static_cast<size_t>(j)] = next;
        stack.push_back(j);
      }
    }
    ++next;
    if (mass > best_mass) {
      best_mass = mass;
      best.swap(current);
    }
  }
  return best;
}

// One frame: the object's blob -> track point; its fully covered interior pixels -> `colour`.
// Interior pixels (all four neighbours in the blob, full weight) carry the object's own colour,
// not a blend with the backdrop.
TrackPoint analyse_frame(const uint8_t* img, int w, int h, const AnalysisOptions& o,
                         Histogram& core, Histogram& all) {
  const Backdrop b = estimate_backdrop(img, w, h);
  const double lo = std::max(o.min_distance, 3.0 * b.noise), hi = lo + o.ramp;
  std::vector<float> weight(static_cast<size_t>(w) * h);
  for (int i = 0; i < w * h; ++i) {
    const double d = distance_from_backdrop(img + static_cast<size_t>(i) * 3, b);
    weight[static_cast<size_t>(i)] = static_cast<float>(std::clamp((d - lo) / (hi - lo), 0.0, 1.0));
  }
  const std::vector<int> blob = largest_blob(weight, w, h);
  TrackPoint p;
  double mass = 0, sx = 0, sy = 0;
  for (int i : blob) {
    const double m = weight[static_cast<size_t>(i)];
    mass += m;
    sx += m * (i % w + 0.5);
    sy += m * (i / w + 0.5);
  }
  // Specks smaller than a tenth of the smallest scene object (~330 pixels at 128x128) are noise.
  if (mass < 0.002 * w * h) return p;
  p.found = true;
  p.weight = mass;
  p.x = sx / mass;
  p.y = sy / mass;
  p.left = w, p.top = h;
  std::vector<uint8_t> in_blob(weight.size(), 0);
  for (int i : blob) in_blob[static_cast<size_t>(i)] = 1;
  for (int i : blob) {
    const int x = i % w, y = i / w;
    p.left = std::min(p.left, x), p.right = std::max(p.right, x);
    p.top = std::min(p.top, y), p.bottom = std::max(p.bottom, y);
    const uint8_t* px = img + static_cast<size_t>(i) * 3;
    all.add(px);
    const bool interior =
        x > 0 && x + 1 < w && y > 0 && y + 1 < h && in_blob[static_cast<size_t>(i - 1)] &&
        in_blob[static_cast<size_t>(i + 1)] && in_blob[static_cast<size_t>(i - w)] &&
        in_blob[static_cast<size_t>(i + w)];
    if (interior && weight[static_cast<size_t>(i)] >= 1.0f) core.add(px);
  }
  return p;
}

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

// The track as two dense series; frames without an object are filled by linear interpolation
// between their neighbours (held at the ends). Empty when fewer than half the frames have one:
// such a track says nothing about motion.
bool dense_series(const std::vector<TrackPoint>& track, std::vector<double>& xs,
                  std::vector<double>& ys) {
  const int n = static_cast<int>(track.size());
  std::vector<int> found;
  for (int f = 0; f < n; ++f) {
    if (track[static_cast<size_t>(f)].found) found.push_back(f);
  }
  if (found.empty() || 2 * found.size() < track.size()) return false;
  xs.assign(static_cast<size_t>(n), 0);
  ys.assign(static_cast<size_t>(n), 0);
  size_t k = 0;
  for (int f = 0; f < n; ++f) {
    while (k + 1 < found.size() && found[k + 1] <= f) ++k;
    const TrackPoint& a = track[static_cast<size_t>(found[k])];
    const bool between = found[k] < f && k + 1 < found.size();
    const TrackPoint& b = between ? track[static_cast<size_t>(found[k + 1])] : a;
    const double t = between ? static_cast<double>(f - found[k]) / (found[k + 1] - found[k]) : 0.0;
    xs[static_cast<size_t>(f)] = a.x + t * (b.x - a.x);
    ys[static_cast<size_t>(f)] = a.y + t * (b.y - a.y);
  }
  return true;
}

std::vector<double> median3(const std::vector<double>& v) {
  std::vector<double> out(v);
  for (size_t i = 1; i + 1 < v.size(); ++i)
    out[i] = std::max(std::min(v[i - 1], v[i]), std::min(std::max(v[i - 1], v[i]), v[i + 1]));
  return out;
}

// Turning points of a series, ignoring reversals smaller than `d` (zigzag): robust to tracking
// jitter without smoothing, which would blunt and shift the sharp V of a bounce.
struct Turn {
  int frame = 0;
  bool is_max = false;
  bool confirmed = true;  // false: the last extreme, never reversed by d before the clip ended
};

std::vector<Turn> turning_points(const std::vector<double>& y, double d) {
  std::vector<Turn> turns;
  const int n = static_cast<int>(y.size());
  int dir = 0, hi = 0, lo = 0, cand = 0;
  for (int i = 1; i < n; ++i) {
    const double v = y[static_cast<size_t>(i)];
    if (dir == 0) {
      if (v > y[static_cast<size_t>(hi)]) hi = i;
      if (v < y[static_cast<size_t>(lo)]) lo = i;
      if (y[static_cast<size_t>(hi)] - y[static_cast<size_t>(lo)] >= d) {
        dir = hi > lo ? 1 : -1;
        turns.push_back({dir > 0 ? lo : hi, dir < 0, true});  // where the motion starts
        cand = dir > 0 ? hi : lo;
      }
    } else if (dir > 0) {
      if (v > y[static_cast<size_t>(cand)]) {
        cand = i;
      } else if (y[static_cast<size_t>(cand)] - v >= d) {
        turns.push_back({cand, true, true});
        dir = -1;
        cand = i;
      }
    } else {
      if (v < y[static_cast<size_t>(cand)]) {
        cand = i;
      } else if (v - y[static_cast<size_t>(cand)] >= d) {
        turns.push_back({cand, false, true});
        dir = 1;
        cand = i;
      }
    }
  }
  if (dir != 0) turns.push_back({cand, dir > 0, false});
  return turns;
}

// When, in frames, the contact of a maximum at frame f happened: where the approach line meets
// the rebound line. The contact lies either just after f (f is the last frame of the approach)
// or just before it (f is the first of the rebound); the right hypothesis is the one whose
// intersection falls inside its own interval. Exact for constant speeds (rolling into a wall),
// within a fraction of a frame under gravity.
double contact_time(const std::vector<double>& y, int f) {
  const int n = static_cast<int>(y.size());
  double best = f, best_err = std::numeric_limits<double>::infinity();
  for (int h = 0; h < 2; ++h) {
    const int a0 = f - 1 - h, a1 = f - h, b0 = f + 1 - h, b1 = f + 2 - h;
    if (a0 < 0 || b1 >= n) continue;
    const double sa = y[static_cast<size_t>(a1)] - y[static_cast<size_t>(a0)];
    const double sb = y[static_cast<size_t>(b1)] - y[static_cast<size_t>(b0)];
    if (!(sa > 0 && sb < 0)) continue;
    const double t =
        (y[static_cast<size_t>(b0)] - y[static_cast<size_t>(a1)] + sa * a1 - sb * b0) / (sa - sb);
    const double lo = f - h, hi = f + 1 - h;
    const double err = t < lo ? lo - t : t > hi ? t - hi : 0.0;
    if (err < best_err) {
      best_err = err;
      best = std::clamp(t, lo, hi);
    }
  }
  return best;
}

// A landing (no rebound of `tol` or more): the approach from `from` ends at the first frame g
// that reached the resting level `rest`, or whose step shrank to under half the one before (a
// rebound too small to count left it just above that level); the contact is where the approach
// line reaches y[g].
double landing_time(const std::vector<double>& y, int from, double rest, double tol) {
  const int n = static_cast<int>(y.size());
  auto at = [&](int i) { return y[static_cast<size_t>(i)]; };
  for (int g = from + 2; g < n; ++g) {
    const double v0 = at(g - 1) - at(g - 2), v1 = at(g) - at(g - 1);
    if (at(g) < rest - tol && !(v0 > tol && v1 < 0.5 * v0)) continue;
    if (v0 <= 0) return g;
    return std::clamp(g - 1 + v1 / v0, g - 1.0, static_cast<double>(g));
  }
  return from;
}

// Contacts where the series reaches a maximum: each confirmed maximum accepted by `at_contact`,
// and, with `landings`, a final one the series then rests at for at least three frames. Walls
// take no landings: an object sliding to a stop near one has not hit it.
template <typename Accept>
std::vector<double> contacts_at_maxima(const std::vector<double>& y, double d, double approach,
                                       bool landings, Accept at_contact) {
  std::vector<double> out;
  const std::vector<Turn> turns = turning_points(y, d);
  for (size_t k = 0; k < turns.size(); ++k) {
    const Turn& t = turns[k];
    // The first turn is where the motion starts, not a reversal.
    if (!t.is_max || k == 0 || !at_contact(t.frame)) continue;
    // A short approach is a slow contact: too faint a sound to hold the clip to.
    if (y[static_cast<size_t>(t.frame)] - y[static_cast<size_t>(turns[k - 1].frame)] < approach)
      continue;
    if (t.confirmed) {
      out.push_back(contact_time(y, t.frame));
    } else if (landings && t.frame + 3 < static_cast<int>(y.size())) {
      const double rest = *std::max_element(y.begin() + turns[k - 1].frame, y.end());
      out.push_back(landing_time(y, turns[k - 1].frame, rest, d));
    }
  }
  return out;
}

// Tracking jitter: the median absolute second difference. Motion under gravity or at constant
// speed has almost none, and most frames of a scene are such motion or rest, so what remains
// is the segmentation's wobble (a pale or blurred object), which reversals must exceed.
double jitter(const std::vector<double>& v) {
  std::vector<double> d2;
  for (size_t i = 1; i + 1 < v.size(); ++i) d2.push_back(std::abs(v[i + 1] - 2 * v[i] + v[i - 1]));
  return median_of(std::move(d2));
}

std::vector<double> negated(std::vector<double> v) {
  for (auto& x : v) x = -x;
  return v;
}

// Drops impacts closer than half a frame to the previous one (one contact seen twice).
std::vector<double> merge_close(std::vector<double> t, double gap) {
  std::sort(t.begin(), t.end());
  std::vector<double> out;
  for (double v : t) {
    if (out.empty() || v - out.back() >= gap) out.push_back(v);
  }
  return out;
}

}  // namespace

void srgb_to_lab(const double rgb[3], double lab[3]) {
  double lin[3];
  for (int c = 0; c < 3; ++c) {
    const double v = std::clamp(rgb[c] / 255.0, 0.0, 1.0);
    lin[c] = v <= 0.04045 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  }
  // sRGB -> XYZ, normalised by the D65 white point.
  const double x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047;
  const double y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2];
  const double z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883;
  auto f = [](double t) { return t > 0.008856 ? std::cbrt(t) : 7.787 * t + 16.0 / 116.0; };
  lab[0] = 116.0 * f(y) - 16.0;
  lab[1] = 500.0 * (f(x) - f(y));
  lab[2] = 200.0 * (f(y) - f(z));
}

std::string nearest_color(const double rgb[3], const std::vector<scenes::NamedColor>& palette,
                          double* distance) {
  DUET_CHECK(!palette.empty(), "nearest_color: empty palette");
  double lab[3];
  srgb_to_lab(rgb, lab);
  double best = std::numeric_limits<double>::infinity();
  std::string name;
  for (const auto& c : palette) {
    const double crgb[3] = {static_cast<double>(c.r), static_cast<double>(c.g),
                            static_cast<double>(c.b)};
    double clab[3];
    srgb_to_lab(crgb, clab);
    const double d = std::hypot(lab[0] - clab[0], lab[1] - clab[1], lab[2] - clab[2]);
    if (d < best) {
      best = d;
      name = c.name;
    }
  }
  if (distance) *distance = best;
  return name;
}

std::optional<scenes::Motion> classify_motion(const std::vector<TrackPoint>& track, int width,
                                              int height, const AnalysisOptions& o) {
  std::vector<double> xs, ys;
  if (!dense_series(track, xs, ys)) return std::nullopt;
  // Start from the median of the first three frames and drop single-frame spikes: one bad
  // segmentation must not decide the motion.
  xs = median3(xs);
  ys = median3(ys);
  const double x0 = median_of({xs.begin(), xs.begin() + std::min<size_t>(3, xs.size())});
  const double y0 = median_of({ys.begin(), ys.begin() + std::min<size_t>(3, ys.size())});
  double drop = 0, side = 0, first_side = 0;
  for (size_t f = 0; f < xs.size(); ++f) {
    drop = std::max(drop, (ys[f] - y0) / height);  // y grows downwards
    side = std::max(side, std::abs(xs[f] - x0) / width);
    // The direction is that of the first clear move: a roll that bounces off a wall comes back.
    // From frame 2 on: x0 is frame 1 for a fast mover, and frame 0 lies behind it.
    if (f >= 2 && first_side == 0 && std::abs(xs[f] - x0) >= o.roll_travel * width)
      first_side = xs[f] - x0;
  }
  if (drop >= o.fall_drop && drop >= side) return scenes::Motion::kFalls;
  if (first_side != 0)
    return first_side > 0 ? scenes::Motion::kRollsRight : scenes::Motion::kRollsLeft;
  if (drop >= o.fall_drop) return scenes::Motion::kFalls;
  return scenes::Motion::kStill;
}

std::vector<double> visual_impacts(const std::vector<TrackPoint>& track, int width, int height,
                                   double fps, const AnalysisOptions& o) {
  std::vector<double> xs, ys;
  if (!dense_series(track, xs, ys)) return {};
  const double d = o.reversal_pixels * height / 128.0;
  const double dy = std::max(d, 3 * jitter(ys)), dx = std::max(d, 3 * jitter(xs));
  // Floor contacts: lowest points (maxima of y) in the lower part of the track's range. The
  // sampled lowest frame of a fast bounce can be a frame's travel above the floor.
  const std::vector<double> smooth = median3(ys);
  const double floor_level = *std::max_element(smooth.begin(), smooth.end());
  const double near_floor = 0.15 * height;
  std::vector<double> frames = contacts_at_maxima(
      ys, dy, o.approach_fraction * height, true,
      [&](int f) { return ys[static_cast<size_t>(f)] >= floor_level - near_floor; });
  // Wall contacts: sideways reversals with the blob at a frame edge (within the frames around
  // the turn, as a fast object is up to a frame's travel from the wall when sampled).
  const int margin = static_cast<int>(std::ceil(0.06 * width));
  auto near_wall = [&](int f, bool right) {
    for (int g = std::max(0, f - 1); g <= std::min(static_cast<int>(track.size()) - 1, f + 1);
         ++g) {
      const TrackPoint& p = track[static_cast<size_t>(g)];
      if (p.found && (right ? p.right >= width - 1 - margin : p.left <= margin)) return true;
    }
    return false;
  };
  for (double t : contacts_at_maxima(xs, dx, o.approach_fraction * width, false,
                                     [&](int f) { return near_wall(f, true); }))
    frames.push_back(t);
  for (double t : contacts_at_maxima(negated(xs), dx, o.approach_fraction * width, false,
                                     [&](int f) { return near_wall(f, false); }))
    frames.push_back(t);
  std::vector<double> seconds;
  for (double f : merge_close(frames, 0.5)) seconds.push_back(f / fps);
  return seconds;
}

static size_t energy_hop(int sample_rate) {
  return static_cast<size_t>(std::max(1L, std::lround(0.010 * sample_rate)));
}

std::vector<double> hop_energies(const std::vector<float>& audio, int sample_rate) {
  DUET_CHECK(sample_rate > 0, "audio energies: sample rate {} must be positive", sample_rate);
  const size_t hop = energy_hop(sample_rate);
  const size_t n = audio.size() / hop;
  std::vector<double> energy(n, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (size_t k = 0; k < hop; ++k)
      energy[i] += static_cast<double>(audio[i * hop + k]) * audio[i * hop + k];
    energy[i] /= static_cast<double>(hop);
  }
  return energy;
}

std::vector<double> audio_onsets(const std::vector<float>& audio, int sample_rate,
                                 const AnalysisOptions& o) {
  DUET_CHECK(sample_rate > 0, "audio_onsets: sample rate {} must be positive", sample_rate);
  const size_t hop = energy_hop(sample_rate);
  const std::vector<double> energy = hop_energies(audio, sample_rate);
  const size_t n = energy.size();
  const double floor = std::pow(10.0, o.onset_floor_dbfs / 10.0);
  std::vector<double> onsets;
  size_t last = 0;
  bool any = false;
  for (size_t i = 0; i < n; ++i) {
    // The level the onset must rise above; the first hops have none to compare with.
    if (i < 4) continue;
    const double level = (energy[i - 4] + energy[i - 3] + energy[i - 2]) / 3.0;
    const bool rising = energy[i] > energy[i - 1];
    // A refractory 30 ms: the two hops an onset straddles are one onset.
    if (energy[i] < floor || energy[i] < o.onset_ratio * level || !rising || (any && i - last < 3))
      continue;
    // Refine to the first sample (in this hop or the one before) at half this hop's peak: the
    // impacts' 2 ms attacks make that within a millisecond of the contact.
    float peak = 0;
    for (size_t k = 0; k < hop; ++k) peak = std::max(peak, std::abs(audio[i * hop + k]));
    size_t s = (i - 1) * hop;
    while (s < (i + 1) * hop && std::abs(audio[s]) < 0.5f * peak) ++s;
    onsets.push_back(static_cast<double>(s) / sample_rate);
    last = i;
    any = true;
  }
  return onsets;
}

Sync match_onsets(const std::vector<double>& impacts, const std::vector<double>& onsets,
                  double tolerance) {
  std::vector<double> sorted(onsets);
  std::sort(sorted.begin(), sorted.end());
  Sync s;
  s.impacts = static_cast<int>(impacts.size());
  for (double t : impacts) {
    auto it = std::lower_bound(sorted.begin(), sorted.end(), t - tolerance);
    if (it != sorted.end() && *it <= t + tolerance) ++s.matched;
  }
  s.fraction = s.impacts == 0 ? 1.0 : static_cast<double>(s.matched) / s.impacts;
  return s;
}

Sync shifted_control(const std::vector<double>& impacts, const std::vector<double>& onsets,
                     double tolerance, double shift) {
  Sync control;
  for (double sign : {-1.0, 1.0}) {
    std::vector<double> moved(onsets);
    for (auto& t : moved) t += sign * shift;
    const Sync s = match_onsets(impacts, moved, tolerance);
    control.impacts += s.impacts;
    control.matched += s.matched;
  }
  control.fraction =
      control.impacts == 0 ? 0.0 : static_cast<double>(control.matched) / control.impacts;
  return control;
}

double rms_dbfs(const std::vector<float>& audio) {
  double sum = 0;
  for (float v : audio) sum += static_cast<double>(v) * v;
  const double rms = audio.empty() ? 0.0 : std::sqrt(sum / static_cast<double>(audio.size()));
  return rms <= 1e-6 ? -120.0 : 20.0 * std::log10(rms);
}

ClipAnalysis analyse_clip(const ClipInput& clip, const AnalysisOptions& o) {
  const int w = clip.width, h = clip.height;
  DUET_CHECK(w >= 16 && h >= 16 && clip.fps > 0, "analyse_clip: size {}x{} or fps {} out of range",
             w, h, clip.fps);
  const size_t frame_bytes = static_cast<size_t>(w) * h * 3;
  DUET_CHECK(clip.frames.size() % frame_bytes == 0 && !clip.frames.empty(),
             "analyse_clip: {} bytes of frames is not a whole number of {}x{} RGB frames",
             clip.frames.size(), w, h);
  ClipAnalysis a;
  Histogram core, all;
  const size_t n = clip.frames.size() / frame_bytes;
  for (size_t f = 0; f < n; ++f) {
    a.track.push_back(analyse_frame(clip.frames.data() + f * frame_bytes, w, h, o, core, all));
    a.frames_found += a.track.back().found ? 1 : 0;
  }
  // Colour from the interior pixels when there are enough of them; a small, pale or blurred
  // object may have none, and then its whole blob has to do.
  if (a.frames_found > 0) {
    const Rgb c = core.total >= 20 ? core.median() : all.median();
    std::copy(c.begin(), c.end(), a.rgb);
    a.color = nearest_color(a.rgb, scenes::object_colors(), &a.color_distance);
  }
  a.motion = classify_motion(a.track, w, h, o);
  a.visual_impacts = visual_impacts(a.track, w, h, clip.fps, o);
  a.audio_onsets = audio_onsets(clip.audio, clip.sample_rate, o);
  a.sync = match_onsets(a.visual_impacts, a.audio_onsets, o.sync_frames / clip.fps);
  a.sync_control =
      shifted_control(a.visual_impacts, a.audio_onsets, o.sync_frames / clip.fps, 5.0 / clip.fps);
  a.audio_rms_dbfs = rms_dbfs(clip.audio);
  return a;
}

}  // namespace duet::eval

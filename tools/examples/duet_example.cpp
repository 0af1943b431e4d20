// The usage example of include/duet/duet.h as a program: one clip from a prompt.
//   duet_example PROMPT OUTPUT [MODEL] [STEPS]
// MODEL: a model folder or preset name (default: the embedded duet-tiny).
#include <duet/duet.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s PROMPT OUTPUT [MODEL] [STEPS]\n", argv[0]);
    return 2;
  }
  duet::EngineOptions options;
  if (argc > 3) options.model = argv[3];
  options.progress = [](const duet::Progress& p) {
    if (p.step == p.total) {
      std::fprintf(stderr, "%s %lld/%lld\n", p.stage.c_str(), static_cast<long long>(p.step),
                   static_cast<long long>(p.total));
    }
  };
  try {
    duet::Engine engine(options);  // recognises the folder; weights load lazily
    duet::GenerateRequest request;
    request.prompt = argv[1];
    request.output = argv[2];
    request.seed = 42;
    if (argc > 4) request.steps = std::atoi(argv[4]);
    const duet::ClipPlan plan = engine.plan(request);  // every check, no compute
    std::printf("%s: %lldx%lld, %lld frames at %g fps%s, seed %llu\n", plan.model.c_str(),
                static_cast<long long>(plan.width), static_cast<long long>(plan.height),
                static_cast<long long>(plan.frames), plan.fps, plan.has_audio ? " with sound" : "",
                static_cast<unsigned long long>(plan.seed));
    const duet::GenerateResult r = engine.render(plan);
    std::printf("wrote %s: %lld frames, %lld audio samples, %.1f s\n", r.path.c_str(),
                static_cast<long long>(r.frames_written),
                static_cast<long long>(r.audio_samples_written), r.total_seconds);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// The fusion stage of duet-tiny's training: the Ovi fusion model and the umT5 text encoder,
// trained together by flow matching on the cached latents (fusion_latents.h).
#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/error.h"
#include "fusion_latents.h"
#include "models/ovi/ovi_config.h"
#include "models/ovi/ovi_fusion.h"
#include "stage_common.h"
#include "text/tokenizer.h"
#include "text/umt5.h"
#include "tiny_data.h"

namespace duet::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// umT5 contexts as the pipeline builds them: each prompt encoded alone, zero rows past its
// tokens up to text_len. -> [B, text_len, dim]
at::Tensor encode_prompts(const Umt5Encoder& t5, const Umt5Tokenizer& tok,
                          const std::vector<std::string>& prompts) {
  const int64_t len = tok.config().text_len;
  std::vector<at::Tensor> rows;
  for (const auto& p : prompts) {
    const auto ids = tok.encode(p).ids;
    const at::Tensor y = t5.forward(at::tensor(ids, at::kLong).unsqueeze(0))[0];  // [n, dim]
    rows.push_back(at::constant_pad_nd(y, {0, 0, 0, len - y.size(0)}));
  }
  return at::stack(rows);
}

}  // namespace

void train_fusion(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "fusion");
  const std::string dir = stage_dir(ctx, "fusion");
  fs::create_directories(dir);
  // bf16 matrix products with fp32 weights, optimiser and loss (libtorch's CPU autocast): for
  // CPUs that multiply bf16 natively (AVX512-BF16, AMX).
  const std::string autocast = st.value("autocast", std::string("off"));
  DUET_CHECK(autocast == "off" || autocast == "bf16",
             "{}: stages.fusion.autocast is '{}'; expected \"off\" or \"bf16\"", ctx.recipe_path,
             autocast);
  const bool mixed = autocast == "bf16";
  const Umt5Tokenizer tok(stage_dir(ctx, "tokenizer") + "/tokenizer.model",
                          {.text_len = 512, .extra_ids = 300});
  const Umt5Config tcfg = t5_config(component_config(ctx, "text_encoder"),
                                    round_up(tok.vocab_size(), 64));
  const auto fcfg = ovi::OviFusionConfig::from_json(component_config(ctx, "fusion"), "fusion");
  ParamMap params = with_prefix(
      init_params(shapes_of([&](WeightStore& s) { ovi::OviFusionModel::load(fcfg, s); }),
                  InitFamily::kWanDit, recipe_seed(ctx)),
      "fusion.");
  for (auto& [k, t] : with_prefix(
           init_params(shapes_of([&](WeightStore& s) { Umt5Encoder(tcfg, s); }),
                       InitFamily::kUmt5, recipe_seed(ctx)),
           "text.")) {
    params[k] = t;
  }
  AdamW opt(params, keys_where(params, [](const std::string&) { return true; }), adam_options(st));
  const LatentSet data = encode_latents(ctx, dir, st.at("clips"));
  const int64_t batch = st.at("batch");
  const double shift = st.at("shift"), drop = st.at("caption_dropout");
  const double audio_w = st.value("audio_weight", 1.0);
  // The objects cover a few of a frame's 64 latent cells; at weight 1 the backdrop dominates the
  // loss and the model learned it while drawing the objects as faint blobs.
  const double object_w = st.value("object_weight", 1.0);
  const std::string neg_video = st.at("negative_prompt"), neg_audio = st.at("audio_negative_prompt");
  const auto& v0 = data.video.front();
  const int64_t seq_video = v0.size(1) * (v0.size(2) / fcfg.video.patch_size[1]) *
                            (v0.size(3) / fcfg.video.patch_size[2]);
  const int64_t seq_audio = data.audio.front().size(1);
  run_stage(ctx, "fusion", st, params, opt, [&](int64_t, at::Generator& gen) -> Losses {
    std::vector<at::Tensor> xv, xa, obj;
    std::vector<std::string> pv, pa;
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t j = draw_index(gen, static_cast<int64_t>(data.video.size()));
      xv.push_back(data.video[j]);
      xa.push_back(data.audio[j]);
      obj.push_back(data.objects[j]);
      // The unconditional branch at sampling time sees the negative prompts.
      const bool dropped = at::rand({1}, gen).item<double>() < drop;
      pv.push_back(dropped ? neg_video : data.captions[j]);
      pa.push_back(dropped ? neg_audio : data.captions[j]);
    }
    const at::Tensor x0v = at::stack(xv), x0a = at::stack(xa);
    // Flow matching at the sampler's shifted noise levels: x_t = (1 - s) x0 + s e, target e - x0.
    const at::Tensor u = at::rand({batch}, gen);
    const at::Tensor sigma = shift * u / (1 + (shift - 1) * u);
    const at::Tensor ev = at::randn(x0v.sizes(), gen), ea = at::randn(x0a.sizes(), gen);
    const at::Tensor sv = sigma.view({batch, 1, 1, 1, 1}), sa = sigma.view({batch, 1, 1});
    const at::Tensor xtv = (1 - sv) * x0v + sv * ev, xta = (1 - sa) * x0a + sa * ea;
    WeightStore store = WeightStore::from_tensors(params);
    const auto model = ovi::OviFusionModel::load(fcfg, store, "fusion.");
    WeightStore tstore = WeightStore::from_tensors(strip_prefix(params, "text."));
    const Umt5Encoder t5(tcfg, tstore);
    const AutocastScope bf16_products(mixed);
    const at::Tensor cv = encode_prompts(t5, tok, pv);
    const at::Tensor ca = pv == pa ? cv : encode_prompts(t5, tok, pa);
    const auto [ov16, oa16] = model.forward({.x_video = xtv, .x_audio = xta, .t_video = sigma * 1000,
                                         .t_audio = sigma * 1000, .context_video = cv,
                                         .context_audio = ca, .seq_len_video = seq_video,
                                         .seq_len_audio = seq_audio},
                                        {.skip_block = std::nullopt,
                                         .attention = {.backend = nn::AttentionBackend::kSdpa,
                                                       .scale = std::nullopt}});
    const at::Tensor ov = ov16.to(at::kFloat), oa = oa16.to(at::kFloat);
    // [B, 48, F', h, w] squared errors; weights [B, 1, F', h, w], normalised to mean 1 so the
    // loss keeps its scale
    const at::Tensor err = (ov - (ev - x0v)).pow(2);
    const at::Tensor cells = at::stack(obj).unsqueeze(1);
    const at::Tensor weight = 1 + (object_w - 1) * cells;
    const at::Tensor lv = (err * weight).mean() / weight.mean();
    const at::Tensor la = (oa - (ea - x0a)).pow(2).mean();
    (lv + audio_w * la).backward();
    const at::NoGradGuard no_grad;
    const double on_objects =
        item((err.mean(1, true) * cells).sum() / cells.sum().clamp_min(1));
    return {{"video", item(lv)}, {"objects", on_objects}, {"audio", item(la)}};
  });
}

}  // namespace duet::train

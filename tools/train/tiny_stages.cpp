// The tokenizer stage and the package; the other stages have files of their own
// (video_vae_stage.cpp, audio_stages.cpp, fusion_stage.cpp).
#include "tiny_stages.h"

#include <fmt/format.h>
#include <sentencepiece_trainer.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "stage_common.h"
#include "text/tokenizer.h"

namespace duet::train {

namespace fs = std::filesystem;
using nlohmann::json;

// --- tokenizer --------------------------------------------------------------------------------

void train_tokenizer(const TrainContext& ctx) {
  const json& st = stage_of(ctx, "tokenizer");
  const std::string dir = stage_dir(ctx, "tokenizer");
  fs::create_directories(dir);
  // Training captions, one per line: every caption the scene generator makes for the first
  // `captions` training seeds (duplicates kept: frequencies matter to the unigram model).
  const std::string corpus = dir + "/captions.txt";
  {
    std::ofstream out(corpus);
    const auto options = scene_options(ctx);
    uint64_t seed = 0;
    for (int64_t i = 0; i < st.at("captions").get<int64_t>(); ++i) {
      out << scenes::caption_of(scenes::next_scene(seed, options, false, &seed)) << '\n';
      ++seed;
    }
  }
  // umT5's special ids: <pad> 0, </s> 1, <s> 2, <unk> 3. The caption tags are whole pieces.
  // BPE rather than umT5's unigram: on a corpus of ~70 distinct words the unigram trainer keeps
  // only ~77 pieces (mostly letters), where BPE learns every word as one piece.
  const std::string args = fmt::format(
      "--input={} --model_prefix={}/tokenizer --model_type=bpe --vocab_size={} "
      "--hard_vocab_limit=false --pad_id=0 --eos_id=1 --bos_id=2 --unk_id=3 --pad_piece=<pad> "
      "--eos_piece=</s> --bos_piece=<s> --unk_piece=<unk> --character_coverage=1.0 "
      "--user_defined_symbols=<AUDCAP>,<ENDAUDCAP> --normalization_rule_name=nmt_nfkc "
      "--num_threads=1 --minloglevel=2",  // one thread: deterministic
      corpus, dir, st.at("vocab_size").get<int64_t>());
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  DUET_CHECK(status.ok(), "SentencePiece training failed: {}", status.ToString());
  Umt5Tokenizer tok(dir + "/tokenizer.model", {.text_len = 512, .extra_ids = 300});
  spdlog::info("tokenizer: {} pieces + 300 extra ids; '{}' -> {} tokens", tok.vocab_size() - 300,
               "A small red rubber ball falls", tok.encode("A small red rubber ball falls").ids.size());
}

// --- package ----------------------------------------------------------------------------------

void write_package(const TrainContext& ctx, const std::string& out) {
  fs::create_directories(out);
  json manifest = ctx.recipe.at("package");
  const auto dtype = ctx.recipe.value("package_dtype", std::string("fp32")) == "bf16"
                         ? at::kBFloat16 : at::kFloat;
  const ParamMap fusion = load_tensors(weights_of(ctx, "fusion"));
  save_tensors(out + "/fusion.safetensors", strip_prefix(fusion, "fusion."), dtype);
  save_tensors(out + "/text_encoder.safetensors", strip_prefix(fusion, "text."), dtype);
  save_tensors(out + "/video_vae.safetensors", load_tensors(weights_of(ctx, "video_vae")), dtype);
  // MMAudio bakes its weight norm in fp32 from what is stored: keep its file in fp32.
  save_tensors(out + "/audio_vae.safetensors", load_tensors(weights_of(ctx, "audio_vae")));
  save_tensors(out + "/vocoder.safetensors", load_tensors(weights_of(ctx, "vocoder")), dtype);
  fs::copy_file(stage_dir(ctx, "tokenizer") + "/tokenizer.model", out + "/tokenizer.model",
                fs::copy_options::overwrite_existing);
  const Umt5Tokenizer tok(out + "/tokenizer.model", {.text_len = 512, .extra_ids = 300});
  auto& comps = manifest.at("components");
  comps.at("tokenizer").at("config")["vocab_size"] = tok.vocab_size() - 300;
  comps.at("text_encoder").at("config")["vocab_size"] = round_up(tok.vocab_size(), 64);
  std::ofstream(out + "/duet.json") << manifest.dump(2) << '\n';
  spdlog::info("package written to {}", out);
}

}  // namespace duet::train

#pragma once
// Text front end: prompts -> umT5 context as Wan feeds its DiT.
//
//   TextEncoderOptions opt;                      // bf16 on the CPU, result moved to the GPU:
//   opt.output_device = at::Device(at::kCUDA);   // the DiT keeps the GPU to itself
//   TextEncoder te("Wan2.1-T2V-1.3B/models_t5_umt5-xxl-enc-bf16.pth",
//                  "Wan2.1-T2V-1.3B/google/umt5-xxl", opt);
//   TextEncoding e = te.encode({prompt, negative});   // e.context: [2, 512, 4096]
//
// Wan's T5EncoderModel runs the padded 512 ids with the attention mask and returns u[:len];
// its DiT zero-pads that back to text_len. We run each prompt at its real length instead:
// padded keys get exactly zero attention weight in the reference, so the real rows are the
// same up to summation order, and a 40-token prompt costs 40 rows instead of 512.
#include <ATen/ATen.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "text/tokenizer.h"
#include "text/umt5.h"

namespace duet {

struct TextEncoderOptions {
  at::ScalarType dtype = at::kBFloat16;             // weights and compute (Wan: bf16)
  at::Device device = at::Device(at::kCPU);         // where umT5 runs
  at::Device output_device = at::Device(at::kCPU);  // where the context is handed over
  TokenizerConfig tokenizer;
};

struct TextEncoding {
  at::Tensor context;            // [B, text_len, dim], rows past lengths[b] are zero
  std::vector<int64_t> lengths;  // real tokens per prompt, </s> included
};

struct TokenBatch {
  at::Tensor ids;   // [B, text_len] int64, padded with <pad>
  at::Tensor mask;  // [B, text_len] int64, 1 on real tokens
  std::vector<int64_t> lengths;
};

class TextEncoder {
 public:
  // weights: Wan's .pth (or any file in Wan's layout), or a transformers text_encoder/ folder
  // (config.json + model*.safetensors). tokenizer: a google/umt5-xxl or tokenizer/ folder.
  TextEncoder(const std::filesystem::path& weights, const std::filesystem::path& tokenizer,
              TextEncoderOptions options = {});

  TokenBatch tokenize(const std::vector<std::string>& prompts) const;
  TextEncoding encode(const std::vector<std::string>& prompts) const;

  const Umt5Encoder& encoder() const { return *encoder_; }
  const Umt5Tokenizer& tokenizer() const { return tokenizer_; }

 private:
  TextEncoderOptions options_;
  Umt5Tokenizer tokenizer_;
  std::unique_ptr<WeightStore> store_;
  std::unique_ptr<Umt5Encoder> encoder_;
};

// Opens umT5 weights in either layout: WeightStore with the key map it needs, and the config
// (config.json when the folder has one, else derived from the tensor shapes).
std::unique_ptr<Umt5Encoder> load_umt5(const std::filesystem::path& weights,
                                       const WeightOptions& options,
                                       std::unique_ptr<WeightStore>& store);

}  // namespace duet

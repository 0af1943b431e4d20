#include "io/convert.h"

#include <filesystem>

#include "core/device.h"
#include "core/error.h"
#include "duet/version.h"
#include "io/safetensors.h"
#include "io/weight_store.h"

namespace duet {

ConvertResult convert_checkpoint(const std::string& input, const std::string& output,
                                 const ConvertOptions& options) {
  namespace fs = std::filesystem;
  DUET_CHECK(options.overwrite || !fs::exists(output),
             "'{}' already exists; pass --force to overwrite it", output);
  DUET_CHECK(fs::path(output).extension() == ".safetensors",
             "output '{}' must end in .safetensors (duet converts to safetensors)", output);
  DUET_CHECK(fs::absolute(input) != fs::absolute(output), "input and output are the same file");

  WeightStore store({input}, WeightOptions{.dtype = options.dtype});
  std::vector<at::Tensor> keep;  // owns converted bytes until written
  std::vector<TensorToWrite> out;
  ConvertResult result;
  for (const auto& name : store.names()) {
    if (name.compare(0, options.prefix.size(), options.prefix) != 0) continue;
    at::Tensor t = store.load(name).contiguous();
    keep.push_back(t);
    TensorToWrite w;
    w.name = name.substr(options.prefix.size());
    w.dtype = from_scalar_type(t.scalar_type());
    w.shape = t.sizes().vec();
    w.data = t.data_ptr();
    w.nbytes = t.nbytes();
    out.push_back(std::move(w));
    result.tensors += 1;
    result.parameters += t.numel();
    result.bytes_written += t.nbytes();
  }
  DUET_CHECK(result.tensors > 0, "'{}' holds no tensors{}", input,
             options.prefix.empty() ? "" : " under prefix '" + options.prefix + "'");
  const std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"converted_by", std::string("duet ") + DUET_VERSION_STRING},
      {"source", fs::path(input).filename().string()}};
  write_safetensors(output, out, metadata);
  return result;
}

}  // namespace duet

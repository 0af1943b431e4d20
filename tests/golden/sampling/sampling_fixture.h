#pragma once
// Loads the fixtures written by tools/fixtures/make_golden_sampling.py: the case list from the
// safetensors metadata ("cases", JSON) and tensors by name.
#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include <string>

#include "io/safetensors.h"
#include "io/weight_store.h"
#include "support/test_support.h"

namespace duet::test {

class SamplingFixture {
 public:
  explicit SamplingFixture(const std::string& file)
      : path_((data_dir() / "golden" / "sampling" / file).string()), store_({path_}) {
    cases_ = nlohmann::json::parse(read_safetensors(path_).metadata.at("cases"));
  }
  const nlohmann::json& cases() const { return cases_; }
  at::Tensor tensor(const std::string& name) { return store_.load(name).clone(); }

 private:
  std::string path_;
  WeightStore store_;
  nlohmann::json cases_;
};

}  // namespace duet::test

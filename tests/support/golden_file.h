#pragma once
// Golden fixtures: tensors written by tools/fixtures/make_golden_*.py, read by name, and the
// measured error logged next to its bound so reported tolerances are measured ones.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "io/weight_store.h"
#include "support/test_support.h"

namespace duet::test {

// tests/data/golden/<topic>/<name>.safetensors
class GoldenFile {
 public:
  GoldenFile(const std::string& topic, const std::string& name)
      : store_({(data_dir() / "golden" / topic / (name + ".safetensors")).string()}) {}
  at::Tensor operator[](const std::string& key) { return store_.load(key); }
  WeightStore& store() { return store_; }

 private:
  WeightStore store_;
};

// ||out - ref|| / ||ref||, printed with the running test's name.
inline double logged_error(const at::Tensor& out, const at::Tensor& ref) {
  const double err = relative_error(out, ref);
  std::printf("  rel err %.3e (%s)\n", err,
              ::testing::UnitTest::GetInstance()->current_test_info()->name());
  return err;
}

}  // namespace duet::test

#include "sampling/guidance.h"

#include <cmath>

#include "core/error.h"

namespace duet {

void check_guidance_scale(double scale, std::string_view field) {
  DUET_CHECK(std::isfinite(scale) && scale >= 0.0, "{} must be a finite number >= 0, got {}", field,
             scale);
}

bool needs_uncond_pass(double scale) { return scale != 1.0; }

at::Tensor apply_cfg(const at::Tensor& cond, const at::Tensor& uncond, double scale) {
  DUET_CHECK(cond.defined(), "guidance: the conditional prediction is missing");
  if (!uncond.defined()) {
    DUET_CHECK(!needs_uncond_pass(scale),
               "guidance scale {} needs the unconditional (negative prompt) prediction", scale);
    return cond;
  }
  DUET_CHECK(cond.sizes() == uncond.sizes() && cond.scalar_type() == uncond.scalar_type(),
             "guidance: conditional and unconditional predictions differ in shape or dtype");
  return uncond + (cond - uncond) * scale;
}

}  // namespace duet

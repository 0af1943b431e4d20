#pragma once
// Engine helpers shared with the command-line front end.
#include <string>
#include <vector>

#include "pipeline/preset.h"

namespace duet {

// A folder, or a preset name whose environment variable names the folder (duet-tiny: the
// embedded copy when the variable is unset).
std::string resolve_model_folder(const std::string& model, const std::vector<Preset>& presets);

}  // namespace duet

#pragma once
// Where duet finds its data files (configs/: model presets, styles, schemas).
#include <filesystem>
#include <vector>

namespace duet {

// The folders searched for configs, in order: $DUET_CONFIG_DIR, <prefix>/share/duet/configs
// next to the installed binary, and the source tree's configs/ (builds run from the tree).
std::vector<std::filesystem::path> config_search_dirs();

// The embedded default model (duet-tiny/ under $DUET_MODELS_DIR, <prefix>/share/duet/models or
// the source tree's models/); a duet::Error listing where it looked otherwise.
std::filesystem::path default_model_dir();

// The first folder of config_search_dirs() that exists; a duet::Error listing them otherwise.
std::filesystem::path config_dir();

}  // namespace duet

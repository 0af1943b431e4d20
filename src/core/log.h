#pragma once
// Logging policy: spdlog everywhere. Verbosity is a single integer so the CLI can map
// -q / (none) / -v / -vv onto it without knowing spdlog levels.
namespace duet {

// -1 = errors only (-q), 0 = info (default), 1 = debug (-v), 2 = trace (-vv).
void init_logging(int verbosity);

}  // namespace duet

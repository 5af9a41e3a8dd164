// Whether a request's record carries its bodies. The manifest's `logging`
// decides, and the caller's X-Sluice-Logging-Config may narrow it: a caller
// can always turn bodies off, and can turn them on only where the operator
// set logging.caller_may_enable_bodies.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "manifest/config.h"

namespace sluice::telemetry {

// Parses the header's JSON ({"log_bodies": true|false}). On a malformed
// value returns false with *error naming what is wrong.
bool parseLoggingHeader(std::string_view value, std::optional<bool>* log_bodies,
                        std::string* error);

bool logBodies(const manifest::LoggingConfig& config, std::optional<bool> caller);

}  // namespace sluice::telemetry

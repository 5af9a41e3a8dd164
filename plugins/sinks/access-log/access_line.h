// One access-log line for a request record: time, level, ip, tenant, user
// (SUBJECT_TYPE:SUBJECT_SLUG), model, method, path, status, time_taken (ms),
// trace_id — as logfmt or as a JSON object.
#pragma once

#include <string>

#include "sluice/plugin.h"

namespace sluice::access_log {

enum class Format { Logfmt, Json };

// Appends the line (with its newline) to *out.
void appendLine(const sluice_record& r, Format format, std::string* out);

}  // namespace sluice::access_log

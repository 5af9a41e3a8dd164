// The request record as JSON, schema version 1 (documented in the README):
// what every sink receives, and what /admin/requests/{id} shows. Written on
// the sink thread, never on a worker.
#pragma once

#include <string>

#include "pipeline/record.h"

namespace sluice::telemetry {

constexpr int kRecordSchemaVersion = 1;

void appendRecordJson(const pipeline::RequestRecord& r, std::string* out);

}  // namespace sluice::telemetry

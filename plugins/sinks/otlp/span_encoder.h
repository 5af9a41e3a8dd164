// Request records as OTLP/HTTP JSON traces (ExportTraceServiceRequest): one
// SERVER span for the request (the record's span id, child of the client's
// traceparent span when there was one) and one child span per phase that
// ran, with OpenTelemetry GenAI semantic-convention attributes.
#pragma once

#include <string>

#include "sluice/plugin.h"

namespace sluice::otlp_sink {

// Appends `{"resourceSpans":[...]}` for the batch to *out.
void encodeTraces(const sluice_record_batch& batch, const std::string& service_name,
                  std::string* out);

}  // namespace sluice::otlp_sink

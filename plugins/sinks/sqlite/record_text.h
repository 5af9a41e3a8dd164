// A request record as text, for the sqlite sink. A row keeps the record in
// its columns plus `detail`, a small JSON object with only what the columns
// lack (method, path, client, trace ids, provider plugin, rules, attempts,
// events, the other phases, findings; keys whose value is empty are left
// out). /admin/requests/{id} reads the row back into a sluice_record and
// writes the record JSON (schema version 1) from it, byte for byte what the
// kernel hands JSON-reading sinks.
#pragma once

#include <cjson/cJSON.h>

#include <string>
#include <vector>

#include "record_block.h"
#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

// Appends the `detail` object of `r`.
void appendDetail(const sluice_record& r, std::string* out);

// The record JSON, schema version 1, from its fields.
void appendRecordJson(const sluice_record& r, std::string* out);

// A sluice_record filled back from a `detail` object; strings point into the
// parsed JSON, which lives as long as this does.
class DetailReader {
 public:
  DetailReader() = default;
  ~DetailReader() { cJSON_Delete(root_); }
  DetailReader(const DetailReader&) = delete;
  DetailReader& operator=(const DetailReader&) = delete;

  // Sets in `r` what `detail` holds: the fields appendDetail() writes.
  // Returns false when `detail` is not a JSON object (r is left as it was).
  bool read(const char* detail, size_t len, sluice_record* r);

 private:
  cJSON* root_ = nullptr;
  RecordLists lists_;
};

}  // namespace sluice::sqlite_sink

// One batch as sinks see it (sluice_record_batch): every record's field view
// and, when some sink wants it, its JSON, built on the sink thread from the
// records the workers queued. The storage is reused from batch to batch.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/record.h"
#include "sluice/plugin.h"

namespace sluice::telemetry {

class RecordBatch {
 public:
  // Replaces the batch with `records` (which must outlive the batch's use).
  // Without `json`, every record's JSON is left empty (views only).
  void build(const std::vector<std::unique_ptr<pipeline::RequestRecord>>& records,
             bool json = true);
  const sluice_record_batch& batch() const { return batch_; }
  size_t size() const { return batch_.count; }

 private:
  std::string json_;
  std::vector<size_t> json_ends_;
  std::vector<sluice_str> strs_;
  std::vector<sluice_record> views_;
  std::vector<sluice_header> metadata_;
  std::vector<sluice_str> rules_;
  std::vector<sluice_record_finding> findings_;
  std::vector<sluice_record_event> events_;
  std::vector<sluice_record_attempt> attempts_;
  sluice_record_batch batch_{};
};

}  // namespace sluice::telemetry

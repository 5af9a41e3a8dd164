// The sqlite sink keeps its request records in blocks: one row of
// `request_blocks` holds up to kBlockRecords records with consecutive seqs,
// each encoded compactly (below), so that SQLite writes one row, and not one
// row and an index entry, per record.
//
// A record in a block: its byte length (4 bytes, little-endian), then
//   flags (1 byte: kHasTotal, kHasTtft, kFieldsDetail)
//   varint start_ms (zigzag), varint end_ms - start_ms (zigzag)
//   strings id, subject, team, requested_model, resolved_model, provider,
//     error_code, metadata (JSON object): varint length + bytes
//   varints status, stream, prompt_tokens, completion_tokens, cached_tokens,
//     tokens_estimated (zigzag)
//   8 bytes cost_usd, then total_ms and ttft_ms when their flag is set
//   nullable strings detail, request_body, response_body, record:
//     varint(length + 1) + bytes, 0 for NULL
// `detail` is what the columns lack: in records written now, those fields
// themselves (kFieldsDetail, see encodeFields), cheaper to write than the
// JSON object (record_text.h appendDetail) that rows of the layout before
// blocks kept and that the table's `detail` column shows. `record` is the
// whole record JSON of a row that the first layout wrote (NULL in rows
// written since).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

constexpr size_t kBlockRecords = 64;

// One record of a block, its strings pointing into the block.
struct BlockRecord {
  int64_t start_ms = 0, end_ms = 0;
  std::string_view id, subject, team, requested_model, resolved_model, provider, error_code,
      metadata;
  int64_t status = 0, stream = 0, prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0,
          tokens_estimated = 0;
  double cost_usd = 0;
  bool has_total = false, has_ttft = false;
  double total_ms = 0, ttft_ms = 0;
  // Null when has_* is false.
  bool has_detail = false, has_request_body = false, has_response_body = false,
       has_record = false;
  std::string_view detail, request_body, response_body, record;
  bool fields_detail = false;  // detail holds encodeFields(), not JSON
};

// A record from a host of ABI 1.0 ends before the attempts and the bodies.
inline bool hasAttempts(const sluice_record& r) {
  return r.struct_size >= offsetof(sluice_record, response_body) + sizeof(r.response_body) &&
         r.attempts != nullptr;
}
inline bool hasBodies(const sluice_record& r) {
  return r.struct_size >= offsetof(sluice_record, response_body) + sizeof(r.response_body) &&
         r.bodies_logged;
}

// Appends the fields of `r` that the columns lack (method, path, client,
// trace ids, provider plugin, rules, attempts, events, the other phases,
// findings), as `detail` holds them with kFieldsDetail:
//   strings method, path, client_ip, trace_id, span_id, parent_span_id,
//     provider_type; varint count + strings: applied rules
//   varint count + (target, zigzag status, error, 8-byte duration): attempts
//   varint count + (rule, kind, action): events
//   1 byte of which phases ran (auth, guard_in, route, upstream, tpot,
//     guard_out), then 8 bytes for each that did
//   varint count + (guardrail, hook, type, varint count, action): findings
void encodeFields(const sluice_record& r, std::string* out);

// The lists of a record read back (rules, attempts, events, findings).
struct RecordLists {
  std::vector<sluice_str> rules;
  std::vector<sluice_record_attempt> attempts;
  std::vector<sluice_record_event> events;
  std::vector<sluice_record_finding> findings;

  void clear();
  // Points r's lists at these.
  void setIn(sluice_record* r) const;
};

// Sets in `r` what encodeFields() wrote; strings point into `fields`, the
// lists into this reader.
class FieldsReader {
 public:
  bool read(std::string_view fields, sluice_record* r);

 private:
  RecordLists lists_;
};

// Appends `r` to a block's data.
void encodeRecord(const BlockRecord& r, std::string* out);

// The byte offsets of the records of `data`, in order; false when it is
// malformed (the offsets read so far are kept).
bool recordOffsets(std::string_view data, std::vector<size_t>* offsets);

// Decodes the record at `offset` of `data`; false when it is malformed.
bool decodeRecord(std::string_view data, size_t offset, BlockRecord* r);

// The start_ms of the record at `offset` (a cheaper decodeRecord).
bool recordStart(std::string_view data, size_t offset, int64_t* start_ms);

// The 4-byte little-endian key at index i of a block's `keys`.
uint32_t blockKey(const unsigned char* keys, size_t i);
void appendKey(uint32_t key, std::string* keys);

}  // namespace sluice::sqlite_sink

#include "request_table.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "record_block.h"
#include "record_text.h"

namespace sluice::sqlite_sink {
namespace {

constexpr const char* kDeclare =
    "CREATE TABLE x(seq INTEGER, id TEXT, start_ms INTEGER, end_ms INTEGER, subject TEXT, "
    "team TEXT, requested_model TEXT, resolved_model TEXT, provider TEXT, status INTEGER, "
    "error_code TEXT, stream INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, "
    "cached_tokens INTEGER, tokens_estimated INTEGER, cost_usd REAL, total_ms REAL, "
    "ttft_ms REAL, metadata TEXT, detail TEXT, request_body TEXT, response_body TEXT, "
    "record TEXT HIDDEN)";

enum Column {
  kSeq,
  kId,
  kStart,
  kEnd,
  kSubject,
  kTeam,
  kRequestedModel,
  kResolvedModel,
  kProvider,
  kStatus,
  kErrorCode,
  kStream,
  kPromptTokens,
  kCompletionTokens,
  kCachedTokens,
  kTokensEstimated,
  kCost,
  kTotal,
  kTtft,
  kMetadata,
  kDetail,
  kRequestBody,
  kResponseBody,
  kRecord,
};

// idxNum bits: which bounds xFilter gets (in this order) and the order.
enum : int {
  kSeqEq = 1,
  kSeqLow = 2,
  kSeqHigh = 4,
  kStartLow = 8,
  kStartHigh = 16,
  kDescending = 32,
};

constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

struct Cursor {
  sqlite3_vtab_cursor base{};
  sqlite3* db = nullptr;
  sqlite3_stmt* blocks = nullptr;
  bool eof = true;
  bool descending = false;
  int64_t seq_low = kMin, seq_high = kMax, start_low = kMin, start_high = kMax;
  // The block being read: its data (owned by `blocks` until it steps), the
  // offsets of its records, the seq of the first, and where we are.
  std::string_view data;
  std::vector<size_t> offsets;
  int64_t first_seq = 0;
  size_t at = 0;  // index into offsets, counting down when descending
  int64_t seq = 0;
  BlockRecord record;
};

struct Table {
  sqlite3_vtab base{};
  sqlite3* db = nullptr;
};

int connect(sqlite3* db, void*, int, const char* const*, sqlite3_vtab** out, char**) {
  int rc = sqlite3_declare_vtab(db, kDeclare);
  if (rc != SQLITE_OK) return rc;
  auto* t = new (std::nothrow) Table();
  if (!t) return SQLITE_NOMEM;
  t->db = db;
  *out = &t->base;
  return SQLITE_OK;
}

int disconnect(sqlite3_vtab* vt) {
  delete reinterpret_cast<Table*>(vt);
  return SQLITE_OK;
}

int bestIndex(sqlite3_vtab*, sqlite3_index_info* info) {
  int use[5] = {-1, -1, -1, -1, -1};  // constraint per bound, by bit order
  for (int i = 0; i < info->nConstraint; i++) {
    const auto& c = info->aConstraint[i];
    if (!c.usable) continue;
    bool seq = c.iColumn == kSeq || c.iColumn == -1;
    bool start = c.iColumn == kStart;
    int slot = -1;
    if (seq && c.op == SQLITE_INDEX_CONSTRAINT_EQ) {
      slot = 0;
    } else if (seq || start) {
      bool low = c.op == SQLITE_INDEX_CONSTRAINT_GT || c.op == SQLITE_INDEX_CONSTRAINT_GE;
      bool high = c.op == SQLITE_INDEX_CONSTRAINT_LT || c.op == SQLITE_INDEX_CONSTRAINT_LE;
      if (low) slot = seq ? 1 : 3;
      if (high) slot = seq ? 2 : 4;
    }
    if (slot >= 0 && use[slot] < 0) use[slot] = i;
  }
  int idx = 0, argv = 0;
  double cost = 1e7;
  for (int slot = 0; slot < 5; slot++) {
    if (use[slot] < 0) continue;
    idx |= 1 << slot;
    info->aConstraintUsage[use[slot]].argvIndex = ++argv;
  }
  if (idx & kSeqEq) {
    cost = 10;
    info->estimatedRows = 1;
  } else if (idx & (kSeqLow | kSeqHigh)) {
    cost = (idx & kSeqLow) && (idx & kSeqHigh) ? 1e3 : 1e5;
  } else if (idx & (kStartLow | kStartHigh)) {
    cost = 2e5;
  }
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == kSeq) {
    if (info->aOrderBy[0].desc) idx |= kDescending;
    info->orderByConsumed = 1;
  }
  info->idxNum = idx;
  info->estimatedCost = cost;
  return SQLITE_OK;
}

int open(sqlite3_vtab* vt, sqlite3_vtab_cursor** out) {
  auto* c = new (std::nothrow) Cursor();
  if (!c) return SQLITE_NOMEM;
  c->db = reinterpret_cast<Table*>(vt)->db;
  *out = &c->base;
  return SQLITE_OK;
}

int close(sqlite3_vtab_cursor* base) {
  auto* c = reinterpret_cast<Cursor*>(base);
  sqlite3_finalize(c->blocks);
  delete c;
  return SQLITE_OK;
}

// A bound of an integer column from a constraint's value, widened to the
// nearest integers when it is not one (SQLite checks it again anyway);
// false when it bounds nothing usefully (text, NULL).
bool lowBound(sqlite3_value* v, int64_t* out) {
  switch (sqlite3_value_numeric_type(v)) {
    case SQLITE_INTEGER: *out = sqlite3_value_int64(v); return true;
    case SQLITE_FLOAT: {
      double d = std::floor(sqlite3_value_double(v));
      if (!(d > -9.2e18)) return false;
      *out = d > 9.2e18 ? kMax : static_cast<int64_t>(d);
      return true;
    }
    default: return false;
  }
}

bool highBound(sqlite3_value* v, int64_t* out) {
  switch (sqlite3_value_numeric_type(v)) {
    case SQLITE_INTEGER: *out = sqlite3_value_int64(v); return true;
    case SQLITE_FLOAT: {
      double d = std::ceil(sqlite3_value_double(v));
      if (!(d < 9.2e18)) return false;
      *out = d < -9.2e18 ? kMin : static_cast<int64_t>(d);
      return true;
    }
    default: return false;
  }
}

// Steps to the next block: SQLITE_ROW with it loaded, SQLITE_DONE at the
// end, else an error.
int loadBlock(Cursor* c) {
  int rc = sqlite3_step(c->blocks);
  if (rc != SQLITE_ROW) return rc;
  c->first_seq = sqlite3_column_int64(c->blocks, 0);
  const void* p = sqlite3_column_blob(c->blocks, 1);
  c->data = std::string_view(static_cast<const char*>(p),
                             static_cast<size_t>(sqlite3_column_bytes(c->blocks, 1)));
  if (!recordOffsets(c->data, &c->offsets)) return SQLITE_CORRUPT_VTAB;
  c->at = c->descending ? c->offsets.size() : 0;
  return SQLITE_ROW;
}

// Moves to the next record within the bounds, from the current position
// (which is before it: `at` is the next index to read, or one past it when
// descending).
int settle(Cursor* c) {
  for (;;) {
    bool have = c->descending ? c->at > 0 : c->at < c->offsets.size();
    if (!have) {
      int rc = loadBlock(c);
      if (rc == SQLITE_ROW) continue;
      c->eof = true;
      return rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    size_t i = c->descending ? --c->at : c->at++;
    int64_t seq = c->first_seq + static_cast<int64_t>(i);
    if (seq < c->seq_low || seq > c->seq_high) continue;
    if (!decodeRecord(c->data, c->offsets[i], &c->record)) return SQLITE_CORRUPT_VTAB;
    if (c->record.start_ms < c->start_low || c->record.start_ms > c->start_high) continue;
    c->seq = seq;
    return SQLITE_OK;
  }
}

int filter(sqlite3_vtab_cursor* base, int idx, const char*, int argc, sqlite3_value** argv) {
  auto* c = reinterpret_cast<Cursor*>(base);
  c->seq_low = c->start_low = kMin;
  c->seq_high = c->start_high = kMax;
  c->descending = idx & kDescending;
  int a = 0;
  if ((idx & kSeqEq) && a < argc) {
    int64_t v = 0;
    sqlite3_value* value = argv[a++];
    if (lowBound(value, &v) && highBound(value, &c->seq_high)) c->seq_low = v;
    if (sqlite3_value_type(value) == SQLITE_NULL) c->seq_high = kMin;  // = NULL: nothing
  }
  if ((idx & kSeqLow) && a < argc) {
    int64_t v = kMin;
    if (lowBound(argv[a++], &v) && v > c->seq_low) c->seq_low = v;
  }
  if ((idx & kSeqHigh) && a < argc) {
    int64_t v = kMax;
    if (highBound(argv[a++], &v) && v < c->seq_high) c->seq_high = v;
  }
  if ((idx & kStartLow) && a < argc) lowBound(argv[a++], &c->start_low);
  if ((idx & kStartHigh) && a < argc) highBound(argv[a++], &c->start_high);

  sqlite3_finalize(c->blocks);
  c->blocks = nullptr;
  // A block holds at most kBlockRecords consecutive seqs: one that holds
  // seq_high ends before seq_high + kBlockRecords. The blocks are walked in
  // seq order, along the table's own b-tree.
  std::string sql =
      "SELECT first_seq, data FROM request_blocks WHERE last_seq >= ?1 AND last_seq <= ?2 "
      "AND first_seq <= ?3 AND max_start_ms >= ?4 AND min_start_ms <= ?5 ORDER BY last_seq";
  if (c->descending) sql += " DESC";
  if (sqlite3_prepare_v2(c->db, sql.c_str(), -1, &c->blocks, nullptr) != SQLITE_OK) {
    return SQLITE_ERROR;
  }
  int64_t reach = c->seq_high > kMax - static_cast<int64_t>(kBlockRecords)
                      ? kMax
                      : c->seq_high + static_cast<int64_t>(kBlockRecords) - 1;
  sqlite3_bind_int64(c->blocks, 1, c->seq_low);
  sqlite3_bind_int64(c->blocks, 2, reach);
  sqlite3_bind_int64(c->blocks, 3, c->seq_high);
  sqlite3_bind_int64(c->blocks, 4, c->start_low);
  sqlite3_bind_int64(c->blocks, 5, c->start_high);
  c->offsets.clear();
  c->at = 0;
  c->eof = false;
  return settle(c);
}

int next(sqlite3_vtab_cursor* base) { return settle(reinterpret_cast<Cursor*>(base)); }

int eof(sqlite3_vtab_cursor* base) { return reinterpret_cast<Cursor*>(base)->eof; }

int rowid(sqlite3_vtab_cursor* base, sqlite3_int64* out) {
  *out = reinterpret_cast<Cursor*>(base)->seq;
  return SQLITE_OK;
}

void text(sqlite3_context* ctx, std::string_view s) {
  sqlite3_result_text(ctx, s.data() ? s.data() : "", static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
}

void nullableText(sqlite3_context* ctx, bool present, std::string_view s) {
  if (present) {
    text(ctx, s);
  } else {
    sqlite3_result_null(ctx);
  }
}

void ms(sqlite3_context* ctx, bool present, double v) {
  if (present) {
    sqlite3_result_double(ctx, v);
  } else {
    sqlite3_result_null(ctx);
  }
}

// The `detail` object (record_text.h) of fields a block keeps as
// encodeFields() wrote them.
void detailJson(sqlite3_context* ctx, std::string_view fields) {
  sluice_record r{};
  r.struct_size = sizeof r;
  FieldsReader reader;
  if (!reader.read(fields, &r)) {
    sqlite3_result_error(ctx, "a malformed record in request_blocks", -1);
    return;
  }
  std::string json;
  appendDetail(r, &json);
  sqlite3_result_text(ctx, json.data(), static_cast<int>(json.size()), SQLITE_TRANSIENT);
}

int column(sqlite3_vtab_cursor* base, sqlite3_context* ctx, int col) {
  const Cursor* c = reinterpret_cast<Cursor*>(base);
  const BlockRecord& r = c->record;
  switch (col) {
    case kSeq: sqlite3_result_int64(ctx, c->seq); break;
    case kId: text(ctx, r.id); break;
    case kStart: sqlite3_result_int64(ctx, r.start_ms); break;
    case kEnd: sqlite3_result_int64(ctx, r.end_ms); break;
    case kSubject: text(ctx, r.subject); break;
    case kTeam: text(ctx, r.team); break;
    case kRequestedModel: text(ctx, r.requested_model); break;
    case kResolvedModel: text(ctx, r.resolved_model); break;
    case kProvider: text(ctx, r.provider); break;
    case kStatus: sqlite3_result_int64(ctx, r.status); break;
    case kErrorCode: text(ctx, r.error_code); break;
    case kStream: sqlite3_result_int64(ctx, r.stream); break;
    case kPromptTokens: sqlite3_result_int64(ctx, r.prompt_tokens); break;
    case kCompletionTokens: sqlite3_result_int64(ctx, r.completion_tokens); break;
    case kCachedTokens: sqlite3_result_int64(ctx, r.cached_tokens); break;
    case kTokensEstimated: sqlite3_result_int64(ctx, r.tokens_estimated); break;
    case kCost: sqlite3_result_double(ctx, r.cost_usd); break;
    case kTotal: ms(ctx, r.has_total, r.total_ms); break;
    case kTtft: ms(ctx, r.has_ttft, r.ttft_ms); break;
    case kMetadata: text(ctx, r.metadata); break;
    case kDetail:
      if (r.has_detail && r.fields_detail) {
        detailJson(ctx, r.detail);
      } else {
        nullableText(ctx, r.has_detail, r.detail);
      }
      break;
    case kRequestBody: nullableText(ctx, r.has_request_body, r.request_body); break;
    case kResponseBody: nullableText(ctx, r.has_response_body, r.response_body); break;
    case kRecord: nullableText(ctx, r.has_record, r.record); break;
    default: sqlite3_result_null(ctx);
  }
  return SQLITE_OK;
}

// Eponymous only: no xCreate, so `requests` exists on the connection
// without a CREATE VIRTUAL TABLE in the file.
const sqlite3_module kModule = {
    /* iVersion */ 0,
    /* xCreate */ nullptr,
    connect,
    bestIndex,
    disconnect,
    /* xDestroy */ disconnect,
    open,
    close,
    filter,
    next,
    eof,
    column,
    rowid,
    /* xUpdate */ nullptr,
    /* xBegin */ nullptr,
    /* xSync */ nullptr,
    /* xCommit */ nullptr,
    /* xRollback */ nullptr,
    /* xFindFunction */ nullptr,
    /* xRename */ nullptr,
    /* xSavepoint */ nullptr,
    /* xRelease */ nullptr,
    /* xRollbackTo */ nullptr,
    /* xShadowName */ nullptr,
};

}  // namespace

int registerRequestsTable(sqlite3* db) {
  return sqlite3_create_module_v2(db, "requests", &kModule, nullptr, nullptr);
}

}  // namespace sluice::sqlite_sink

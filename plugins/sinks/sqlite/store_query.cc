#include "store_query.h"

#include <cjson/cJSON.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <string_view>
#include <vector>

#include "record_block.h"
#include "record_text.h"
#include "request_store.h"

namespace sluice::sqlite_sink {
namespace {

std::string_view sv(sluice_str s) { return std::string_view(s.ptr ? s.ptr : "", s.len); }

// An OpenAI-shaped error body naming the parameter at fault.
QueryAnswer badRequest(const std::string& message, const std::string& param) {
  cJSON* root = cJSON_CreateObject();
  cJSON* e = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(e, "message", message.c_str());
  cJSON_AddStringToObject(e, "type", "invalid_request_error");
  cJSON_AddStringToObject(e, "code", "invalid_parameter");
  if (param.empty()) {
    cJSON_AddNullToObject(e, "param");
  } else {
    cJSON_AddStringToObject(e, "param", param.c_str());
  }
  char* text = cJSON_PrintUnformatted(root);
  QueryAnswer a{400, text};
  cJSON_free(text);
  cJSON_Delete(root);
  return a;
}

QueryAnswer jsonAnswer(cJSON* root) {
  char* text = cJSON_PrintUnformatted(root);
  QueryAnswer a{200, text ? text : "{}"};
  cJSON_free(text);
  cJSON_Delete(root);
  return a;
}

// Epoch milliseconds, or ISO 8601 UTC ("2026-11-23T14:00:00Z", seconds and
// fraction optional).
bool parseTime(const std::string& text, int64_t* out) {
  if (text.empty()) return false;
  if (text.find_first_not_of("0123456789") == std::string::npos) {
    *out = std::strtoll(text.c_str(), nullptr, 10);
    return true;
  }
  tm t{};
  const char* rest = strptime(text.c_str(), "%Y-%m-%dT%H:%M", &t);
  if (!rest) return false;
  int64_t ms = 0;
  if (*rest == ':') {
    char* end = nullptr;
    double secs = std::strtod(rest + 1, &end);
    if (end == rest + 1 || secs < 0 || secs >= 61) return false;
    ms = static_cast<int64_t>(std::llround(secs * 1000));
    rest = end;
  }
  if (std::string_view(rest) != "Z") return false;
  *out = static_cast<int64_t>(timegm(&t)) * 1000 + ms;
  return true;
}

std::string isoTime(int64_t ms) {
  time_t secs = static_cast<time_t>(ms / 1000);
  tm t{};
  gmtime_r(&secs, &t);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &t);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

// The filters /admin/requests and /admin/analytics share, as SQL with its
// bound values.
struct Filter {
  std::string where = " WHERE 1=1";
  std::vector<std::string> texts;  // bound in order as ?1, ?2, ...
  std::vector<int64_t> ints;       // kinds per bind index: see binds
  std::vector<bool> is_int;

  void bindText(const std::string& clause, const std::string& v) {
    where += clause;
    texts.push_back(v);
    ints.push_back(0);
    is_int.push_back(false);
  }
  void bindInt(const std::string& clause, int64_t v) {
    where += clause;
    texts.emplace_back();
    ints.push_back(v);
    is_int.push_back(true);
  }
  std::string next() const {
    std::string n = "?";
    n += std::to_string(texts.size() + 1);
    return n;
  }
  void apply(sqlite3_stmt* st) const {
    for (size_t i = 0; i < texts.size(); i++) {
      int idx = static_cast<int>(i + 1);
      if (is_int[i]) {
        sqlite3_bind_int64(st, idx, ints[i]);
      } else {
        sqlite3_bind_text(st, idx, texts[i].data(), static_cast<int>(texts[i].size()),
                          SQLITE_TRANSIENT);
      }
    }
  }
};

// A metadata key as a JSON path: $."key" (quotes in the key are escaped).
std::string metadataPath(const std::string& key) {
  std::string p = "$.\"";
  for (char c : key) {
    if (c == '"' || c == '\\') p.push_back('\\');
    p.push_back(c);
  }
  return p + "\"";
}

// Reads one filter parameter into `f`; false (and *error) when it is
// malformed. Returns true without touching `f` for parameters it does not
// know, setting *known to false.
bool addFilter(const std::string& key, const std::string& value, Filter* f, bool* known,
               QueryAnswer* error) {
  *known = true;
  if (key == "from" || key == "to") {
    int64_t ms = 0;
    if (!parseTime(value, &ms)) {
      *error = badRequest("'" + key +
                              "' must be epoch milliseconds or an ISO 8601 UTC time such "
                              "as 2026-11-23T14:00:00Z (got '" +
                              value + "')",
                          key);
      return false;
    }
    f->bindInt(key == "from" ? " AND start_ms >= " + f->next() : " AND start_ms < " + f->next(),
               ms);
  } else if (key == "subject" || key == "team" || key == "provider") {
    f->bindText(" AND " + key + " = " + f->next(), value);
  } else if (key == "model") {
    std::string p = f->next();
    f->bindText(" AND (requested_model = " + p + " OR resolved_model = " + p + ")", value);
  } else if (key == "status") {
    if (value == "error") {
      f->where += " AND (status >= 400 OR error_code != '')";
    } else if (value.size() == 3 && value[0] >= '1' && value[0] <= '5' && value.substr(1) == "xx") {
      int64_t base = (value[0] - '0') * 100;
      f->bindInt(" AND status >= " + f->next(), base);
      f->bindInt(" AND status < " + f->next(), base + 100);
    } else if (value.size() == 3 && value.find_first_not_of("0123456789") == std::string::npos) {
      f->bindInt(" AND status = " + f->next(), std::strtoll(value.c_str(), nullptr, 10));
    } else {
      *error = badRequest(
          "'status' must be a status code (429), a class (4xx) or 'error' (got '" + value + "')",
          "status");
      return false;
    }
  } else if (key.rfind("metadata.", 0) == 0 && key.size() > 9) {
    f->bindText(" AND json_extract(metadata, " + f->next() + ")", metadataPath(key.substr(9)));
    f->bindText(" = " + f->next(), value);
  } else {
    *known = false;
  }
  return true;
}

const char* kFilterNames = "from, to, subject, team, model, provider, status, metadata.KEY";

cJSON* summaryRow(sqlite3_stmt* st) {
  cJSON* o = cJSON_CreateObject();
  auto text = [st](int col) {
    const unsigned char* t = sqlite3_column_text(st, col);
    return t ? reinterpret_cast<const char*>(t) : "";
  };
  auto nullable = [&](const char* name, int col) {
    const char* t = text(col);
    if (*t) {
      cJSON_AddStringToObject(o, name, t);
    } else {
      cJSON_AddNullToObject(o, name);
    }
  };
  auto ms = [&](const char* name, int col) {
    if (sqlite3_column_type(st, col) == SQLITE_NULL) {
      cJSON_AddNullToObject(o, name);
    } else {
      cJSON_AddNumberToObject(o, name, sqlite3_column_double(st, col));
    }
  };
  cJSON_AddStringToObject(o, "id", text(0));
  int64_t start = sqlite3_column_int64(st, 1);
  cJSON_AddNumberToObject(o, "start_ms", static_cast<double>(start));
  cJSON_AddStringToObject(o, "time", isoTime(start).c_str());
  nullable("subject", 2);
  nullable("team", 3);
  nullable("requested_model", 4);
  nullable("resolved_model", 5);
  nullable("provider", 6);
  cJSON_AddNumberToObject(o, "status", sqlite3_column_int(st, 7));
  nullable("error_code", 8);
  cJSON_AddBoolToObject(o, "stream", sqlite3_column_int(st, 9) != 0);
  cJSON_AddNumberToObject(o, "prompt_tokens", static_cast<double>(sqlite3_column_int64(st, 10)));
  cJSON_AddNumberToObject(o, "completion_tokens",
                          static_cast<double>(sqlite3_column_int64(st, 11)));
  cJSON_AddNumberToObject(o, "cost_usd", sqlite3_column_double(st, 12));
  ms("total_ms", 13);
  ms("ttft_ms", 14);
  cJSON* md = cJSON_Parse(text(15));
  cJSON_AddItemToObject(o, "metadata", md ? md : cJSON_CreateObject());
  return o;
}

QueryAnswer requests(sqlite3* db, const sluice_sink_query& q) {
  Filter f;
  int64_t limit = 50;
  int64_t cursor = -1;
  for (size_t i = 0; i < q.param_count; i++) {
    std::string key(sv(q.params[i].name)), value(sv(q.params[i].value));
    QueryAnswer err;
    bool known = false;
    if (key == "limit") {
      char* end = nullptr;
      limit = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end || limit < 1 || limit > 1000) {
        return badRequest("'limit' must be an integer from 1 to 1000 (got '" + value + "')",
                          "limit");
      }
      continue;
    }
    if (key == "cursor") {
      char* end = nullptr;
      cursor = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end || cursor < 0) {
        return badRequest("'cursor' must be the next_cursor of a previous page", "cursor");
      }
      continue;
    }
    if (!addFilter(key, value, &f, &known, &err)) return err;
    if (!known) {
      return badRequest(
          "unknown parameter '" + key + "' (known: " + kFilterNames + ", limit, cursor)", key);
    }
  }
  if (cursor >= 0) f.bindInt(" AND seq < " + f.next(), cursor);
  std::string sql =
      "SELECT id, start_ms, subject, team, requested_model, resolved_model, provider, status, "
      "error_code, stream, prompt_tokens, completion_tokens, cost_usd, total_ms, ttft_ms, "
      "metadata, seq FROM requests" +
      f.where + " ORDER BY seq DESC LIMIT " + std::to_string(limit + 1);
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    return QueryAnswer{500,
                       std::string("{\"error\":{\"message\":\"request log query failed\","
                                   "\"type\":\"server_error\",\"code\":null,\"param\":null}}")};
  }
  f.apply(st);
  cJSON* root = cJSON_CreateObject();
  cJSON* rows = cJSON_AddArrayToObject(root, "requests");
  int64_t n = 0, last_seq = -1;
  bool more = false;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (n == limit) {
      more = true;
      break;
    }
    cJSON_AddItemToArray(rows, summaryRow(st));
    last_seq = sqlite3_column_int64(st, 16);
    n++;
  }
  sqlite3_finalize(st);
  if (more) {
    cJSON_AddStringToObject(root, "next_cursor", std::to_string(last_seq).c_str());
  } else {
    cJSON_AddNullToObject(root, "next_cursor");
  }
  return jsonAnswer(root);
}

QueryAnswer notFound(const std::string& id) {
  cJSON* root = cJSON_CreateObject();
  cJSON* e = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(e, "message", ("no request '" + id + "' in the request log").c_str());
  cJSON_AddStringToObject(e, "type", "invalid_request_error");
  cJSON_AddStringToObject(e, "code", "request_not_found");
  cJSON_AddNullToObject(e, "param");
  QueryAnswer a = jsonAnswer(root);
  a.status = 404;
  return a;
}

sluice_str columnStr(sqlite3_stmt* st, int col) {
  const unsigned char* t = sqlite3_column_text(st, col);
  return sluice_str{t ? reinterpret_cast<const char*>(t) : "",
                    static_cast<size_t>(sqlite3_column_bytes(st, col))};
}

double columnMs(sqlite3_stmt* st, int col) {
  return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_double(st, col);
}

// The record JSON of the row `st` stands on (the columns of kRowColumns).
void recordOfRow(sqlite3_stmt* st, std::string* out) {
  if (sqlite3_column_type(st, 22) != SQLITE_NULL) {  // a row the first layout wrote
    sluice_str whole = columnStr(st, 22);
    out->assign(whole.ptr, whole.len);
    return;
  }
  sluice_record r{};
  r.struct_size = sizeof r;
  r.schema_version = 1;
  r.id = columnStr(st, 0);
  r.start_ms = sqlite3_column_int64(st, 1);
  r.end_ms = sqlite3_column_int64(st, 2);
  r.subject = columnStr(st, 3);
  r.team = columnStr(st, 4);
  r.requested_model = columnStr(st, 5);
  r.resolved_model = columnStr(st, 6);
  r.provider = columnStr(st, 7);
  r.status = sqlite3_column_int(st, 8);
  r.error_code = columnStr(st, 9);
  r.stream = sqlite3_column_int(st, 10);
  r.prompt_tokens = sqlite3_column_int64(st, 11);
  r.completion_tokens = sqlite3_column_int64(st, 12);
  r.cached_tokens = sqlite3_column_int64(st, 13);
  r.tokens_estimated = sqlite3_column_int(st, 14);
  r.cost_usd = sqlite3_column_double(st, 15);
  r.total_ms = columnMs(st, 16);
  r.ttft_ms = columnMs(st, 17);
  r.auth_ms = r.guard_in_ms = r.route_ms = r.upstream_ms = r.tpot_ms = r.guard_out_ms = -1;
  std::vector<sluice_header> metadata;
  cJSON* md = cJSON_ParseWithLength(reinterpret_cast<const char*>(sqlite3_column_text(st, 18)),
                                    static_cast<size_t>(sqlite3_column_bytes(st, 18)));
  const cJSON* item = nullptr;
  cJSON_ArrayForEach(item, md) {
    if (!cJSON_IsString(item) || !item->string) continue;
    metadata.push_back({{item->string, strlen(item->string)},
                        {item->valuestring, strlen(item->valuestring)}});
  }
  r.metadata = metadata.data();
  r.metadata_count = metadata.size();
  DetailReader detail;
  sluice_str d = columnStr(st, 19);
  detail.read(d.ptr, d.len, &r);
  if (sqlite3_column_type(st, 20) != SQLITE_NULL) {
    r.bodies_logged = 1;
    r.request_body = columnStr(st, 20);
    r.response_body = columnStr(st, 21);
  }
  appendRecordJson(r, out);
  cJSON_Delete(md);
}

constexpr const char* kRowColumns =
    "id, start_ms, end_ms, subject, team, requested_model, resolved_model, provider, status, "
    "error_code, stream, prompt_tokens, completion_tokens, cached_tokens, tokens_estimated, "
    "cost_usd, total_ms, ttft_ms, metadata, detail, request_body, response_body, record";

// The newest record with `id`: the blocks' keys are scanned newest first
// for the id's key, and each record a match points at is compared whole.
QueryAnswer oneRequest(sqlite3* db, const sluice_sink_query& q) {
  std::string id;
  for (size_t i = 0; i < q.param_count; i++) {
    if (sv(q.params[i].name) == "id") id.assign(sv(q.params[i].value));
  }
  uint32_t key = idKey(id);
  sqlite3_stmt* chunks = nullptr;
  sqlite3_stmt* row = nullptr;
  std::string sql = std::string("SELECT ") + kRowColumns + " FROM requests WHERE seq = ?1";
  if (sqlite3_prepare_v2(db, "SELECT first_seq, keys FROM request_blocks ORDER BY last_seq DESC",
                         -1,
                         &chunks, nullptr) != SQLITE_OK ||
      sqlite3_prepare_v2(db, sql.c_str(), -1, &row, nullptr) != SQLITE_OK) {
    sqlite3_finalize(chunks);
    sqlite3_finalize(row);
    return QueryAnswer{500,
                       std::string("{\"error\":{\"message\":\"request log query failed\","
                                   "\"type\":\"server_error\",\"code\":null,\"param\":null}}")};
  }
  QueryAnswer a;
  bool found = false;
  while (!found && sqlite3_step(chunks) == SQLITE_ROW) {
    int64_t first = sqlite3_column_int64(chunks, 0);
    auto* keys = static_cast<const unsigned char*>(sqlite3_column_blob(chunks, 1));
    size_t n = static_cast<size_t>(sqlite3_column_bytes(chunks, 1)) / 4;
    for (size_t i = n; i-- > 0 && !found;) {
      if (blockKey(keys, i) != key) continue;
      sqlite3_bind_int64(row, 1, first + static_cast<int64_t>(i));
      if (sqlite3_step(row) == SQLITE_ROW && sv(columnStr(row, 0)) == id) {
        recordOfRow(row, &a.body);
        found = true;
      }
      sqlite3_reset(row);
    }
  }
  sqlite3_finalize(chunks);
  sqlite3_finalize(row);
  return found ? a : notFound(id);
}

// Aggregates for one group (and one bucket).
struct Stats {
  int64_t requests = 0, failures = 0, prompt_tokens = 0, completion_tokens = 0;
  double cost = 0;
  std::vector<double> latency, ttft;
};

double percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v->size())));
  return (*v)[rank == 0 ? 0 : rank - 1];
}

cJSON* statsJson(Stats* s) {
  cJSON* o = cJSON_CreateObject();
  cJSON_AddNumberToObject(o, "requests", static_cast<double>(s->requests));
  cJSON_AddNumberToObject(o, "failures", static_cast<double>(s->failures));
  cJSON_AddNumberToObject(o, "prompt_tokens", static_cast<double>(s->prompt_tokens));
  cJSON_AddNumberToObject(o, "completion_tokens", static_cast<double>(s->completion_tokens));
  cJSON_AddNumberToObject(o, "cost_usd", s->cost);
  for (auto [name, v] : {std::pair<const char*, std::vector<double>*>{"latency_ms", &s->latency},
                         {"ttft_ms", &s->ttft}}) {
    cJSON* p = cJSON_AddObjectToObject(o, name);
    if (v->empty()) {
      cJSON_AddNullToObject(p, "p50");
      cJSON_AddNullToObject(p, "p95");
      cJSON_AddNullToObject(p, "p99");
    } else {
      cJSON_AddNumberToObject(p, "p50", percentile(v, 50));
      cJSON_AddNumberToObject(p, "p95", percentile(v, 95));
      cJSON_AddNumberToObject(p, "p99", percentile(v, 99));
    }
  }
  return o;
}

QueryAnswer analytics(sqlite3* db, const sluice_sink_query& q, int64_t now_ms) {
  Filter f;
  std::string group_by = "model",
              group_sql =
                  "CASE WHEN resolved_model != '' THEN resolved_model ELSE requested_model END";
  std::string bucket_name = "hour";
  int64_t bucket_ms = 3600000;
  bool has_from = false;
  for (size_t i = 0; i < q.param_count; i++) {
    std::string key(sv(q.params[i].name)), value(sv(q.params[i].value));
    if (key == "group_by") {
      group_by = value;
      if (value == "model") {
        continue;
      } else if (value == "provider" || value == "subject" || value == "team") {
        group_sql = value;
      } else if (value.rfind("metadata.", 0) == 0 && value.size() > 9) {
        std::string path = metadataPath(value.substr(9));
        std::string quoted = "'";
        for (char c : path) quoted += c == '\'' ? std::string("''") : std::string(1, c);
        group_sql = "COALESCE(json_extract(metadata, " + quoted + "'), '')";
      } else {
        return badRequest(
            "'group_by' must be model, provider, subject, team or metadata.KEY (got '" + value +
                "')",
            "group_by");
      }
      continue;
    }
    if (key == "bucket") {
      static const std::map<std::string, int64_t> kBuckets = {
          {"minute", 60000}, {"hour", 3600000}, {"day", 86400000}};
      auto it = kBuckets.find(value);
      if (it == kBuckets.end()) {
        return badRequest("'bucket' must be minute, hour or day (got '" + value + "')", "bucket");
      }
      bucket_name = value;
      bucket_ms = it->second;
      continue;
    }
    QueryAnswer err;
    bool known = false;
    if (!addFilter(key, value, &f, &known, &err)) return err;
    if (!known) {
      return badRequest(
          "unknown parameter '" + key + "' (known: group_by, bucket, " + kFilterNames + ")", key);
    }
    if (key == "from") has_from = true;
  }
  int64_t from_ms = now_ms - 86400000;  // default window: the last day
  if (!has_from) f.bindInt(" AND start_ms >= " + f.next(), from_ms);
  std::string sql = "SELECT " + group_sql +
                    ", start_ms, status, error_code, prompt_tokens, completion_tokens, cost_usd, "
                    "total_ms, ttft_ms FROM requests" +
                    f.where + " ORDER BY start_ms LIMIT 500000";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    return QueryAnswer{500,
                       std::string("{\"error\":{\"message\":\"analytics query failed\","
                                   "\"type\":\"server_error\",\"code\":null,\"param\":null}}")};
  }
  f.apply(st);
  std::map<std::string, Stats> groups;
  std::map<std::pair<int64_t, std::string>, Stats> series;
  auto add = [](Stats* s, sqlite3_stmt* row) {
    int status = sqlite3_column_int(row, 2);
    const unsigned char* code = sqlite3_column_text(row, 3);
    s->requests++;
    if (status >= 400 || (code && *code)) s->failures++;
    s->prompt_tokens += sqlite3_column_int64(row, 4);
    s->completion_tokens += sqlite3_column_int64(row, 5);
    s->cost += sqlite3_column_double(row, 6);
    if (sqlite3_column_type(row, 7) != SQLITE_NULL)
      s->latency.push_back(sqlite3_column_double(row, 7));
    if (sqlite3_column_type(row, 8) != SQLITE_NULL)
      s->ttft.push_back(sqlite3_column_double(row, 8));
  };
  while (sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* g = sqlite3_column_text(st, 0);
    std::string key = g ? reinterpret_cast<const char*>(g) : "";
    int64_t start = sqlite3_column_int64(st, 1);
    add(&groups[key], st);
    add(&series[{start - start % bucket_ms, key}], st);
  }
  sqlite3_finalize(st);
  cJSON* root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "group_by", group_by.c_str());
  cJSON_AddStringToObject(root, "bucket", bucket_name.c_str());
  cJSON_AddNumberToObject(root, "bucket_ms", static_cast<double>(bucket_ms));
  cJSON* gs = cJSON_AddArrayToObject(root, "groups");
  for (auto& [key, s] : groups) {
    cJSON* o = statsJson(&s);
    cJSON_AddItemToObject(o, "key", cJSON_CreateString(key.c_str()));
    cJSON_AddItemToArray(gs, o);
  }
  cJSON* ss = cJSON_AddArrayToObject(root, "series");
  for (auto& [k, s] : series) {
    cJSON* o = statsJson(&s);
    cJSON_AddNumberToObject(o, "bucket_start_ms", static_cast<double>(k.first));
    cJSON_AddItemToObject(o, "key", cJSON_CreateString(k.second.c_str()));
    cJSON_AddItemToArray(ss, o);
  }
  return jsonAnswer(root);
}

}  // namespace

bool answerQuery(sqlite3* db, const sluice_sink_query& q, int64_t now_ms, QueryAnswer* out) {
  std::string_view name = sv(q.name);
  if (name == "requests") {
    *out = requests(db, q);
  } else if (name == "request") {
    *out = oneRequest(db, q);
  } else if (name == "analytics") {
    *out = analytics(db, q, now_ms);
  } else {
    return false;
  }
  return true;
}

}  // namespace sluice::sqlite_sink

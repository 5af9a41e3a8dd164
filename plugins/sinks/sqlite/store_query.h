// The admin reads the sqlite sink answers: "requests" (a filtered page of
// summaries, newest first), "request" (one whole record) and "analytics"
// (grouped totals and latency percentiles, overall and per time bucket).
#pragma once

#include <sqlite3.h>

#include <string>

#include "sluice/plugin.h"

namespace sluice::sqlite_sink {

struct QueryAnswer {
  int status = 200;
  std::string body;  // JSON
};

// Returns false when `q` names a query this store does not serve.
// `db` has the table `requests` (request_table.h).
bool answerQuery(sqlite3* db, const sluice_sink_query& q, int64_t now_ms, QueryAnswer* out);

}  // namespace sluice::sqlite_sink

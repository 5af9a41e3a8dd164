// `requests` on a connection to a request log: an eponymous virtual table
// that reads the records out of `request_blocks` (record_block.h) with the
// columns the table of earlier versions had (seq, id, start_ms, ...,
// request_body, response_body), plus the hidden column `record` (the whole
// record JSON of a row the first layout wrote, else NULL).
//
// Constraints on seq (=, <, <=, >, >=) and start_ms (<, <=, >, >=) pick the
// blocks to read, and ORDER BY seq (either way) is produced as the blocks
// are walked; SQLite checks every constraint again on the rows it gets.
#pragma once

#include <sqlite3.h>

namespace sluice::sqlite_sink {

// Registers the module on `db` (nothing is written to the file).
int registerRequestsTable(sqlite3* db);

}  // namespace sluice::sqlite_sink

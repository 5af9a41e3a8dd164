// Request records as ClickHouse rows: the table's DDL and one JSONEachRow
// line per record. Types stay within what ClickHouse has had since 18.x
// (no Map, no DateTime64): metadata and the whole record are JSON strings.
#pragma once

#include <string>

#include "sluice/plugin.h"

namespace sluice::clickhouse_sink {

std::string createTableSql(const std::string& database, const std::string& table);
void appendRow(const sluice_record& r, std::string* out);

}  // namespace sluice::clickhouse_sink

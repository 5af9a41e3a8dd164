// A VFS shim that gathers a connection's writes to its WAL file into one
// write per transaction. SQLite writes every WAL frame as two calls (its
// 24-byte header, then the page), so a commit of 40 pages is 80 write
// syscalls; through the shim it is one. The frames of a transaction are held
// in memory and written when the commit frame's page arrives (a frame
// header with a non-zero database size marks the commit), before that write
// returns: an error still fails the commit, and no reader can be told of
// frames that are not in the file, since SQLite publishes them only after.
// Any other use of the file (read, sync, size, truncate, close) writes what
// is held first. Files other than WAL files are the wrapped VFS's own.
#pragma once

#include <sqlite3.h>

namespace sluice::sqlite_sink {

// Registers (once) and names the shim over the default VFS, for
// sqlite3_open_v2; null when it cannot be registered.
const char* walGatheringVfs();

// Registers a shim called `name` over `root` (tests wrap a VFS of their own).
// The shim lives for the process. Null on failure.
sqlite3_vfs* registerWalGatheringVfs(const char* name, sqlite3_vfs* root);

}  // namespace sluice::sqlite_sink

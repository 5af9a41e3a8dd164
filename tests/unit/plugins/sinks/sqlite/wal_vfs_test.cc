// The WAL-gathering VFS shim over a recording VFS: one WAL write per commit
// (of less than 124 KB) once the WAL has begun,
// readers on other connections see every commit as it returns, a failed
// write fails the commit and leaves the file whole, and a transaction larger
// than what the shim holds, or one that spills pages before its commit,
// is written whole.
#include "wal_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstring>
#include <string>

#include "support/temp_dir.h"

namespace sluice::testing {
namespace {

// A VFS over the default one that counts the writes to WAL files and fails
// them on demand, as a full disk would.
struct Recorder {
  int wal_writes = 0;
  bool fail_wal_writes = false;
};
Recorder recorder;

struct RecordedFile {
  sqlite3_file base;
  sqlite3_file* real;
};
constexpr size_t kRealOffset = (sizeof(RecordedFile) + 7) & ~size_t{7};
sqlite3_vfs* defaultVfs() { return sqlite3_vfs_find("unix"); }
sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<RecordedFile*>(f)->real; }

int recWrite(sqlite3_file* f, const void* data, int amt, sqlite3_int64 off) {
  recorder.wal_writes++;
  if (recorder.fail_wal_writes) return SQLITE_FULL;
  return real(f)->pMethods->xWrite(real(f), data, amt, off);
}
int recClose(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
int recRead(sqlite3_file* f, void* out, int amt, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), out, amt, off);
}
int recTruncate(sqlite3_file* f, sqlite3_int64 n) {
  return real(f)->pMethods->xTruncate(real(f), n);
}
int recSync(sqlite3_file* f, int flags) { return real(f)->pMethods->xSync(real(f), flags); }
int recSize(sqlite3_file* f, sqlite3_int64* n) { return real(f)->pMethods->xFileSize(real(f), n); }
int recLock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int recUnlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int recReserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int recControl(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int recSector(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int recDevice(sqlite3_file* f) { return real(f)->pMethods->xDeviceCharacteristics(real(f)); }
const sqlite3_io_methods kRecordedMethods = {
    .iVersion = 1,
    .xClose = recClose,
    .xRead = recRead,
    .xWrite = recWrite,
    .xTruncate = recTruncate,
    .xSync = recSync,
    .xFileSize = recSize,
    .xLock = recLock,
    .xUnlock = recUnlock,
    .xCheckReservedLock = recReserved,
    .xFileControl = recControl,
    .xSectorSize = recSector,
    .xDeviceCharacteristics = recDevice,
    .xShmMap = nullptr,
    .xShmLock = nullptr,
    .xShmBarrier = nullptr,
    .xShmUnmap = nullptr,
    .xFetch = nullptr,
    .xUnfetch = nullptr,
};

int recOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out) {
  sqlite3_vfs* root = defaultVfs();
  if (!(flags & SQLITE_OPEN_WAL)) return root->xOpen(root, name, f, flags, out);
  auto* r = reinterpret_cast<RecordedFile*>(f);
  r->base.pMethods = nullptr;
  r->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  r->real->pMethods = nullptr;
  int rc = root->xOpen(root, name, r->real, flags, out);
  if (r->real->pMethods) r->base.pMethods = &kRecordedMethods;
  return rc;
}

// The recording VFS and the shim over it, registered once.
const char* shimOverRecorder() {
  static const char* name = [] {
    static sqlite3_vfs rec = *defaultVfs();
    rec.zName = "test-recorder";
    rec.pNext = nullptr;
    rec.szOsFile = static_cast<int>(kRealOffset) + defaultVfs()->szOsFile;
    rec.xOpen = recOpen;
    if (sqlite3_vfs_register(&rec, 0) != SQLITE_OK) return static_cast<const char*>(nullptr);
    sqlite3_vfs* shim = sluice::sqlite_sink::registerWalGatheringVfs("test-gathering", &rec);
    return shim ? shim->zName : nullptr;
  }();
  return name;
}

class WalGathering : public ::testing::Test {
 protected:
  void SetUp() override {
    recorder = Recorder{};
    ASSERT_NE(shimOverRecorder(), nullptr);
    path_ = dir_.path() + "/t.db";
  }
  void TearDown() override {
    if (writer_) sqlite3_close(writer_);
    if (reader_) sqlite3_close(reader_);
  }
  sqlite3* open(const char* vfs) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs),
              SQLITE_OK);
    return db;
  }
  void openWriter(const char* vfs, const char* extra = "") {
    writer_ = open(vfs);
    ASSERT_EQ(exec(writer_, std::string("PRAGMA page_size=4096; PRAGMA journal_mode=WAL; ") +
                                "PRAGMA synchronous=NORMAL; PRAGMA wal_autocheckpoint=0; " + extra +
                                "CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, b "
                                "BLOB);"),
              SQLITE_OK);
  }
  static int exec(sqlite3* db, const std::string& sql) {
    return sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
  }
  static int64_t scalar(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    int64_t v = -1;
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  }
  static std::string text(sqlite3* db, const char* sql) {
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, sql, -1, &st, nullptr);
    std::string v;
    if (sqlite3_step(st) == SQLITE_ROW)
      v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return v;
  }
  // One transaction of `rows` rows of `bytes`-byte blobs, from row `first`.
  int insert(int first, int rows, int bytes) {
    return exec(writer_, "BEGIN; WITH RECURSIVE s(i) AS (SELECT " + std::to_string(first) +
                             " UNION ALL SELECT i + 1 FROM s WHERE i < " +
                             std::to_string(first + rows - 1) +
                             ") INSERT INTO t SELECT i, randomblob(" + std::to_string(bytes) +
                             ") FROM s; COMMIT;");
  }

  TempDir dir_;
  std::string path_;
  sqlite3* writer_ = nullptr;
  sqlite3* reader_ = nullptr;
};

TEST_F(WalGathering, WritesACommitOnceWhereSqliteWritesEachFrameTwice) {
  openWriter("test-recorder");
  recorder.wal_writes = 0;
  ASSERT_EQ(insert(1, 40, 1000), SQLITE_OK);
  int plain = recorder.wal_writes;
  EXPECT_GE(plain, 2 * 10) << "40 KB of rows fill ten pages or more, two writes each";
  ASSERT_EQ(sqlite3_close(writer_), SQLITE_OK);

  // The first commit into a new WAL writes and syncs its header on its
  // own, as SQLite requires; the frames follow in one write.
  openWriter("test-gathering");
  recorder.wal_writes = 0;
  ASSERT_EQ(insert(41, 1, 10), SQLITE_OK);
  EXPECT_EQ(recorder.wal_writes, 2);
  recorder.wal_writes = 0;
  ASSERT_EQ(insert(42, 40, 1000), SQLITE_OK);
  EXPECT_EQ(recorder.wal_writes, 1);
  recorder.wal_writes = 0;
  ASSERT_EQ(insert(82, 1, 10), SQLITE_OK);
  EXPECT_EQ(recorder.wal_writes, 1);
  EXPECT_EQ(scalar(writer_, "SELECT count(*) FROM t"), 82);
}

TEST_F(WalGathering, ReadersSeeEveryCommitWhenItReturns) {
  openWriter("test-gathering");
  reader_ = open(nullptr);
  for (int i = 0; i < 20; i++) {
    ASSERT_EQ(insert(1 + i * 30, 30, 700), SQLITE_OK);
    ASSERT_EQ(scalar(reader_, "SELECT count(*) FROM t"), (i + 1) * 30) << "after commit " << i;
    ASSERT_EQ(scalar(reader_, "SELECT max(n) FROM t"), (i + 1) * 30);
  }
  // The checkpoint reads the frames back from the WAL into the database.
  ASSERT_EQ(exec(writer_, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  ASSERT_EQ(sqlite3_close(writer_), SQLITE_OK);
  writer_ = nullptr;
  EXPECT_EQ(scalar(reader_, "SELECT count(*) FROM t"), 600);
  EXPECT_EQ(text(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(WalGathering, AFailedWriteFailsTheCommitAndLosesNothingCommitted) {
  openWriter("test-gathering");
  reader_ = open(nullptr);
  ASSERT_EQ(insert(1, 50, 500), SQLITE_OK);
  recorder.fail_wal_writes = true;
  EXPECT_EQ(insert(51, 50, 500), SQLITE_FULL);
  exec(writer_, "ROLLBACK");
  recorder.fail_wal_writes = false;
  EXPECT_EQ(scalar(writer_, "SELECT count(*) FROM t"), 50);
  EXPECT_EQ(scalar(reader_, "SELECT count(*) FROM t"), 50);
  ASSERT_EQ(insert(51, 50, 500), SQLITE_OK);
  EXPECT_EQ(scalar(reader_, "SELECT count(*) FROM t"), 100);
  ASSERT_EQ(sqlite3_close(writer_), SQLITE_OK);
  writer_ = open(nullptr);
  EXPECT_EQ(scalar(writer_, "SELECT count(*) FROM t"), 100);
  EXPECT_EQ(text(writer_, "PRAGMA integrity_check"), "ok");
}

TEST_F(WalGathering, ATransactionLargerThanItHoldsIsWrittenInParts) {
  // A cache that holds the whole transaction: its 6 MB of frames come at
  // commit, past the 4 MB the shim holds.
  openWriter("test-gathering", "PRAGMA cache_size=-20000; ");
  reader_ = open(nullptr);
  recorder.wal_writes = 0;
  ASSERT_EQ(insert(1, 3000, 2000), SQLITE_OK);
  // 124 KB a write at most (the unix VFS's limit is 128 KB), so about 50.
  EXPECT_GE(recorder.wal_writes, 6 * 1024 / 124);
  EXPECT_LE(recorder.wal_writes, 6 * 1024 / 100);
  EXPECT_EQ(scalar(reader_, "SELECT count(*) FROM t"), 3000);
  EXPECT_EQ(scalar(reader_, "SELECT sum(length(b)) FROM t"), 3000 * 2000);
  ASSERT_EQ(sqlite3_close(writer_), SQLITE_OK);
  writer_ = nullptr;
  EXPECT_EQ(text(reader_, "PRAGMA integrity_check"), "ok");
}

TEST_F(WalGathering, ATransactionThatSpillsIsWholeAfterItsCommit) {
  // A 100-page cache spills pages into the WAL mid-transaction, reads some
  // back and writes some again in place: each such use writes what is held.
  openWriter("test-gathering", "PRAGMA cache_size=100; ");
  reader_ = open(nullptr);
  ASSERT_EQ(insert(1, 3000, 2000), SQLITE_OK);
  ASSERT_EQ(exec(writer_, "BEGIN; UPDATE t SET b = randomblob(1500) WHERE n % 7 = 0; COMMIT;"),
            SQLITE_OK);
  EXPECT_EQ(scalar(reader_, "SELECT count(*) FROM t"), 3000);
  EXPECT_EQ(scalar(reader_, "SELECT sum(length(b)) FROM t"), 3000 * 2000 - 428 * 500);
  ASSERT_EQ(exec(writer_, "PRAGMA wal_checkpoint(TRUNCATE)"), SQLITE_OK);
  ASSERT_EQ(sqlite3_close(writer_), SQLITE_OK);
  writer_ = nullptr;
  EXPECT_EQ(text(reader_, "PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace sluice::testing

#include "wal_vfs.h"

#include <algorithm>
#include <new>
#include <string>

namespace sluice::sqlite_sink {
namespace {

constexpr int kFrameHeaderBytes = 24;
// Held bytes past this are written before more are taken: a transaction
// that spills more pages than this to the WAL still ends in one write.
constexpr size_t kMaxHeld = 4 << 20;

struct Shim {
  sqlite3_vfs vfs;
  sqlite3_vfs* root;
  std::string name;
};

sqlite3_vfs* rootOf(sqlite3_vfs* vfs) { return static_cast<Shim*>(vfs->pAppData)->root; }

// What a WAL file holds back: bytes from `at` on, not yet written.
struct Held {
  std::string bytes;
  sqlite3_int64 at = 0;
  bool commit_page_next = false;  // the last write was a commit frame's header
};

// The shim's part of a WAL file; the root VFS's file follows it, at
// kRealOffset, in the room SQLite allocates (the shim's szOsFile).
struct WalFile {
  sqlite3_file base;
  sqlite3_file* real;
  Held* held;
};
constexpr size_t kRealOffset = (sizeof(WalFile) + 7) & ~size_t{7};

WalFile* walOf(sqlite3_file* f) { return reinterpret_cast<WalFile*>(f); }
sqlite3_file* realOf(sqlite3_file* f) { return walOf(f)->real; }

// The unix VFS writes at most 128 KB - 1 per call (it masks the length to
// 17 bits), so what is held goes out in parts below that.
constexpr size_t kMaxWrite = 124 << 10;

int writeHeld(WalFile* w) {
  Held& h = *w->held;
  h.commit_page_next = false;
  int rc = SQLITE_OK;
  for (size_t done = 0; done < h.bytes.size() && rc == SQLITE_OK; done += kMaxWrite) {
    size_t n = std::min(kMaxWrite, h.bytes.size() - done);
    rc = w->real->pMethods->xWrite(w->real, h.bytes.data() + done, static_cast<int>(n),
                                   h.at + static_cast<sqlite3_int64>(done));
  }
  h.bytes.clear();
  return rc;
}

int walWrite(sqlite3_file* f, const void* data, int amt, sqlite3_int64 off) {
  WalFile* w = walOf(f);
  Held& h = *w->held;
  if (!h.bytes.empty() && (off != h.at + static_cast<sqlite3_int64>(h.bytes.size()) ||
                           h.bytes.size() + static_cast<size_t>(amt) > kMaxHeld)) {
    if (int rc = writeHeld(w); rc != SQLITE_OK) return rc;
  }
  if (h.bytes.empty()) h.at = off;
  h.bytes.append(static_cast<const char*>(data), static_cast<size_t>(amt));
  if (amt == kFrameHeaderBytes) {
    // Pages are 512 bytes or more and the WAL header is 32: a 24-byte write
    // is a frame header, whose bytes 4..7 are the database size after a
    // commit and zero in any other frame.
    const auto* b = static_cast<const unsigned char*>(data);
    h.commit_page_next = (b[4] | b[5] | b[6] | b[7]) != 0;
    return SQLITE_OK;
  }
  return h.commit_page_next ? writeHeld(w) : SQLITE_OK;
}

int walClose(sqlite3_file* f) {
  WalFile* w = walOf(f);
  int rc = writeHeld(w);
  int closed = w->real->pMethods->xClose(w->real);
  delete w->held;
  w->held = nullptr;
  return rc != SQLITE_OK ? rc : closed;
}

int walRead(sqlite3_file* f, void* out, int amt, sqlite3_int64 off) {
  if (int rc = writeHeld(walOf(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xRead(realOf(f), out, amt, off);
}

int walTruncate(sqlite3_file* f, sqlite3_int64 size) {
  if (int rc = writeHeld(walOf(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xTruncate(realOf(f), size);
}

int walSync(sqlite3_file* f, int flags) {
  if (int rc = writeHeld(walOf(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xSync(realOf(f), flags);
}

int walFileSize(sqlite3_file* f, sqlite3_int64* size) {
  if (int rc = writeHeld(walOf(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xFileSize(realOf(f), size);
}

int walFileControl(sqlite3_file* f, int op, void* arg) {
  if (int rc = writeHeld(walOf(f)); rc != SQLITE_OK) return rc;
  return realOf(f)->pMethods->xFileControl(realOf(f), op, arg);
}

// The rest pass through to the root file.
int walLock(sqlite3_file* f, int level) { return realOf(f)->pMethods->xLock(realOf(f), level); }
int walUnlock(sqlite3_file* f, int level) { return realOf(f)->pMethods->xUnlock(realOf(f), level); }
int walCheckReservedLock(sqlite3_file* f, int* out) {
  return realOf(f)->pMethods->xCheckReservedLock(realOf(f), out);
}
int walSectorSize(sqlite3_file* f) { return realOf(f)->pMethods->xSectorSize(realOf(f)); }
int walDeviceCharacteristics(sqlite3_file* f) {
  return realOf(f)->pMethods->xDeviceCharacteristics(realOf(f));
}

// Version 1: the shared-memory and mmap methods are the main file's, never
// a WAL file's.
constexpr sqlite3_io_methods kWalMethods = {
    .iVersion = 1,
    .xClose = walClose,
    .xRead = walRead,
    .xWrite = walWrite,
    .xTruncate = walTruncate,
    .xSync = walSync,
    .xFileSize = walFileSize,
    .xLock = walLock,
    .xUnlock = walUnlock,
    .xCheckReservedLock = walCheckReservedLock,
    .xFileControl = walFileControl,
    .xSectorSize = walSectorSize,
    .xDeviceCharacteristics = walDeviceCharacteristics,
    .xShmMap = nullptr,
    .xShmLock = nullptr,
    .xShmBarrier = nullptr,
    .xShmUnmap = nullptr,
    .xFetch = nullptr,
    .xUnfetch = nullptr,
};

int shimOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* f, int flags, int* out) {
  sqlite3_vfs* root = rootOf(vfs);
  if (!(flags & SQLITE_OPEN_WAL)) return root->xOpen(root, name, f, flags, out);
  WalFile* w = walOf(f);
  w->base.pMethods = nullptr;
  w->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(f) + kRealOffset);
  w->real->pMethods = nullptr;
  w->held = new (std::nothrow) Held;
  if (!w->held) return SQLITE_NOMEM;
  int rc = root->xOpen(root, name, w->real, flags, out);
  // SQLite closes a file whose pMethods is set, even after a failed open.
  if (w->real->pMethods) {
    w->base.pMethods = &kWalMethods;
  } else {
    delete w->held;
    w->held = nullptr;
  }
  return rc;
}

int shimDelete(sqlite3_vfs* vfs, const char* name, int sync) {
  return rootOf(vfs)->xDelete(rootOf(vfs), name, sync);
}
int shimAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return rootOf(vfs)->xAccess(rootOf(vfs), name, flags, out);
}
int shimFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return rootOf(vfs)->xFullPathname(rootOf(vfs), name, n, out);
}
void* shimDlOpen(sqlite3_vfs* vfs, const char* path) {
  return rootOf(vfs)->xDlOpen(rootOf(vfs), path);
}
void shimDlError(sqlite3_vfs* vfs, int n, char* out) { rootOf(vfs)->xDlError(rootOf(vfs), n, out); }
void (*shimDlSym(sqlite3_vfs* vfs, void* lib, const char* sym))(void) {
  return rootOf(vfs)->xDlSym(rootOf(vfs), lib, sym);
}
void shimDlClose(sqlite3_vfs* vfs, void* lib) { rootOf(vfs)->xDlClose(rootOf(vfs), lib); }
int shimRandomness(sqlite3_vfs* vfs, int n, char* out) {
  return rootOf(vfs)->xRandomness(rootOf(vfs), n, out);
}
int shimSleep(sqlite3_vfs* vfs, int us) { return rootOf(vfs)->xSleep(rootOf(vfs), us); }
int shimCurrentTime(sqlite3_vfs* vfs, double* out) {
  return rootOf(vfs)->xCurrentTime(rootOf(vfs), out);
}
int shimGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return rootOf(vfs)->xGetLastError ? rootOf(vfs)->xGetLastError(rootOf(vfs), n, out) : 0;
}
int shimCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return rootOf(vfs)->xCurrentTimeInt64(rootOf(vfs), out);
}

}  // namespace

sqlite3_vfs* registerWalGatheringVfs(const char* name, sqlite3_vfs* root) {
  if (!root || !name) return nullptr;
  auto* shim = new Shim{};  // SQLite keeps pointers into it while it is registered
  shim->root = root;
  shim->name = name;
  sqlite3_vfs& v = shim->vfs;
  // Version 2 at most: the system-call hooks of version 3 are the root's own.
  v.iVersion = std::min(root->iVersion, 2);
  v.szOsFile = static_cast<int>(kRealOffset) + root->szOsFile;
  v.mxPathname = root->mxPathname;
  v.zName = shim->name.c_str();
  v.pAppData = shim;
  v.xOpen = shimOpen;
  v.xDelete = shimDelete;
  v.xAccess = shimAccess;
  v.xFullPathname = shimFullPathname;
  v.xDlOpen = shimDlOpen;
  v.xDlError = shimDlError;
  v.xDlSym = shimDlSym;
  v.xDlClose = shimDlClose;
  v.xRandomness = shimRandomness;
  v.xSleep = shimSleep;
  v.xCurrentTime = shimCurrentTime;
  v.xGetLastError = shimGetLastError;
  if (v.iVersion >= 2) v.xCurrentTimeInt64 = shimCurrentTimeInt64;
  if (sqlite3_vfs_register(&v, 0) != SQLITE_OK) {
    delete shim;
    return nullptr;
  }
  return &v;
}

const char* walGatheringVfs() {
  // Unregistered when the plugin is unloaded: SQLite must not keep a VFS
  // whose code is gone.
  static struct Registration {
    sqlite3_vfs* vfs = registerWalGatheringVfs("sluice-wal-gathering", sqlite3_vfs_find(nullptr));
    ~Registration() {
      if (!vfs) return;
      sqlite3_vfs_unregister(vfs);
      delete static_cast<Shim*>(vfs->pAppData);
    }
  } registration;
  return registration.vfs ? registration.vfs->zName : nullptr;
}

}  // namespace sluice::sqlite_sink

// The plugin loader. A descriptor comes from code we do not trust to match
// our headers, so every field is checked before it is used, in the order the
// ABI promises (version fields first: they say how to read the rest), and
// nothing past the descriptor's own struct_size is read.
#include "plugins/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <set>
#include <type_traits>

#include "plugins/semver.h"

namespace sluice::plugins {
namespace {

// Sizes of the ABI 1.0 structs, up to their last 1.0 field: what a plugin
// built against an older minor still provides once later minors append
// fields. The asserts catch a field appended without a minor bump.
constexpr size_t kDescriptorSize10 =
    offsetof(sluice_plugin_descriptor, vtable) + sizeof(const void*);
constexpr size_t kProviderVtableSize10 =
    offsetof(sluice_provider_vtable, local_cancel) + sizeof(void*);
constexpr size_t kRoutingVtableSize10 = offsetof(sluice_routing_vtable, order) + sizeof(void*);
constexpr size_t kGuardrailVtableSize10 = offsetof(sluice_guardrail_vtable, cancel) + sizeof(void*);
constexpr size_t kSinkVtableSize10 = offsetof(sluice_sink_vtable, flush) + sizeof(void*);
static_assert(SLUICE_ABI_MINOR > 0 || (sizeof(sluice_plugin_descriptor) == kDescriptorSize10 &&
                                       sizeof(sluice_provider_vtable) == kProviderVtableSize10 &&
                                       sizeof(sluice_routing_vtable) == kRoutingVtableSize10 &&
                                       sizeof(sluice_guardrail_vtable) == kGuardrailVtableSize10 &&
                                       sizeof(sluice_sink_vtable) == kSinkVtableSize10),
              "an ABI 1.0 struct changed: update the sizes above");

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxVersionLength = 64;

// Closes a handle unless it was kept.
class HandleGuard {
 public:
  explicit HandleGuard(void* handle) : handle_(handle) {}
  ~HandleGuard() {
    if (handle_) dlclose(handle_);
  }
  HandleGuard(const HandleGuard&) = delete;
  HandleGuard& operator=(const HandleGuard&) = delete;
  void* release() {
    void* h = handle_;
    handle_ = nullptr;
    return h;
  }

 private:
  void* handle_;
};

// Plugin names double as file names (<name>.so) and manifest keys.
bool validName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; });
}

std::string joinPath(const std::string& dir, const std::string& file) {
  if (dir.empty()) return file;
  return dir.back() == '/' ? dir + file : dir + "/" + file;
}

bool isRegularFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// dlerror() usually starts with the path it was given; the caller already
// names the file, so drop it and keep one line.
std::string dlopenReason(const std::string& dlpath) {
  const char* err = dlerror();
  std::string reason = err ? err : "cannot be loaded";
  if (reason.starts_with(dlpath + ": ")) reason.erase(0, dlpath.size() + 2);
  return printable(reason, 300);
}

// Reads a NUL-terminated string from the descriptor without running past
// `max` bytes. *too_long is set when no NUL came within max + 1 bytes.
std::string_view boundedString(const char* s, size_t max, bool* too_long) {
  size_t n = strnlen(s, max + 1);
  *too_long = n > max;
  return std::string_view(s, n > max ? max : n);
}

std::string abiString(unsigned major, unsigned minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

// Checks the kind's function table: long enough for ABI 1.0, and the
// functions the host calls unconditionally are present.
bool checkVtable(sluice_kind kind, const void* vtable, std::string* reason) {
  uint32_t size = *static_cast<const uint32_t*>(vtable);
  size_t need = 0;
  const char* missing = nullptr;
  switch (kind) {
    case SLUICE_KIND_PROVIDER: {
      need = kProviderVtableSize10;
      auto* v = static_cast<const sluice_provider_vtable*>(vtable);
      if (size >= need) {
        missing = !v->create          ? "create"
                  : !v->destroy       ? "destroy"
                  : !v->build_request ? "build_request"
                                      : nullptr;
      }
      break;
    }
    case SLUICE_KIND_ROUTING: {
      need = kRoutingVtableSize10;
      auto* v = static_cast<const sluice_routing_vtable*>(vtable);
      if (size >= need) {
        missing = !v->create ? "create" : !v->destroy ? "destroy" : !v->order ? "order" : nullptr;
      }
      break;
    }
    case SLUICE_KIND_GUARDRAIL: {
      need = kGuardrailVtableSize10;
      auto* v = static_cast<const sluice_guardrail_vtable*>(vtable);
      if (size >= need) {
        missing = !v->create ? "create" : !v->destroy ? "destroy" : !v->check ? "check" : nullptr;
      }
      break;
    }
    case SLUICE_KIND_SINK: {
      need = kSinkVtableSize10;
      auto* v = static_cast<const sluice_sink_vtable*>(vtable);
      if (size >= need) {
        missing = !v->create ? "create" : !v->destroy ? "destroy" : !v->write ? "write" : nullptr;
      }
      break;
    }
  }
  if (size < need) {
    *reason = std::string(kindName(kind)) + " function table too short (struct_size " +
              std::to_string(size) + ", ABI 1.0 needs " + std::to_string(need) + ")";
    return false;
  }
  if (missing) {
    *reason = std::string(kindName(kind)) + " function table has no " + missing + "()";
    return false;
  }
  return true;
}

}  // namespace

const char* kindDir(sluice_kind kind) {
  switch (kind) {
    case SLUICE_KIND_PROVIDER: return "providers";
    case SLUICE_KIND_ROUTING: return "routing";
    case SLUICE_KIND_GUARDRAIL: return "guardrails";
    case SLUICE_KIND_SINK: return "sinks";
  }
  return "";
}

const char* kindName(sluice_kind kind) {
  switch (kind) {
    case SLUICE_KIND_PROVIDER: return "provider";
    case SLUICE_KIND_ROUTING: return "routing";
    case SLUICE_KIND_GUARDRAIL: return "guardrail";
    case SLUICE_KIND_SINK: return "sink";
  }
  return "unknown";
}

Registry::Registry(std::vector<std::string> search_dirs) : dirs_(std::move(search_dirs)) {}

Registry::~Registry() {
  by_name_.clear();
  for (auto it = handles_.rbegin(); it != handles_.rend(); ++it) dlclose(*it);
}

std::vector<std::string> Registry::defaultSearchDirs() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return {};
  std::string dir(exe, static_cast<size_t>(n));
  size_t slash = dir.rfind('/');
  if (slash == std::string::npos) return {};
  dir.resize(slash);
  std::vector<std::string> out;
  for (const std::string& candidate : {dir + "/plugins", dir + "/../lib/sluice/plugins"}) {
    char real[PATH_MAX];
    struct stat st;
    if (!realpath(candidate.c_str(), real) || stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
      continue;
    }
    if (std::find(out.begin(), out.end(), real) == out.end()) out.emplace_back(real);
  }
  return out;
}

const Plugin* Registry::loadPath(const std::string& path, const std::string& expected_name,
                                 const std::string& version_constraint, std::string* error) {
  return open(path, expected_name, version_constraint, error);
}

const Plugin* Registry::open(const std::string& path, const std::string& expected_name,
                             const std::string& version_constraint, std::string* error) {
  auto refuse = [&](const std::string& reason) -> const Plugin* {
    if (error) *error = path + ": " + reason;
    return nullptr;
  };

  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT || errno == ENOTDIR) return refuse("no such file");
    return refuse(strerror(errno));
  }

  // A bare file name would make dlopen search the library path instead.
  std::string dlpath = path.find('/') == std::string::npos ? "./" + path : path;
  dlerror();
  void* h = dlopen(dlpath.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!h) return refuse(dlopenReason(dlpath));
  HandleGuard guard(h);

  dlerror();
  void* sym = dlsym(h, SLUICE_PLUGIN_ENTRY_SYMBOL);
  if (!sym) return refuse("missing symbol " SLUICE_PLUGIN_ENTRY_SYMBOL);
  auto entry = reinterpret_cast<sluice_plugin_entry_fn>(sym);
  const sluice_plugin_descriptor* d = entry();
  if (!d) return refuse(SLUICE_PLUGIN_ENTRY_SYMBOL " returned NULL");

  if (d->magic != SLUICE_PLUGIN_MAGIC) {
    char buf[96];
    snprintf(buf, sizeof buf, "bad magic 0x%08x, expected 0x%08x", static_cast<unsigned>(d->magic),
             static_cast<unsigned>(SLUICE_PLUGIN_MAGIC));
    return refuse(std::string(buf) + " — not a Sluice plugin");
  }
  const std::string host_abi = abiString(SLUICE_ABI_MAJOR, SLUICE_ABI_MINOR);
  if (d->abi_major != SLUICE_ABI_MAJOR) {
    return refuse("built for ABI " + std::to_string(d->abi_major) + ".x, this sluice speaks " +
                  host_abi);
  }
  if (d->abi_minor > SLUICE_ABI_MINOR) {
    return refuse("built for ABI " + abiString(d->abi_major, d->abi_minor) +
                  ", newer than this sluice's " + host_abi + "; upgrade sluice");
  }
  if (d->struct_size < kDescriptorSize10) {
    return refuse("descriptor too short (struct_size " + std::to_string(d->struct_size) +
                  ", ABI 1.0 needs " + std::to_string(kDescriptorSize10) + ")");
  }

  // Read the kind as a plain integer: an out-of-range enum value is undefined.
  std::underlying_type_t<sluice_kind> raw_kind;
  memcpy(&raw_kind, &d->kind, sizeof raw_kind);
  if (raw_kind < SLUICE_KIND_PROVIDER || raw_kind > SLUICE_KIND_SINK) {
    return refuse("unknown plugin kind " + std::to_string(raw_kind));
  }
  const auto kind = static_cast<sluice_kind>(raw_kind);

  if (!d->name || !d->name[0]) return refuse("plugin has no name");
  bool too_long = false;
  std::string_view name_view = boundedString(d->name, kMaxNameLength, &too_long);
  if (too_long) {
    return refuse("plugin name is longer than " + std::to_string(kMaxNameLength) + " characters");
  }
  if (!validName(name_view)) {
    return refuse("bad plugin name '" + printable(name_view) +
                  "' (letters, digits, '.', '_' and '-', starting with a letter or digit)");
  }
  const std::string name(name_view);

  if (!d->version || !d->version[0]) return refuse("plugin '" + name + "' has no version");
  std::string_view version_view = boundedString(d->version, kMaxVersionLength, &too_long);
  std::string why;
  if (too_long || !parseVersion(version_view, nullptr, &why)) {
    if (too_long) {
      why = "version is longer than " + std::to_string(kMaxVersionLength) + " characters";
    }
    return refuse("plugin '" + name + "': " + why);
  }
  const std::string version(version_view);

  if (!d->vtable) return refuse("plugin '" + name + "' has no function table");
  if (!checkVtable(kind, d->vtable, &why)) return refuse("plugin '" + name + "': " + why);

  if (!versionSatisfies(version, version_constraint, &why)) return refuse(why);

  if (!expected_name.empty() && name != expected_name) {
    return refuse("plugin is named '" + name + "', expected '" + printable(expected_name) + "'");
  }

  auto existing = by_name_.find({kind, name});
  if (existing != by_name_.end()) {
    // The same file again (by another path or a symlink) is the same plugin:
    // dlopen handed back the same handle, hence the same descriptor, and the
    // guard drops the extra reference.
    if (existing->second->descriptor == d) return existing->second.get();
    return refuse("a " + std::string(kindName(kind)) + " plugin named '" + name +
                  "' is already loaded from " + existing->second->path);
  }

  auto plugin = std::make_unique<Plugin>();
  plugin->name = name;
  plugin->version = version;
  plugin->path = path;
  plugin->kind = kind;
  plugin->descriptor = d;
  handles_.push_back(guard.release());
  const Plugin* out = plugin.get();
  by_name_.emplace(Key{kind, name}, std::move(plugin));
  return out;
}

// Names are per kind: a guardrail and a sink may both be "webhook". Built-in
// plugins sit in <dir>/<kind dir>/<name>.so ("guardrails/webhook.so"); a
// folder of hand-placed plugins may hold them flat, as <dir>/<name>.so.
const Plugin* Registry::find(sluice_kind kind, const std::string& name, std::string* error) {
  auto fail = [&](const std::string& message) -> const Plugin* {
    if (error) *error = message;
    return nullptr;
  };
  auto mismatch = [&](const Plugin* p) {
    return fail("'" + name + "' is a " + kindName(p->kind) + " plugin, not a " + kindName(kind));
  };
  if (!validName(name)) return fail("bad plugin name '" + printable(name) + "'");

  auto it = by_name_.find({kind, name});
  if (it != by_name_.end()) return it->second.get();
  for (const std::string& dir : dirs_) {
    for (const std::string& path : {joinPath(joinPath(dir, kindDir(kind)), name + ".so"),
                                    joinPath(dir, name + ".so")}) {
      if (!isRegularFile(path)) continue;
      const Plugin* p = open(path, name, "", error);
      if (!p) return nullptr;
      return p->kind == kind ? p : mismatch(p);
    }
  }
  for (const auto& [key, plugin] : by_name_) {
    if (key.second == name) return mismatch(plugin.get());
  }
  std::string searched;
  for (const std::string& dir : dirs_) searched += (searched.empty() ? "" : ", ") + dir;
  if (searched.empty()) searched = "no plugin directories";
  return fail(std::string("no ") + kindName(kind) + " plugin named '" + name +
              "' (searched: " + searched + ")");
}

std::vector<const Plugin*> Registry::loadAllBuiltins(std::vector<std::string>* errors) {
  std::vector<const Plugin*> out;
  std::set<std::string> seen;  // a file in an earlier dir shadows later ones, as in find()
  for (const std::string& dir : dirs_) {
    for (const char* sub : {"providers", "routing", "guardrails", "sinks", ""}) {
      std::string folder = *sub ? joinPath(dir, sub) : dir;
      std::vector<std::string> files;
      if (DIR* d = opendir(folder.c_str())) {
        while (dirent* e = readdir(d)) {
          std::string file = e->d_name;
          if (file.size() > 3 && file.ends_with(".so")) files.push_back(file);
        }
        closedir(d);
      }
      std::sort(files.begin(), files.end());
      for (const std::string& file : files) {
        std::string path = joinPath(folder, file);
        std::string stem = file.substr(0, file.size() - 3);
        if (!isRegularFile(path) || !seen.insert(std::string(sub) + "/" + stem).second) continue;
        std::string error;
        if (const Plugin* p = open(path, stem, "", &error)) {
          out.push_back(p);
        } else if (errors) {
          errors->push_back(error);
        }
      }
    }
  }
  return out;
}

std::vector<const Plugin*> Registry::loaded() const {
  std::vector<const Plugin*> out;
  out.reserve(by_name_.size());
  for (const auto& [key, plugin] : by_name_) out.push_back(plugin.get());
  std::stable_sort(out.begin(), out.end(),
                   [](const Plugin* a, const Plugin* b) { return a->name < b->name; });
  return out;
}

}  // namespace sluice::plugins

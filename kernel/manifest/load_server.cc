// server:, admin: and plugins:.
#include <arpa/inet.h>

#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

// "host:port" with an IP literal host; IPv6 in brackets: "[::1]:8080".
bool parseListen(const std::string& text, ListenAddr* out) {
  size_t colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  std::string host = text.substr(0, colon);
  std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return false;
  int p = std::stoi(port);
  if (p > 65535) return false;
  unsigned char buf[sizeof(struct in6_addr)];
  if (host.front() == '[') {
    if (host.size() < 3 || host.back() != ']') return false;
    host = host.substr(1, host.size() - 2);
    if (inet_pton(AF_INET6, host.c_str(), buf) != 1) return false;
  } else if (inet_pton(AF_INET, host.c_str(), buf) != 1) {
    return false;
  }
  out->host = host;
  out->port = static_cast<uint16_t>(p);
  return true;
}

bool readListen(Context& ctx, const Field& f, ListenAddr* out) {
  std::string text;
  if (!readString(ctx, f, &text)) return false;
  if (parseListen(text, out)) return true;
  ctx.error(f.mark, f.path,
            "invalid listen address '" + rawText(f.node) +
                "' (expected IP:PORT such as 127.0.0.1:8080 or [::1]:8080)");
  return false;
}

bool isLoopback(const std::string& host) { return host == "::1" || host.rfind("127.", 0) == 0; }

void loadListenList(Context& ctx, const Field& f, std::vector<ListenAddr>* out) {
  if (!f.given()) return;
  std::vector<ListenAddr> addrs;
  bool ok = true;
  std::map<std::string, Mark> seen;
  auto one = [&](const Field& item) {
    ListenAddr a;
    if (!readListen(ctx, item, &a)) {
      ok = false;
      return;
    }
    if (!checkUnique(ctx, &seen, "listen address", rawText(item.node), item)) ok = false;
    addrs.push_back(a);
  };
  if (f.node.IsScalar()) {
    one(f);
  } else if (!forEachItem(ctx, f, [&](const Field& item, size_t) { one(item); })) {
    return;
  }
  if (ok && addrs.empty()) ctx.error(f.mark, f.path, "must list at least one address");
  if (ok && !addrs.empty()) *out = std::move(addrs);
}

void loadBasePaths(Context& ctx, const Field& f, std::vector<std::string>* out) {
  if (!f.given()) return;
  std::vector<std::string> paths;
  bool ok = true;
  std::map<std::string, Mark> seen;
  bool shape = forEachItem(ctx, f, [&](const Field& item, size_t) {
    std::string p;
    if (!readString(ctx, item, &p)) {
      ok = false;
    } else if (p.size() < 2 || p.front() != '/' || p.back() == '/') {
      ctx.error(item.mark, item.path, "a base path must start with '/' and not end with '/'");
      ok = false;
    } else if (!checkUnique(ctx, &seen, "base path", p, item)) {
      ok = false;
    } else {
      paths.push_back(p);
    }
  });
  if (!shape || !ok) return;
  if (paths.empty()) return ctx.error(f.mark, f.path, "must list at least one base path");
  *out = std::move(paths);
}

void loadTls(Context& ctx, const Field& f, std::optional<TlsConfig>* out) {
  if (!f.given()) return;
  MapReader m(ctx, f);
  if (!m.valid()) return;
  TlsConfig tls;
  tls.mark = ctx.mark(f.mark);
  bool ok = m.str("cert", &tls.cert, true);
  ok = m.str("key", &tls.key, true) && ok;
  m.finish();
  if (!ok) return;
  tls.cert = ctx.resolvePath(tls.cert);
  tls.key = ctx.resolvePath(tls.key);
  *out = tls;
}

void loadLimits(Context& ctx, const Field& f, Limits* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return;
  m.integral("max_body_bytes", &out->max_body_bytes, 1, 1ULL << 40);
  m.integral("max_header_bytes", &out->max_header_bytes, 1024, 1U << 20);
  m.integral("header_timeout_ms", &out->header_timeout_ms, 1, kMaxTimeoutMs);
  m.integral("idle_timeout_ms", &out->idle_timeout_ms, 1, kMaxTimeoutMs);
  m.integral("drain_timeout_ms", &out->drain_timeout_ms, 0, kMaxTimeoutMs);
  m.finish();
}

void loadUpstream(Context& ctx, const Field& f, UpstreamDefaults* out) {
  MapReader m(ctx, f);
  if (!m.valid()) return;
  m.integral("connect_timeout_ms", &out->connect_timeout_ms, 1, kMaxTimeoutMs);
  m.integral("first_byte_timeout_ms", &out->first_byte_timeout_ms, 1, kMaxTimeoutMs);
  m.integral("total_timeout_ms", &out->total_timeout_ms, 1, kMaxTimeoutMs);
  if (m.str("ca_file", &out->ca_file)) out->ca_file = ctx.resolvePath(out->ca_file);
  m.boolean("verify_tls", &out->verify_tls);
  m.finish();
}

// auto (one per core, stored as 0) or a count.
void loadWorkers(Context& ctx, const Field& f, int* out) {
  if (!f.present) return;
  std::string text;
  bool refs = false;
  if (f.node.IsScalar() && !ctx.scalarText(f.node, f.mark, f.path, &text, &refs)) return;
  int64_t n = 0;
  if (f.node.IsScalar() && text == "auto") {
    *out = 0;
  } else if (!f.node.IsScalar() || !parseInt(text, &n)) {
    ctx.error(f.mark, f.path,
              "expected auto or an integer, got " +
                  (f.node.IsScalar() && !refs ? "'" + text + "'" : describe(f.node)));
  } else if (readInt(ctx, f, 1, 1024, &n)) {
    *out = static_cast<int>(n);
  }
}

}  // namespace

void loadServer(Context& ctx, MapReader& root, ServerConfig* out) {
  MapReader m(ctx, root.field("server"));
  if (!m.valid()) return;
  loadListenList(ctx, m.field("listen"), &out->listen);
  loadWorkers(ctx, m.field("workers"), &out->workers);
  loadBasePaths(ctx, m.field("base_paths"), &out->base_paths);
  loadTls(ctx, m.field("tls"), &out->tls);
  loadLimits(ctx, m.field("limits"), &out->limits);
  loadUpstream(ctx, m.field("upstream"), &out->upstream);
  m.finish();
}

void loadAdmin(Context& ctx, MapReader& root, AdminConfig* out) {
  MapReader m(ctx, root.field("admin"));
  if (!m.valid()) return;
  Field listen = m.field("listen");
  ListenAddr addr;
  if (listen.present && readListen(ctx, listen, &addr)) out->listen = addr;
  m.str("token", &out->token);
  if (out->listen && out->token.empty() && !isLoopback(out->listen->host)) {
    ctx.error(listen.mark, listen.path,
              "the admin listener must be on a loopback address when admin.token is not set");
  }
  m.finish();
}

void loadPluginRefs(Context& ctx, MapReader& root, std::vector<PluginRef>* out) {
  std::map<std::string, Mark> seen;
  forEachItem(ctx, root.field("plugins"), [&](const Field& item, size_t) {
    MapReader m(ctx, item);
    if (!m.valid()) return;
    PluginRef ref;
    ref.mark = ctx.mark(item.mark);
    Field name = m.field("name");
    bool ok = !name.present || readString(ctx, name, &ref.name);
    if (m.str("path", &ref.path)) ref.path = ctx.resolvePath(ref.path);
    m.str("version", &ref.version);
    m.finish();
    if (ok && ref.name.empty() && ref.path.empty()) {
      return ctx.error(item.mark, item.path, "a plugin entry needs a name or a path");
    }
    if (!ref.name.empty() && !checkUnique(ctx, &seen, "plugin name", ref.name, name)) return;
    if (ok) out->push_back(ref);
  });
}

}  // namespace sluice::manifest

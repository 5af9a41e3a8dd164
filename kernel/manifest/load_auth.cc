// auth: teams, users and virtual accounts.
#include <algorithm>
#include <cctype>

#include "manifest/sections.h"

namespace sluice::manifest {
namespace {

// Reads a SHA-256 hex digest, normalised to lower case. Two accounts may
// not share a token: the token alone names the caller.
bool readTokenHash(Context& ctx, MapReader& m, std::map<std::string, Mark>* seen,
                   std::string* out) {
  Field f = m.require("token_sha256");
  std::string hex;
  if (!f.present || !readString(ctx, f, &hex)) return false;
  bool valid = hex.size() == 64 && std::all_of(hex.begin(), hex.end(), [](unsigned char c) {
                 return std::isxdigit(c) != 0;
               });
  if (!valid) {
    ctx.error(f.mark, f.path,
              "token_sha256 must be 64 hexadecimal characters (the SHA-256 of the token; "
              "`sluice token create` prints it)");
    return false;
  }
  std::transform(hex.begin(), hex.end(), hex.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  auto [it, inserted] = seen->emplace(hex, ctx.mark(f.mark));
  if (!inserted) {
    ctx.error(f.mark, f.path,
              "the same token_sha256 is already used at line " + std::to_string(it->second.line));
    return false;
  }
  *out = hex;
  return true;
}

void readTeamRef(Context& ctx, MapReader& m, const Catalog& catalog, std::string* out) {
  Field f = m.field("team");
  if (!f.present || !readString(ctx, f, out)) return;
  if (!catalog.teams.count(*out)) {
    ctx.error(
        f.mark, f.path,
        "unknown team '" + rawText(f.node) + "'" + suggest(*out, catalog.visible(catalog.teams)));
  }
}

void readModelPatterns(Context& ctx, MapReader& m, std::vector<std::string>* out) {
  forEachItem(ctx, m.field("models"), [&](const Field& item, size_t) {
    std::string pattern;
    if (!readString(ctx, item, &pattern)) return;
    if (pattern.empty()) return ctx.error(item.mark, item.path, "model must not be empty");
    out->push_back(pattern);
  });
}

}  // namespace

void loadAuth(Context& ctx, MapReader& root, Config* cfg, Catalog* catalog) {
  Field section = root.field("auth");
  if (!section.present) return;
  MapReader m(ctx, section);
  if (!m.valid()) return;
  AuthConfig auth;
  catalog->has_auth = true;

  std::map<std::string, Mark> team_names;
  forEachItem(ctx, m.field("teams"), [&](const Field& item, size_t) {
    MapReader t(ctx, item);
    if (!t.valid()) return;
    Team team;
    Field name = t.require("name");
    bool ok = name.present && readString(ctx, name, &team.name);
    t.strList("members", &team.members);
    t.finish();
    if (!ok || !checkUnique(ctx, &team_names, "team", team.name, name)) return;
    catalog->remember(&catalog->teams, team.name, name);
    auth.teams.push_back(std::move(team));
  });

  std::map<std::string, Mark> hashes;
  std::map<std::string, Mark> emails;
  forEachItem(ctx, m.field("users"), [&](const Field& item, size_t) {
    MapReader u(ctx, item);
    if (!u.valid()) return;
    User user;
    Field email = u.require("email");
    bool ok = email.present && readString(ctx, email, &user.email);
    if (ok && user.email.find('@') == std::string::npos) {
      ctx.error(email.mark, email.path, "expected an e-mail address");
      ok = false;
    }
    if (ok) ok = checkUnique(ctx, &emails, "user", user.email, email);
    ok = readTokenHash(ctx, u, &hashes, &user.token_sha256) && ok;
    readModelPatterns(ctx, u, &user.models);
    readTeamRef(ctx, u, *catalog, &user.team);
    u.strMap("metadata", &user.metadata);
    u.finish();
    if (ok) auth.users.push_back(std::move(user));
  });

  std::map<std::string, Mark> accounts;
  forEachItem(ctx, m.field("virtual_accounts"), [&](const Field& item, size_t) {
    MapReader v(ctx, item);
    if (!v.valid()) return;
    VirtualAccount account;
    Field name = v.require("name");
    bool ok = name.present && readString(ctx, name, &account.name);
    if (ok) ok = checkUnique(ctx, &accounts, "virtual account", account.name, name);
    ok = readTokenHash(ctx, v, &hashes, &account.token_sha256) && ok;
    readTeamRef(ctx, v, *catalog, &account.team);
    readModelPatterns(ctx, v, &account.models);
    v.strMap("metadata", &account.metadata);
    v.finish();
    if (ok) auth.virtual_accounts.push_back(std::move(account));
  });
  m.finish();
  cfg->auth = std::move(auth);
}

}  // namespace sluice::manifest

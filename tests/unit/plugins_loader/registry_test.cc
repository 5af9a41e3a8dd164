#include "plugins/registry.h"

#include <dirent.h>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace sluice::plugins {
namespace {

namespace fs = std::filesystem;

const std::string kFixtures = std::string(SLUICE_BINARY_DIR) + "/fixtures";

std::string fixture(const std::string& name) { return kFixtures + "/" + name + ".so"; }

const std::string kHostAbi =
    std::to_string(SLUICE_ABI_MAJOR) + "." + std::to_string(SLUICE_ABI_MINOR);

// True while some handle still holds the object mapped.
bool isLoaded(const std::string& path) {
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (h) dlclose(h);
  return h != nullptr;
}

using sluice::testing::TempDir;

TEST(KindName, EveryKind) {
  EXPECT_STREQ(kindName(SLUICE_KIND_PROVIDER), "provider");
  EXPECT_STREQ(kindName(SLUICE_KIND_ROUTING), "routing");
  EXPECT_STREQ(kindName(SLUICE_KIND_GUARDRAIL), "guardrail");
  EXPECT_STREQ(kindName(SLUICE_KIND_SINK), "sink");
}

TEST(LoadPath, LoadsAValidPlugin) {
  const std::string path = fixture("good_guard");
  {
    Registry registry({});
    std::string error;
    const Plugin* p = registry.loadPath(path, "good-guard", "^1.2", &error);
    ASSERT_NE(p, nullptr) << error;
    EXPECT_EQ(error, "");
    EXPECT_EQ(p->name, "good-guard");
    EXPECT_EQ(p->version, "1.4.0");
    EXPECT_EQ(p->path, path);
    EXPECT_EQ(p->kind, SLUICE_KIND_GUARDRAIL);
    ASSERT_NE(p->vtable(), nullptr);

    auto* vt = static_cast<const sluice_guardrail_vtable*>(p->vtable());
    void* instance = nullptr;
    char err[64] = "";
    ASSERT_EQ(vt->create(nullptr, "{}", &instance, err, sizeof err), SLUICE_OK);
    sluice_guard_input in{};
    in.struct_size = sizeof in;
    in.hook = SLUICE_HOOK_LLM_INPUT;
    in.content = {"hello", 5};
    sluice_guard_result result{};
    result.verdict = SLUICE_VERDICT_FAIL;
    EXPECT_EQ(vt->check(instance, &in, &result), SLUICE_OK);
    EXPECT_EQ(result.verdict, SLUICE_VERDICT_PASS);
    vt->destroy(instance);
    EXPECT_TRUE(isLoaded(path));
  }
  EXPECT_FALSE(isLoaded(path)) << "the registry must dlclose what it opened";
}

struct Refusal {
  const char* fixture;
  std::string reason;
};

std::ostream& operator<<(std::ostream& os, const Refusal& r) { return os << r.fixture; }

class RefusalTest : public ::testing::TestWithParam<Refusal> {};

TEST_P(RefusalTest, OneLineNamingTheFileAndHandleClosed) {
  const std::string path = fixture(GetParam().fixture);
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath(path, "", "", &error), nullptr);
  EXPECT_EQ(error, path + ": " + GetParam().reason);
  EXPECT_FALSE(isLoaded(path));
  EXPECT_EQ(registry.loadPath(path, "", "", nullptr), nullptr);  // no error out-parameter
}

INSTANTIATE_TEST_SUITE_P(
    Fixtures, RefusalTest,
    ::testing::Values(
        Refusal{"no_entry", "missing symbol sluice_plugin_entry"},
        Refusal{"null_entry", "sluice_plugin_entry returned NULL"},
        Refusal{"bad_magic", "bad magic 0xdeadbeef, expected 0x534c5543 — not a Sluice plugin"},
        Refusal{"abi_major_next", "built for ABI " + std::to_string(SLUICE_ABI_MAJOR + 1) +
                                      ".x, this sluice speaks " + kHostAbi},
        Refusal{"abi_minor_next", "built for ABI " + std::to_string(SLUICE_ABI_MAJOR) + "." +
                                      std::to_string(SLUICE_ABI_MINOR + 1) +
                                      ", newer than this sluice's " + kHostAbi +
                                      "; upgrade sluice"},
        Refusal{"short_struct",
                "descriptor too short (struct_size " +
                    std::to_string(offsetof(sluice_plugin_descriptor, kind)) + ", ABI 1.0 needs " +
                    std::to_string(offsetof(sluice_plugin_descriptor, vtable) + sizeof(void*)) +
                    ")"},
        Refusal{"bad_kind", "unknown plugin kind 9"}, Refusal{"null_name", "plugin has no name"},
        Refusal{"bad_name",
                "bad plugin name '../evil?name' (letters, digits, '.', '_' and '-', starting "
                "with a letter or digit)"},
        Refusal{"null_version", "plugin 'good-guard' has no version"},
        Refusal{"bad_version",
                "plugin 'good-guard': bad version '1.four' (expected MAJOR.MINOR.PATCH)"},
        Refusal{"null_vtable", "plugin 'good-guard' has no function table"},
        Refusal{"short_vtable",
                "plugin 'good-guard': guardrail function table too short (struct_size " +
                    std::to_string(offsetof(sluice_guardrail_vtable, check)) + ", ABI 1.0 needs " +
                    std::to_string(offsetof(sluice_guardrail_vtable, cancel) + sizeof(void*)) +
                    ")"},
        Refusal{"no_check", "plugin 'good-guard': guardrail function table has no check()"}));

TEST(LoadPath, MissingFile) {
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath("/nonexistent-sluice-dir/x.so", "", "", &error), nullptr);
  EXPECT_EQ(error, "/nonexistent-sluice-dir/x.so: no such file");
  const std::string absent = kFixtures + "/absent.so";
  EXPECT_EQ(registry.loadPath(absent, "", "", &error), nullptr);
  EXPECT_EQ(error, absent + ": no such file");
}

TEST(LoadPath, NotALoadableObject) {
  TempDir dir;
  const std::string path = dir.path() + "/text.so";
  std::ofstream(path) << std::string(200, '#') << "\nnot a shared object\n";
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath(path, "", "", &error), nullptr);
  ASSERT_TRUE(error.starts_with(path + ": ")) << error;
  EXPECT_GT(error.size(), path.size() + 2);
  EXPECT_EQ(error.find(path, 1), std::string::npos) << "the path is named once: " << error;
  EXPECT_EQ(error.find('\n'), std::string::npos);
#ifdef __GLIBC__
  EXPECT_EQ(error, path + ": invalid ELF header");
#endif
}

TEST(LoadPath, VersionConstraintSatisfied) {
  for (const char* c : {"", "*", "1.4.0", "^1.2", "~1.4", ">=1.0, <2", "^0.9 || ^1"}) {
    Registry registry({});
    std::string error;
    EXPECT_NE(registry.loadPath(fixture("good_guard"), "good-guard", c, &error), nullptr)
        << c << ": " << error;
  }
}

TEST(LoadPath, VersionConstraintRefused) {
  const std::string path = fixture("good_guard");
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath(path, "good-guard", "^2", &error), nullptr);
  EXPECT_EQ(error, path + ": version 1.4.0 does not satisfy ^2");
  EXPECT_FALSE(isLoaded(path));
  EXPECT_EQ(registry.loadPath(path, "", "~1.3", &error), nullptr);
  EXPECT_EQ(error, path + ": version 1.4.0 does not satisfy ~1.3");
  // Nothing of the refused load stayed behind.
  EXPECT_NE(registry.loadPath(path, "good-guard", "^1", &error), nullptr) << error;
}

TEST(LoadPath, MalformedConstraint) {
  const std::string path = fixture("good_guard");
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath(path, "", "^one", &error), nullptr);
  EXPECT_EQ(error, path +
                       ": bad version constraint '^one': '^one' is not a version range (try 1.2.3, "
                       "^1.2, ~1.2, >=1.0, <2 or *)");
  EXPECT_FALSE(isLoaded(path));
}

TEST(LoadPath, ExpectedNameDiffers) {
  const std::string path = fixture("good_guard");
  Registry registry({});
  std::string error;
  EXPECT_EQ(registry.loadPath(path, "other-guard", "", &error), nullptr);
  EXPECT_EQ(error, path + ": plugin is named 'good-guard', expected 'other-guard'");
  EXPECT_FALSE(isLoaded(path));
}

TEST(LoadPath, DuplicateName) {
  const std::string good = fixture("good_guard");
  const std::string dup = fixture("dup_name");
  Registry registry({});
  std::string error;
  const Plugin* first = registry.loadPath(good, "", "", &error);
  ASSERT_NE(first, nullptr) << error;
  EXPECT_EQ(registry.loadPath(dup, "", "", &error), nullptr);
  EXPECT_EQ(error, dup + ": a guardrail plugin named 'good-guard' is already loaded from " + good);
  EXPECT_FALSE(isLoaded(dup));
  EXPECT_TRUE(isLoaded(good));
  EXPECT_EQ(first->path, good);
}

TEST(LoadPath, DuplicateNameEitherOrder) {
  const std::string good = fixture("good_guard");
  const std::string dup = fixture("dup_name");
  Registry registry({});
  std::string error;
  ASSERT_NE(registry.loadPath(dup, "good-guard", "", &error), nullptr) << error;
  EXPECT_EQ(registry.loadPath(good, "good-guard", "", &error), nullptr);
  EXPECT_EQ(error, good + ": a guardrail plugin named 'good-guard' is already loaded from " + dup);
}

TEST(LoadPath, NamesAreUniquePerKind) {
  Registry registry({});
  std::string error;
  const Plugin* guard = registry.loadPath(fixture("good_guard"), "", "", &error);
  ASSERT_NE(guard, nullptr) << error;
  const Plugin* sink = registry.loadPath(fixture("sink_good_guard"), "", "", &error);
  ASSERT_NE(sink, nullptr) << error;
  EXPECT_EQ(sink->kind, SLUICE_KIND_SINK);
  EXPECT_EQ(registry.find(SLUICE_KIND_GUARDRAIL, "good-guard", &error), guard);
  EXPECT_EQ(registry.find(SLUICE_KIND_SINK, "good-guard", &error), sink);
  EXPECT_EQ(registry.loaded().size(), 2u);
}

TEST(Find, BuiltinsLiveInTheirKindsFolder) {
  TempDir dir;
  fs::create_directories(dir.path() + "/sinks");
  fs::create_directories(dir.path() + "/guardrails");
  fs::copy_file(fixture("sink_good_guard"), dir.path() + "/sinks/good-guard.so");
  fs::copy_file(fixture("good_guard"), dir.path() + "/guardrails/good-guard.so");
  Registry registry({dir.path()});
  std::string error;
  const Plugin* sink = registry.find(SLUICE_KIND_SINK, "good-guard", &error);
  ASSERT_NE(sink, nullptr) << error;
  EXPECT_EQ(sink->path, dir.path() + "/sinks/good-guard.so");
  const Plugin* guard = registry.find(SLUICE_KIND_GUARDRAIL, "good-guard", &error);
  ASSERT_NE(guard, nullptr) << error;
  EXPECT_EQ(guard->path, dir.path() + "/guardrails/good-guard.so");
  EXPECT_EQ(registry.find(SLUICE_KIND_PROVIDER, "good-guard", &error), nullptr);
  EXPECT_EQ(error, "'good-guard' is a guardrail plugin, not a provider");

  Registry all({dir.path()});
  std::vector<std::string> errors;
  EXPECT_EQ(all.loadAllBuiltins(&errors).size(), 2u);
  EXPECT_TRUE(errors.empty());
}

TEST(LoadPath, CopyOfALoadedFileIsADuplicate) {
  TempDir dir;
  const std::string copy = dir.path() + "/copy.so";
  fs::copy_file(fixture("good_guard"), copy);
  Registry registry({});
  std::string error;
  ASSERT_NE(registry.loadPath(fixture("good_guard"), "", "", &error), nullptr) << error;
  EXPECT_EQ(registry.loadPath(copy, "", "", &error), nullptr);
  EXPECT_EQ(error,
            copy + ": a guardrail plugin named 'good-guard' is already loaded from " + fixture("good_guard"));
}

TEST(LoadPath, SameFileAgainIsTheSamePlugin) {
  TempDir dir;
  const std::string link = dir.path() + "/link.so";
  fs::create_symlink(fixture("good_guard"), link);
  const std::string path = fixture("good_guard");
  {
    Registry registry({});
    std::string error;
    const Plugin* p = registry.loadPath(path, "", "", &error);
    ASSERT_NE(p, nullptr) << error;
    EXPECT_EQ(registry.loadPath(path, "good-guard", "^1", &error), p);
    EXPECT_EQ(registry.loadPath(link, "", "", &error), p);
    // The constraint still applies to a repeated load.
    EXPECT_EQ(registry.loadPath(path, "", "^2", &error), nullptr);
    EXPECT_EQ(error, path + ": version 1.4.0 does not satisfy ^2");
  }
  // Repeated loads took no extra reference.
  EXPECT_FALSE(isLoaded(path));
}

TEST(LoadPath, BareFileNameIsRelativeToTheWorkingDirectory) {
  char cwd[PATH_MAX];
  ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(chdir(kFixtures.c_str()), 0);
  Registry registry({});
  std::string error;
  const Plugin* p = registry.loadPath("good_guard.so", "", "", &error);
  ASSERT_EQ(chdir(cwd), 0);
  ASSERT_NE(p, nullptr) << error;
  EXPECT_EQ(p->path, "good_guard.so");
  EXPECT_EQ(p->name, "good-guard");
}

TEST(Find, BuiltinByNameFromTheSearchDirs) {
  TempDir empty;
  Registry registry({empty.path(), kFixtures});
  std::string error;
  const Plugin* p = registry.find(SLUICE_KIND_SINK, "tap-sink", &error);
  ASSERT_NE(p, nullptr) << error;
  EXPECT_EQ(p->path, kFixtures + "/tap-sink.so");
  EXPECT_EQ(p->name, "tap-sink");
  EXPECT_EQ(p->version, "0.3.1");
  EXPECT_EQ(p->kind, SLUICE_KIND_SINK);
  EXPECT_EQ(registry.find(SLUICE_KIND_SINK, "tap-sink", &error), p);
}

TEST(Find, KindMismatch) {
  Registry registry({kFixtures});
  std::string error;
  // Found on disk...
  EXPECT_EQ(registry.find(SLUICE_KIND_PROVIDER, "tap-sink", &error), nullptr);
  EXPECT_EQ(error, "'tap-sink' is a sink plugin, not a provider");
  // ...and already loaded.
  EXPECT_EQ(registry.find(SLUICE_KIND_ROUTING, "tap-sink", &error), nullptr);
  EXPECT_EQ(error, "'tap-sink' is a sink plugin, not a routing");
  EXPECT_NE(registry.find(SLUICE_KIND_SINK, "tap-sink", &error), nullptr) << error;
}

TEST(Find, NotFoundListsTheSearchedDirs) {
  Registry registry({"/nonexistent-sluice-dir", kFixtures});
  std::string error;
  EXPECT_EQ(registry.find(SLUICE_KIND_PROVIDER, "nope", &error), nullptr);
  EXPECT_EQ(error, "no provider plugin named 'nope' (searched: /nonexistent-sluice-dir, " +
                       kFixtures + ")");
  Registry none({});
  EXPECT_EQ(none.find(SLUICE_KIND_ROUTING, "nope", &error), nullptr);
  EXPECT_EQ(error, "no routing plugin named 'nope' (searched: no plugin directories)");
}

TEST(Find, NamesCannotReachOutsideTheSearchDirs) {
  Registry registry({kFixtures + "/sub"});
  std::string error;
  EXPECT_EQ(registry.find(SLUICE_KIND_SINK, "../tap-sink", &error), nullptr);
  EXPECT_EQ(error, "bad plugin name '../tap-sink'");
  EXPECT_EQ(registry.find(SLUICE_KIND_SINK, "", &error), nullptr);
  EXPECT_EQ(error, "bad plugin name ''");
}

TEST(Find, ReturnsAPluginLoadedByPath) {
  Registry registry({});
  std::string error;
  const Plugin* p = registry.loadPath(fixture("good_guard"), "good-guard", "", &error);
  ASSERT_NE(p, nullptr) << error;
  EXPECT_EQ(registry.find(SLUICE_KIND_GUARDRAIL, "good-guard", &error), p);
  EXPECT_EQ(registry.find(SLUICE_KIND_SINK, "good-guard", &error), nullptr);
  EXPECT_EQ(error, "'good-guard' is a guardrail plugin, not a sink");
}

TEST(Find, ABuiltinThatIsRefusedSaysWhy) {
  Registry registry({kFixtures});
  std::string error;
  EXPECT_EQ(registry.find(SLUICE_KIND_GUARDRAIL, "bad_magic", &error), nullptr);
  EXPECT_EQ(error, fixture("bad_magic") +
                       ": bad magic 0xdeadbeef, expected 0x534c5543 — not a Sluice plugin");
  // A built-in must carry its file's name.
  EXPECT_EQ(registry.find(SLUICE_KIND_GUARDRAIL, "good_guard", &error), nullptr);
  EXPECT_EQ(error, fixture("good_guard") + ": plugin is named 'good-guard', expected 'good_guard'");
}

std::vector<std::string> soFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() == ".so") out.push_back(e.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LoadAllBuiltins, LoadsTheGoodAndReportsEveryRefusalInOrder) {
  const std::vector<std::string> files = soFiles(kFixtures);
  ASSERT_GE(files.size(), 10u);
  Registry registry({kFixtures});
  std::vector<std::string> errors;
  std::vector<const Plugin*> plugins = registry.loadAllBuiltins(&errors);
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0]->name, "tap-sink");
  ASSERT_EQ(errors.size(), files.size() - 1);
  size_t e = 0;
  for (const std::string& file : files) {
    if (file == "tap-sink.so") continue;
    EXPECT_TRUE(errors[e].starts_with(kFixtures + "/" + file + ": ")) << errors[e];
    EXPECT_EQ(errors[e].find('\n'), std::string::npos) << errors[e];
    ++e;
  }
  EXPECT_NE(std::find(errors.begin(), errors.end(),
                      fixture("dup_name") + ": plugin is named 'good-guard', expected 'dup_name'"),
            errors.end());

  // Again: the same plugin, the same refusals, no duplicate complaints.
  std::vector<std::string> again;
  EXPECT_EQ(registry.loadAllBuiltins(&again), plugins);
  EXPECT_EQ(again, errors);
}

TEST(LoadAllBuiltins, AnEarlierDirShadowsALaterOne) {
  TempDir later;
  fs::copy_file(fixture("tap-sink"), later.path() + "/tap-sink.so");
  Registry registry({kFixtures, later.path()});
  std::vector<std::string> errors;
  std::vector<const Plugin*> plugins = registry.loadAllBuiltins(&errors);
  ASSERT_EQ(plugins.size(), 1u);
  EXPECT_EQ(plugins[0]->path, fixture("tap-sink"));
  for (const std::string& error : errors) {
    EXPECT_FALSE(error.starts_with(later.path())) << error;
  }
}

TEST(LoadAllBuiltins, MissingDirsAreSkipped) {
  Registry registry({"/nonexistent-sluice-dir"});
  std::vector<std::string> errors;
  EXPECT_TRUE(registry.loadAllBuiltins(&errors).empty());
  EXPECT_TRUE(errors.empty());
}

TEST(DefaultSearchDirs, BesideTheRunningBinary) {
  // Unit test binaries land in the build dir, like sluice itself.
  const fs::path plugins = fs::path(SLUICE_BINARY_DIR) / "plugins";
  fs::create_directories(plugins);
  std::vector<std::string> dirs = Registry::defaultSearchDirs();
  ASSERT_FALSE(dirs.empty());
  EXPECT_EQ(dirs[0], fs::canonical(plugins).string());
  for (const std::string& d : dirs) {
    EXPECT_TRUE(fs::is_directory(d)) << d;
    EXPECT_TRUE(d.ends_with("/plugins")) << d;
  }
  const fs::path installed = fs::path(SLUICE_BINARY_DIR) / ".." / "lib" / "sluice" / "plugins";
  EXPECT_EQ(dirs.size(), fs::is_directory(installed) ? 2u : 1u);
}

}  // namespace
}  // namespace sluice::plugins

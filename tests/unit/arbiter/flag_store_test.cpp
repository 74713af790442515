#include "ftproxy/arbiter/flag_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "temp_dir.hpp"

namespace ftproxy::arbiter {
namespace {

using testing::TempDir;
using Kind = FlagStore::SetOutcome::Kind;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool any_contains(const std::vector<std::string>& v, const std::string& needle) {
  for (const auto& s : v) {
    if (s.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(FlagStore, OpensEmptyAndCreatesMissingDir) {
  TempDir tmp;
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.file("sub/dir"), report);
  ASSERT_NE(store, nullptr) << (report.errors.empty() ? "" : report.errors[0]);
  EXPECT_EQ(store->size(), 0u);
  EXPECT_EQ(report.flags_loaded, 0u);
  EXPECT_EQ(store->find("c1", 1), nullptr);
  EXPECT_FALSE(store->latest("c1").has_value());
}

TEST(FlagStore, FirstCandidateWinsAndTheFlagStays) {
  TempDir tmp;
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr);
  auto a = store->test_and_set("c1", 3, "p1", 111);
  EXPECT_EQ(a.kind, Kind::won);
  EXPECT_TRUE(a.newly_set);
  EXPECT_EQ(a.flag.owner, "p1");
  EXPECT_EQ(a.flag.token, 1u);
  auto b = store->test_and_set("c1", 3, "b1", 222);
  EXPECT_EQ(b.kind, Kind::lost);
  EXPECT_FALSE(b.newly_set);
  EXPECT_EQ(b.flag.owner, "p1");
  EXPECT_EQ(b.flag.token, 1u);
  auto again = store->test_and_set("c1", 3, "p1", 333);  // idempotent for the owner
  EXPECT_EQ(again.kind, Kind::won);
  EXPECT_FALSE(again.newly_set);
  // Other epochs and clusters are independent; tokens keep counting.
  EXPECT_EQ(store->test_and_set("c1", 4, "b1", 0).kind, Kind::won);
  EXPECT_EQ(store->test_and_set("c2", 3, "b1", 0).flag.token, 3u);
  EXPECT_EQ(store->latest("c1"), 4u);
  EXPECT_EQ(store->size(), 3u);
  // The file is on disk under its documented name, with its content.
  std::string text = read_file(tmp.file("c1@3.flag"));
  EXPECT_NE(text.find("\"owner\":\"p1\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"token\":1"), std::string::npos) << text;
}

TEST(FlagStore, RejectsInvalidNames) {
  TempDir tmp;
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->test_and_set("../etc", 1, "p1", 0).kind, Kind::failed);
  EXPECT_EQ(store->test_and_set("c1", 1, "p 1", 0).kind, Kind::failed);
  EXPECT_EQ(store->test_and_set("", 1, "p1", 0).kind, Kind::failed);
  EXPECT_EQ(store->test_and_set("c1", 1, std::string(65, 'a'), 0).kind, Kind::failed);
  EXPECT_EQ(store->size(), 0u);
}

TEST(FlagStore, ReloadRemembersEveryWinnerAndTheTokenCounter) {
  TempDir tmp;
  {
    FlagStore::OpenReport report;
    auto store = FlagStore::open(tmp.path(), report);
    ASSERT_NE(store, nullptr);
    for (std::uint64_t e = 1; e <= 20; ++e) {
      ASSERT_EQ(store->test_and_set("c1", e, e % 2 ? "p1" : "b1", 0).kind, Kind::won);
    }
    ASSERT_EQ(store->test_and_set("other.cluster-x", 18446744073709551615ull, "n_1", 0).kind, Kind::won);
  }
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr) << report.errors[0];
  EXPECT_EQ(report.flags_loaded, 21u);
  EXPECT_TRUE(report.notes.empty());
  for (std::uint64_t e = 1; e <= 20; ++e) {
    auto out = store->test_and_set("c1", e, "intruder", 0);
    EXPECT_EQ(out.kind, Kind::lost) << e;
    EXPECT_EQ(out.flag.owner, e % 2 ? "p1" : "b1");
    EXPECT_EQ(out.flag.token, e);
  }
  EXPECT_EQ(store->latest("other.cluster-x"), 18446744073709551615ull);
  EXPECT_EQ(store->last_token(), 21u);
  EXPECT_EQ(store->test_and_set("c1", 21, "p1", 0).flag.token, 22u);
}

TEST(FlagStore, SecondOpenOfTheSameDirIsRefused) {
  TempDir tmp;
  FlagStore::OpenReport r1, r2;
  auto first = FlagStore::open(tmp.path(), r1);
  ASSERT_NE(first, nullptr);
  auto second = FlagStore::open(tmp.path(), r2);
  EXPECT_EQ(second, nullptr);
  EXPECT_TRUE(any_contains(r2.errors, "in use by another arbiter"));
  first.reset();
  FlagStore::OpenReport r3;
  EXPECT_NE(FlagStore::open(tmp.path(), r3), nullptr);
}

TEST(FlagStore, CorruptFlagFileIsAnErrorNamingTheFile) {
  struct Case {
    const char* name;
    const char* content;
  };
  const Case cases[] = {
      {"c1@5.flag", "\x01\x02garbage"},
      {"c1@5.flag", ""},
      {"c1@5.flag", "[1,2]"},
      {"c1@5.flag", R"({"cluster":"c2","epoch":5,"owner":"p1","token":1})"},  // name mismatch
      {"c1@5.flag", R"({"cluster":"c1","epoch":6,"owner":"p1","token":1})"},
      {"c1@5.flag", R"({"cluster":"c1","epoch":5,"owner":"p 1","token":1})"},
      {"c1@5.flag", R"({"cluster":"c1","epoch":5,"owner":"p1","token":0})"},
      {"c1@5.flag", R"({"cluster":"c1","epoch":5,"owner":"p1"})"},
  };
  for (const Case& c : cases) {
    TempDir tmp;
    {
      FlagStore::OpenReport report;
      auto store = FlagStore::open(tmp.path(), report);
      ASSERT_NE(store, nullptr);
      ASSERT_EQ(store->test_and_set("c1", 4, "p1", 0).kind, Kind::won);
    }
    tmp.write(c.name, c.content);
    FlagStore::OpenReport report;
    auto store = FlagStore::open(tmp.path(), report);
    EXPECT_EQ(store, nullptr) << c.content;
    ASSERT_EQ(report.errors.size(), 1u) << c.content;
    EXPECT_NE(report.errors[0].find(tmp.file(c.name)), std::string::npos) << report.errors[0];
    EXPECT_NE(report.errors[0].find("corrupt flag file"), std::string::npos) << report.errors[0];
  }
}

TEST(FlagStore, OversizedFlagFileIsAnError) {
  TempDir tmp;
  tmp.write("c1@1.flag", std::string(5000, ' '));
  FlagStore::OpenReport report;
  EXPECT_EQ(FlagStore::open(tmp.path(), report), nullptr);
  EXPECT_TRUE(any_contains(report.errors, "larger than 4096"));
}

TEST(FlagStore, UnknownFilesAndStaleTempFilesAreReported) {
  TempDir tmp;
  tmp.write("notes.txt", "hello");
  tmp.write("c1@x.flag", "{}");  // not a flag name: not ours
  tmp.write(".c1@9.tmp", "{\"cluster\":\"c1\"");
  std::filesystem::create_directory(tmp.file("lost+found"));
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr);
  EXPECT_TRUE(report.errors.empty());
  EXPECT_EQ(report.notes.size(), 4u);
  EXPECT_TRUE(any_contains(report.notes, "notes.txt: not a flag file"));
  EXPECT_TRUE(any_contains(report.notes, "c1@x.flag: not a flag file"));
  EXPECT_TRUE(any_contains(report.notes, ".c1@9.tmp: unfinished write"));
  EXPECT_FALSE(std::filesystem::exists(tmp.file(".c1@9.tmp")));
  // The epoch of the unfinished write was never answered: it is still free.
  EXPECT_EQ(store->test_and_set("c1", 9, "b1", 0).kind, Kind::won);
}

TEST(FlagStore, UnwritableDirFailsWithoutRecording) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir tmp;
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr);
  std::filesystem::permissions(tmp.path(),
                               std::filesystem::perms::owner_read | std::filesystem::perms::owner_exec);
  auto out = store->test_and_set("c1", 1, "p1", 0);
  std::filesystem::permissions(tmp.path(), std::filesystem::perms::owner_all);
  EXPECT_EQ(out.kind, Kind::failed);
  EXPECT_FALSE(out.message.empty());
  EXPECT_EQ(store->find("c1", 1), nullptr);
  EXPECT_EQ(store->test_and_set("c1", 1, "b1", 0).kind, Kind::won);
}

TEST(FlagStore, StorageFailureOnAFileInTheWay) {
  // Works as root too: a directory where the temp file must go makes the write fail.
  TempDir tmp;
  FlagStore::OpenReport report;
  auto store = FlagStore::open(tmp.path(), report);
  ASSERT_NE(store, nullptr);
  std::filesystem::create_directory(tmp.file(".c1@1.tmp"));
  auto out = store->test_and_set("c1", 1, "p1", 0);
  EXPECT_EQ(out.kind, Kind::failed);
  EXPECT_NE(out.message.find(".c1@1.tmp"), std::string::npos) << out.message;
  EXPECT_EQ(store->find("c1", 1), nullptr);
  EXPECT_EQ(store->size(), 0u);
  std::filesystem::remove(tmp.file(".c1@1.tmp"));
  EXPECT_EQ(store->test_and_set("c1", 1, "b1", 0).kind, Kind::won);
}

}  // namespace
}  // namespace ftproxy::arbiter

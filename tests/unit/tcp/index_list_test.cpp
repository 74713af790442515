#include "ftproxy/tcp/index_list.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <vector>

namespace ftproxy::tcp {
namespace {

// Elements in parallel arrays, as the translator's frame slots are.
struct Storage {
  std::array<std::uint32_t, 8> prev;
  std::array<std::uint32_t, 8> next;
  Storage() {
    prev.fill(kNoIndex);
    next.fill(kNoIndex);
  }
};

struct ArrayLinks {
  Storage* s;
  std::uint32_t& prev(std::uint32_t i) const noexcept { return s->prev[i]; }
  std::uint32_t& next(std::uint32_t i) const noexcept { return s->next[i]; }
};

using List = IndexList<ArrayLinks>;

// Walks the list both ways and checks the links agree with each other and with
// head/tail/size; returns the forward order.
std::vector<std::uint32_t> walk(const List& l, const Storage& s) {
  std::vector<std::uint32_t> fwd;
  for (std::uint32_t i = l.head(); i != kNoIndex; i = l.next(i)) {
    fwd.push_back(i);
    if (fwd.size() > s.prev.size()) {
      ADD_FAILURE() << "cycle";
      return fwd;
    }
  }
  std::vector<std::uint32_t> back;
  for (std::uint32_t i = l.tail(); i != kNoIndex && back.size() <= s.prev.size(); i = s.prev[i]) {
    back.insert(back.begin(), i);
  }
  EXPECT_EQ(fwd, back);
  EXPECT_EQ(fwd.size(), l.size());
  EXPECT_EQ(fwd.empty(), l.empty());
  return fwd;
}

TEST(IndexList, EmptyState) {
  Storage s;
  const List l{ArrayLinks{&s}};
  EXPECT_TRUE(l.empty());
  EXPECT_EQ(l.size(), 0u);
  EXPECT_EQ(l.head(), kNoIndex);
  EXPECT_EQ(l.tail(), kNoIndex);
  for (std::uint32_t i = 0; i < s.prev.size(); ++i) EXPECT_FALSE(l.contains(i));
}

TEST(IndexList, AppendKeepsOrder) {
  Storage s;
  List l{ArrayLinks{&s}};
  for (const std::uint32_t i : {3u, 0u, 5u}) l.push_back(i);
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{3, 0, 5}));
  EXPECT_EQ(l.head(), 3u);
  EXPECT_EQ(l.tail(), 5u);
  EXPECT_TRUE(l.contains(0));
  EXPECT_TRUE(l.contains(3));
  EXPECT_FALSE(l.contains(1));
}

TEST(IndexList, AppendTwiceKeepsPlace) {
  Storage s;
  List l{ArrayLinks{&s}};
  for (const std::uint32_t i : {1u, 2u, 3u}) l.push_back(i);
  l.push_back(1);  // head
  l.push_back(2);  // middle
  l.push_back(3);  // tail
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST(IndexList, UnlinkHeadMiddleTail) {
  Storage s;
  List l{ArrayLinks{&s}};
  for (const std::uint32_t i : {0u, 1u, 2u, 3u, 4u}) l.push_back(i);
  l.erase(2);  // middle
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{0, 1, 3, 4}));
  l.erase(0);  // head
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{1, 3, 4}));
  EXPECT_EQ(l.head(), 1u);
  l.erase(4);  // tail
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{1, 3}));
  EXPECT_EQ(l.tail(), 3u);
  for (const std::uint32_t i : {0u, 2u, 4u}) {
    EXPECT_FALSE(l.contains(i));
    EXPECT_EQ(s.prev[i], kNoIndex);  // links reset
    EXPECT_EQ(s.next[i], kNoIndex);
  }
  l.erase(1);
  l.erase(3);  // the last one
  EXPECT_EQ(walk(l, s), std::vector<std::uint32_t>{});
  EXPECT_EQ(l.head(), kNoIndex);
  EXPECT_EQ(l.tail(), kNoIndex);
}

TEST(IndexList, UnlinkTwiceIsNoOp) {
  Storage s;
  List l{ArrayLinks{&s}};
  for (const std::uint32_t i : {0u, 1u, 2u}) l.push_back(i);
  l.erase(1);
  l.erase(1);
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{0, 2}));
  l.erase(0);
  l.erase(0);  // a former head
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{2}));
  l.erase(2);
  l.erase(2);  // the list is empty
  l.erase(7);  // never linked
  EXPECT_EQ(walk(l, s), std::vector<std::uint32_t>{});
}

TEST(IndexList, ReappendAfterUnlinkGoesToTail) {
  Storage s;
  List l{ArrayLinks{&s}};
  for (const std::uint32_t i : {0u, 1u, 2u}) l.push_back(i);
  l.erase(0);
  l.push_back(0);
  EXPECT_EQ(walk(l, s), (std::vector<std::uint32_t>{1, 2, 0}));
}

// Two lists over different link fields of the same elements are independent, as the
// translator's queued and synth lists over one flow table are.
TEST(IndexList, TwoListsOverOneStorage) {
  Storage a;
  Storage b;
  List la{ArrayLinks{&a}};
  List lb{ArrayLinks{&b}};
  for (const std::uint32_t i : {0u, 1u, 2u}) la.push_back(i);
  for (const std::uint32_t i : {2u, 1u}) lb.push_back(i);
  la.erase(1);
  EXPECT_EQ(walk(la, a), (std::vector<std::uint32_t>{0, 2}));
  EXPECT_EQ(walk(lb, b), (std::vector<std::uint32_t>{2, 1}));
}

}  // namespace
}  // namespace ftproxy::tcp

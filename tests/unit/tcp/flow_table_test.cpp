#include "ftproxy/tcp/flow_table.hpp"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>
#include <tuple>
#include <vector>

namespace ftproxy::tcp {
namespace {

packet::FlowKey key(std::uint16_t client_port, std::uint32_t client_ip = 0x0A000001) {
  packet::FlowKey k;
  k.src_ip = packet::IpAddr::v4(client_ip);
  k.dst_ip = packet::IpAddr::v4(0x0A000002);
  k.src_port = client_port;
  k.dst_port = 6379;
  k.proto = packet::kIpProtoTcp;
  return k;
}

FlowLimits small(std::uint32_t n) {
  FlowLimits l;
  l.max_flows = n;
  l.idle_timeout = seconds(600);
  l.closed_linger = seconds(5);
  l.pressure_idle = seconds(30);
  return l;
}

TEST(FlowTable, InsertFindEitherDirection) {
  ManualClock clock;
  FlowTable t(small(8));
  Flow* f = t.insert(key(1000), clock.now());
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(key(1000)), f);
  EXPECT_EQ(t.find(key(1000).reversed()), nullptr);  // find() takes the client→server key
  EXPECT_EQ(t.find_either(key(1000).reversed()), f);
  EXPECT_EQ(t.find_either(key(1000)), f);
  EXPECT_EQ(t.find(key(1001)), nullptr);
  EXPECT_EQ(t.insert(key(1000), clock.now()), f);  // existing record, not a new one
  EXPECT_EQ(t.counters().flows_created, 1u);
  EXPECT_EQ(f->key, key(1000));
  EXPECT_EQ(f->state, FlowState::syn_seen);
}

TEST(FlowTable, FullWithNothingEvictableRefusesAndKeepsEveryFlow) {
  ManualClock clock;
  FlowTable t(small(4));
  for (std::uint16_t p = 1; p <= 4; ++p) ASSERT_NE(t.insert(key(p), clock.now()), nullptr);
  clock.advance(seconds(29));  // below pressure_idle
  EXPECT_EQ(t.insert(key(5), clock.now()), nullptr);
  EXPECT_EQ(t.counters().refused_full, 1u);
  EXPECT_EQ(t.counters().evictions, 0u);
  EXPECT_EQ(t.size(), 4u);
  for (std::uint16_t p = 1; p <= 4; ++p) EXPECT_NE(t.find(key(p)), nullptr) << p;
}

TEST(FlowTable, FullEvictsClosedBeforeIdle) {
  ManualClock clock;
  FlowTable t(small(4));
  for (std::uint16_t p = 1; p <= 4; ++p) {
    ASSERT_NE(t.insert(key(p), clock.now()), nullptr);
    clock.advance(seconds(1));
  }
  clock.advance(seconds(60));  // flows 1..4 are all idle past pressure_idle
  t.mark_closed(*t.find(key(3)), clock.now());
  ASSERT_NE(t.insert(key(5), clock.now()), nullptr);
  EXPECT_EQ(t.find(key(3)), nullptr);  // the closed one went, although flow 1 is older
  EXPECT_NE(t.find(key(1)), nullptr);
  EXPECT_EQ(t.counters().evicted_closed, 1u);
  EXPECT_EQ(t.counters().evicted_idle, 0u);

  // Next: no closed flow left, the least recently active idle flow goes (flow 1).
  t.touch(*t.find(key(2)), clock.now());  // flow 2 is fresh now
  ASSERT_NE(t.insert(key(6), clock.now()), nullptr);
  EXPECT_EQ(t.find(key(1)), nullptr);
  EXPECT_NE(t.find(key(2)), nullptr);
  EXPECT_NE(t.find(key(4)), nullptr);
  EXPECT_EQ(t.counters().evicted_idle, 1u);

  // Next: flow 4 is the oldest and idle long enough.
  ASSERT_NE(t.insert(key(7), clock.now()), nullptr);
  EXPECT_EQ(t.find(key(4)), nullptr);
  // Now everything was active within pressure_idle: refuse.
  EXPECT_EQ(t.insert(key(8), clock.now()), nullptr);
  EXPECT_EQ(t.counters().refused_full, 1u);
  EXPECT_EQ(t.counters().evictions, 3u);
  EXPECT_EQ(t.size(), 4u);
}

TEST(FlowTable, ExpireClosedAfterLingerAndIdleAfterTimeout) {
  ManualClock clock;
  FlowTable t(small(16));
  t.insert(key(1), clock.now());
  t.insert(key(2), clock.now());
  t.insert(key(3), clock.now());
  t.mark_closed(*t.find(key(1)), clock.now());
  clock.advance(seconds(4));
  EXPECT_EQ(t.expire(clock.now()), 0u);
  clock.advance(seconds(1));
  EXPECT_EQ(t.expire(clock.now()), 1u);
  EXPECT_EQ(t.find(key(1)), nullptr);
  // Traffic on a closed flow does not postpone its eviction.
  t.mark_closed(*t.find(key(2)), clock.now());
  clock.advance(seconds(3));
  t.touch(*t.find(key(2)), clock.now());
  clock.advance(seconds(2));
  EXPECT_EQ(t.expire(clock.now()), 1u);
  EXPECT_EQ(t.find(key(2)), nullptr);

  t.insert(key(4), clock.now());
  clock.advance(seconds(590));
  t.touch(*t.find(key(4)), clock.now());
  clock.advance(seconds(10));  // flow 3: 600+ s idle; flow 4: 10 s
  EXPECT_EQ(t.expire(clock.now()), 1u);
  EXPECT_EQ(t.find(key(3)), nullptr);
  EXPECT_NE(t.find(key(4)), nullptr);
  EXPECT_EQ(t.counters().evicted_closed, 2u);
  EXPECT_EQ(t.counters().evicted_idle, 1u);
}

TEST(FlowTable, EvictHookSeesTheRecordBeforeReuse) {
  ManualClock clock;
  FlowTable t(small(1));
  std::vector<std::uint16_t> seen;
  struct Ctx {
    std::vector<std::uint16_t>* seen;
  } ctx{&seen};
  t.set_evict_hook([](void* c, Flow& f) noexcept { static_cast<Ctx*>(c)->seen->push_back(f.key.src_port); },
                   &ctx);
  t.insert(key(7), clock.now());
  t.mark_closed(*t.find(key(7)), clock.now());
  ASSERT_NE(t.insert(key(8), clock.now()), nullptr);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0], 7);
}

TEST(FlowTable, RestartResetsStateButKeepsKey) {
  ManualClock clock;
  FlowTable t(small(4));
  Flow* f = t.insert(key(9), clock.now());
  f->delta_known = true;
  f->seq_delta = 42;
  t.mark_closed(*f, clock.now());
  clock.advance(seconds(1));
  t.restart(*f, clock.now());
  EXPECT_EQ(f->state, FlowState::syn_seen);
  EXPECT_FALSE(f->delta_known);
  EXPECT_EQ(f->key, key(9));
  EXPECT_EQ(t.find(key(9)), f);
  clock.advance(seconds(10));  // past linger: it is open again, so it stays
  EXPECT_EQ(t.expire(clock.now()), 0u);
}

TEST(FlowTable, VisitorSeesEveryFlowOnce) {
  ManualClock clock;
  FlowTable t(small(16));
  for (std::uint16_t p = 1; p <= 10; ++p) t.insert(key(p), clock.now());
  t.mark_closed(*t.find(key(4)), clock.now());
  std::set<std::uint16_t> ports;
  std::size_t calls = 0;
  t.for_each([&](const Flow& f) {
    ports.insert(f.key.src_port);
    ++calls;
  });
  EXPECT_EQ(calls, 10u);
  EXPECT_EQ(ports.size(), 10u);
}

using Ports = std::vector<std::uint16_t>;

Ports visit_order(const FlowTable& t) {
  Ports ports;
  t.for_each([&](const Flow& f) { ports.push_back(f.key.src_port); });
  return ports;
}

// Open flows are kept least recently active first, closed flows in the order they
// closed; eviction takes the heads, and the most recently freed record is reused first.
TEST(FlowTable, ListsKeepRecencyOrderAndEvictTheirHeads) {
  ManualClock clock;
  FlowTable t(small(5));
  for (std::uint16_t p = 1; p <= 5; ++p) ASSERT_NE(t.insert(key(p), clock.now()), nullptr);
  EXPECT_EQ(visit_order(t), (Ports{1, 2, 3, 4, 5}));
  t.touch(*t.find(key(2)), clock.now());  // from the middle to the tail
  t.touch(*t.find(key(1)), clock.now());  // from the head to the tail
  t.touch(*t.find(key(1)), clock.now());  // already the tail: stays
  EXPECT_EQ(visit_order(t), (Ports{3, 4, 5, 2, 1}));
  t.mark_closed(*t.find(key(4)), clock.now());
  t.mark_closed(*t.find(key(3)), clock.now());
  EXPECT_EQ(visit_order(t), (Ports{5, 2, 1, 4, 3}));
  // Neither traffic nor a second close moves a closed flow.
  t.touch(*t.find(key(4)), clock.now());
  t.mark_closed(*t.find(key(4)), clock.now());
  EXPECT_EQ(visit_order(t), (Ports{5, 2, 1, 4, 3}));
  // A restarted flow is open again and the most recently active.
  t.restart(*t.find(key(3)), clock.now());
  EXPECT_EQ(visit_order(t), (Ports{5, 2, 1, 3, 4}));
  EXPECT_EQ(t.size(), 5u);

  const std::uint32_t freed = t.index_of(*t.find(key(2)));
  t.erase(*t.find(key(2)));
  EXPECT_EQ(visit_order(t), (Ports{5, 1, 3, 4}));
  EXPECT_EQ(t.size(), 4u);
  Flow* f6 = t.insert(key(6), clock.now());
  ASSERT_NE(f6, nullptr);
  EXPECT_EQ(t.index_of(*f6), freed);
  EXPECT_EQ(visit_order(t), (Ports{5, 1, 3, 6, 4}));

  // Full: the closed flow goes first, then the open heads once idle past pressure_idle.
  clock.advance(seconds(30));
  t.touch(*t.find(key(3)), clock.now());  // 3 is fresh
  const std::uint32_t closed4 = t.index_of(*t.find(key(4)));
  Flow* f7 = t.insert(key(7), clock.now());
  ASSERT_NE(f7, nullptr);
  EXPECT_EQ(t.index_of(*f7), closed4);
  EXPECT_EQ(visit_order(t), (Ports{5, 1, 6, 3, 7}));
  for (std::uint16_t p = 8; p <= 10; ++p) ASSERT_NE(t.insert(key(p), clock.now()), nullptr) << p;
  EXPECT_EQ(visit_order(t), (Ports{3, 7, 8, 9, 10}));
  EXPECT_EQ(t.insert(key(11), clock.now()), nullptr);  // the head (3) is fresh
  EXPECT_EQ(t.counters().evicted_closed, 1u);
  EXPECT_EQ(t.counters().evicted_idle, 3u);
  EXPECT_EQ(t.counters().refused_full, 1u);
  EXPECT_EQ(t.size(), 5u);

  // expire() takes the flows idle past idle_timeout from the head of the open list.
  clock.advance(seconds(590));
  t.touch(*t.find(key(9)), clock.now());
  clock.advance(seconds(10));
  EXPECT_EQ(t.expire(clock.now()), 4u);
  EXPECT_EQ(visit_order(t), (Ports{9}));
}

TEST(FlowTable, MostRecentlyFreedRecordIsReusedFirst) {
  ManualClock clock;
  FlowTable t(small(4));
  for (std::uint16_t p = 1; p <= 4; ++p) ASSERT_NE(t.insert(key(p), clock.now()), nullptr);
  const std::uint32_t rec2 = t.index_of(*t.find(key(2)));
  const std::uint32_t rec4 = t.index_of(*t.find(key(4)));
  t.erase(*t.find(key(2)));
  t.erase(*t.find(key(4)));
  EXPECT_EQ(t.index_of(*t.insert(key(5), clock.now())), rec4);
  EXPECT_EQ(t.index_of(*t.insert(key(6), clock.now())), rec2);
  EXPECT_EQ(t.size(), 4u);
  EXPECT_EQ(visit_order(t), (Ports{1, 3, 5, 6}));
}

// Random inserts/erases against a std::map model: the open-addressing index with
// backward-shift deletion must never lose or invent a key.
TEST(FlowTable, RandomOperationsMatchModel) {
  ManualClock clock;
  FlowTable t(small(64));
  std::mt19937 rng(12345);
  std::set<std::pair<std::uint32_t, std::uint16_t>> model;
  for (int step = 0; step < 20000; ++step) {
    // Few distinct IPs and ports so keys collide in the index often.
    const std::uint32_t ip = 0x0A000000u + rng() % 4;
    const std::uint16_t port = static_cast<std::uint16_t>(rng() % 40);
    const packet::FlowKey k = key(port, ip);
    const int op = static_cast<int>(rng() % 3);
    if (op == 0) {
      Flow* f = t.insert(k, clock.now());
      if (model.size() < 64 || model.count({ip, port}) != 0) {
        ASSERT_NE(f, nullptr);
        model.insert({ip, port});
      } else {
        ASSERT_EQ(f, nullptr);  // full, nothing idle long enough: refused
      }
    } else if (op == 1) {
      if (Flow* f = t.find(k)) {
        t.erase(*f);
        ASSERT_EQ(model.erase({ip, port}), 1u);
      } else {
        ASSERT_EQ(model.count({ip, port}), 0u);
      }
    } else {
      ASSERT_EQ(t.find(k) != nullptr, model.count({ip, port}) != 0) << step;
    }
    ASSERT_EQ(t.size(), model.size());
  }
  for (const auto& [ip, port] : model) EXPECT_NE(t.find(key(port, ip)), nullptr);
}

}  // namespace
}  // namespace ftproxy::tcp

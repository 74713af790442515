#include "ftproxy/tcp/flow_table.hpp"

#include <bit>

namespace ftproxy::tcp {

const char* to_string(FlowState s) noexcept {
  switch (s) {
    case FlowState::syn_seen:
      return "syn_seen";
    case FlowState::established:
      return "established";
    case FlowState::closing:
      return "closing";
    case FlowState::closed:
      return "closed";
  }
  return "unknown";
}

FlowTable::FlowTable(const FlowLimits& limits) : limits_(limits) {
  const std::uint32_t n = limits.max_flows == 0 ? 1 : limits.max_flows;
  nodes_.resize(n);
  // Load factor <= 1/2 keeps linear-probing chains short and guarantees an empty slot.
  const std::size_t slots = std::bit_ceil(static_cast<std::size_t>(n) * 2);
  index_.assign(slots, kNoIndex);
  mask_ = slots - 1;
  for (std::uint32_t i = n; i-- > 0;) link_tail(i, kFree);  // record 0 is taken first
}

std::size_t FlowTable::find_slot(const packet::FlowKey& key, std::size_t hash) const noexcept {
  std::size_t i = slot_of(hash);
  while (index_[i] != kNoIndex) {
    const Flow& f = nodes_[index_[i]];
    if (f.hash == hash && f.key == key) return i;
    i = (i + 1) & mask_;
  }
  return i;
}

Flow* FlowTable::find(const packet::FlowKey& c2s) noexcept {
  const std::size_t slot = find_slot(c2s, packet::FlowKeyHash{}(c2s));
  return index_[slot] == kNoIndex ? nullptr : &nodes_[index_[slot]];
}

const Flow* FlowTable::find(const packet::FlowKey& c2s) const noexcept {
  const std::size_t slot = find_slot(c2s, packet::FlowKeyHash{}(c2s));
  return index_[slot] == kNoIndex ? nullptr : &nodes_[index_[slot]];
}

Flow* FlowTable::find_either(const packet::FlowKey& key) noexcept {
  if (Flow* f = find(key)) return f;
  return find(key.reversed());
}

Flow* FlowTable::insert(const packet::FlowKey& c2s, MonoTime now) noexcept {
  const std::size_t hash = packet::FlowKeyHash{}(c2s);
  std::size_t slot = find_slot(c2s, hash);
  if (index_[slot] != kNoIndex) return &nodes_[index_[slot]];
  if (free_.empty()) {
    if (!evict_one(now)) {
      ++counters_.refused_full;
      return nullptr;
    }
    // Eviction shifted entries in the index: the empty slot for this key may have moved.
    slot = find_slot(c2s, hash);
  }
  const std::uint32_t node = free_.tail();
  unlink(node);  // off the free list, its links are kNoIndex again, as Flow{} has them
  Flow& f = nodes_[node];
  f = Flow{};
  f.key = c2s;
  f.hash = hash;
  f.created = now;
  f.last_activity = now;
  index_[slot] = node;
  link_tail(node, kActive);
  ++counters_.flows_created;
  return &f;
}

bool FlowTable::evict_one(MonoTime now) noexcept {
  // Closed flows go first whatever their age: they only linger to translate stray
  // retransmissions. An open flow is taken only when it has been quiet long enough
  // that losing its offsets cannot hurt a conversation in progress.
  if (!closed_.empty()) {
    remove(closed_.head());
    ++counters_.evictions;
    ++counters_.evicted_closed;
    return true;
  }
  if (!active_.empty() && now - nodes_[active_.head()].last_activity >= limits_.pressure_idle) {
    remove(active_.head());
    ++counters_.evictions;
    ++counters_.evicted_idle;
    return true;
  }
  return false;
}

void FlowTable::touch(Flow& f, MonoTime now) noexcept {
  f.last_activity = now;
  if (f.list == kActive) {
    const std::uint32_t node = index_of(f);
    unlink(node);
    link_tail(node, kActive);
  }
}

void FlowTable::mark_closed(Flow& f, MonoTime now) noexcept {
  f.last_activity = now;
  if (f.state == FlowState::closed && f.list == kClosed) return;
  f.state = FlowState::closed;
  f.closed_at = now;
  const std::uint32_t node = index_of(f);
  unlink(node);
  link_tail(node, kClosed);
}

void FlowTable::restart(Flow& f, MonoTime now) noexcept {
  Flow fresh;
  fresh.key = f.key;
  fresh.hash = f.hash;
  fresh.q_head = f.q_head;
  fresh.q_tail = f.q_tail;
  fresh.q_len = f.q_len;
  fresh.q_prev = f.q_prev;
  fresh.q_next = f.q_next;
  fresh.created = now;
  fresh.last_activity = now;
  const std::uint32_t node = index_of(f);
  unlink(node);
  f = fresh;
  link_tail(node, kActive);
}

void FlowTable::erase(Flow& f) noexcept {
  remove(index_of(f));
}

std::size_t FlowTable::expire(MonoTime now) noexcept {
  std::size_t n = 0;
  while (!closed_.empty() && now - nodes_[closed_.head()].closed_at >= limits_.closed_linger) {
    remove(closed_.head());
    ++counters_.evictions;
    ++counters_.evicted_closed;
    ++n;
  }
  while (!active_.empty() && now - nodes_[active_.head()].last_activity >= limits_.idle_timeout) {
    remove(active_.head());
    ++counters_.evictions;
    ++counters_.evicted_idle;
    ++n;
  }
  return n;
}

void FlowTable::remove(std::uint32_t node) noexcept {
  Flow& f = nodes_[node];
  if (hook_ != nullptr) hook_(hook_ctx_, f);
  unlink(node);
  // Backward-shift deletion: no tombstones, so lookups stay short however long the
  // table runs.
  std::size_t i = find_slot(f.key, f.hash);
  std::size_t j = i;
  for (;;) {
    j = (j + 1) & mask_;
    if (index_[j] == kNoIndex) break;
    const std::size_t home = slot_of(nodes_[index_[j]].hash);
    const bool home_in_gap = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (!home_in_gap) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = kNoIndex;
  link_tail(node, kFree);
}

void FlowTable::link_tail(std::uint32_t node, std::uint8_t which) noexcept {
  nodes_[node].list = which;
  list_for(which).push_back(node);
}

void FlowTable::unlink(std::uint32_t node) noexcept {
  list_for(nodes_[node].list).erase(node);
}

}  // namespace ftproxy::tcp

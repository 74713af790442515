// Per-TCP-flow state the backup proxy keeps to translate between the primary's and the
// backup server's sequence/timestamp spaces (DESIGN.md §5). Fixed capacity, allocated
// once at construction; lookups, inserts and evictions never allocate or throw.
// Not thread-safe: one owner thread (the data path) uses it; control-plane readers
// (for_each) must run on that thread or be serialised with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "ftproxy/common/time.hpp"
#include "ftproxy/packet/frame.hpp"
#include "ftproxy/tcp/index_list.hpp"

namespace ftproxy::tcp {

inline constexpr std::uint8_t kNoWscale = 0xFF;  // window-scale option absent

enum class FlowState : std::uint8_t {
  syn_seen,     // the client's SYN was seen, handshake not complete
  established,  // the client acknowledged a SYN-ACK
  closing,      // one side sent a FIN
  closed,       // both FINs or a RST; evicted after closed_linger
};
const char* to_string(FlowState s) noexcept;

// What one server's SYN-ACK told us (primary: via FLOW_META, backup: captured on int).
struct SynAckInfo {
  bool seen = false;
  std::uint32_t isn = 0;  // the SYN-ACK's sequence number
  bool has_ts = false;
  std::uint32_t tsval = 0;  // TSval of the SYN-ACK, valid when has_ts
  std::uint8_t wscale = kNoWscale;
  std::uint16_t mss = 0;  // 0 = option absent
};

// One flow record. Fields are read by SeqTranslator and visitors; the link fields at
// the end belong to FlowTable/SeqTranslator and must not be modified by anyone else.
struct Flow {
  packet::FlowKey key;  // client→server direction
  FlowState state = FlowState::syn_seen;
  bool client_syn_seen = false;
  std::uint32_t client_isn = 0;
  std::uint8_t client_wscale = kNoWscale;  // window scale of the client's SYN (kNoWscale: none)
  SynAckInfo primary;                      // from FLOW_META
  SynAckInfo backup;                       // from the backup server's own SYN-ACK

  bool delta_known = false;          // both SYN-ACKs seen
  std::uint32_t seq_delta = 0;       // ISN_backup − ISN_primary (mod 2^32)
  bool ts_known = false;             // both SYN-ACKs carried timestamps
  std::uint32_t ts_delta = 0;        // TSval_backup − TSval_primary (mod 2^32)
  std::uint32_t snd_nxt_backup = 0;  // one past the highest seq the backup server sent
  bool client_nxt_set = false;
  std::uint32_t client_nxt = 0;  // one past the highest client seq forwarded to the backup server
  bool client_acked_set = false;
  std::uint32_t client_acked = 0;  // highest client ack forwarded, in the backup server's space
  bool ack_wanted_set = false;
  std::uint32_t ack_wanted = 0;  // highest ack the client sent (primary's space), forwarded or not
  bool rwnd_set = false;
  std::uint32_t rwnd_edge = 0;  // right edge of the backup server's receive window (client's
                                // space): its highest ack + (window << its window scale)

  // The client's last segment forwarded to the backup server, what a synthesized ACK
  // copies (SeqTranslator: ACK synthesis). Valid when client_hdr_set.
  bool client_hdr_set = false;
  bool client_hdr_usable = false;  // at most one VLAN tag: the builder can reproduce it
  packet::MacAddr client_mac;
  packet::MacAddr server_mac;
  std::uint16_t client_vlan_tci = 0;  // outer tag, when client_vlan_tagged
  bool client_vlan_tagged = false;
  std::uint8_t client_ttl = 0;
  std::uint8_t client_tos = 0;  // IPv4 TOS / IPv6 traffic class, ECN bits cleared
  std::uint16_t client_window = 0;
  bool client_has_ts = false;
  std::uint32_t client_tsval = 0;
  std::uint32_t client_tsecr = 0;  // primary's space
  bool diverged = false;           // a hold timed out: the byte streams no longer line up
  bool paws_floor_set = false;
  std::uint32_t paws_floor = 0;  // highest TSval released to the client on this flow

  bool client_fin = false;
  bool server_fin = false;
  bool wscale_mismatch = false;
  bool mss_mismatch = false;
  bool ts_mismatch = false;  // one SYN-ACK had timestamps, the other not

  MonoTime created{};
  MonoTime last_activity{};
  MonoTime closed_at{};

  // Per-flow FIFO of queued frames (slot indices into SeqTranslator's pool).
  std::uint32_t q_head = kNoIndex;
  std::uint32_t q_tail = kNoIndex;
  std::uint32_t q_len = 0;
  // Links of SeqTranslator's IndexLists (kNoIndex while not in the list).
  std::uint32_t q_prev = kNoIndex;  // list of flows with queued frames
  std::uint32_t q_next = kNoIndex;
  std::uint32_t s_prev = kNoIndex;  // list of flows owed a synthesized ACK
  std::uint32_t s_next = kNoIndex;

  // FlowTable internals: each record is on exactly one of its lists, which share these
  // links; `list` says which.
  std::size_t hash = 0;
  std::uint32_t lru_prev = kNoIndex;
  std::uint32_t lru_next = kNoIndex;
  std::uint8_t list = 0;  // 0 free, 1 active, 2 closed
};

struct FlowLimits {
  std::uint32_t max_flows = 65536;       // tcp.max_flows
  MonoTime idle_timeout = seconds(600);  // tcp.idle_timeout_s
  MonoTime closed_linger = seconds(5);   // tcp.closed_linger_s
  // When the table is full, a non-closed flow idle at least this long may be evicted
  // to make room (the oldest first); a flow active more recently is never evicted.
  MonoTime pressure_idle = seconds(30);
};

struct FlowTableCounters {
  std::uint64_t flows_created = 0;
  std::uint64_t evictions = 0;  // evicted_closed + evicted_idle
  std::uint64_t evicted_closed = 0;
  std::uint64_t evicted_idle = 0;
  std::uint64_t refused_full = 0;  // new flows refused: full and nothing evictable
};

class FlowTable {
 public:
  // Called just before a record is evicted/erased so its owner can release resources
  // attached to it (queued frames). Must not call back into the table.
  using EvictHook = void (*)(void* ctx, Flow& flow) noexcept;

  // Allocates all storage. Start-up only (may throw std::bad_alloc); max_flows >= 1.
  explicit FlowTable(const FlowLimits& limits);
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  void set_evict_hook(EvictHook hook, void* ctx) noexcept {
    hook_ = hook;
    hook_ctx_ = ctx;
  }

  // Lookup by the client→server key. nullptr if absent.
  Flow* find(const packet::FlowKey& c2s) noexcept;
  const Flow* find(const packet::FlowKey& c2s) const noexcept;
  // Lookup with a key of either direction (a server→client key is reversed first when
  // the forward lookup misses).
  Flow* find_either(const packet::FlowKey& key) noexcept;

  // Returns the record for `c2s`, creating a fresh one if absent. When full: evicts the
  // oldest closed flow, else the least recently active flow if idle >= pressure_idle,
  // else refuses (nullptr, refused_full counted).
  Flow* insert(const packet::FlowKey& c2s, MonoTime now) noexcept;

  // Records activity (moves an open flow to most-recently-used).
  void touch(Flow& f, MonoTime now) noexcept;
  // Marks the flow closed (FIN both ways or RST); it is evicted after closed_linger.
  void mark_closed(Flow& f, MonoTime now) noexcept;
  // Starts a new incarnation of the same 4-tuple: every field but the key and the
  // queue is reset and the flow is open again.
  void restart(Flow& f, MonoTime now) noexcept;
  // Removes the record (evict hook runs first).
  void erase(Flow& f) noexcept;

  // Evicts closed flows past closed_linger and open flows idle past idle_timeout.
  // Cost is proportional to the number evicted. Returns that number.
  std::size_t expire(MonoTime now) noexcept;

  std::size_t size() const noexcept { return active_.size() + closed_.size(); }
  std::size_t capacity() const noexcept { return nodes_.size(); }
  const FlowTableCounters& counters() const noexcept { return counters_; }
  const FlowLimits& limits() const noexcept { return limits_; }

  // Index of a record in [0, capacity) (stable for the record's lifetime) and back.
  std::uint32_t index_of(const Flow& f) const noexcept {
    return static_cast<std::uint32_t>(&f - nodes_.data());
  }
  Flow& at(std::uint32_t index) noexcept { return nodes_[index]; }
  const Flow& at(std::uint32_t index) const noexcept { return nodes_[index]; }

  // Calls visit(const Flow&) for every record: open flows least recently active first,
  // then closed flows. Control plane; must not modify the table.
  template <class Visit>
  void for_each(Visit&& visit) const {
    for (const List* l : {&active_, &closed_}) {
      for (std::uint32_t i = l->head(); i != kNoIndex; i = l->next(i)) visit(nodes_[i]);
    }
  }

 private:
  struct LruLinks {
    std::vector<Flow>* nodes;
    std::uint32_t& prev(std::uint32_t i) const noexcept { return (*nodes)[i].lru_prev; }
    std::uint32_t& next(std::uint32_t i) const noexcept { return (*nodes)[i].lru_next; }
  };
  // The lists share one pair of links, so IndexList::contains() cannot tell them apart:
  // a record's list is read from Flow::list.
  using List = IndexList<LruLinks>;
  static constexpr std::uint8_t kFree = 0, kActive = 1, kClosed = 2;

  std::size_t slot_of(std::size_t hash) const noexcept { return hash & mask_; }
  std::size_t find_slot(const packet::FlowKey& key, std::size_t hash) const noexcept;
  bool evict_one(MonoTime now) noexcept;
  void remove(std::uint32_t node) noexcept;
  List& list_for(std::uint8_t which) noexcept {
    return which == kClosed ? closed_ : which == kActive ? active_ : free_;
  }
  void link_tail(std::uint32_t node, std::uint8_t which) noexcept;  // also sets Flow::list
  void unlink(std::uint32_t node) noexcept;  // from the list Flow::list names; links reset

  FlowLimits limits_;
  std::vector<Flow> nodes_;
  std::vector<std::uint32_t> index_;  // open addressing, linear probing; kNoIndex = empty
  std::size_t mask_ = 0;
  // The lists point into nodes_, which is fine as a FlowTable is neither copied nor moved.
  // free_ is a stack (pushed and taken at the tail): the most recently freed record,
  // likely still in cache, is reused first.
  List free_{LruLinks{&nodes_}};
  List active_{LruLinks{&nodes_}};  // open flows, least recently active first
  List closed_{LruLinks{&nodes_}};  // closed flows, in the order they closed
  FlowTableCounters counters_;
  EvictHook hook_ = nullptr;
  void* hook_ctx_ = nullptr;
};

}  // namespace ftproxy::tcp

// Sequence/timestamp translation at the backup proxy (DESIGN.md §5).
//
// Inbound (client→backup server, log order, while BACKUP and while LIVE):
//   ack += seq_delta, SACK edges += seq_delta, TSecr += ts_delta (only with ACK set).
// Outbound (backup server→client, once LIVE):
//   seq −= seq_delta, TSval −= ts_delta clamped to the PAWS floor.
// where seq_delta = ISN_backup − ISN_primary and ts_delta = TSval_backup − TSval_primary,
// both mod 2^32 and learnt from the two servers' SYN-ACKs (primary via FLOW_META,
// backup captured on int). Checksums are updated incrementally (RFC 1624).
//
// Frames that cannot go to the backup server yet are copied into a per-flow FIFO
// (fixed pool allocated at construction) and released by drain_ready():
//   wait: the flow's deltas are not known yet (FLOW_META or the backup SYN-ACK missing);
//   hold: the translated ack is beyond what the backup server has sent (Linux would
//         discard the whole segment, payload included). The hold also keeps the
//         servers' interleaving of clients alike: such a request was sent after its
//         client saw a reply, so the backup server gets it only once it has produced
//         that reply too (a server handed both at once may serve them in one go, where
//         the primary served other clients in between);
//   window hold: the segment's payload ends beyond the backup server's receive window
//         (its ack + (window << its window scale), learnt from its captured outputs).
//         The client obeys the primary server's window only; Linux drops bytes beyond
//         the window and the client never resends them (the primary acked them), so
//         the backup server would keep a hole. Released when the backup server's next
//         ACK or window update opens the window (its application read).
// Frames of one flow always reach the backup server in the order they were given.
//
// ACK synthesis: an ack the client sent may reach the backup server lowered (a pure
// ACK or a retransmission beyond the backup's output, a hold timeout) or late (inside
// a held segment). The backup server would then miss acks for bytes the client has,
// time out, collapse its congestion window, and the replies that release held segments
// would stop coming. So per flow the highest ack the client sent is remembered, and
// whenever the backup server has sent more than it was acked, drain_ready() also emits
// a pure ACK built from the flow's last forwarded client segment (seq, window, TSval,
// translated TSecr) up to min(that ack, the backup server's snd_nxt).
//
// Pure logic: no I/O, time injected, no allocation/exception/log per packet.
// Not thread-safe: one owner thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "ftproxy/common/time.hpp"
#include "ftproxy/packet/builder.hpp"
#include "ftproxy/packet/frame.hpp"
#include "ftproxy/tcp/flow_table.hpp"
#include "ftproxy/tcp/index_list.hpp"

namespace ftproxy::tcp {

// What FLOW_META carries for one TCP flow (the lead converts from the wire record).
struct FlowMeta {
  packet::FlowKey key;              // client→server direction
  std::uint32_t primary_isn = 0;    // seq of the primary server's SYN-ACK
  std::uint32_t primary_tsval = 0;  // TSval of that SYN-ACK (valid when has_ts); also
                                    // a later, higher TSval the primary released (PAWS floor)
  bool has_ts = false;
  std::uint8_t wscale = kNoWscale;  // window scale of that SYN-ACK, kNoWscale if absent
  std::uint16_t mss = 0;            // MSS of that SYN-ACK, 0 if absent
};

struct TranslatorLimits {
  FlowLimits flows;
  std::uint32_t queue_frames_per_flow = 256;   // tcp.wait_queue_frames
  std::uint32_t queue_pool_frames = 8192;      // frames queued across all flows
  std::uint32_t queue_slot_bytes = 2048;       // largest frame that can be queued
  MonoTime hold_timeout = milliseconds(2000);  // tcp.hold_ms
  // Global order (default): once any TCP frame is queued, every later TCP frame of any
  // flow queues behind it, so the backup server receives the flows' segments in exactly
  // the log's order. Per-flow order only would let one flow overtake a held one, and a
  // server that serves several clients on shared state (INCR on one key) would then
  // apply their requests in another order than the primary did: divergence.
  bool global_order = true;
  MonoTime wait_timeout = milliseconds(2000);  // max wait for a flow's deltas
};

enum class InboundDecision : std::uint8_t {
  forward,         // translated in place: send it to the backup server now
  wait,            // copied into the flow's queue (deltas unknown); drop the original
  hold,            // copied into the flow's queue (ack beyond the backup's snd_nxt, payload
                   // beyond its receive window, or behind an earlier queued frame); drop the original
  passthrough,     // needs no translation (not TCP, or the client's SYN): send unchanged
  drop_full,       // no room (flow queue, frame pool, or flow table): drop; counted as divergence
  drop_untracked,  // TCP segment of a flow with no record (no SYN seen, or refused): drop
  drop_invalid,    // a blind guess the primary's server refused (a gap segment with a made-up ack): drop
};
const char* to_string(InboundDecision d) noexcept;

enum class OutboundDecision : std::uint8_t {
  forward,      // translated in place
  passthrough,  // not TCP: send unchanged
  untracked,    // TCP but no record / deltas unknown: left unchanged, caller decides
};
const char* to_string(OutboundDecision d) noexcept;

// Counter snapshot. "Divergence" counters mean the backup's server may no longer be an
// exact replica of the primary's: hold_timeouts, wait_drops, queue_full_drops,
// refused_full.
struct TcpCounters {
  std::uint64_t flows_tracked = 0;  // gauge
  std::uint64_t flows_created = 0;
  std::uint64_t evictions = 0;
  std::uint64_t evicted_closed = 0;
  std::uint64_t evicted_idle = 0;
  std::uint64_t refused_full = 0;
  std::uint64_t translated_in = 0;
  std::uint64_t translated_out = 0;
  std::uint64_t waiting_now = 0;       // gauge: queued frames of flows whose deltas are unknown
  std::uint64_t held_now = 0;          // gauge: queued frames of flows whose deltas are known
  std::uint64_t held_total = 0;        // frames delayed: ack beyond snd_nxt or beyond the window
  std::uint64_t window_holds = 0;      // of those, frames delayed because their payload ended
                                       // beyond the backup server's receive window
  std::uint64_t hold_timeouts = 0;     // released after hold_timeout with ack clamped (divergence)
  std::uint64_t wait_drops = 0;        // queued frames dropped: wait timeout, flow evicted/restarted
  std::uint64_t queue_full_drops = 0;  // drop_full decisions for queue/pool/oversize
  std::uint64_t untracked_in = 0;      // drop_untracked decisions
  std::uint64_t untracked_out = 0;
  std::uint64_t wscale_mismatch = 0;  // flows whose SYN-ACKs disagree (once per flow)
  std::uint64_t mss_mismatch = 0;
  std::uint64_t ts_mismatch = 0;
  std::uint64_t paws_clamped = 0;       // outbound TSvals raised to the PAWS floor
  std::uint64_t acks_clamped = 0;       // pure ACKs beyond the backup's snd_nxt, forwarded with the ack
                                        // lowered to it (never held: bulk senders need them)
  std::uint64_t stale_retransmits = 0;  // client retransmissions of data the backup already has,
                                        // forwarded at once with the ack lowered (never held)
  std::uint64_t out_of_window = 0;      // client segments farther than a window from its stream
                                        // (blind guesses): forwarded, ack lowered, nothing learnt
  std::uint64_t gaps_clamped = 0;       // segments starting past the client's stream (a gap, or a
                                        // blind sender's guess): forwarded at once, an ack beyond
                                        // the backup's snd_nxt lowered, nothing learnt, never held
  std::uint64_t blind_dropped = 0;      // drop_invalid: segments past the client's stream whose ack
                                        // is farther than a window from the client's (made up)
  std::uint64_t acks_lowered = 0;       // forwarded segments whose ack was lowered to snd_nxt (any cause)
  std::uint64_t acks_synthesized = 0;   // pure ACKs built and sent to the backup server
  std::uint64_t synth_unusable = 0;     // owed an ACK but no usable client header (2 VLAN tags)
  std::uint64_t flows_diverged = 0;     // flows with a hold timeout: their segments are no longer held

  std::uint64_t divergence() const noexcept {
    return hold_timeouts + wait_drops + queue_full_drops + refused_full;
  }
};

class SeqTranslator {
 public:
  // Allocates the flow table and frame pool. Start-up only (may throw std::bad_alloc).
  explicit SeqTranslator(const TranslatorLimits& limits);
  SeqTranslator(const SeqTranslator&) = delete;
  SeqTranslator& operator=(const SeqTranslator&) = delete;

  // A client→server frame from the log, `f` from parse_frame(frame) == ok. On forward
  // the frame was rewritten in place; on wait/hold a copy was queued (see the enum).
  InboundDecision translate_in(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                               MonoTime now) noexcept;

  // FLOW_META from the primary. Creates the record if needed (may be refused when full).
  // A repeat with the same ISN only raises the PAWS floor to primary_tsval. Returns true
  // when queued frames of that flow may now be releasable (call drain_ready).
  bool on_flow_meta(const FlowMeta& meta, MonoTime now) noexcept;

  // The primary released a segment with this TSval on the flow (either key direction).
  // Raises the PAWS floor; never lowers it.
  void note_primary_tsval(const packet::FlowKey& key, std::uint32_t tsval) noexcept;

  // Every frame the backup server emits on int, before translate_out: learns its SYN-ACK
  // (ISN, TSval, wscale, MSS), advances snd_nxt (seq + payload + SYN + FIN), FIN/RST.
  // Returns true when queued frames of that flow may now be releasable (call drain_ready).
  bool on_server_output(std::span<const std::uint8_t> frame, const packet::ParsedFrame& f,
                        MonoTime now) noexcept;

  // Rewrites a backup server→client frame in place (used once LIVE). Call
  // on_server_output for the frame first. Raises the PAWS floor to the TSval sent.
  OutboundDecision translate_out(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                                 MonoTime now) noexcept;

  // Emits, per flow in FIFO order, queued frames that can now go to the backup server,
  // translated, then the synthesized ACKs owed (at most one per flow and call):
  // sink(std::span<std::uint8_t>) is called once per frame and must copy the
  // bytes before returning and must not call back into the translator. Also applies the bounded waits: a
  // waiting head older than wait_timeout is dropped (wait_drops); a held head older than hold_timeout is
  // released with its ack clamped to the backup's snd_nxt so its payload is still accepted (hold_timeouts,
  // divergence). Returns the number of frames emitted.
  template <class Sink>
  std::size_t drain_ready(MonoTime now, Sink&& sink) {
    using S = std::remove_reference_t<Sink>;
    return drain_impl(
        now, Emit{&sink, [](void* ctx, std::span<std::uint8_t> fr) { (*static_cast<S*>(ctx))(fr); }});
  }

  // True when the client has already acknowledged every byte of this backup server
  // output `f` (it got them from the primary): nothing to replay at a takeover. False
  // when unknown (no record, deltas unknown).
  bool client_has(const packet::ParsedFrame& f) const noexcept;

  // True when drain_ready has something to look at: queued frames, or flows owed a
  // synthesized ACK.
  bool has_queued() const noexcept { return !queued_.empty() || !synth_.empty(); }

  // False when translate_in() could have to drop `f` for lack of queue room (its flow's
  // queue is at the per-flow limit, or the shared pool is exhausted). The caller then
  // applies backpressure (stops taking log entries) instead of losing the frame, and
  // offers it again after drain_ready() freed room.
  bool can_take(const packet::ParsedFrame& f) const noexcept;

  // The oldest frame queued for `flow` (empty if none), for diagnostics (/flows).
  std::span<const std::uint8_t> queue_head(const Flow& flow) const noexcept {
    if (flow.q_len == 0 || flow.q_head == kNoIndex) return {};
    return {pool_.data() + std::size_t{flow.q_head} * limits_.queue_slot_bytes, slot_len_[flow.q_head]};
  }

  // Evicts closed/idle flows (see FlowTable::expire). Returns the number evicted.
  std::size_t expire(MonoTime now) noexcept { return table_.expire(now); }

  TcpCounters counters() const noexcept;
  const FlowTable& flows() const noexcept { return table_; }
  const TranslatorLimits& limits() const noexcept { return limits_; }

 private:
  struct Emit {
    void* ctx;
    void (*call)(void* ctx, std::span<std::uint8_t> frame);
  };
  std::size_t drain_impl(MonoTime now, Emit emit) noexcept;

  bool enqueue(Flow& flow, std::span<const std::uint8_t> frame, MonoTime now, std::uint8_t held) noexcept;
  void pop_head(Flow& flow) noexcept;
  void drop_queue(Flow& flow) noexcept;
  void learn_deltas(Flow& flow, MonoTime now) noexcept;
  static void on_evict(void* ctx, Flow& flow) noexcept;
  // ACK synthesis (see the file comment).
  void note_wanted(Flow& flow, const packet::ParsedFrame& f) noexcept;
  void note_client_sent(Flow& flow, std::span<const std::uint8_t> frame,
                        const packet::ParsedFrame& f) noexcept;
  void schedule_synth(Flow& flow) noexcept;
  std::size_t emit_synth(Emit emit) noexcept;
  // Applies the translation to a frame about to be forwarded (clamp: lower an ack beyond
  // snd_nxt) and records what was sent. Counts translated_in and acks_lowered.
  void forward_in(std::span<std::uint8_t> frame, const packet::ParsedFrame& f, Flow& flow,
                  bool clamp) noexcept;
  void forward_gap(std::span<std::uint8_t> frame, const packet::ParsedFrame& f, Flow& flow) noexcept;
  // A segment past the client's stream (beyond_client_stream): false when it is a guess
  // the primary's server refused (implausible_ack; dropped, counted), else translated as
  // a gap by forward_gap (counted) and true: the caller sends it on.
  bool pass_gap(std::span<std::uint8_t> frame, const packet::ParsedFrame& f, Flow& flow) noexcept;

  TranslatorLimits limits_;
  FlowTable table_;
  // Frame pool: slot i holds bytes [i*slot_bytes, +len); free slots chained via next.
  std::vector<std::uint8_t> pool_;
  std::vector<std::uint32_t> slot_len_;
  std::vector<std::uint32_t> slot_next_;
  std::vector<MonoTime> slot_since_;                 // when the frame was queued (or its wait ended)
  std::vector<std::uint8_t> slot_held_;              // kHeldCounted | kWindowCounted
  static constexpr std::uint8_t kHeldCounted = 1;    // counted in held_total, hold time started
  static constexpr std::uint8_t kWindowCounted = 2;  // counted in window_holds
  std::vector<std::uint32_t> slot_flow_;             // the flow each queued slot belongs to
  // IndexList accessors. The lists below point into this object's own members, which is
  // fine as a SeqTranslator is neither copied nor moved.
  template <std::uint32_t Flow::*Prev, std::uint32_t Flow::*Next>
  struct FlowLinks {
    FlowTable* table;
    std::uint32_t& prev(std::uint32_t i) const noexcept { return table->at(i).*Prev; }
    std::uint32_t& next(std::uint32_t i) const noexcept { return table->at(i).*Next; }
  };
  struct SlotLinks {
    std::vector<std::uint32_t>* prev_of;
    std::vector<std::uint32_t>* next_of;
    std::uint32_t& prev(std::uint32_t i) const noexcept { return (*prev_of)[i]; }
    std::uint32_t& next(std::uint32_t i) const noexcept { return (*next_of)[i]; }
  };
  using QueuedLinks = FlowLinks<&Flow::q_prev, &Flow::q_next>;
  using SynthLinks = FlowLinks<&Flow::s_prev, &Flow::s_next>;
  // Global arrival order of queued slots, across flows.
  std::vector<std::uint32_t> slot_gprev_;
  std::vector<std::uint32_t> slot_gnext_;
  IndexList<SlotLinks> global_{SlotLinks{&slot_gprev_, &slot_gnext_}};
  std::size_t drain_global(MonoTime now, Emit emit) noexcept;
  // Releases the head slot of `flow` if it may go now; false when it must stay.
  bool release_head(Flow& flow, MonoTime now, Emit emit) noexcept;
  std::uint32_t free_slot_ = kNoIndex;
  // Flows with queued frames, in the order their queues became non-empty.
  IndexList<QueuedLinks> queued_{QueuedLinks{&table_}};
  // Flows owed a synthesized ACK, in the order they came to owe it.
  IndexList<SynthLinks> synth_{SynthLinks{&table_}};
  std::array<std::uint8_t, packet::kMaxTcpSegmentFrameLen> synth_buf_{};
  TcpCounters c_;
};

}  // namespace ftproxy::tcp

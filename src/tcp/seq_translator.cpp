#include "ftproxy/tcp/seq_translator.hpp"

#include <algorithm>
#include <cstring>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/packet/checksum.hpp"
#include "ftproxy/packet/serial.hpp"

namespace ftproxy::tcp {

namespace {

using packet::kTcpAck;
using packet::kTcpFin;
using packet::kTcpRst;
using packet::kTcpSyn;

bool has(const packet::ParsedFrame& f, std::uint8_t flag) {
  return (f.tcp.flags & flag) != 0;
}

// Field offsets inside the TCP header.
constexpr std::size_t kSeqOff = 4;
constexpr std::size_t kAckOff = 8;

// Rewrites the client→server fields of `f` into the backup server's spaces. With
// `clamp_ack`, an ack beyond the backup's snd_nxt is lowered to it; returns true when
// it was.
bool apply_in(std::span<std::uint8_t> frame, const packet::ParsedFrame& f, const Flow& flow,
              bool clamp_ack) noexcept {
  // Without ACK the ack and TSecr fields carry no meaning (RFC 9293, RFC 7323 §3.2),
  // e.g. the client's SYN.
  if (!has(f, kTcpAck)) return false;
  const std::size_t csum = packet::l4_checksum_offset(f);
  std::uint32_t ack = f.tcp.ack + flow.seq_delta;
  const bool lowered = clamp_ack && packet::seq_gt(ack, flow.snd_nxt_backup);
  if (lowered) ack = flow.snd_nxt_backup;
  packet::rewrite32_with_checksum(frame, f.l4_offset + kAckOff, csum, ack);
  // SACK blocks acknowledge server data, so they live in the server's sequence space.
  // Blocks beyond the backup's snd_nxt (left in place when the ack is lowered) are
  // ignored by the receiver's validity check (Linux: tcp_is_sackblock_valid); the
  // synthesized ACK that follows carries none.
  for (std::size_t i = 0; i < f.tcp.opt.sack_blocks; ++i) {
    const std::size_t left = f.tcp.opt.sack_offset + 8 * i;
    for (const std::size_t edge : {left, left + 4}) {
      packet::rewrite32_with_checksum(frame, edge, csum, load_be32(frame.data() + edge) + flow.seq_delta);
    }
  }
  if (flow.ts_known && f.tcp.opt.has_timestamp) {
    packet::rewrite32_with_checksum(frame, f.tcp.opt.ts_offset + 4u, csum, f.tcp.opt.tsecr + flow.ts_delta);
  }
  return lowered;
}

// A segment that carries nothing but acknowledgement (no payload, SYN, FIN or RST).
// Beyond the backup's output such an ACK is clamped rather than held; the part it could
// not carry follows as a synthesized ACK once the backup server has sent those bytes
// (also the ACK of the server's FIN, which the backup server needs to leave LAST-ACK).
bool pure_ack(const packet::ParsedFrame& f) noexcept {
  return f.payload_len == 0 && !has(f, kTcpSyn) && !has(f, kTcpFin) && !has(f, kTcpRst);
}

// The ack a synthesized ACK would carry now: min(what the client acked, what the backup
// server sent). Meaningful when owes_ack().
std::uint32_t synth_target(const Flow& flow) noexcept {
  const std::uint32_t wanted = flow.ack_wanted + flow.seq_delta;
  return packet::seq_lt(wanted, flow.snd_nxt_backup) ? wanted : flow.snd_nxt_backup;
}

// True when the backup server has sent bytes the client acknowledged but no segment
// forwarded to the backup server acknowledged yet. Not before a real client ACK went
// through (a synthesized one must never complete a handshake), nor after a RST.
bool owes_ack(const Flow& flow) noexcept {
  if (!flow.delta_known || !flow.client_acked_set || !flow.ack_wanted_set || !flow.client_nxt_set)
    return false;
  if (flow.state == FlowState::closed && !(flow.client_fin && flow.server_fin)) return false;  // RST
  // Once the backup server has sent its FIN it has nothing left to send, and an ACK of
  // that FIN would close its socket: a client segment still queued behind it would then
  // meet no socket and draw a RST. The queued segments carry the ack themselves.
  if (flow.server_fin && flow.q_len > 0) return false;
  return packet::seq_gt(synth_target(flow), flow.client_acked);
}

// IPv4 TOS / IPv6 traffic class of a parsed IP frame, ECN bits cleared (a pure ACK is
// sent Not-ECT, RFC 3168 §6.1.4).
std::uint8_t dscp_of(std::span<const std::uint8_t> frame, const packet::ParsedFrame& f) noexcept {
  const std::uint8_t* ip = frame.data() + f.l3_offset;
  const std::uint8_t tc =
      f.l3 == packet::L3Kind::ipv4 ? ip[1] : static_cast<std::uint8_t>(((ip[0] & 0x0F) << 4) | (ip[1] >> 4));
  return static_cast<std::uint8_t>(tc & 0xFC);
}

// A retransmission of client data the backup server already received. The client may
// send one long after the original (its RTO or tail-loss probe fired while the primary's
// ACK was held by the output rule), carrying an ack for replies to requests that came
// later. Holding it for that ack would block those later requests behind it in the
// flow's FIFO: a deadlock. Its payload is a duplicate for the backup server, so it is
// forwarded at once with the ack lowered to what the backup server has sent.
bool stale_retransmit(const Flow& flow, const packet::ParsedFrame& f) noexcept {
  return flow.delta_known && flow.client_nxt_set && f.payload_len > 0 && !has(f, kTcpSyn) &&
         packet::seq_le(f.tcp.seq + f.payload_len + (has(f, kTcpFin) ? 1u : 0u), flow.client_nxt);
}

// A client segment no server could accept: its seq is farther than the largest window
// the backup server can advertise (65535 << its window scale) from the client's stream
// as forwarded so far, on either side; a real retransmission or reordering stays within
// it. Blind senders (found by tests/e2e/test_hostile_frames: random seq, ack and TSval
// on a live 4-tuple) must not teach the flow an ack, a TSval (a synthesized ACK carrying
// it would make the backup server drop every later client segment by PAWS) or a close.
bool out_of_window(const Flow& flow, const packet::ParsedFrame& f) noexcept {
  if (!flow.delta_known || !flow.client_nxt_set) return false;
  const std::uint32_t scale =
      flow.backup.wscale == kNoWscale ? 0u : std::min<std::uint32_t>(flow.backup.wscale, 14u);
  const std::uint32_t window = 65535u << scale;
  const std::uint32_t ahead = f.tcp.seq - flow.client_nxt;  // mod 2^32
  return ahead > window && 0u - ahead > window;
}

// A segment that starts past the client's stream as forwarded so far, within a window:
// a gap (lost on the way to the primary) or made up by a blind sender (found by
// tests/e2e/test_hostile_frames: random seq/ack with a payload on a live 4-tuple). Held
// as "ack beyond the backup's output", it stalled every flow behind it for tcp.hold_ms
// (global order); forwarded as client data, it moved client_nxt ahead of the client's
// real stream, whose segments all became "stale retransmissions". It is forwarded at
// once with the ack lowered: the backup server queues a real gap out of order or drops
// a guess on its sequence number, as the primary's server did.
bool beyond_client_stream(const Flow& flow, const packet::ParsedFrame& f) noexcept {
  return flow.delta_known && flow.client_nxt_set && packet::seq_gt(f.tcp.seq, flow.client_nxt);
}

// The backup server's window scale for its segments after the SYN-ACK (0 when it sent
// none: it only does when the client's SYN offered one, RFC 7323 §2.2).
std::uint32_t backup_scale(const Flow& flow) noexcept {
  return flow.backup.wscale == kNoWscale ? 0u : std::min<std::uint32_t>(flow.backup.wscale, 14u);
}

// The largest receive window the client can advertise: 65535 << the scale of its SYN
// when both sides offered one (RFC 7323 §2.2), else 65535. The primary's server never
// has more than that in flight, so a real client ack never jumps further than this
// past the client's previous ones.
std::uint32_t client_window_bound(const Flow& flow) noexcept {
  if (!flow.client_syn_seen) return 0xFFFFFFFFu;  // unknown: no bound
  const bool scaled = flow.client_wscale != kNoWscale &&
                      (flow.primary.wscale != kNoWscale || flow.backup.wscale != kNoWscale);
  return scaled ? 65535u << std::min<std::uint32_t>(flow.client_wscale, 14u) : 65535u;
}

// A segment past the client's stream (beyond_client_stream) whose ack is farther than
// the client's largest window from the highest ack the client has sent (primary's space), on
// either side: made up. The primary's server discards it (an ack of data it never sent,
// or one older than its window, RFC 5961 §5.2), while the backup's server, handed it
// with the ack lowered to an acceptable one, would queue the made-up payload out of
// order and, where it overlaps bytes still to come, keep it instead of the client's
// (found by tests/e2e/test_hostile_frames in CI: S2's redis stream corrupted, 2070 of
// 17110 writes kept). A real gap segment was sent after the client's last acks, so its
// ack is at most a window of the server's output above them.
bool implausible_ack(const Flow& flow, const packet::ParsedFrame& f) noexcept {
  if (!has(f, kTcpAck) || has(f, kTcpRst) || !flow.ack_wanted_set) return false;
  const std::uint32_t window = client_window_bound(flow);
  const std::uint32_t d = f.tcp.ack - flow.ack_wanted;  // mod 2^32
  return d > window && 0u - d > window;
}

// A client segment whose payload ends beyond the backup server's receive window. The
// client obeys the primary server's window only; Linux drops the bytes beyond the
// backup server's (TcpExtBeyondWindow) and the client never resends them (the primary
// acked them): a permanent hole in the backup server's stream. Such a segment is held
// like one acking unsent data, until the backup server's ACK or window update (its
// application read) moves the edge. Unknown before the backup server's SYN-ACK.
bool beyond_window(const Flow& flow, const packet::ParsedFrame& f) noexcept {
  return flow.rwnd_set && f.payload_len > 0 && !has(f, kTcpRst) &&
         packet::seq_gt(f.tcp.seq + f.payload_len, flow.rwnd_edge);
}

}  // namespace

const char* to_string(InboundDecision d) noexcept {
  switch (d) {
    case InboundDecision::forward:
      return "forward";
    case InboundDecision::wait:
      return "wait";
    case InboundDecision::hold:
      return "hold";
    case InboundDecision::passthrough:
      return "passthrough";
    case InboundDecision::drop_full:
      return "drop_full";
    case InboundDecision::drop_untracked:
      return "drop_untracked";
    case InboundDecision::drop_invalid:
      return "drop_invalid";
  }
  return "unknown";
}

const char* to_string(OutboundDecision d) noexcept {
  switch (d) {
    case OutboundDecision::forward:
      return "forward";
    case OutboundDecision::passthrough:
      return "passthrough";
    case OutboundDecision::untracked:
      return "untracked";
  }
  return "unknown";
}

SeqTranslator::SeqTranslator(const TranslatorLimits& limits) : limits_(limits), table_(limits.flows) {
  const std::size_t n = limits.queue_pool_frames;
  pool_.resize(n * limits.queue_slot_bytes);
  slot_len_.assign(n, 0);
  slot_next_.assign(n, kNoIndex);
  slot_since_.assign(n, MonoTime{});
  slot_held_.assign(n, 0);
  slot_gnext_.assign(n, kNoIndex);
  slot_gprev_.assign(n, kNoIndex);
  slot_flow_.assign(n, kNoIndex);
  for (std::size_t i = n; i-- > 0;) {
    slot_next_[i] = free_slot_;
    free_slot_ = static_cast<std::uint32_t>(i);
  }
  table_.set_evict_hook(&SeqTranslator::on_evict, this);
}

void SeqTranslator::on_evict(void* ctx, Flow& flow) noexcept {
  auto* self = static_cast<SeqTranslator*>(ctx);
  self->drop_queue(flow);
  self->synth_.erase(self->table_.index_of(flow));
}

// Records how far the client's byte stream has reached the backup server, the highest
// ack it carried there, and the header fields a synthesized ACK copies. TSval is taken
// from forwarded segments only: the backup server's ts_recent comes from them, and a
// synthesized ACK with a later TSval than a segment still held would make PAWS drop
// that segment when it is released.
void SeqTranslator::note_client_sent(Flow& flow, std::span<const std::uint8_t> frame,
                                     const packet::ParsedFrame& f) noexcept {
  const std::uint32_t end =
      f.tcp.seq + f.payload_len + (has(f, kTcpSyn) ? 1u : 0u) + (has(f, kTcpFin) ? 1u : 0u);
  if (!flow.client_nxt_set || packet::seq_gt(end, flow.client_nxt)) {
    flow.client_nxt = end;
    flow.client_nxt_set = true;
  }
  if (!has(f, kTcpAck) || has(f, kTcpRst)) return;
  if (flow.delta_known) {
    std::uint32_t ack = f.tcp.ack + flow.seq_delta;
    if (packet::seq_gt(ack, flow.snd_nxt_backup)) ack = flow.snd_nxt_backup;
    if (!flow.client_acked_set || packet::seq_gt(ack, flow.client_acked)) {
      flow.client_acked = ack;
      flow.client_acked_set = true;
    }
  }
  flow.client_hdr_set = true;
  flow.client_hdr_usable = f.vlan_count <= 1;
  flow.client_mac = f.src_mac;
  flow.server_mac = f.dst_mac;
  flow.client_vlan_tagged = f.vlan_count == 1;
  flow.client_vlan_tci = f.vlan_tci[0];
  flow.client_ttl = f.ttl;
  flow.client_tos = dscp_of(frame, f);
  flow.client_window = f.tcp.window;
  if (f.tcp.opt.has_timestamp &&
      (!flow.client_has_ts || packet::seq_ge(f.tcp.opt.tsval, flow.client_tsval))) {
    flow.client_has_ts = true;
    flow.client_tsval = f.tcp.opt.tsval;
    flow.client_tsecr = f.tcp.opt.tsecr;
  }
}

void SeqTranslator::note_wanted(Flow& flow, const packet::ParsedFrame& f) noexcept {
  if (!has(f, kTcpAck) || has(f, kTcpRst)) return;
  // A jump past the client's window is a guess (see implausible_ack): learnt, it would
  // make the guess, and every later one, look plausible.
  if (flow.ack_wanted_set && f.tcp.ack - flow.ack_wanted > client_window_bound(flow)) return;
  if (!flow.ack_wanted_set || packet::seq_gt(f.tcp.ack, flow.ack_wanted)) {
    flow.ack_wanted = f.tcp.ack;
    flow.ack_wanted_set = true;
  }
}

void SeqTranslator::forward_in(std::span<std::uint8_t> frame, const packet::ParsedFrame& f, Flow& flow,
                               bool clamp) noexcept {
  if (apply_in(frame, f, flow, clamp)) ++c_.acks_lowered;
  note_client_sent(flow, frame, f);
  ++c_.translated_in;
  schedule_synth(flow);
}

// A segment past the client's stream (beyond_client_stream) or out of its window
// (out_of_window), translated with an ack beyond the backup's snd_nxt lowered. Unlike
// forward_in it teaches the flow nothing: its seq, ack and TSval may be made up, and
// client_nxt (raised by the server's own ack once a real gap is filled, see
// on_server_output), client_acked, ack_wanted and the header that synthesized ACKs
// copy must come from the client's real segments.
void SeqTranslator::forward_gap(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                                Flow& flow) noexcept {
  if (apply_in(frame, f, flow, true)) ++c_.acks_lowered;
  ++c_.translated_in;
}

bool SeqTranslator::pass_gap(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                             Flow& flow) noexcept {
  if (implausible_ack(flow, f)) {
    ++c_.blind_dropped;
    return false;
  }
  forward_gap(frame, f, flow);
  ++c_.gaps_clamped;
  return true;
}

void SeqTranslator::schedule_synth(Flow& flow) noexcept {
  const std::uint32_t i = table_.index_of(flow);
  if (synth_.contains(i) || !owes_ack(flow)) return;
  synth_.push_back(i);
}

std::size_t SeqTranslator::emit_synth(Emit emit) noexcept {
  std::size_t emitted = 0;
  while (!synth_.empty()) {
    const std::uint32_t i = synth_.head();
    synth_.erase(i);
    Flow& flow = table_.at(i);
    if (!owes_ack(flow)) continue;  // a released segment carried the ack meanwhile
    if (!flow.client_hdr_set || !flow.client_hdr_usable) {
      ++c_.synth_unusable;
      continue;
    }
    const std::uint32_t ack = synth_target(flow);
    packet::TcpSegmentSpec spec;
    spec.src_mac = flow.client_mac;
    spec.dst_mac = flow.server_mac;
    if (flow.client_vlan_tagged) spec.vlan_tci = flow.client_vlan_tci;
    spec.src_ip = flow.key.src_ip;
    spec.dst_ip = flow.key.dst_ip;
    spec.ttl = flow.client_ttl;
    spec.tos = flow.client_tos;
    spec.src_port = flow.key.src_port;
    spec.dst_port = flow.key.dst_port;
    spec.seq = flow.client_nxt;
    spec.ack = ack;
    spec.flags = kTcpAck;
    spec.window = flow.client_window;
    spec.has_timestamp = flow.client_has_ts;
    spec.tsval = flow.client_tsval;
    spec.tsecr = flow.client_tsecr + (flow.ts_known ? flow.ts_delta : 0u);
    const std::size_t len = packet::build_tcp_segment(synth_buf_, spec);
    if (len == 0) {
      ++c_.synth_unusable;
      continue;
    }
    flow.client_acked = ack;
    ++c_.acks_synthesized;
    ++emitted;
    emit.call(emit.ctx, std::span<std::uint8_t>(synth_buf_.data(), len));
  }
  return emitted;
}

InboundDecision SeqTranslator::translate_in(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                                            MonoTime now) noexcept {
  if (f.l4 != packet::L4Kind::tcp) return InboundDecision::passthrough;
  const packet::FlowKey key = packet::flow_key(f);
  Flow* flow = table_.find(key);

  if (has(f, kTcpSyn) && !has(f, kTcpAck)) {
    if (flow == nullptr) {
      flow = table_.insert(key, now);
      if (flow == nullptr) return InboundDecision::drop_full;  // refused_full counted
    } else if (flow->state == FlowState::closed || (flow->client_syn_seen && flow->client_isn != f.tcp.seq)) {
      // Same 4-tuple, new connection: the old offsets no longer apply.
      drop_queue(*flow);
      synth_.erase(table_.index_of(*flow));
      table_.restart(*flow, now);
    }
    flow->client_syn_seen = true;
    flow->client_isn = f.tcp.seq;
    flow->client_wscale = f.tcp.opt.has_wscale ? f.tcp.opt.wscale : kNoWscale;
    table_.touch(*flow, now);
    // Rare (SYN retransmitted while later frames are queued), but the flow's order holds.
    if (flow->q_len == 0 && !(limits_.global_order && !global_.empty())) return InboundDecision::passthrough;
  } else {
    if (flow == nullptr) {
      ++c_.untracked_in;
      return InboundDecision::drop_untracked;
    }
    if (out_of_window(*flow, f)) {
      // Both servers drop it on its sequence number (a blind RST included): forward it
      // with the ack lowered, learning nothing from it and leaving the flow open.
      forward_gap(frame, f, *flow);
      ++c_.out_of_window;
      return InboundDecision::forward;
    }
    if (flow->q_len == 0 && beyond_client_stream(*flow, f)) {
      // Something the client sent before it is missing from the log (a loss on the way
      // to the primary), or it is a blind guess. It may not teach the flow the client's
      // ack or TSval, nor close it (Linux takes a RST at rcv_nxt only), and it never
      // waits: the gap filler comes in order. A guess with an ack the primary's server
      // refused is dropped (see implausible_ack).
      return pass_gap(frame, f, *flow) ? InboundDecision::forward : InboundDecision::drop_invalid;
    }
    if (has(f, kTcpRst)) {
      table_.mark_closed(*flow, now);
    } else {
      if (has(f, kTcpFin)) flow->client_fin = true;
      if (flow->state != FlowState::closed) {
        if (flow->client_fin && flow->server_fin) {
          table_.mark_closed(*flow, now);
        } else {
          if (flow->client_fin || flow->server_fin) {
            flow->state = FlowState::closing;
          } else if (flow->state == FlowState::syn_seen && has(f, kTcpAck)) {
            flow->state = FlowState::established;
          }
          table_.touch(*flow, now);
        }
      } else {
        table_.touch(*flow, now);
      }
    }
  }

  note_wanted(*flow, f);
  if (stale_retransmit(*flow, f)) {
    forward_in(frame, f, *flow, true);
    ++c_.stale_retransmits;
    return InboundDecision::forward;
  }
  if (flow->q_len > 0 || !flow->delta_known || (limits_.global_order && !global_.empty())) {
    const bool known = flow->delta_known;
    if (!enqueue(*flow, frame, now, 0)) {
      ++c_.queue_full_drops;
      return InboundDecision::drop_full;
    }
    schedule_synth(*flow);  // the part of its ack the backup server can take already
    return known ? InboundDecision::hold : InboundDecision::wait;
  }
  // Linux discards a segment acking unsent data, payload included (tcp_ack() < 0): keep
  // it until the backup server catches up. A RST is validated by seq alone, so it never waits.
  if (has(f, kTcpAck) && !has(f, kTcpRst) &&
      packet::seq_gt(f.tcp.ack + flow->seq_delta, flow->snd_nxt_backup)) {
    if (pure_ack(f)) {
      // Nothing to lose: acknowledge what the backup server has sent (the rest follows
      // synthesized). Holding it would deadlock a bulk sender whose window waits for
      // exactly these acks.
      forward_in(frame, f, *flow, true);
      ++c_.acks_clamped;
      return InboundDecision::forward;
    }
    if (flow->diverged) {
      // A diverged flow's acks will never line up with the backup's output again:
      // holding would only stall every flow behind it (counted in acks_lowered).
      forward_in(frame, f, *flow, true);
      return InboundDecision::forward;
    }
    if (!enqueue(*flow, frame, now, kHeldCounted)) {
      ++c_.queue_full_drops;
      return InboundDecision::drop_full;
    }
    // The backup server may be unable to send the reply this segment waits for until it
    // hears an ack the client sent earlier (its congestion window is full): send that now.
    schedule_synth(*flow);
    return InboundDecision::hold;
  }
  // Beyond the backup server's receive window: Linux would drop the bytes (see
  // beyond_window). A diverged flow is not held (see above).
  if (!flow->diverged && beyond_window(*flow, f)) {
    if (!enqueue(*flow, frame, now, kHeldCounted | kWindowCounted)) {
      ++c_.queue_full_drops;
      return InboundDecision::drop_full;
    }
    ++c_.window_holds;
    schedule_synth(*flow);
    return InboundDecision::hold;
  }
  forward_in(frame, f, *flow, false);
  return InboundDecision::forward;
}

bool SeqTranslator::client_has(const packet::ParsedFrame& f) const noexcept {
  if (f.l4 != packet::L4Kind::tcp) return false;
  const Flow* flow = table_.find(packet::flow_key(f).reversed());
  if (flow == nullptr || !flow->delta_known || !flow->ack_wanted_set || flow->diverged) return false;
  const std::uint32_t end =
      f.tcp.seq + f.payload_len + (has(f, kTcpSyn) ? 1u : 0u) + (has(f, kTcpFin) ? 1u : 0u);
  return packet::seq_ge(flow->ack_wanted + flow->seq_delta, end);
}

bool SeqTranslator::can_take(const packet::ParsedFrame& f) const noexcept {
  if (f.l4 != packet::L4Kind::tcp) return true;
  if (free_slot_ == kNoIndex) return false;
  const Flow* flow = table_.find(packet::flow_key(f));
  return flow == nullptr || flow->q_len < limits_.queue_frames_per_flow;
}

bool SeqTranslator::on_flow_meta(const FlowMeta& meta, MonoTime now) noexcept {
  Flow* flow = table_.find(meta.key);
  if (flow == nullptr) flow = table_.insert(meta.key, now);
  if (flow == nullptr) return false;  // refused_full counted
  table_.touch(*flow, now);
  if (flow->primary.seen && flow->primary.isn == meta.primary_isn) {
    if (meta.has_ts) note_primary_tsval(meta.key, meta.primary_tsval);
    return false;
  }
  flow->primary = SynAckInfo{true, meta.primary_isn, meta.has_ts, meta.primary_tsval, meta.wscale, meta.mss};
  flow->paws_floor_set = meta.has_ts;
  flow->paws_floor = meta.has_ts ? meta.primary_tsval : 0;
  learn_deltas(*flow, now);
  return flow->delta_known && flow->q_len > 0;
}

void SeqTranslator::note_primary_tsval(const packet::FlowKey& key, std::uint32_t tsval) noexcept {
  Flow* flow = table_.find_either(key);
  if (flow == nullptr) return;
  if (!flow->paws_floor_set || packet::seq_gt(tsval, flow->paws_floor)) flow->paws_floor = tsval;
  flow->paws_floor_set = true;
}

void SeqTranslator::learn_deltas(Flow& flow, MonoTime now) noexcept {
  if (!flow.primary.seen || !flow.backup.seen) return;
  const bool was_known = flow.delta_known;
  flow.seq_delta = flow.backup.isn - flow.primary.isn;
  flow.delta_known = true;
  flow.ts_known = flow.primary.has_ts && flow.backup.has_ts;
  flow.ts_delta = flow.ts_known ? flow.backup.tsval - flow.primary.tsval : 0;
  // Both servers run the same stack and settings; a difference means they will not
  // behave alike on this flow (segment sizes, windows), so operators need to know.
  if (flow.primary.has_ts != flow.backup.has_ts && !flow.ts_mismatch) {
    flow.ts_mismatch = true;
    ++c_.ts_mismatch;
  }
  if (flow.primary.wscale != flow.backup.wscale && !flow.wscale_mismatch) {
    flow.wscale_mismatch = true;
    ++c_.wscale_mismatch;
  }
  if (flow.primary.mss != flow.backup.mss && !flow.mss_mismatch) {
    flow.mss_mismatch = true;
    ++c_.mss_mismatch;
  }
  if (!was_known) {
    // Frames that waited for the deltas start their hold time now.
    for (std::uint32_t s = flow.q_head; s != kNoIndex; s = slot_next_[s]) slot_since_[s] = now;
  }
}

bool SeqTranslator::on_server_output(std::span<const std::uint8_t> frame, const packet::ParsedFrame& f,
                                     MonoTime now) noexcept {
  (void)frame;
  if (f.l4 != packet::L4Kind::tcp) return false;
  Flow* flow = table_.find(packet::flow_key(f).reversed());
  if (flow == nullptr) return false;
  bool progress = false;
  const std::uint32_t seq = f.tcp.seq;
  if (has(f, kTcpSyn) && has(f, kTcpAck)) {
    const bool same = flow->backup.seen && flow->backup.isn == seq;
    const packet::TcpOptions& o = f.tcp.opt;
    flow->backup = SynAckInfo{true,
                              seq,
                              o.has_timestamp,
                              o.tsval,
                              o.has_wscale ? o.wscale : kNoWscale,
                              static_cast<std::uint16_t>(o.has_mss ? o.mss : 0)};
    flow->snd_nxt_backup = same ? packet::seq_max(flow->snd_nxt_backup, seq + 1) : seq + 1;
    learn_deltas(*flow, now);
    progress = !same;
    if (!same) flow->rwnd_set = false;  // a new connection: its own window
  } else if (flow->backup.seen) {
    const std::uint32_t end = seq + f.payload_len + (has(f, kTcpSyn) ? 1u : 0u) + (has(f, kTcpFin) ? 1u : 0u);
    if (packet::seq_gt(end, flow->snd_nxt_backup)) {
      flow->snd_nxt_backup = end;
      progress = true;
    }
    // The server's ack is where its in-order copy of the client's stream ends: past a
    // gap once the filler arrived (forward_gap leaves client_nxt alone).
    if (has(f, kTcpAck) && flow->client_nxt_set && packet::seq_gt(f.tcp.ack, flow->client_nxt)) {
      flow->client_nxt = f.tcp.ack;
    }
  }
  // The backup server's receive window: the SYN-ACK's window is never scaled (RFC 7323
  // §2.2), later ones are. Its right edge only moves forward (Linux never shrinks it).
  bool window_opened = false;
  if (has(f, kTcpAck) && !has(f, kTcpRst) && flow->backup.seen) {
    const std::uint32_t scale = has(f, kTcpSyn) ? 0u : backup_scale(*flow);
    const std::uint32_t edge = f.tcp.ack + (std::uint32_t{f.tcp.window} << scale);
    if (!flow->rwnd_set || packet::seq_gt(edge, flow->rwnd_edge)) {
      window_opened = flow->rwnd_set;
      flow->rwnd_edge = edge;
      flow->rwnd_set = true;
    }
  }
  if (has(f, kTcpRst)) {
    table_.mark_closed(*flow, now);
  } else {
    if (has(f, kTcpFin)) flow->server_fin = true;
    if (flow->state != FlowState::closed && flow->client_fin && flow->server_fin) {
      table_.mark_closed(*flow, now);
    } else {
      if (flow->state != FlowState::closed && flow->server_fin) flow->state = FlowState::closing;
      table_.touch(*flow, now);
    }
  }
  if (progress) schedule_synth(*flow);
  return (progress && (flow->q_len > 0 || synth_.contains(table_.index_of(*flow)))) ||
         (window_opened && flow->q_len > 0);
}

OutboundDecision SeqTranslator::translate_out(std::span<std::uint8_t> frame, const packet::ParsedFrame& f,
                                              MonoTime now) noexcept {
  if (f.l4 != packet::L4Kind::tcp) return OutboundDecision::passthrough;
  Flow* flow = table_.find(packet::flow_key(f).reversed());
  if (flow == nullptr || !flow->delta_known) {
    ++c_.untracked_out;
    return OutboundDecision::untracked;
  }
  const std::size_t csum = packet::l4_checksum_offset(f);
  packet::rewrite32_with_checksum(frame, f.l4_offset + kSeqOff, csum, f.tcp.seq - flow->seq_delta);
  // The ack field and any SACK blocks of this direction acknowledge client data: the
  // client's sequence space is the same at both servers (each received the very same
  // client segments), so they are already right for the client. Likewise TSecr echoes
  // the client's own clock.
  if (flow->ts_known && f.tcp.opt.has_timestamp) {
    std::uint32_t tsval = f.tcp.opt.tsval - flow->ts_delta;
    // The client's PAWS check drops a segment whose TSval is older than one it already
    // accepted (RFC 7323 §5); the backup's clock may lag the primary's.
    if (flow->paws_floor_set && packet::seq_lt(tsval, flow->paws_floor)) {
      tsval = flow->paws_floor;
      ++c_.paws_clamped;
    }
    packet::rewrite32_with_checksum(frame, f.tcp.opt.ts_offset, csum, tsval);
    flow->paws_floor = tsval;
    flow->paws_floor_set = true;
  }
  table_.touch(*flow, now);
  ++c_.translated_out;
  return OutboundDecision::forward;
}

bool SeqTranslator::release_head(Flow& flow, MonoTime now, Emit emit) noexcept {
  const std::uint32_t s = flow.q_head;
  const std::span<std::uint8_t> frame(pool_.data() + std::size_t{s} * limits_.queue_slot_bytes, slot_len_[s]);
  packet::ParsedFrame pf;
  if (packet::parse_frame(frame, pf) != packet::ParseStatus::ok || pf.l4 != packet::L4Kind::tcp) {
    // It parsed when queued; a copy that no longer does is lost data.
    pop_head(flow);
    ++c_.wait_drops;
    return true;
  }
  if (!has(pf, kTcpAck)) {
    // The client's SYN (queued behind other frames in global order) needs no
    // translation, and the backup server must see it to ever learn the deltas.
    emit.call(emit.ctx, frame);
    pop_head(flow);
    // The flow's later frames wait for the deltas from now on: the backup server's
    // SYN-ACK is only now possible. Timed from their enqueue, frames that queued behind
    // a long hold would be dropped before it comes (wait_drops seen end to end).
    for (std::uint32_t r = flow.q_head; r != kNoIndex; r = slot_next_[r]) slot_since_[r] = now;
    return true;
  }
  if (!flow.delta_known) {
    if (now - slot_since_[s] < limits_.wait_timeout) return false;
    pop_head(flow);
    ++c_.wait_drops;
    return true;
  }
  bool clamp = stale_retransmit(flow, pf);
  if (clamp) ++c_.stale_retransmits;
  if (!clamp && pure_ack(pf) && packet::seq_gt(pf.tcp.ack + flow.seq_delta, flow.snd_nxt_backup)) {
    clamp = true;  // see translate_in: a pure ACK never waits
    ++c_.acks_clamped;
  }
  if (!clamp && beyond_client_stream(flow, pf)) {
    if (pass_gap(frame, pf, flow)) emit.call(emit.ctx, frame);  // see translate_in: never held
    pop_head(flow);
    return true;
  }
  if (!clamp && flow.diverged) clamp = true;  // see translate_in
  const bool ack_blocked =
      !clamp && !has(pf, kTcpRst) && packet::seq_gt(pf.tcp.ack + flow.seq_delta, flow.snd_nxt_backup);
  const bool window_blocked = !clamp && beyond_window(flow, pf);
  if (ack_blocked || window_blocked) {
    if (window_blocked && (slot_held_[s] & kWindowCounted) == 0) {
      slot_held_[s] |= kWindowCounted;
      ++c_.window_holds;
    }
    if ((slot_held_[s] & kHeldCounted) == 0) {
      // It queued behind other frames and is blocked on its own ack only now: its hold
      // starts now. Timed from the enqueue, every frame that waited behind one long
      // hold would be released clamped at once, each before the reply it depends on:
      // the backup server would then serve those requests in another order than the
      // primary's did (seen end to end: thousands of hold timeouts after one stall).
      slot_held_[s] |= kHeldCounted;
      slot_since_[s] = now;
      ++c_.held_total;
    }
    if (now - slot_since_[s] < limits_.hold_timeout) return false;
    // Releasing it unchanged or dropping it would both lose the payload; with the
    // ack lowered to what the backup server has sent, Linux accepts the data and
    // the client's next cumulative ack covers the rest. Beyond the window the
    // backup server drops the payload: a hole, hence counted as divergence too.
    ++c_.hold_timeouts;
    if (!flow.diverged) {
      flow.diverged = true;
      ++c_.flows_diverged;
    }
    clamp = true;
  }
  forward_in(frame, pf, flow, clamp);
  emit.call(emit.ctx, frame);
  pop_head(flow);
  return true;
}

std::size_t SeqTranslator::drain_global(MonoTime now, Emit emit) noexcept {
  std::size_t emitted = 0;
  while (!global_.empty()) {
    Flow& flow = table_.at(slot_flow_[global_.head()]);  // the global head is its flow's head too
    if (!release_head(flow, now, emit)) break;
    ++emitted;
  }
  return emitted;
}

std::size_t SeqTranslator::drain_impl(MonoTime now, Emit emit) noexcept {
  if (limits_.global_order) {
    const std::size_t released = drain_global(now, emit);
    return released + emit_synth(emit);
  }
  std::size_t emitted = 0;
  std::uint32_t fi = queued_.head();
  while (fi != kNoIndex) {
    Flow& flow = table_.at(fi);
    const std::uint32_t next = queued_.next(fi);  // pop_head may unlink this flow
    while (flow.q_len > 0) {
      if (!release_head(flow, now, emit)) break;
      ++emitted;
    }
    fi = next;
  }
  return emitted + emit_synth(emit);
}

bool SeqTranslator::enqueue(Flow& flow, std::span<const std::uint8_t> frame, MonoTime now,
                            std::uint8_t held) noexcept {
  if (frame.size() > limits_.queue_slot_bytes || flow.q_len >= limits_.queue_frames_per_flow ||
      free_slot_ == kNoIndex) {
    return false;
  }
  const std::uint32_t s = free_slot_;
  free_slot_ = slot_next_[s];
  std::memcpy(pool_.data() + std::size_t{s} * limits_.queue_slot_bytes, frame.data(), frame.size());
  slot_len_[s] = static_cast<std::uint32_t>(frame.size());
  slot_next_[s] = kNoIndex;
  slot_since_[s] = now;
  slot_held_[s] = held;
  if ((held & kHeldCounted) != 0) ++c_.held_total;
  if (flow.q_tail != kNoIndex) {
    slot_next_[flow.q_tail] = s;
  } else {
    flow.q_head = s;
  }
  flow.q_tail = s;
  ++flow.q_len;
  slot_flow_[s] = table_.index_of(flow);
  global_.push_back(s);
  queued_.push_back(slot_flow_[s]);  // no-op when the flow had queued frames already
  return true;
}

void SeqTranslator::pop_head(Flow& flow) noexcept {
  const std::uint32_t s = flow.q_head;
  global_.erase(s);
  flow.q_head = slot_next_[s];
  if (flow.q_head == kNoIndex) flow.q_tail = kNoIndex;
  --flow.q_len;
  slot_next_[s] = free_slot_;
  free_slot_ = s;
  if (flow.q_len == 0) queued_.erase(table_.index_of(flow));
}

void SeqTranslator::drop_queue(Flow& flow) noexcept {
  c_.wait_drops += flow.q_len;
  while (flow.q_len > 0) pop_head(flow);
}

TcpCounters SeqTranslator::counters() const noexcept {
  TcpCounters out = c_;
  const FlowTableCounters& t = table_.counters();
  out.flows_tracked = table_.size();
  out.flows_created = t.flows_created;
  out.evictions = t.evictions;
  out.evicted_closed = t.evicted_closed;
  out.evicted_idle = t.evicted_idle;
  out.refused_full = t.refused_full;
  out.waiting_now = 0;
  out.held_now = 0;
  for (std::uint32_t i = queued_.head(); i != kNoIndex; i = queued_.next(i)) {
    const Flow& f = table_.at(i);
    (f.delta_known ? out.held_now : out.waiting_now) += f.q_len;
  }
  return out;
}

}  // namespace ftproxy::tcp

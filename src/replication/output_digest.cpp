#include "ftproxy/replication/output_digest.hpp"

#include <algorithm>
#include <bit>

namespace ftproxy::replication {

const char* to_string(CheckpointKind k) noexcept {
  switch (k) {
    case CheckpointKind::chunk:
      return "chunk";
    case CheckpointKind::end:
      return "end";
    case CheckpointKind::idle:
      return "idle";
  }
  return "unknown";
}

namespace {

bool same_range(std::uint64_t s1, std::uint64_t e1, CheckpointKind k1, std::uint64_t s2, std::uint64_t e2,
                CheckpointKind k2) noexcept {
  // An end checkpoint also says "the stream stops here": it only pairs with another end.
  return s1 == s2 && e1 == e2 && (k1 == CheckpointKind::end) == (k2 == CheckpointKind::end);
}

void put16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) noexcept {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (24 - 8 * i));
}
void put64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
}
std::uint16_t get16(const std::uint8_t* p) noexcept {
  return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
std::uint32_t get32(const std::uint8_t* p) noexcept {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t get64(const std::uint8_t* p) noexcept {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

std::size_t record_size(const Checkpoint& c) noexcept {
  return c.key.src_ip.family == packet::IpAddr::Family::v6 ? kDigestRecordV6 : kDigestRecordV4;
}

}  // namespace

// ---- StreamHash ------------------------------------------------------------------------

void StreamHash::reset() noexcept {
  XXH64_reset(&st_, 0);
}

void StreamHash::update(std::span<const std::uint8_t> bytes) noexcept {
  if (!bytes.empty()) XXH64_update(&st_, bytes.data(), bytes.size());
}

std::uint64_t StreamHash::value() const noexcept {
  return XXH64_digest(&st_);
}

std::uint64_t StreamHash::of(std::span<const std::uint8_t> bytes) noexcept {
  return XXH64(bytes.data(), bytes.size(), 0);
}

OutputDigest::OutputDigest(const DigestConfig& config, Mode mode)
    : cfg_(config), mode_(mode), flows_(std::max<std::uint32_t>(config.max_flows, 1)) {
  if (cfg_.chunk_bytes == 0) cfg_.chunk_bytes = 1;
  const std::size_t slots = std::bit_ceil(flows_.size() * 2);
  index_.assign(slots, kNone);
  mask_ = slots - 1;
  for (std::size_t i = flows_.size(); i-- > 0;) {
    flows_[i].next = free_head_;
    free_head_ = static_cast<std::uint32_t>(i);
  }
  if (mode_ == Mode::emit) outbox_.resize(std::max<std::uint32_t>(config.outbox, 1));
}

// ---- table ------------------------------------------------------------------------

OutputDigest::Flow* OutputDigest::find(const packet::FlowKey& c2s) noexcept {
  const std::size_t h = packet::FlowKeyHash{}(c2s);
  for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
    const std::uint32_t n = index_[i];
    if (n == kNone) return nullptr;
    if (flows_[n].hash == h && flows_[n].key == c2s) return &flows_[n];
  }
}

OutputDigest::Flow* OutputDigest::insert(const packet::FlowKey& c2s, MonoTime now) noexcept {
  if (free_head_ == kNone) {
    if (quiet_.head == kNone) {
      ++counters_.flows_refused;
      return nullptr;
    }
    Flow& victim = flows_[quiet_.head];
    settle(victim);
    erase(victim);
    ++counters_.flows_evicted;
  }
  const std::uint32_t n = free_head_;
  Flow& f = flows_[n];
  free_head_ = f.next;
  f = Flow{};
  f.key = c2s;
  f.hash = packet::FlowKeyHash{}(c2s);
  std::size_t i = f.hash & mask_;
  while (index_[i] != kNone) i = (i + 1) & mask_;
  index_[i] = n;
  ++counters_.flows;
  ++counters_.flows_created;
  touch(f, now);
  return &f;
}

void OutputDigest::erase(Flow& f) noexcept {
  const std::uint32_t n = index_of(f);
  std::size_t i = f.hash & mask_;
  while (index_[i] != n) i = (i + 1) & mask_;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (std::size_t j = (i + 1) & mask_; index_[j] != kNone; j = (j + 1) & mask_) {
    const std::size_t home = flows_[index_[j]].hash & mask_;
    const bool movable = (j > i) ? (home <= i || home > j) : (home <= i && home > j);
    if (movable) {
      index_[i] = index_[j];
      i = j;
    }
  }
  index_[i] = kNone;
  unlink(f);
  f.list = List::free;
  f.next = free_head_;
  free_head_ = n;
  --counters_.flows;
}

OutputDigest::Chain& OutputDigest::chain(List l) noexcept {
  switch (l) {
    case List::waiting:
      return waiting_;
    case List::quiet:
      return quiet_;
    default:
      return active_;
  }
}

void OutputDigest::link_tail(Flow& f, List l) noexcept {
  Chain& c = chain(l);
  const std::uint32_t n = index_of(f);
  f.list = l;
  f.prev = c.tail;
  f.next = kNone;
  if (c.tail != kNone) {
    flows_[c.tail].next = n;
  } else {
    c.head = n;
  }
  c.tail = n;
}

void OutputDigest::unlink(Flow& f) noexcept {
  if (f.list == List::free) return;
  Chain& c = chain(f.list);
  if (f.prev != kNone) {
    flows_[f.prev].next = f.next;
  } else {
    c.head = f.next;
  }
  if (f.next != kNone) {
    flows_[f.next].prev = f.prev;
  } else {
    c.tail = f.prev;
  }
  f.prev = f.next = kNone;
  f.list = List::free;
}

void OutputDigest::touch(Flow& f, MonoTime now) noexcept {
  f.last_event = now;
  unlink(f);
  link_tail(f, List::active);
}

// ---- own stream ---------------------------------------------------------------------

void OutputDigest::start_stream(Flow& f) noexcept {
  f.started = true;
  f.ended = false;
  f.broken = false;
  f.dirty = false;
  f.diverged = false;
  f.pos = 0;
  f.chunk_start = 0;
  f.run.reset();
  f.n_own = 0;
  f.n_marks = 0;
  f.mark_head = 0;
}

void OutputDigest::feed(Flow& f, std::span<const std::uint8_t> bytes) noexcept {
  const bool cmp = mode_ == Mode::compare;
  while (!bytes.empty()) {
    const std::uint64_t boundary = f.chunk_start + cfg_.chunk_bytes;
    std::uint64_t n = std::min<std::uint64_t>(bytes.size(), boundary - f.pos);
    if (cmp) {
      // Stop exactly where a waiting peer checkpoint ends, to compare the running hash
      // there (the primary's idle positions need not be ours).
      for (std::size_t i = 0; i < f.n_peer; ++i) {
        const Slot& p = f.peer[i];
        if (p.kind != CheckpointKind::end && p.start == f.chunk_start && p.end() > f.pos &&
            p.end() - f.pos < n)
          n = p.end() - f.pos;
      }
    }
    f.run.update(bytes.first(n));
    f.pos += n;
    f.dirty = true;
    bytes = bytes.subspan(n);
    if (cmp) {
      for (std::size_t i = 0; i < f.n_peer;) {
        const Slot p = f.peer[i];
        if (p.kind != CheckpointKind::end && p.start == f.chunk_start && p.end() == f.pos &&
            f.pos != boundary) {
          drop_peer(f, i);
          compare(f, p, f.run.value());
        } else if (p.kind == CheckpointKind::end && p.end() < f.pos) {
          drop_peer(f, i);
          ++counters_.checked;
          mismatch(f, p, "backup_longer");
        } else {
          ++i;
        }
      }
    }
    if (f.pos == boundary) {
      own_checkpoint(f, f.chunk_start, f.pos, f.run.value(), CheckpointKind::chunk);
      f.chunk_start = f.pos;
      f.run.reset();
      f.dirty = false;
    }
  }
}

void OutputDigest::own_checkpoint(Flow& f, std::uint64_t start, std::uint64_t end, std::uint64_t hash,
                                  CheckpointKind kind) noexcept {
  ++counters_.checkpoints;
  if (mode_ == Mode::emit) {
    if (out_count_ == outbox_.size()) {
      ++counters_.outbox_dropped;
      return;
    }
    outbox_[(out_head_ + out_count_) % outbox_.size()] = Checkpoint{f.key, start, end, hash, kind};
    ++out_count_;
    return;
  }
  for (std::size_t i = 0; i < f.n_peer; ++i) {
    const Slot p = f.peer[i];
    if (same_range(p.start, p.end(), p.kind, start, end, kind)) {
      drop_peer(f, i);
      compare(f, p, hash);
      return;
    }
  }
  if (f.n_own == kOwnSlots) {
    // Its pair, when it comes, is counted uncomparable then.
    drop_own(f, 0);
    ++counters_.overflow;
  }
  f.own[f.n_own++] = make_slot(start, end, hash, kind);
}

void OutputDigest::own_end(Flow& f) noexcept {
  f.ended = true;
  own_checkpoint(f, f.chunk_start, f.pos, f.run.value(), CheckpointKind::end);
  f.dirty = false;
  if (mode_ != Mode::compare) return;
  // Whatever the primary still waits for, our stream will never reach.
  while (f.n_peer > 0) {
    const Slot p = f.peer[0];
    drop_peer(f, 0);
    if (p.end() > f.pos) {
      ++counters_.checked;
      mismatch(f, p, "backup_shorter");
    } else if (p.kind == CheckpointKind::end && p.end() != f.pos) {
      ++counters_.checked;
      mismatch(f, p, "backup_longer");
    } else {
      ++counters_.uncomparable;
    }
  }
}

void OutputDigest::on_output(const packet::ParsedFrame& f, std::span<const std::uint8_t> frame,
                             MonoTime now) noexcept {
  if (f.is_fragment || f.payload_offset + static_cast<std::size_t>(f.payload_len) > frame.size()) return;
  const auto payload = frame.subspan(f.payload_offset, f.payload_len);
  if (f.l4 == packet::L4Kind::tcp) {
    on_tcp(packet::flow_key(f), f.tcp.seq, f.tcp.flags, payload, now);
  } else if (f.l4 == packet::L4Kind::udp) {
    on_udp(packet::flow_key(f), payload, now);
  }
}

void OutputDigest::on_tcp(const packet::FlowKey& s2c, std::uint32_t seq, std::uint8_t flags,
                          std::span<const std::uint8_t> payload, MonoTime now) noexcept {
  const packet::FlowKey c2s = s2c.reversed();
  Flow* f = find(c2s);
  if (flags & packet::kTcpSyn) {
    if (f == nullptr) f = insert(c2s, now);
    if (f == nullptr) return;
    if (f->started && f->isn == seq) return;  // SYN-ACK retransmitted
    if (f->started) settle(*f);               // a new incarnation of the same 4-tuple
    start_stream(*f);
    f->isn = seq;
    f->next_seq = seq + 1;
    touch(*f, now);
    return;
  }
  if (f == nullptr || !f->started) {
    ++counters_.untracked;
    return;
  }
  if (f->ended || f->broken) return;
  const auto offset = static_cast<std::int32_t>(seq - f->next_seq);
  if (offset > 0) {
    // Bytes before this segment never reached us (a capture drop): the rest of the
    // stream cannot be placed, so this flow is digested no further.
    f->broken = true;
    ++counters_.gaps;
    return;
  }
  const std::size_t skip = static_cast<std::size_t>(-static_cast<std::int64_t>(offset));
  bool news = false;
  if (skip < payload.size()) {
    const auto fresh = payload.subspan(skip);
    feed(*f, fresh);
    f->next_seq += static_cast<std::uint32_t>(fresh.size());
    mark(*f);
    news = true;
  }
  if ((flags & packet::kTcpFin) && seq + static_cast<std::uint32_t>(payload.size()) == f->next_seq) {
    own_end(*f);
    news = true;
  }
  if (news) touch(*f, now);
}

void OutputDigest::on_udp(const packet::FlowKey& s2c, std::span<const std::uint8_t> payload,
                          MonoTime now) noexcept {
  const packet::FlowKey c2s = s2c.reversed();
  Flow* f = find(c2s);
  if (f == nullptr) f = insert(c2s, now);
  if (f == nullptr) return;
  if (!f->started) start_stream(*f);
  f->udp = true;
  std::array<std::uint8_t, 2> len{};
  put16(len.data(), static_cast<std::uint16_t>(std::min<std::size_t>(payload.size(), 0xFFFF)));
  feed(*f, len);
  feed(*f, payload);
  mark(*f);
  touch(*f, now);
}

// ---- comparison ---------------------------------------------------------------------

void OutputDigest::compare(Flow& f, const Slot& peer, std::uint64_t own_hash) noexcept {
  ++counters_.checked;
  if (peer.hash != own_hash) mismatch(f, peer, "hash");
}

void OutputDigest::mark(Flow& f) noexcept {
  if (mode_ != Mode::compare || f.pos == f.chunk_start) return;  // a boundary: the chunk checkpoint
  const std::size_t i = (f.mark_head + f.n_marks) % kMarks;
  f.marks[i] = {f.pos, f.run.value()};
  if (f.n_marks == kMarks) {
    f.mark_head = static_cast<std::uint8_t>((f.mark_head + 1) % kMarks);
  } else {
    ++f.n_marks;
  }
}

void OutputDigest::passed(Flow& f, const Slot& s) noexcept {
  // A mark at exactly that position carries our hash of [s.start, s.end) (a mark's hash
  // runs from the chunk start before it; the same position means the same chunk).
  for (std::size_t k = 0; k < f.n_marks; ++k) {
    const auto& m = f.marks[(f.mark_head + k) % kMarks];
    if (m.first == s.end()) {
      compare(f, s, m.second);
      return;
    }
  }
  // UDP: every datagram end is marked. A primary position between two of ours that we
  // recorded means the datagrams themselves differ (lengths), whatever the bytes.
  if (f.udp && f.n_marks > 0 && f.marks[f.mark_head].first < s.end() && s.kind != CheckpointKind::chunk) {
    ++counters_.checked;
    mismatch(f, s, "datagrams");
    return;
  }
  ++counters_.uncomparable;
}

void OutputDigest::mismatch(Flow& f, const Slot& s, const char* reason) noexcept {
  ++counters_.mismatches;
  if (f.diverged) return;
  f.diverged = true;
  ++counters_.flows_diverged;
  if (rep_count_ == kReports) {
    rep_head_ = (rep_head_ + 1) % kReports;
    --rep_count_;
    ++reports_lost_;
  }
  reports_[(rep_head_ + rep_count_) % kReports] = Divergence{f.key, s.start, s.end(), s.kind, reason};
  ++rep_count_;
}

bool OutputDigest::pop_divergence(Divergence& out) noexcept {
  if (rep_count_ == 0) return false;
  out = reports_[rep_head_];
  rep_head_ = (rep_head_ + 1) % kReports;
  --rep_count_;
  return true;
}

void OutputDigest::drop_peer(Flow& f, std::size_t i) noexcept {
  for (std::size_t j = i + 1; j < f.n_peer; ++j) f.peer[j - 1] = f.peer[j];
  --f.n_peer;
}

void OutputDigest::drop_own(Flow& f, std::size_t i) noexcept {
  for (std::size_t j = i + 1; j < f.n_own; ++j) f.own[j - 1] = f.own[j];
  --f.n_own;
}

void OutputDigest::settle(Flow& f) noexcept {
  while (f.n_peer > 0) {
    const Slot p = f.peer[0];
    drop_peer(f, 0);
    if (f.started && !f.broken && p.end() > f.pos) {
      // The primary's server produced bytes ours has not, for pending_timeout.
      ++counters_.checked;
      mismatch(f, p, "backup_shorter");
    } else {
      ++counters_.uncomparable;
    }
  }
  // Our own checkpoints the primary never sent a pair for (it may not digest this flow).
  if (counters_.peer_checkpoints > 0) counters_.uncomparable += f.n_own;
  f.n_own = 0;
}

void OutputDigest::on_peer_checkpoint(const Checkpoint& cp, MonoTime now) noexcept {
  ++counters_.peer_checkpoints;
  Flow* fp = find(cp.key);
  if (fp == nullptr) fp = insert(cp.key, now);
  if (fp == nullptr) {
    ++counters_.uncomparable;
    return;
  }
  Flow& f = *fp;
  touch(f, now);
  const Slot s = make_slot(cp.start, cp.end, cp.hash, cp.kind);
  auto keep = [&] {
    if (f.n_peer == kPeerSlots) {
      drop_peer(f, 0);
      ++counters_.overflow;
      ++counters_.uncomparable;
    }
    f.peer[f.n_peer++] = s;
  };
  if (!f.started) {
    keep();  // our server's output of this flow has not started yet
    return;
  }
  if (f.broken) {
    ++counters_.uncomparable;
    return;
  }
  for (std::size_t i = 0; i < f.n_own; ++i) {
    if (same_range(f.own[i].start, f.own[i].end(), f.own[i].kind, s.start, s.end(), s.kind)) {
      const std::uint64_t h = f.own[i].hash;
      drop_own(f, i);
      compare(f, s, h);
      return;
    }
  }
  if (f.ended) {
    if (s.end() > f.pos) {
      ++counters_.checked;
      mismatch(f, s, "backup_shorter");
    } else if (s.kind == CheckpointKind::end && s.end() != f.pos) {
      ++counters_.checked;
      mismatch(f, s, "backup_longer");
    } else if (s.start == f.chunk_start && s.end() == f.pos) {
      compare(f, s, f.run.value());
    } else {
      passed(f, s);
    }
    return;
  }
  if (s.kind == CheckpointKind::end) {
    if (s.end() < f.pos) {
      ++counters_.checked;
      mismatch(f, s, "backup_longer");
    } else {
      keep();  // our FIN at s.end(), or more bytes, decides
    }
    return;
  }
  if (s.start == f.chunk_start) {
    if (s.end() == f.pos) {
      compare(f, s, f.run.value());
    } else if (s.end() > f.pos) {
      keep();
    } else {
      passed(f, s);
    }
  } else if (s.start > f.chunk_start) {
    keep();
  } else {
    passed(f, s);  // our checkpoint of that chunk is gone (slot overflow), or an old idle
  }
}

bool OutputDigest::on_peer_entry(std::span<const std::uint8_t> data, MonoTime now) noexcept {
  if (data.size() < kDigestHeaderSize || data[0] != kDigestWireVersion || data[1] == 0) {
    ++counters_.bad_entries;
    return false;
  }
  const std::size_t count = data[1];
  const std::uint32_t chunk = get32(data.data() + 2);
  // Validate the whole entry before using any of it.
  std::size_t off = kDigestHeaderSize;
  for (std::size_t i = 0; i < count; ++i) {
    if (off + 2 > data.size()) {
      ++counters_.bad_entries;
      return false;
    }
    const std::uint8_t kind = data[off];
    const std::uint8_t fam = data[off + 1];
    const std::size_t size = fam == 6 ? kDigestRecordV6 : kDigestRecordV4;
    if (kind < 1 || kind > 3 || (fam != 4 && fam != 6) || off + size > data.size() || data[off + 3] != 0) {
      ++counters_.bad_entries;
      return false;
    }
    off += size;
  }
  if (off != data.size()) {
    ++counters_.bad_entries;
    return false;
  }
  if (chunk != cfg_.chunk_bytes) {
    // Cut at other positions than ours: nothing in it can be paired.
    ++counters_.chunk_mismatch;
    counters_.uncomparable += count;
    return true;
  }
  off = kDigestHeaderSize;
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint8_t* p = data.data() + off;
    Checkpoint c;
    c.kind = static_cast<CheckpointKind>(p[0]);
    const bool v6 = p[1] == 6;
    c.key.proto = p[2];
    c.key.vlan = get16(p + 4);
    c.key.src_port = get16(p + 6);
    c.key.dst_port = get16(p + 8);
    const std::uint8_t* ips = p + 10;
    const std::size_t n = v6 ? 16 : 4;
    c.key.src_ip = v6 ? packet::IpAddr::from_v6_bytes(ips) : packet::IpAddr::from_v4_bytes(ips);
    c.key.dst_ip = v6 ? packet::IpAddr::from_v6_bytes(ips + n) : packet::IpAddr::from_v4_bytes(ips + n);
    const std::uint8_t* q = ips + 2 * n;
    c.start = get64(q);
    c.end = c.start + get32(q + 8);
    c.hash = get64(q + 12);
    on_peer_checkpoint(c, now);
    off += v6 ? kDigestRecordV6 : kDigestRecordV4;
  }
  return true;
}

// ---- emit ----------------------------------------------------------------------------

const Checkpoint& OutputDigest::peek(std::size_t i) const noexcept {
  return outbox_[(out_head_ + i) % outbox_.size()];
}

std::size_t OutputDigest::encode_batch(std::span<std::uint8_t> out, std::size_t& taken) const noexcept {
  taken = 0;
  if (out_count_ == 0 || out.size() < kDigestHeaderSize) return 0;
  std::size_t off = kDigestHeaderSize;
  while (taken < out_count_ && taken < kDigestMaxPerEntry) {
    const Checkpoint& c = peek(taken);
    const std::size_t size = record_size(c);
    if (off + size > out.size()) break;
    std::uint8_t* p = out.data() + off;
    const bool v6 = size == kDigestRecordV6;
    const std::size_t n = v6 ? 16 : 4;
    p[0] = static_cast<std::uint8_t>(c.kind);
    p[1] = v6 ? 6 : 4;
    p[2] = c.key.proto;
    p[3] = 0;
    put16(p + 4, c.key.vlan);
    put16(p + 6, c.key.src_port);
    put16(p + 8, c.key.dst_port);
    std::copy_n(c.key.src_ip.b.data(), n, p + 10);
    std::copy_n(c.key.dst_ip.b.data(), n, p + 10 + n);
    std::uint8_t* q = p + 10 + 2 * n;
    put64(q, c.start);
    put32(q + 8, static_cast<std::uint32_t>(c.end - c.start));
    put64(q + 12, c.hash);
    off += size;
    ++taken;
  }
  if (taken == 0) return 0;
  out[0] = kDigestWireVersion;
  out[1] = static_cast<std::uint8_t>(taken);
  put32(out.data() + 2, cfg_.chunk_bytes);
  return off;
}

void OutputDigest::commit_batch(std::size_t taken) noexcept {
  taken = std::min(taken, out_count_);
  out_head_ = (out_head_ + taken) % outbox_.size();
  out_count_ -= taken;
}

// ---- time ----------------------------------------------------------------------------

void OutputDigest::after_quiet(Flow& f, MonoTime now) noexcept {
  unlink(f);
  if (pending(f)) {
    f.wait_since = now;
    link_tail(f, List::waiting);
  } else if (f.ended || f.broken) {
    erase(f);  // nothing more can come from this incarnation
  } else {
    link_tail(f, List::quiet);
  }
}

void OutputDigest::tick(MonoTime now) noexcept {
  while (active_.head != kNone) {
    Flow& f = flows_[active_.head];
    if (now - f.last_event < cfg_.idle) break;
    if (mode_ == Mode::emit && f.started && f.dirty && !f.ended && !f.broken) {
      own_checkpoint(f, f.chunk_start, f.pos, f.run.value(), CheckpointKind::idle);
      f.dirty = false;
    }
    after_quiet(f, now);
  }
  while (waiting_.head != kNone) {
    Flow& f = flows_[waiting_.head];
    if (now - f.wait_since < cfg_.pending_timeout) break;
    settle(f);
    after_quiet(f, now);
  }
  while (quiet_.head != kNone) {
    Flow& f = flows_[quiet_.head];
    if (now - f.last_event < cfg_.flow_timeout) break;
    erase(f);
  }
}

}  // namespace ftproxy::replication

// Seeds of the log-codec fuzz target (fuzz_log_codec), made with the codec's own encoders
// so they are valid frames of the current protocol version, and a check that decodes
// inputs the way the target reads them. Built in the fuzz build dir (tests/fuzz/meson.build).
//
//   make_log_codec_seeds write DIR      writes the named seeds below into DIR
//   make_log_codec_seeds check PATH...  decodes each file (or each file of a folder): byte 0
//                                       is the target's mode byte (0x80: a HELLO is expected,
//                                       cluster "c"; 0x40: epoch 1 checked; 0x20: role backup,
//                                       else primary), the rest the stream, decoded whole.
//                                       A FLOW_META entry must also pass decode_flow_meta and an
//                                       OUTPUT_DIGEST entry OutputDigest::on_peer_entry. Prints
//                                       one line per file and "N of M decode without error".
// `write` runs the same check on every seed and exits 1 if one fails.
//
// Streams are untagged: the target decodes without a RecordAuthenticator, so the psk seeds
// carry the HELLO nonce/proof and the AUTH record but no per-record tags.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ftproxy/common/bytes.hpp"
#include "ftproxy/packet/addr.hpp"
#include "ftproxy/replication/codec.hpp"
#include "ftproxy/replication/flow_meta.hpp"
#include "ftproxy/replication/output_digest.hpp"

using namespace ftproxy;
using namespace ftproxy::replication;
namespace fs = std::filesystem;

namespace {

using Bytes = std::vector<std::uint8_t>;

// The fuzz target's mode byte (fuzz_log_codec.cpp).
constexpr std::uint8_t kExpectHello = 0x80;
constexpr std::uint8_t kCheckEpoch = 0x40;
constexpr std::uint8_t kExpectBackup = 0x20;
constexpr std::size_t kTargetMaxPayload = 4096;  // fuzz_log_codec's decoder limit

class Stream {
 public:
  explicit Stream(std::uint8_t mode) : bytes_{mode} {}
  Stream& hello(const Hello& h) {
    return add(hello_record_size(h), [&](auto out) { return encode_hello(out, h); });
  }
  Stream& entry(std::uint64_t seq, EntryKind kind, std::span<const std::uint8_t> data) {
    return add(entry_record_size(data.size()),
               [&](auto out) { return encode_entry(out, seq, kind, 1'000'000'000ull * seq + 17, data); });
  }
  Stream& ack(std::uint64_t seq) {
    return add(kAckRecordSize, [&](auto out) { return encode_ack(out, seq); });
  }
  Stream& heartbeat(std::uint64_t time_ns, std::uint64_t last_seq) {
    return add(kHeartbeatRecordSize, [&](auto out) {
      return encode_heartbeat(out, Heartbeat{time_ns, last_seq});
    });
  }
  Stream& auth(std::span<const std::uint8_t> proof) {
    return add(kAuthRecordSize, [&](auto out) { return encode_auth(out, proof); });
  }
  const Bytes& bytes() const { return bytes_; }

 private:
  template <typename Encode>
  Stream& add(std::size_t size, Encode encode) {
    const std::size_t at = bytes_.size();
    bytes_.resize(at + size);
    if (encode(std::span<std::uint8_t>(bytes_).subspan(at)) != size) {
      std::fprintf(stderr, "encoder refused a record\n");
      std::exit(2);
    }
    return *this;
  }
  Bytes bytes_;
};

Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(seed + 31 * i);
  return b;
}

// An Ethernet/IPv4/TCP frame as the primary logs it (INBOUND_FRAME data: the raw frame).
Bytes inbound_frame() {
  Bytes f = {0x02, 0,    0,    0,    0,  0x0a, 0x02, 0, 0,  0, 0, 0x0c, 0x08, 0x00,  // Ethernet
             0x45, 0,    0,    44,   0,  1,    0x40, 0, 64, 6, 0, 0,                 // IPv4
             10,   0,    0,    1,    10, 0,    0,    2,                              //
             0xc3, 0x50, 0x18, 0xeb, 0,  0,    0,    1, 0,  0, 0, 0,    0x50, 0x02,
             0xff, 0xff, 0,    0,    0,  0,  // TCP SYN
             'p',  'i',  'n',  'g'};
  return f;
}

Bytes flow_meta(bool v6) {
  FlowMeta m;
  m.family = v6 ? 6 : 4;
  m.vlan = v6 ? 0 : 100;
  if (v6) {
    m.client_ip = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    m.server_ip = {0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  } else {
    m.client_ip = {10, 0, 0, 1};  // IPv4: the first 4 bytes, the rest zero
    m.server_ip = {10, 0, 0, 2};
  }
  m.client_port = 50000;
  m.server_port = 6379;
  m.server_isn = 0x12345678;
  m.client_isn = 0x9abcdef0;
  m.server_tsval = 4242;
  m.server_mss = 1460;
  m.server_wscale = 7;
  m.flags = FlowMeta::kHasTimestamp | FlowMeta::kHasWscale | FlowMeta::kHasMss;
  Bytes out(kFlowMetaSize);
  if (encode_flow_meta(out, m) != kFlowMetaSize) std::exit(2);
  return out;
}

// OUTPUT_DIGEST data cut by an emitting OutputDigest: a UDP flow's chunk checkpoints and a
// TCP flow's end checkpoint (FIN), IPv4 or IPv6.
Bytes output_digest(bool v6) {
  DigestConfig cfg;
  cfg.chunk_bytes = 64;
  cfg.max_flows = 16;
  cfg.outbox = 16;
  OutputDigest d(cfg, OutputDigest::Mode::emit);
  packet::FlowKey udp;  // server -> client
  packet::FlowKey tcp;
  if (v6) {
    std::array<std::uint8_t, 16> s{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
    std::array<std::uint8_t, 16> c{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    udp.src_ip = packet::IpAddr::from_v6_bytes(s.data());
    udp.dst_ip = packet::IpAddr::from_v6_bytes(c.data());
  } else {
    udp.src_ip = packet::IpAddr::v4(0x0a000002);
    udp.dst_ip = packet::IpAddr::v4(0x0a000001);
  }
  tcp = udp;
  udp.proto = 17, udp.src_port = 53, udp.dst_port = 40000;
  tcp.proto = 6, tcp.src_port = 6379, tcp.dst_port = 50000;
  const MonoTime t0 = seconds(1);
  d.on_udp(udp, pattern(100, 1), t0);
  d.on_udp(udp, pattern(40, 2), t0);
  constexpr std::uint8_t kSynAck = 0x12, kAck = 0x10, kFinAck = 0x11;
  d.on_tcp(tcp, 1000, kSynAck, {}, t0);
  d.on_tcp(tcp, 1001, kAck, pattern(20, 3), t0);
  d.on_tcp(tcp, 1021, kFinAck, {}, t0);
  Bytes out(4096);
  std::size_t taken = 0;
  const std::size_t n = d.encode_batch(out, taken);
  if (n == 0 || taken < 2) {
    std::fprintf(stderr, "output digest: no checkpoints (%zu)\n", taken);
    std::exit(2);
  }
  out.resize(n);
  return out;
}

std::map<std::string, Bytes> seeds() {
  const std::string_view cluster = "c";  // what the target expects
  const Bytes nonce_p = pattern(kNonceSize, 0x11);
  const Bytes nonce_b = pattern(kNonceSize, 0x22);
  const Bytes proof = pattern(kProofSize, 0x33);
  const Bytes frame = inbound_frame();
  const Bytes meta4 = flow_meta(false), meta6 = flow_meta(true);
  const Bytes digest4 = output_digest(false), digest6 = output_digest(true);

  Hello primary;
  primary.role = PeerRole::primary;
  primary.epoch = 1;
  primary.seq = 41;
  primary.cluster = cluster;
  primary.node = "p1";
  Hello primary_psk = primary;
  primary_psk.auth = AuthMode::psk;
  primary_psk.nonce = nonce_p;
  Hello backup = primary;
  backup.role = PeerRole::backup;
  backup.node = "p2";
  Hello backup_psk = backup;
  backup_psk.auth = AuthMode::psk;
  backup_psk.nonce = nonce_b;
  backup_psk.proof = proof;

  std::map<std::string, Bytes> s;
  // Sessions as the other side decodes them, with the HELLO expectation the target offers.
  // Primary -> backup: HELLO, (AUTH), entries of every kind, heartbeat.
  s["session_primary_to_backup"] = Stream(kExpectHello | kCheckEpoch)
                                       .hello(primary)
                                       .entry(42, EntryKind::inbound_frame, frame)
                                       .entry(43, EntryKind::flow_meta, meta4)
                                       .entry(44, EntryKind::output_digest, digest4)
                                       .heartbeat(5'000'000'000, 44)
                                       .bytes();
  s["session_primary_to_backup_psk_chunked"] = Stream(kExpectHello | kCheckEpoch | 7)
                                                   .hello(primary_psk)
                                                   .auth(proof)
                                                   .entry(42, EntryKind::flow_meta, meta6)
                                                   .entry(43, EntryKind::inbound_frame, frame)
                                                   .entry(44, EntryKind::output_digest, digest6)
                                                   .heartbeat(5'000'000'000, 44)
                                                   .bytes();
  // Backup -> primary: HELLO (psk: nonce and proof), acks, heartbeat.
  s["session_backup_to_primary"] = Stream(kExpectHello | kCheckEpoch | kExpectBackup)
                                       .hello(backup)
                                       .ack(42)
                                       .heartbeat(6'000'000'000, 42)
                                       .bytes();
  s["session_backup_to_primary_psk_bytewise"] = Stream(kExpectHello | kExpectBackup | 1)
                                                    .hello(backup_psk)
                                                    .ack(43)
                                                    .ack(44)
                                                    .heartbeat(6'000'000'000, 44)
                                                    .bytes();
  // One record of each type and entry kind, no expectation.
  s["hello_primary"] = Stream(0).hello(primary).bytes();
  s["hello_primary_psk"] = Stream(0).hello(primary_psk).bytes();
  s["hello_backup_psk"] = Stream(0).hello(backup_psk).bytes();
  s["auth"] = Stream(0).auth(proof).bytes();
  s["entry_inbound_frame"] = Stream(0).entry(1, EntryKind::inbound_frame, frame).bytes();
  s["entry_inbound_frame_empty"] = Stream(0).entry(2, EntryKind::inbound_frame, {}).bytes();
  s["entry_flow_meta_v4"] = Stream(0).entry(3, EntryKind::flow_meta, meta4).bytes();
  s["entry_flow_meta_v6"] = Stream(0).entry(4, EntryKind::flow_meta, meta6).bytes();
  s["entry_output_digest_v4"] = Stream(0).entry(5, EntryKind::output_digest, digest4).bytes();
  s["entry_output_digest_v6"] = Stream(0).entry(6, EntryKind::output_digest, digest6).bytes();
  s["ack"] = Stream(0).ack(7).bytes();
  s["heartbeat"] = Stream(0).heartbeat(123'456'789, 7).bytes();
  return s;
}

// Decodes one input as fuzz_log_codec reads it; returns "" when every record decodes
// (and every FLOW_META / OUTPUT_DIGEST entry's data too), else why not. `kinds` gets the
// decoded record types and entry kinds.
std::string check(const Bytes& input, std::string& kinds) {
  if (input.empty()) return "empty";
  const std::uint8_t mode = input[0];
  LogDecoder dec(DecoderLimits{kTargetMaxPayload});
  if (mode & kExpectHello) {
    HelloExpectation e;
    e.cluster = "c";
    e.check_epoch = (mode & kCheckEpoch) != 0;
    e.epoch = 1;
    e.role = (mode & kExpectBackup) ? PeerRole::backup : PeerRole::primary;
    dec.expect_hello(e);
  }
  const std::span<const std::uint8_t> stream = std::span<const std::uint8_t>(input).subspan(1);
  dec.feed(stream);
  Record r;
  DecodeStatus st;
  std::size_t records = 0;
  while ((st = dec.next(r)) == DecodeStatus::record) {
    ++records;
    kinds += kinds.empty() ? "" : " ";
    kinds += to_string(r.type);
    if (r.type != RecordType::entry) continue;
    kinds += std::string(":") + to_string(r.entry.kind);
    if (r.entry.kind == EntryKind::flow_meta) {
      FlowMeta m;
      if (!decode_flow_meta(r.entry.data, m)) return "flow_meta data does not decode";
    } else if (r.entry.kind == EntryKind::output_digest) {
      if (r.entry.data.size() < kDigestHeaderSize) return "output_digest data too short";
      DigestConfig cfg;  // compare with the chunk size the entry was cut with
      cfg.chunk_bytes = load_be32(r.entry.data.data() + 2);
      cfg.max_flows = 16;
      cfg.outbox = 16;
      OutputDigest d(cfg, OutputDigest::Mode::compare);
      if (!d.on_peer_entry(r.entry.data, seconds(1))) return "output_digest data does not decode";
    }
  }
  if (st == DecodeStatus::error) return std::string("decode error ") + to_string(dec.error());
  if (dec.buffered() != 0) return "truncated record at the end";
  if (records == 0) return "no record";
  return "";
}

Bytes read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

int usage() {
  std::fprintf(stderr, "usage: make_log_codec_seeds write DIR | check PATH...\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) return usage();
  const std::string cmd = argv[1];
  if (cmd == "write") {
    const fs::path dir = argv[2];
    fs::create_directories(dir);
    int bad = 0;
    for (const auto& [name, bytes] : seeds()) {
      std::string kinds;
      if (const std::string why = check(bytes, kinds); !why.empty()) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), why.c_str());
        ++bad;
      }
      std::ofstream(dir / name, std::ios::binary)
          .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    }
    std::printf("%zu seeds written to %s\n", seeds().size(), dir.c_str());
    return bad == 0 ? 0 : 1;
  }
  if (cmd != "check") return usage();
  std::vector<fs::path> files;
  for (int i = 2; i < argc; ++i) {
    if (fs::is_directory(argv[i])) {
      for (const auto& e : fs::directory_iterator(argv[i]))
        if (e.is_regular_file()) files.push_back(e.path());
    } else {
      files.emplace_back(argv[i]);
    }
  }
  std::sort(files.begin(), files.end());
  std::size_t ok = 0;
  for (const auto& f : files) {
    std::string kinds;
    const std::string why = check(read_file(f), kinds);
    ok += why.empty();
    std::printf("%-4s %s: %s%s%s\n", why.empty() ? "ok" : "FAIL", f.filename().c_str(), why.c_str(),
                why.empty() || kinds.empty() ? "" : " after ", kinds.c_str());
  }
  std::printf("%zu of %zu decode without error\n", ok, files.size());
  return 0;
}

// Key file loading, HMAC-SHA256 (RFC 4231 vectors), the handshake derivation and the
// per-record tags, including that sealing and verifying do not allocate.
#include "ftproxy/replication/log_auth.hpp"

#include <gtest/gtest.h>

#include "alloc_counter.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace ftproxy::replication {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes_of(std::string_view s) {
  return Bytes(s.begin(), s.end());
}

std::string hex(std::span<const std::uint8_t> b) {
  std::string out;
  char buf[3];
  for (auto x : b) {
    std::snprintf(buf, sizeof(buf), "%02x", x);
    out += buf;
  }
  return out;
}

struct KeyFile : ::testing::Test {
  std::string path;
  void SetUp() override {
    char tmpl[] = "/tmp/ftproxy-logkey-XXXXXX";
    const int fd = ::mkstemp(tmpl);
    ASSERT_GE(fd, 0);
    ::close(fd);
    path = tmpl;
  }
  void TearDown() override { ::unlink(path.c_str()); }
  void write(const std::string& text, mode_t mode = 0600) {
    std::ofstream(path, std::ios::trunc) << text;
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
  }
  std::string load_error() {
    std::string err;
    EXPECT_FALSE(load_log_key(path, err).has_value());
    return err;
  }
};

const std::string kHex64 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

TEST_F(KeyFile, HexKeyWithNewlineLoads) {
  write(kHex64 + "\n");
  std::string err;
  auto k = load_log_key(path, err);
  ASSERT_TRUE(k) << err;
  ASSERT_EQ(k->size(), 32u);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ((*k)[i], i);
  write("  " + kHex64 + kHex64 + "\r\n", 0400);  // 64 bytes, read-only owner
  k = load_log_key(path, err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(k->size(), 64u);
  write("AB" + kHex64.substr(2), 0600);  // upper case
  k = load_log_key(path, err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ((*k)[0], 0xab);
}

TEST_F(KeyFile, BadFilesAreRefusedWithTheReason) {
  write(kHex64, 0640);
  EXPECT_NE(load_error().find("mode 0640"), std::string::npos);
  write(kHex64, 0604);
  EXPECT_NE(load_error().find("group or others"), std::string::npos);
  write(kHex64, 0660);
  EXPECT_NE(load_error().find("mode 0660"), std::string::npos);
  write("");
  EXPECT_NE(load_error().find("is empty"), std::string::npos);
  write("\n\n");
  EXPECT_NE(load_error().find("is empty"), std::string::npos);
  write(kHex64.substr(0, 62));  // 31 bytes
  EXPECT_NE(load_error().find("62 characters"), std::string::npos);
  write(kHex64 + kHex64 + "00");  // 65 bytes
  EXPECT_NE(load_error().find("expected 64..128 hex digits"), std::string::npos);
  write(kHex64.substr(0, 63));  // odd
  EXPECT_NE(load_error().find("63 characters"), std::string::npos);
  write("zz" + kHex64.substr(2));
  EXPECT_NE(load_error().find("not hex"), std::string::npos);
  write(kHex64.substr(0, 32) + " " + kHex64.substr(32, 31));  // space inside
  EXPECT_NE(load_error().find("not hex"), std::string::npos);
  ::unlink(path.c_str());
  EXPECT_NE(load_error().find("No such file"), std::string::npos);
  std::string err;
  EXPECT_FALSE(load_log_key("/tmp", err));
  EXPECT_NE(err.find("not a regular file"), std::string::npos);
}

// RFC 4231 test cases 2 and 6 (key longer than a block).
TEST(Hmac, Rfc4231Vectors) {
  HmacSha256 h;
  std::array<std::uint8_t, 32> out{};
  h.set_key(bytes_of("Jefe"));
  const Bytes msg = bytes_of("what do ya want for nothing?");
  h.compute({msg}, out);
  EXPECT_EQ(hex(out), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Split input gives the same MAC.
  h.compute({std::span<const std::uint8_t>(msg).first(5), std::span<const std::uint8_t>(msg).subspan(5)},
            out);
  EXPECT_EQ(hex(out), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  h.set_key(Bytes(131, 0xaa));
  h.compute({bytes_of("Test Using Larger Than Block-Size Key - Hash Key First")}, out);
  EXPECT_EQ(hex(out), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

struct Handshake {
  Bytes hello_p = Bytes(90, 0x11);
  Bytes hello_b = Bytes(100, 0x22);
};

TEST(Session, BothSidesDeriveTheSameSecretsAndEveryInputMatters) {
  const Bytes key(32, 7);
  Handshake hs;
  SessionSecrets a, b;
  derive_session(key, hs.hello_p, hs.hello_b, a);
  derive_session(key, hs.hello_p, hs.hello_b, b);
  EXPECT_TRUE(equal_secret(a.primary_proof, b.primary_proof));
  EXPECT_TRUE(equal_secret(a.primary_to_backup, b.primary_to_backup));
  // Four distinct values.
  EXPECT_FALSE(equal_secret(a.primary_proof, a.backup_proof));
  EXPECT_FALSE(equal_secret(a.primary_to_backup, a.backup_to_primary));
  EXPECT_FALSE(equal_secret(a.primary_proof, a.primary_to_backup));

  SessionSecrets c;
  derive_session(Bytes(32, 8), hs.hello_p, hs.hello_b, c);  // another key
  EXPECT_FALSE(equal_secret(a.primary_proof, c.primary_proof));
  Handshake other = hs;
  other.hello_b[50] ^= 1;  // e.g. another nonce
  derive_session(key, other.hello_p, other.hello_b, c);
  EXPECT_FALSE(equal_secret(a.backup_proof, c.backup_proof));
  EXPECT_FALSE(equal_secret(a.primary_to_backup, c.primary_to_backup));
  // The split between the two HELLOs is bound too (length prefixes).
  Bytes p2(hs.hello_p.begin(), hs.hello_p.end() - 1);
  Bytes b2 = hs.hello_b;
  b2.insert(b2.begin(), hs.hello_p.back());
  derive_session(key, p2, b2, c);
  EXPECT_FALSE(equal_secret(a.primary_proof, c.primary_proof));
  clear_secrets(c);
  EXPECT_TRUE(equal_secret(c.primary_proof, std::array<std::uint8_t, kProofSize>{}));

  std::array<std::uint8_t, kNonceSize> n1{}, n2{};
  ASSERT_TRUE(fill_random(n1));
  ASSERT_TRUE(fill_random(n2));
  EXPECT_FALSE(equal_secret(n1, n2));
}

TEST(RecordMacTest, TagsVerifyInOrderOnlyAndDoNotAllocate) {
  const Bytes key(32, 3);
  RecordMac tx, rx;
  tx.start(key);
  rx.start(key);
  std::vector<Bytes> records;
  for (int i = 0; i < 4; ++i) records.push_back(Bytes(40 + i, static_cast<std::uint8_t>(i)));
  std::vector<std::array<std::uint8_t, kTagSize>> tags(records.size());

  const std::uint64_t before = ftproxy::test::allocation_count();
  for (std::size_t i = 0; i < records.size(); ++i) tx.seal(records[i], tags[i]);
  bool ok[2] = {};
  for (std::size_t i = 0; i < 2; ++i) ok[i] = rx.verify(records[i], tags[i]);
  EXPECT_EQ(ftproxy::test::allocation_count(), before);  // no allocation per record
  EXPECT_TRUE(ok[0] && ok[1]);
  EXPECT_EQ(tx.records(), 4u);

  // Replaying record 1 as the 3rd fails; so does skipping ahead (a dropped record).
  RecordMac rx2;
  rx2.start(key);
  EXPECT_TRUE(rx2.verify(records[0], tags[0]));
  EXPECT_TRUE(rx2.verify(records[1], tags[1]));
  EXPECT_FALSE(rx2.verify(records[1], tags[1]));
  RecordMac rx3;
  rx3.start(key);
  EXPECT_FALSE(rx3.verify(records[1], tags[1]));  // record 0 dropped
  // A flipped byte fails.
  RecordMac rx4;
  rx4.start(key);
  Bytes bad = records[0];
  bad[7] ^= 0x40;
  EXPECT_FALSE(rx4.verify(bad, tags[0]));
  // Another session key (another connection) fails.
  RecordMac rx5;
  rx5.start(Bytes(32, 4));
  EXPECT_FALSE(rx5.verify(records[0], tags[0]));
  // start() restarts the counter.
  rx.start(key);
  EXPECT_TRUE(rx.verify(records[0], tags[0]));
}

// The tag is GMAC: AES-256-GCM with nonce 0x00000000 | counter_be64, no plaintext, the
// record as additional data. Record 0 of an all-zero key with an empty record is
// McGrew & Viega's GCM test case 13 (T = 530f8afbc74536b9a963b4f1c4cb738b); record 1
// is checked against the library's AEAD interface with that nonce layout.
TEST(RecordMacTest, TagIsGmacWithTheRecordCounterAsNonce) {
  RecordMac tx;
  tx.start(Bytes(32, 0));
  std::array<std::uint8_t, kTagSize> tag{};
  tx.seal({}, tag);
  const std::array<std::uint8_t, 16> tc13 = {0x53, 0x0f, 0x8a, 0xfb, 0xc7, 0x45, 0x36, 0xb9,
                                             0xa9, 0x63, 0xb4, 0xf1, 0xc4, 0xcb, 0x73, 0x8b};
  EXPECT_EQ(tag, tc13);

  const Bytes key(32, 0x5a);
  const Bytes record = bytes_of("header and payload of the second record");
  RecordMac mac;
  mac.start(key);
  std::array<std::uint8_t, kTagSize> first{}, second{};
  mac.seal(record, first);
  mac.seal(record, second);
  EXPECT_NE(first, second);  // same bytes, next counter: another tag

  std::uint8_t nonce[12] = {};
  nonce[11] = 1;
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  int len = 0;
  std::uint8_t none[16];
  std::array<std::uint8_t, 16> want{};
  ASSERT_EQ(EVP_EncryptInit_ex2(c, EVP_aes_256_gcm(), key.data(), nonce, nullptr), 1);
  ASSERT_EQ(EVP_EncryptUpdate(c, nullptr, &len, record.data(), static_cast<int>(record.size())), 1);
  ASSERT_EQ(EVP_EncryptFinal_ex(c, none, &len), 1);
  ASSERT_EQ(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, want.data()), 1);
  EVP_CIPHER_CTX_free(c);
  EXPECT_EQ(second, want);

  // A session key of the wrong size is refused: every tag fails to verify.
  RecordMac odd;
  odd.start(Bytes(16, 0));
  EXPECT_FALSE(odd.verify({}, tc13));
}

}  // namespace
}  // namespace ftproxy::replication

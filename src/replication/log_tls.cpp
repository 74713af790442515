#include "ftproxy/replication/log_tls.hpp"

#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "ftproxy/common/secret_file.hpp"
#include "log_stream.hpp"

namespace ftproxy::replication {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;

}  // namespace

std::shared_ptr<LogTls> make_log_tls(const LogTlsFiles& files, std::string& error) {
  auto t = std::make_shared<LogTls>();
  SSL_CTX* native = t->ctx.native_handle();
  // TLS 1.3 only: both ends are ftproxy with the same OpenSSL, nothing older to talk to.
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
    error = "cannot restrict the TLS context to TLS 1.3";
    return nullptr;
  }
  error_code ec;
  t->ctx.set_options(ssl::context::default_workarounds | ssl::context::no_compression, ec);
  // No session tickets: connections are long-lived and never resumed.
  SSL_CTX_set_num_tickets(native, 0);
  // Mutual: whichever side we are, the peer must present a certificate from the CA.
  t->ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert, ec);
  if (!ec) t->ctx.load_verify_file(files.ca_file, ec);
  if (ec) {
    error = "tls_ca_file: cannot load \"" + files.ca_file + "\": " + ec.message();
    return nullptr;
  }
  t->ctx.use_certificate_chain_file(files.cert_file, ec);
  if (ec) {
    error = "tls_cert_file: cannot load \"" + files.cert_file + "\": " + ec.message();
    return nullptr;
  }
  std::string why;
  auto key = read_secret_file(files.key_file, kMaxKeyFileBytes, why);
  if (!key) {
    error = "tls_key_file: " + why;
    return nullptr;
  }
  t->ctx.use_private_key(boost::asio::buffer(key->data(), key->size()), ssl::context::pem, ec);
  OPENSSL_cleanse(key->data(), key->size());
  if (ec) {
    error = "tls_key_file: cannot load the private key in \"" + files.key_file + "\": " + ec.message();
    return nullptr;
  }
  if (SSL_CTX_check_private_key(native) != 1) {
    error = "tls_key_file: the key in \"" + files.key_file + "\" does not match the certificate in \"" +
            files.cert_file + "\"";
    return nullptr;
  }
  return t;
}

std::string LogStream::handshake_error(const error_code& ec) {
  std::string why = ec.message();
  if (tls_) {
    const long v = SSL_get_verify_result(tls_->native_handle());
    if (v != X509_V_OK) {
      why += " (peer certificate: ";
      why += X509_verify_cert_error_string(v);
      why += ")";
    }
  }
  return why;
}

}  // namespace ftproxy::replication

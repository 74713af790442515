// Optional TLS for the log channel (`[log] tls = true`): the sender and the receiver wrap
// their TCP connection in TLS 1.3 before HELLO. Both ends present a certificate and
// verify the peer's against the configured CA (mutual TLS); a peer that cannot complete
// the handshake is refused (AuthFailure::tls_handshake). TLS adds confidentiality of the
// client data on the log link; the pre-shared key (log_auth.hpp), when also set, still
// authenticates the pair and tags every record inside the TLS stream.
//
// LogTls is opaque here (the Boost.Asio SSL context lives in src/replication) so that
// this header and channel.hpp stay free of OpenSSL and asio/ssl includes.
#pragma once

#include <memory>
#include <string>

namespace ftproxy::replication {

struct LogTlsFiles {
  std::string cert_file;  // this node's certificate (PEM; chain allowed), presented to the peer
  std::string key_file;   // its private key (PEM); read with read_secret_file (mode 0600/0400)
  std::string ca_file;    // CA certificate(s) (PEM) the peer's certificate must chain to
};

// A loaded TLS context, shared by every connection of a sender or receiver (and usable
// for both roles). Immutable once made; use it from the io_context's thread.
class LogTls;

// Loads the certificate, the key (from memory, wiped after use) and the CA; checks that
// the key matches the certificate. Start-up code: nullptr and a sentence naming the
// key ("tls_key_file: ...") on failure.
std::shared_ptr<LogTls> make_log_tls(const LogTlsFiles& files, std::string& error);

}  // namespace ftproxy::replication

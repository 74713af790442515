// The etcd backend's wire format: request bodies and reply parsing, with fixtures copied
// from etcd 3.4's JSON gateway.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "ftproxy/arbiter/etcd_arbiter.hpp"

namespace ftproxy::arbiter {
namespace {

namespace json = boost::json;
using etcd::base64_decode;
using etcd::base64_encode;

std::string b64(std::string_view s) {
  return base64_encode(s);
}

json::object parse(const std::string& s) {
  return json::parse(s).as_object();
}

const std::string kHeader =
    R"("header":{"cluster_id":"15118495548433857066","member_id":"13668033151171901709","revision":"7","raft_term":"2"})";

std::string range_kv(std::string_view key, std::string_view value, std::string_view create_rev) {
  return R"({"key":")" + b64(key) + R"(","create_revision":")" + std::string(create_rev) +
         R"(","mod_revision":")" + std::string(create_rev) + R"(","version":"1","value":")" + b64(value) +
         R"("})";
}

std::string txn_lost_reply(std::string_view key, std::string_view value, std::string_view rev) {
  return "{" + kHeader + R"(,"responses":[{"response_range":{"header":{"revision":"7"},"kvs":[)" +
         range_kv(key, value, rev) + R"(],"count":"1"}}]})";
}

TEST(EtcdBase64, RoundTripsEveryLength) {
  EXPECT_EQ(b64(""), "");
  EXPECT_EQ(b64("f"), "Zg==");
  EXPECT_EQ(b64("fo"), "Zm8=");
  EXPECT_EQ(b64("foo"), "Zm9v");
  EXPECT_EQ(b64("/ftproxy/c/1"), "L2Z0cHJveHkvYy8x");  // as etcd itself encodes it
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); n += 37) {
    auto back = base64_decode(b64(all.substr(0, n)));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(*back, all.substr(0, n));
  }
}

TEST(EtcdBase64, RejectsMalformedText) {
  EXPECT_FALSE(base64_decode("Zg=").has_value());       // length
  EXPECT_FALSE(base64_decode("Z!==").has_value());      // alphabet
  EXPECT_FALSE(base64_decode("Zg==Zm9v").has_value());  // padding in the middle
  EXPECT_FALSE(base64_decode("Z=g=").has_value());
  EXPECT_EQ(*base64_decode("YQ=="), "a");
}

TEST(EtcdKeys, LayoutAndPrefixEnd) {
  EXPECT_EQ(etcd::key("c1", 42), "/ftproxy/c1/42");
  EXPECT_EQ(etcd::prefix("c1"), "/ftproxy/c1/");
  EXPECT_EQ(etcd::prefix_end("/ftproxy/c1/"), "/ftproxy/c10");
  EXPECT_EQ(etcd::prefix_end(std::string("a\xff\xff", 3)), "b");
  EXPECT_EQ(etcd::prefix_end(std::string("\xff", 1)), std::string(1, '\0'));
}

TEST(EtcdTxn, RequestIsOneCompareCreateRevisionZeroTxn) {
  json::object t = parse(etcd::txn_request("c1", 3, "p1"));
  const std::string k = b64("/ftproxy/c1/3");
  ASSERT_EQ(t.at("compare").as_array().size(), 1u);
  const json::object& cmp = t.at("compare").as_array()[0].as_object();
  EXPECT_EQ(cmp.at("key").as_string(), k);
  EXPECT_EQ(cmp.at("target").as_string(), "CREATE");
  EXPECT_EQ(cmp.at("result").as_string(), "EQUAL");
  EXPECT_EQ(cmp.at("create_revision").as_string(), "0");  // int64 travels as a string
  ASSERT_EQ(t.at("success").as_array().size(), 1u);
  const json::object& put = t.at("success").as_array()[0].at("request_put").as_object();
  EXPECT_EQ(put.at("key").as_string(), k);
  EXPECT_EQ(put.at("value").as_string(), b64("p1"));
  ASSERT_EQ(t.at("failure").as_array().size(), 1u);
  EXPECT_EQ(t.at("failure").as_array()[0].at("request_range").at("key").as_string(), k);
}

TEST(EtcdTxn, SucceededIsWonWithTheTxnRevisionAsToken) {
  std::string body =
      "{" + kHeader + R"(,"succeeded":true,"responses":[{"response_put":{"header":{"revision":"7"}}}]})";
  ArbiterResult r = etcd::parse_txn_response(200, body, "c1", 3, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won) << r.message;
  EXPECT_EQ(r.owner, "p1");
  EXPECT_EQ(r.fencing_token, 7u);
}

TEST(EtcdTxn, FailedCompareReadsTheOwner) {
  // "succeeded" is absent when the compare failed.
  ArbiterResult lost =
      etcd::parse_txn_response(200, txn_lost_reply("/ftproxy/c1/3", "b1", "5"), "c1", 3, "p1");
  EXPECT_EQ(lost.kind, ArbiterResult::Kind::lost) << lost.message;
  EXPECT_EQ(lost.owner, "b1");
  EXPECT_EQ(lost.fencing_token, 5u);
  EXPECT_TRUE(lost.message.empty());

  // The same candidate asking again (its first reply was lost) has won.
  ArbiterResult again =
      etcd::parse_txn_response(200, txn_lost_reply("/ftproxy/c1/3", "p1", "5"), "c1", 3, "p1");
  EXPECT_EQ(again.kind, ArbiterResult::Kind::won);
  EXPECT_EQ(again.owner, "p1");
  EXPECT_EQ(again.fencing_token, 5u);
}

TEST(EtcdTxn, InconsistentRepliesAreUnavailable) {
  auto kind = [](unsigned status, const std::string& body) {
    return etcd::parse_txn_response(status, body, "c1", 3, "p1").kind;
  };
  const auto unavailable = ArbiterResult::Kind::unavailable;
  EXPECT_EQ(kind(200, txn_lost_reply("/ftproxy/c1/4", "b1", "5")), unavailable);  // another key
  EXPECT_EQ(kind(200, txn_lost_reply("/ftproxy/c1/3", "", "5")), unavailable);    // empty owner
  EXPECT_EQ(kind(200, txn_lost_reply("/ftproxy/c1/3", "b1", "0")), unavailable);  // no revision
  EXPECT_EQ(kind(200, "{" + kHeader + R"(,"responses":[{"response_range":{"header":{}}}]})"), unavailable);
  EXPECT_EQ(kind(200, "{" + kHeader + "}"), unavailable);
  EXPECT_EQ(kind(200, R"({"header":{},"succeeded":true})"), unavailable);  // no revision
  EXPECT_EQ(kind(200, R"({"succeeded":true})"), unavailable);              // not etcd: no header
  EXPECT_EQ(kind(200, "<html>hello</html>"), unavailable);
  EXPECT_EQ(kind(404, "Not Found\n"), unavailable);
}

TEST(EtcdTxn, SucceededNeedsOnlyTheHeaderRevision) {
  ArbiterResult r = etcd::parse_txn_response(200, "{" + kHeader + R"(,"succeeded":true})", "c1", 3, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::won);
  EXPECT_EQ(r.fencing_token, 7u);
}

TEST(EtcdErrors, GatewayErrorsAndForeignServersAreNamed) {
  std::string timed_out =
      R"({"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14})";
  EXPECT_EQ(etcd::describe_error(503, timed_out), "etcd error 14 (HTTP 503): etcdserver: request timed out");
  ArbiterResult r = etcd::parse_txn_response(503, timed_out, "c1", 3, "p1");
  EXPECT_EQ(r.kind, ArbiterResult::Kind::unavailable);
  EXPECT_NE(r.message.find("request timed out"), std::string::npos);

  std::string not_found = etcd::describe_error(404, "Not Found\n");
  EXPECT_EQ(not_found.rfind("not an etcd v3 gateway: HTTP 404", 0), 0u) << not_found;
  std::string html = etcd::parse_txn_response(200, "<html>hello</html>", "c1", 3, "p1").message;
  EXPECT_EQ(html.rfind("not an etcd v3 gateway: HTTP 200", 0), 0u) << html;

  std::string no_user = etcd::describe_error(
      400,
      R"({"error":"etcdserver: user name is empty","message":"etcdserver: user name is empty","code":3})");
  EXPECT_NE(no_user.find("arbiter.username"), std::string::npos) << no_user;
}

TEST(EtcdAuth, RequestTokenAndTokenErrors) {
  json::object a = parse(etcd::auth_request("root", "s3cret"));
  EXPECT_EQ(a.at("name").as_string(), "root");
  EXPECT_EQ(a.at("password").as_string(), "s3cret");

  std::string error;
  auto token = etcd::parse_auth_response(200, "{" + kHeader + R"(,"token":"xrWjGaSObAcFExal.12"})", error);
  ASSERT_TRUE(token.has_value()) << error;
  EXPECT_EQ(*token, "xrWjGaSObAcFExal.12");

  std::string bad_password =
      R"({"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3})";
  EXPECT_FALSE(etcd::parse_auth_response(400, bad_password, error).has_value());
  EXPECT_NE(error.find("invalid user ID or password"), std::string::npos) << error;
  EXPECT_FALSE(etcd::parse_auth_response(200, "{" + kHeader + "}", error).has_value());

  EXPECT_TRUE(etcd::is_token_error(
      401,
      R"({"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16})"));
  EXPECT_FALSE(etcd::is_token_error(400, bad_password));
  EXPECT_FALSE(etcd::is_token_error(404, "Not Found"));
}

TEST(EtcdRead, RangeRequestAndReplies) {
  EXPECT_EQ(parse(etcd::read_request("c1", 9)).at("key").as_string(), b64("/ftproxy/c1/9"));

  ArbiterRead none = etcd::parse_read_response(200, "{" + kHeader + "}", "c1", 9);
  EXPECT_EQ(none.kind, ArbiterRead::Kind::undecided) << none.message;
  EXPECT_EQ(none.epoch, 9u);

  std::string one =
      "{" + kHeader + R"(,"kvs":[)" + range_kv("/ftproxy/c1/9", "b1", "12") + R"(],"count":"1"})";
  ArbiterRead d = etcd::parse_read_response(200, one, "c1", 9);
  EXPECT_EQ(d.kind, ArbiterRead::Kind::decided) << d.message;
  EXPECT_EQ(d.epoch, 9u);
  EXPECT_EQ(d.owner, "b1");
  EXPECT_EQ(d.fencing_token, 12u);

  EXPECT_EQ(etcd::parse_read_response(200, one, "c1", 8).kind, ArbiterRead::Kind::unavailable);
  EXPECT_EQ(etcd::parse_read_response(500, "oops", "c1", 9).kind, ArbiterRead::Kind::unavailable);
}

TEST(EtcdLatest, PicksTheNumericMaximumNotTheLexicographicOne) {
  json::object q = parse(etcd::latest_request("c1", 100));
  EXPECT_EQ(q.at("key").as_string(), b64("/ftproxy/c1/"));
  EXPECT_EQ(q.at("range_end").as_string(), b64("/ftproxy/c10"));
  EXPECT_EQ(q.at("limit").as_string(), "100");

  // etcd returns keys sorted as strings: "10" < "9".
  std::string body = "{" + kHeader + R"(,"kvs":[)" + range_kv("/ftproxy/c1/1", "p1", "3") + "," +
                     range_kv("/ftproxy/c1/10", "b1", "40") + "," + range_kv("/ftproxy/c1/9", "p1", "50") +
                     "," + range_kv("/ftproxy/c1/notes", "x", "51") + "," +
                     range_kv("/ftproxy/c1/007", "y", "52") + R"(],"count":"5"})";
  ArbiterRead r = etcd::parse_latest_response(200, body, "c1", 100);
  EXPECT_EQ(r.kind, ArbiterRead::Kind::decided) << r.message;
  EXPECT_EQ(r.epoch, 10u);
  EXPECT_EQ(r.owner, "b1");
  EXPECT_EQ(r.fencing_token, 40u);

  ArbiterRead empty = etcd::parse_latest_response(200, "{" + kHeader + "}", "c1", 100);
  EXPECT_EQ(empty.kind, ArbiterRead::Kind::undecided) << empty.message;
}

TEST(EtcdLatest, TruncatedRangeIsUnavailable) {
  std::string body =
      "{" + kHeader + R"(,"kvs":[)" + range_kv("/ftproxy/c1/1", "p1", "3") + R"(],"more":true,"count":"2"})";
  ArbiterRead r = etcd::parse_latest_response(200, body, "c1", 1);
  EXPECT_EQ(r.kind, ArbiterRead::Kind::unavailable);
  EXPECT_NE(r.message.find("more than 1 keys"), std::string::npos) << r.message;

  std::string outside = "{" + kHeader + R"(,"kvs":[)" + range_kv("/ftproxy/c2/1", "p1", "3") + "]}";
  EXPECT_EQ(etcd::parse_latest_response(200, outside, "c1", 10).kind, ArbiterRead::Kind::unavailable);
}

}  // namespace
}  // namespace ftproxy::arbiter

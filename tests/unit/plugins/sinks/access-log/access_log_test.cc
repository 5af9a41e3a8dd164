// The access-log sink: the line formats, and the plugin writing a batch to a
// file through its vtable.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "access_line.h"
#include "support/fake_host.h"
#include "support/sink_records.h"

extern "C" const sluice_plugin_descriptor* sluice_plugin_entry(void);

namespace sluice::testing {
namespace {

using access_log::appendLine;
using access_log::Format;

sluice_record one(RecordBatchBuilder* b, RecordData d) {
  return b->add(std::move(d)).batch()->views[0];
}

TEST(AccessLine, LogfmtHasEveryFieldInOrder) {
  RecordBatchBuilder b;
  std::string line;
  appendLine(one(&b, RecordData{}), Format::Logfmt, &line);
  EXPECT_EQ(line,
            "time=2026-11-18T11:06:40.123Z level=info ip=10.0.0.7 tenant=payments "
            "user=user:alice@example.com model=openai/gpt-4o method=POST path=/v1/chat/completions "
            "status=200 time_taken=333 trace_id=0af7651916cd43dd8448eb211c80319c\n");
}

TEST(AccessLine, LogfmtQuotesWhatNeedsIt) {
  RecordData d;
  d.team = "";
  d.subject = "virtualaccount:say \"hi\"";
  d.requested_model = "a=b c";
  d.status = 503;
  RecordBatchBuilder b;
  std::string line;
  appendLine(one(&b, d), Format::Logfmt, &line);
  EXPECT_NE(line.find(" level=error "), std::string::npos) << line;
  EXPECT_NE(line.find(" tenant=\"\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" user=\"virtualaccount:say \\\"hi\\\"\" "), std::string::npos) << line;
  EXPECT_NE(line.find(" model=\"a=b c\" "), std::string::npos) << line;
}

TEST(AccessLine, LogfmtEscapesControlBytesAndAppendsToWhatIsThere) {
  RecordData d;
  d.subject = "a\nb\\c\x01" "d\x7f";
  d.path = std::string(3000, '\x02');  // every byte at its longest escaped form
  RecordBatchBuilder b;
  std::string line = "earlier line\n";
  appendLine(one(&b, d), Format::Logfmt, &line);
  ASSERT_EQ(line.rfind("earlier line\ntime=", 0), 0u) << line.substr(0, 40);
  EXPECT_NE(line.find(" user=\"a\\nb\\\\c\\x01d\\x7f\" "), std::string::npos) << line;
  std::string path;
  for (int i = 0; i < 3000; i++) path += "\\x02";
  EXPECT_NE(line.find(" path=\"" + path + "\" status=200 "), std::string::npos);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\0'), std::string::npos) << "nothing of the room left unwritten";
}

TEST(AccessLine, JsonIsOneObjectWithNumbersForStatusAndTime) {
  RecordData d;
  d.status = 429;
  d.total = 1.6;
  d.subject = "line\nbreak";
  RecordBatchBuilder b;
  std::string line;
  appendLine(one(&b, d), Format::Json, &line);
  EXPECT_EQ(line,
            "{\"time\":\"2026-11-18T11:06:40.123Z\",\"level\":\"warn\",\"ip\":\"10.0.0.7\","
            "\"tenant\":\"payments\",\"user\":\"line\\u000abreak\",\"model\":\"openai/gpt-4o\","
            "\"method\":\"POST\",\"path\":\"/v1/chat/completions\",\"status\":429,\"time_taken\":2,"
            "\"trace_id\":\"0af7651916cd43dd8448eb211c80319c\"}\n");
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(AccessLogSink, WritesBatchesToTheFileAtFlush) {
  FakeHost host;
  auto* vt = static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
  char dir[] = "/tmp/sluice-access-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/a.log";
  std::string cfg = "{\"format\":\"json\",\"path\":\"" + path + "\"}";
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(vt->create(host.table(), cfg.c_str(), &inst, err, sizeof err), SLUICE_OK) << err;
  RecordBatchBuilder b;
  b.add(RecordData{}).add(RecordData{});
  ASSERT_EQ(vt->write(inst, b.batch()), SLUICE_OK);
  EXPECT_EQ(readFile(path), "") << "buffered until flush";
  vt->flush(inst);
  std::string text = readFile(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  // A rotated file (moved away) is replaced at the next flush.
  ASSERT_EQ(rename(path.c_str(), (path + ".1").c_str()), 0);
  ASSERT_EQ(vt->write(inst, b.batch()), SLUICE_OK);
  vt->flush(inst);
  text = readFile(path);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2);
  EXPECT_EQ(vt->dropped(inst), 0u);
  vt->destroy(inst);
}

TEST(AccessLogSink, AnUnopenableFileIsACreateError) {
  FakeHost host;
  auto* vt = static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
  void* inst = nullptr;
  char err[256] = {0};
  EXPECT_EQ(vt->create(host.table(), "{\"format\":\"logfmt\",\"path\":\"/proc/none/x.log\"}", &inst,
                       err, sizeof err),
            SLUICE_ERR_CONFIG);
  EXPECT_STREQ(err, "cannot open /proc/none/x.log: No such file or directory");
}

TEST(AccessLogSink, RefusesABatchWithoutViews) {
  FakeHost host;
  auto* vt = static_cast<const sluice_sink_vtable*>(sluice_plugin_entry()->vtable);
  void* inst = nullptr;
  char err[256] = {0};
  ASSERT_EQ(
      vt->create(host.table(), "{\"format\":\"logfmt\",\"path\":\"-\"}", &inst, err, sizeof err),
      SLUICE_OK);
  sluice_record_batch old{offsetof(sluice_record_batch, views), nullptr, 0, nullptr};
  EXPECT_EQ(vt->write(inst, &old), SLUICE_ERR_UNSUPPORTED);
  vt->destroy(inst);
}

}  // namespace
}  // namespace sluice::testing

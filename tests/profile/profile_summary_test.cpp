// The arithmetic of Profile::summary on hand-made records (grouping, counts, totals, means,
// nearest-rank percentiles, shares, ordering), and the text tables and report built on it.

#include <cstdint>
#include <gtest/gtest.h>
#include <memory>
#include <string>
#include <vector>

#include "encore/profile.h"

#include "support/test_support.h"

namespace encore {
namespace {
namespace ENCORE_TEST_FILE {

using testing::mentions;

DispatchRecord record(std::string label, OpKind op, std::string kernel, std::int64_t start,
                      std::int64_t duration, std::uint64_t submission = 1) {
  DispatchRecord r;
  r.submission = submission;
  r.label = std::move(label);
  r.op = op;
  r.kernel = std::move(kernel);
  r.start_ns = start;
  r.end_ns = start + duration;
  return r;
}

// The row called `name` (a test failure and an empty row when there is none).
ProfileRow row_named(const std::vector<ProfileRow>& rows, const std::string& name) {
  for (const ProfileRow& r : rows) {
    if (r.name == name) return r;
  }
  ADD_FAILURE() << "no row named " << name;
  return {};
}

// Ten "norm" dispatches of 1..10 us and one "gemv" of 45 us: counts, totals, means and shares
// are exact, percentiles are nearest-rank, and the largest total comes first.
TEST(ProfileSummary, GroupsByLabelWithExactArithmetic) {
  std::vector<DispatchRecord> records;
  for (int i = 1; i <= 10; ++i) {
    records.push_back(record("norm", OpKind::RmsNorm, "rms_norm_f32", i * 100'000, i * 1000));
  }
  records.push_back(record("gemv", OpKind::Gemv, "gemv_bf16", 5'000'000, 45'000));
  const Profile p(ProfileMode::Dispatch, {}, records);

  const std::vector<ProfileRow> rows = p.summary(ProfileGroup::Label);
  ASSERT_EQ(rows.size(), 2U);
  const ProfileRow& norm = rows[0];  // 55 us beats 45 us
  EXPECT_EQ(norm.name, "norm");
  EXPECT_EQ(norm.count, 10U);
  EXPECT_EQ(norm.total_ns, 55'000);
  EXPECT_DOUBLE_EQ(norm.mean_ns, 5'500.0);
  EXPECT_EQ(norm.p50_ns, 5'000);   // rank ceil(0.5 * 10) = 5
  EXPECT_EQ(norm.p99_ns, 10'000);  // rank ceil(0.99 * 10) = 10
  EXPECT_DOUBLE_EQ(norm.share, 55.0 / 100.0);
  const ProfileRow& gemv = rows[1];
  EXPECT_EQ(gemv.name, "gemv");
  EXPECT_EQ(gemv.count, 1U);
  EXPECT_EQ(gemv.p50_ns, 45'000);
  EXPECT_EQ(gemv.p99_ns, 45'000);
  EXPECT_DOUBLE_EQ(gemv.share, 45.0 / 100.0);
}

// Nearest rank on 200 values 1..200: p50 is the 100th, p99 the 198th.
TEST(ProfileSummary, PercentilesAreNearestRank) {
  std::vector<DispatchRecord> records;
  for (int i = 200; i >= 1; --i) records.push_back(record("x", OpKind::Other, "k", 0, i));
  const ProfileRow row =
      Profile(ProfileMode::Dispatch, {}, records).summary(ProfileGroup::Label)[0];
  EXPECT_EQ(row.p50_ns, 100);
  EXPECT_EQ(row.p99_ns, 198);
  EXPECT_EQ(row.total_ns, 200 * 201 / 2);
}

// Unlabelled dispatches are listed under their kernel; op and kernel groupings use their keys.
TEST(ProfileSummary, GroupsByOpKindAndKernelAndNamesUnlabelledByKernel) {
  const Profile p(ProfileMode::Dispatch, {},
                  {record("", OpKind::ElemAdd, "add_f32", 0, 10),
                   record("blk.0.add", OpKind::ElemAdd, "add_f32", 0, 20),
                   record("blk.0.mul", OpKind::ElemMul, "mul_f32", 0, 40)});
  const std::vector<ProfileRow> by_label = p.summary(ProfileGroup::Label);
  EXPECT_EQ(row_named(by_label, "add_f32").total_ns, 10);
  EXPECT_EQ(row_named(by_label, "blk.0.add").total_ns, 20);

  const std::vector<ProfileRow> by_op = p.summary(ProfileGroup::Op);
  ASSERT_EQ(by_op.size(), 2U);
  EXPECT_EQ(by_op[0].name, "ElemMul");
  EXPECT_EQ(by_op[1].name, "ElemAdd");
  EXPECT_EQ(by_op[1].count, 2U);
  EXPECT_EQ(by_op[1].total_ns, 30);

  const std::vector<ProfileRow> by_kernel = p.summary(ProfileGroup::Kernel);
  ASSERT_EQ(by_kernel.size(), 2U);
  EXPECT_EQ(row_named(by_kernel, "add_f32").count, 2U);
  EXPECT_DOUBLE_EQ(row_named(by_kernel, "mul_f32").share, 40.0 / 70.0);
}

// Submissions group by command buffer label over their own durations; failed ones are left out.
TEST(ProfileSummary, GroupsSubmissionsByLabel) {
  std::vector<SubmissionRecord> subs(4);
  subs[0] = {.submission = 1, .label = "step", .start_ns = 0, .end_ns = 100};
  subs[1] = {.submission = 2, .label = "step", .start_ns = 100, .end_ns = 400};
  subs[2] = {.submission = 3, .label = "", .start_ns = 400, .end_ns = 500};
  subs[3] = {.submission = 4, .label = "step", .failed = true};
  const std::vector<ProfileRow> rows =
      Profile(ProfileMode::Submission, subs, {}).summary(ProfileGroup::Submission);
  ASSERT_EQ(rows.size(), 2U);
  EXPECT_EQ(rows[0].name, "step");
  EXPECT_EQ(rows[0].count, 2U);
  EXPECT_EQ(rows[0].total_ns, 400);
  EXPECT_EQ(rows[1].name, "(unlabelled)");
  EXPECT_DOUBLE_EQ(rows[1].share, 0.2);
}

// Equal totals keep name order, so tables are stable from run to run.
TEST(ProfileSummary, TiesAreOrderedByName) {
  const Profile p(ProfileMode::Dispatch, {},
                  {record("b", OpKind::Other, "k", 0, 5), record("a", OpKind::Other, "k", 0, 5),
                   record("c", OpKind::Other, "k", 0, 5)});
  const std::vector<ProfileRow> rows = p.summary(ProfileGroup::Label);
  ASSERT_EQ(rows.size(), 3U);
  EXPECT_EQ(rows[0].name, "a");
  EXPECT_EQ(rows[1].name, "b");
  EXPECT_EQ(rows[2].name, "c");
}

// A chain a -> b -> c where b and c started before their predecessor ended (launched early, as
// programmatic dependent launch does): each one's exposed time runs from its predecessor's end,
// its span from its own start. Without a graph, exposed equals the span.
TEST(ProfileSummary, ExposedTimeStartsWhenTheInputsAreReady) {
  auto graph = std::make_shared<DispatchGraph>();
  graph->begin = {0, 0, 1, 2};  // node 1 waits for 0, node 2 for 1
  graph->waits = {0, 1};
  SubmissionRecord s;
  s.submission = 7;
  s.graph = graph;
  std::vector<DispatchRecord> records = {record("a", OpKind::Gemv, "k", 0, 10'000, 7),
                                         record("b", OpKind::Gemv, "k", 2'000, 12'000, 7),
                                         record("c", OpKind::Gemv, "k", 3'000, 17'000, 7)};
  for (std::uint32_t i = 0; i < 3; ++i) records[i].dispatch = i;
  const Profile p(ProfileMode::Dispatch, {s}, records);
  ASSERT_EQ(p.dispatches().size(), 3U);
  EXPECT_EQ(p.dispatches()[0].exposed_ns(), 10'000);  // waits for nothing: its span
  EXPECT_EQ(p.dispatches()[1].ready_ns, 10'000);
  EXPECT_EQ(p.dispatches()[1].exposed_ns(), 4'000);  // 10 -> 14 us
  EXPECT_EQ(p.dispatches()[2].exposed_ns(), 6'000);  // 14 -> 20 us
  const ProfileRow k = p.summary(ProfileGroup::Kernel).at(0);
  EXPECT_EQ(k.total_ns, 39'000);
  EXPECT_EQ(k.exposed_ns, 20'000);  // the chain's length
  const std::string table = p.table(ProfileGroup::Label);
  EXPECT_TRUE(mentions(table, "exposed us")) << table;
  EXPECT_TRUE(mentions(table, "4.000")) << table;  // b's exposed time

  // The same records without the graph: nothing is known to have waited.
  const Profile unknown(ProfileMode::Dispatch, {}, records);
  EXPECT_EQ(unknown.summary(ProfileGroup::Kernel).at(0).exposed_ns, 39'000);
  // A dependency that finished before the dependent started leaves the span whole.
  records[1].start_ns = 11'000;
  records[1].end_ns = 15'000;
  const Profile late(ProfileMode::Dispatch, {s}, records);
  EXPECT_EQ(late.dispatches()[1].exposed_ns(), 4'000);
}

// No records, no rows (and no division by zero).
TEST(ProfileSummary, EmptyProfileHasNoRows) {
  const Profile p;
  EXPECT_EQ(p.mode(), ProfileMode::Off);
  EXPECT_TRUE(p.summary(ProfileGroup::Label).empty());
  EXPECT_TRUE(p.summary(ProfileGroup::Submission).empty());
}

// The table prints one line per row in microseconds, the header names the columns, and rows
// beyond max_rows are summed into one "(N more)" line.
TEST(ProfileTable, PrintsRowsInMicrosecondsAndFoldsTheRest) {
  std::vector<DispatchRecord> records;
  for (int i = 0; i < 5; ++i) {
    records.push_back(record("op" + std::to_string(i), OpKind::Other, "k", 0, (i + 1) * 1000));
  }
  const Profile p(ProfileMode::Dispatch, {}, records);
  const std::string all = p.table(ProfileGroup::Label);
  EXPECT_TRUE(mentions(all, "by label")) << all;
  for (const char* column :
       {"count", "total us", "mean us", "exposed us", "p50 us", "p99 us", "share"}) {
    EXPECT_TRUE(mentions(all, column)) << all;
  }
  EXPECT_TRUE(mentions(all, "op4")) << all;
  EXPECT_TRUE(mentions(all, "5.000")) << all;  // op4: 5 us
  EXPECT_TRUE(mentions(all, "33.3%")) << all;  // op4: 5 of 15 us

  const std::string top = p.table(ProfileGroup::Label, 2);
  EXPECT_TRUE(mentions(top, "op4")) << top;
  EXPECT_TRUE(mentions(top, "op3")) << top;
  EXPECT_FALSE(mentions(top, "op0")) << top;
  EXPECT_TRUE(mentions(top, "(3 more)")) << top;
  EXPECT_TRUE(mentions(top, "40.0%")) << top;  // 1 + 2 + 3 of 15 us
}

// The report names the device, mode and counts, carries the note, and has the four tables when
// there are dispatch records (only the submission table without).
TEST(ProfileTable, ReportHasHeaderNoteAndTables) {
  SubmissionRecord s{
      .submission = 1, .label = "step", .dispatches = 1, .start_ns = 0, .end_ns = 2000};
  Profile p(ProfileMode::Dispatch, {s}, {record("norm", OpKind::RmsNorm, "rms", 0, 1000)});
  p.set_source("test device", BackendKind::Cpu, "something to know");
  const std::string report = p.report();
  for (const char* part :
       {"test device", "mode dispatch", "1 submissions", "1 dispatch records",
        "note: something to know", "by label", "by op", "by kernel", "by submission"}) {
    EXPECT_TRUE(mentions(report, part)) << report;
  }
  const std::string cb = Profile(ProfileMode::Submission, {s}, {}).report();
  EXPECT_TRUE(mentions(cb, "by submission")) << cb;
  EXPECT_FALSE(mentions(cb, "by label")) << cb;
}

}  // namespace ENCORE_TEST_FILE
}  // namespace
}  // namespace encore

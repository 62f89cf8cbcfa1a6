// PageRunWriter (sync/page_writer.h): pages written in runs land at their offsets in every file, whatever
// their order, a page sent twice keeps its last version, and a run longer than the 1 MiB buffer is split.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>

#include <string>
#include <vector>

#include "support/test_env.h"
#include "sync/page_writer.h"
#include "util/fs.h"

namespace turso_sync {
namespace {

using testing::TempDir;

constexpr size_t kPage = 4096;

std::string page_of(uint64_t id, int version) {
  std::string page(kPage, static_cast<char>('a' + id % 26));
  page.replace(0, 16, fmt::format("{:08}-{:07}", id, version));
  return page;
}

std::string contents(const std::string& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : std::string();
}

TEST(PageRunWriter, EveryFileHoldsEachPageAtItsPlaceInAnyOrderWithTheLastVersionWinning) {
  TempDir dir;
  std::vector<std::string> paths = {dir.file("image"), dir.file("copy")};
  std::vector<UniqueFd> fds;
  std::vector<PageRunWriter::File> files;
  for (const std::string& path : paths) {
    fds.emplace_back(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(fds.back());
    files.push_back({fds.back().get(), path});
  }
  PageRunWriter writer(files);
  // 600 pages in order (a run longer than the buffer), then a gap, pages backwards, and a page again.
  std::vector<std::pair<uint64_t, int>> order;
  for (uint64_t id = 0; id < 600; ++id) order.emplace_back(id, 1);
  for (uint64_t id = 700; id-- > 650;) order.emplace_back(id, 1);
  for (uint64_t id = 600; id < 650; ++id) order.emplace_back(id, 1);
  order.emplace_back(3, 2);
  order.emplace_back(4, 2);
  order.emplace_back(699, 2);
  for (auto [id, version] : order) ASSERT_TRUE(writer.write(id, page_of(id, version)).ok());
  ASSERT_TRUE(writer.flush().ok());

  std::string expected;
  for (uint64_t id = 0; id < 700; ++id) expected += page_of(id, id == 3 || id == 4 || id == 699 ? 2 : 1);
  for (const std::string& path : paths) EXPECT_TRUE(contents(path) == expected) << path;
}

TEST(PageRunWriter, AWriteErrorNamesTheFile) {
  TempDir dir;
  std::string path = dir.file("read-only");
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  PageRunWriter writer({{fd.get(), path}});
  ASSERT_TRUE(writer.write(0, page_of(0, 1)).ok());  // gathered, not written yet
  Status st = writer.flush();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind(), ErrorKind::io);
  EXPECT_NE(st.error().message().find(path), std::string::npos) << st.error().message();
}

}  // namespace
}  // namespace turso_sync

// copy_file_bytes (util/fs.h): every byte lands at its offset, whether the kernel copies (a file on the same
// file system) or a buffer does (a memfd, which the kernel will not copy across file systems), across the
// 8 MiB pieces; a source shorter than the size asked for is an error, not a hang or a short copy.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <random>
#include <string>

#include "support/test_env.h"
#include "util/fs.h"

namespace turso_sync {
namespace {

using testing::TempDir;

std::string random_bytes(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string out(n, '\0');
  for (char& c : out) c = static_cast<char>(rng());
  return out;
}

void write_all(int fd, const std::string& bytes) {
  for (size_t done = 0; done < bytes.size();) {
    ssize_t n = ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(done));
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

std::string contents(const std::string& path) {
  auto text = read_file(path);
  EXPECT_TRUE(text.ok());
  return text.ok() ? *text : std::string();
}

TEST(CopyFileBytes, EveryByteLandsAtItsOffsetInTheKernelOrThroughABuffer) {
  TempDir dir;
  for (bool memfd : {false, true}) {
    for (size_t size : {size_t{1}, size_t{3 * 4096 + 17}, size_t{(8 << 20) + 12345}}) {
      for (bool writeback : {false, true}) {
        SCOPED_TRACE(::testing::Message() << (memfd ? "memfd" : "file") << " source, " << size << " bytes"
                                          << (writeback ? ", write-back started" : ""));
        std::string bytes = random_bytes(size, static_cast<unsigned>(size));
        UniqueFd from(memfd
                          ? ::memfd_create("copy-source", MFD_CLOEXEC)
                          : ::open(dir.file("source").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        ASSERT_TRUE(from);
        write_all(from.get(), bytes);
        std::string target = dir.file("target");
        ::unlink(target.c_str());
        UniqueFd to(::open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
        ASSERT_TRUE(to);
        ASSERT_TRUE(copy_file_bytes(from.get(), size, {to.get(), target}, writeback).ok());
        EXPECT_TRUE(contents(target) == bytes);
      }
    }
  }
}

TEST(CopyFileBytes, ASourceShorterThanTheSizeIsAnError) {
  TempDir dir;
  for (bool memfd : {false, true}) {
    SCOPED_TRACE(memfd ? "memfd source" : "file source");
    UniqueFd from(memfd ? ::memfd_create("copy-source", MFD_CLOEXEC)
                        : ::open(dir.file("short").c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    ASSERT_TRUE(from);
    write_all(from.get(), random_bytes(5000, 7));
    std::string target = dir.file("target");
    ::unlink(target.c_str());
    UniqueFd to(::open(target.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    ASSERT_TRUE(to);
    auto copied = copy_file_bytes(from.get(), 8192, {to.get(), target}, false);
    ASSERT_FALSE(copied.ok());
    EXPECT_NE(copied.error().message().find("ended early"), std::string::npos) << copied.error().message();
  }
}

}  // namespace
}  // namespace turso_sync

// copy_file_bytes (util/fs.h): every byte lands at its offset, whether the kernel copies (a file on the same
// file system) or a buffer does (a memfd, which the kernel will not copy across file systems), across the
// 8 MiB pieces; a source shorter than the size asked for is an error, not a hang or a short copy.
// reserve_file_space: the file gets its size and its blocks; no room is an error naming the file.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <random>
#include <string>

#include "support/test_env.h"
#include "util/fs.h"

namespace turso_sync {
namespace {

using testing::read_text;
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
        EXPECT_TRUE(read_text(target) == bytes);
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

TEST(ReserveFileSpace, TheFileGetsItsSizeAndItsBlocksBeforeItIsWritten) {
  TempDir dir;
  std::string path = dir.file("image");
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  ASSERT_TRUE(fd);
  constexpr uint64_t size = 3 << 20;
  ASSERT_TRUE(reserve_file_space(fd.get(), size, path).ok());
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), size);
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, size) << "the blocks were not allocated";
  EXPECT_EQ(read_text(path), std::string(size, '\0'));  // reads as zeros until written
}

// In a child process: reserves 8 MB under a file size limit of 1 MB. Exit code 0: refused with an error
// that names the file; 1: reserved; 2: another error; 3: no limit could be set.
[[noreturn]] void reserve_beyond_the_file_size_limit(const std::string& path) {
  std::signal(SIGXFSZ, SIG_IGN);
  rlimit limit{};
  limit.rlim_cur = limit.rlim_max = 1 << 20;
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) std::_Exit(3);
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  Status st = reserve_file_space(fd.get(), 8 << 20, path);
  if (st.ok()) std::_Exit(1);
  bool named = st.error().kind() == ErrorKind::io &&
               st.error().message().find("no room for the 8 MB of " + path) != std::string::npos;
  std::_Exit(named ? 0 : 2);
}

// The process's file size limit stands for a full disk: the kernel refuses the allocation alike.
TEST(ReserveFileSpaceDeathTest, NoRoomIsAnErrorNamingTheFile) {
  TempDir dir;
  EXPECT_EXIT(reserve_beyond_the_file_size_limit(dir.file("image")), ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace turso_sync

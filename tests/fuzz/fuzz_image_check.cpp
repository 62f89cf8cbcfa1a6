// Fuzz target: the structural check of a downloaded page image (src/sync/image_check.*), on any bytes.
//
// Input: the image itself, cut to whole 4096-byte pages (an input of less than a page is skipped). It is put
// in an in-memory file and checked twice: with its pages mapped and with them read. Both must give the same
// verdict, problem and row counts; a damaged image must be called damaged or unsupported, never crash the
// check or make it read outside the image.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.h"
#include "sync/image_check.h"

namespace turso_sync::fuzz {
namespace {

constexpr size_t kPage = 4096;

void check(const uint8_t* data, size_t size) {
  const size_t pages = size / kPage;
  if (pages == 0) return;
  int fd = ::memfd_create("image", MFD_CLOEXEC);
  FUZZ_CHECK(fd >= 0, "memfd_create failed");
  for (size_t done = 0; done < pages * kPage;) {
    ssize_t n = ::write(fd, data + done, pages * kPage - done);
    FUZZ_CHECK(n > 0, "writing the image failed");
    done += static_cast<size_t>(n);
  }
  const std::string path = "fuzz image";
  auto mapped = check_image_structure(fd, pages, path);
  auto read = check_image_structure(fd, pages, path, /*map_pages=*/false);
  ::close(fd);
  FUZZ_CHECK(mapped.ok() && read.ok(), "an I/O error on an in-memory file: {}",
             (mapped.ok() ? read : mapped).error().message());
  FUZZ_CHECK(mapped->verdict == read->verdict && mapped->problem == read->problem &&
                 mapped->rows_by_root == read->rows_by_root,
             "mapped and read pages disagree: `{}` / `{}`", mapped->problem, read->problem);
  FUZZ_CHECK(mapped->verdict == ImageCheck::Verdict::sound || !mapped->problem.empty(),
             "a verdict other than sound without a problem");
}

}  // namespace
}  // namespace turso_sync::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  turso_sync::fuzz::check(data, size);
  return 0;
}

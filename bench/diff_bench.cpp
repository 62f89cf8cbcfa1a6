// diff_bench BASE TARGET OUT: the library's diff of BASE -> TARGET written as SQL to OUT, as `turso-sync
// diff` does, with the elapsed time and peak memory on stderr. Used by bench/run against sqldiff. OUT =
// "--no-sql" computes the changeset without rendering it (the engine's own cost).
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "turso_sync/diff.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: diff_bench BASE TARGET OUT.sql\n");
    return 2;
  }
  auto start = std::chrono::steady_clock::now();
  bool render = std::string(argv[3]) != "--no-sql";
  std::FILE* out = render ? std::fopen(argv[3], "w") : nullptr;
  if (render && !out) {
    std::perror(argv[3]);
    return 1;
  }
  turso_sync::Result<turso_sync::DiffSummary> summary =
      turso_sync::Error(turso_sync::ErrorKind::internal, "not run");
  {
    turso_sync::SqlWriter writer(out, std::string("diff ") + argv[1] + " -> " + argv[2]);
    turso_sync::NullSink none;
    summary = render ? turso_sync::diff_databases(argv[1], argv[2], writer)
                     : turso_sync::diff_databases(argv[1], argv[2], none);
  }
  if (out) std::fclose(out);
  if (!summary.ok()) {
    std::fprintf(stderr, "diff_bench: %s\n", summary.error().message().c_str());
    return 1;
  }
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  std::fprintf(stderr, "diff_bench: %.3f s, %lld changes, peak RSS %ld MiB\n", seconds,
               static_cast<long long>(summary->totals.total()), usage.ru_maxrss / 1024);
  return 0;
}

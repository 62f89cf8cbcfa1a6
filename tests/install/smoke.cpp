// Installed-package smoke test (C++, find_package(turso_sync)): the C++ API through the static library
// (turso_sync::turso_sync_static): pull the remote's new row into the working copy made by smoke_c.
// usage: smoke_cpp DIR URL
#include <turso_sync/config.h>
#include <turso_sync/sync.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  turso_sync::ConfigOverrides overrides;
  overrides.base_dir = argv[1];
  overrides.database_url = argv[2];
  auto config = turso_sync::load_config(overrides, turso_sync::process_environment());
  if (!config.ok()) return std::fprintf(stderr, "smoke_cpp: %s\n", config.error().message().c_str()), 1;
  auto sync = turso_sync::SyncContext::open(*config);
  if (!sync.ok()) return std::fprintf(stderr, "smoke_cpp: %s\n", sync.error().message().c_str()), 1;
  auto pulled = (*sync)->pull({});
  if (!pulled.ok()) return std::fprintf(stderr, "smoke_cpp: %s\n", pulled.error().message().c_str()), 1;
  std::printf("smoke_cpp: pulled +%lld\n", static_cast<long long>(pulled->taken.inserts));
  return pulled->taken.inserts == 1 ? 0 : 1;
}

# turso-sync: `make` builds build/turso-sync; `make test` and `make demo` also install what is missing.
JOBS ?= 2
# Tests mostly wait on servers and child processes, so they run one more at a time than the build jobs.
TEST_JOBS ?= 3
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
CMAKE_FLAGS ?=
# Debug information: line tables only (enough for the sanitizers' and gdb's stack traces; compiles about
# 40% faster than full -g on the test files). `make DEBUG_INFO=-g` for variables in gdb (a fresh build dir).
DEBUG_INFO ?= -g1
PREFIX ?= /usr/local

.PHONY: all build build-cli build-asan deps test test-release test-slow test-asan fuzz fuzz-smoke demo bench soak format clean ocaml install

all: build

# A failed configure (a dependency missing) leaves no cache behind, so the next `make` configures again, and
# says which command installs what is missing.
CONFIGURE_FAILED = { rm -f $(1)/CMakeCache.txt; \
  echo "turso-sync: configuring $(1) failed (above). If a package is missing, \`make deps\` installs every dependency (Debian), then run make again." >&2; \
  exit 1; }

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 $(DEBUG_INFO) -DNDEBUG" \
	  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 $(DEBUG_INFO) -DNDEBUG" $(CMAKE_FLAGS) || $(call CONFIGURE_FAILED,$(BUILD))

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# What the demo and the OCaml binding need, without the tests: the CLI and libturso_sync.so.
build-cli: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target turso-sync turso_sync_c

deps:
	scripts/install-deps

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTURSO_SYNC_SANITIZE=ON "-DCMAKE_CXX_FLAGS_DEBUG=$(DEBUG_INFO)" \
	  "-DCMAKE_C_FLAGS_DEBUG=$(DEBUG_INFO)" $(CMAKE_FLAGS) || \
	  $(call CONFIGURE_FAILED,$(ASAN_BUILD))

# The *Slow* tests (long property runs, the minute-long live soak, 200k rows) are not part of `make test`: on
# a loaded 2-core machine they alone took over 10 minutes. `make test-slow` runs them; `make soak` runs the
# property tests on fresh seeds.
test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 600 -E 'Slow'

test-slow: build
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 1800 -R 'Slow'

# The sanitizer build through its generated Makefiles, so that it shares make's job slots with what runs
# beside it (`make test`).
build-asan: $(ASAN_BUILD)/CMakeCache.txt
	$(MAKE) -C $(ASAN_BUILD) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j $(JOBS))

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(ASAN_PROPERTY_SIZE) \
	  TURSO_SYNC_CHANGESET_MEMORY=0 ctest --output-on-failure -j $(TEST_JOBS) --timeout 900 -E '$(ASAN_EXCLUDE)'

# Not run under the sanitizers: the `slow` tests; the OCaml tests (ocaml.*: the OCaml executables are not
# built with ASan, and a sanitized libturso_sync.so cannot be loaded without the ASan runtime in the
# process); the installed-package test (install.*: it compiles fresh programs without the sanitizer flags).
# The C API itself runs under the sanitizers in capi.*. DiffMemory measures peak RSS, which ASan's shadow
# memory and quarantine multiply. The fault and kill matrices (FaultMatrix, KillMatrix, StagedPushKill) run
# the code paths of the scenario tests many times over, through processes faulted or killed from outside:
# they run in the release build only. The 20 MB staged push takes 90 s under the sanitizers; the smaller
# StagedPush tests run the same code there. The property tests run fewer cases (same seeds, the first of each
# list) under the sanitizers than in the release build, which runs them all. Every change set is spilled to
# disk there (TURSO_SYNC_CHANGESET_MEMORY=0), the path large changes take, while the release build keeps small
# ones in memory: each scenario runs both ways. ChangeMemory measures peak RSS too. Three measure cost or
# volume on code the others run there too, and took the longest under the sanitizers: the bytes a ten-row
# pull moves (73 s there; the other PagePull tests run), 20,000 children staged before their parents (42 s;
# the smaller StagedPush tests run), the requests of an idle remote followed for ten seconds (the long-poll
# PullOnChange test runs).
ASAN_EXCLUDE = Slow|^ocaml\.|^install\.|^DiffMemory\.|^ChangeMemory\.|^FaultMatrix\.|^KillMatrix\.|^StagedPushKill\.|^StagedPush\.ConflictInALatePartOfA20Mb|^PagePull\.TenRowPullMovesAFractionOfTheRemote|^StagedPush\.ChildrenDeclaredBeforeTheirParents|^PullOnChange\.ARemoteChangeReaches
ASAN_PROPERTY_SIZE = TURSO_SYNC_SCHEMA_CASES=2 TURSO_SYNC_CONSTRAINTS_CASES=2

# The OCaml binding and the example (dune), against this build's libturso_sync.so:
# _build/default/examples/email_scheduler/email_scheduler.exe
ocaml: build-cli
	TURSO_SYNC_BUILD_DIR=$(abspath $(BUILD)) TURSO_SYNC_INCLUDE_DIR=$(abspath include) dune build --root .

# Headers, libturso_sync.{so,a}, turso-sync, turso_sync.pc and the CMake package under $(PREFIX).
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The libFuzzer targets of tests/fuzz/ (clang): built in $(FUZZ_BUILD), each run for FUZZ_SECONDS from its
# seed corpus (scripts/fuzz; docs/reliability.md, "Fuzzing"). fuzz-smoke: 5 s each, skipped with a message
# when clang or its libFuzzer runtime is missing.
fuzz:
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(JOBS) scripts/fuzz

fuzz-smoke:
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=5 FUZZ_JOBS=$(JOBS) FUZZ_SKIP_MISSING=1 scripts/fuzz

# Every test: the release build (all but the Slow ones; the C API, OCaml and installed-package tests
# included), the sanitizer build (all but ASAN_EXCLUDE), and a short run of every fuzz target. The tests
# mostly wait on servers and child processes, so the sanitizer build compiles while the release tests run
# (sharing make's job slots: JOBS compile jobs besides the tests), and the fuzz targets build and run beside
# the sanitizer tests.
test: deps
	$(MAKE) build
	$(MAKE) -j $$(($(JOBS) + 1)) --output-sync=line test-release build-asan
	$(MAKE) -j 2 --output-sync=line test-asan fuzz-smoke

# Builds only what it runs (the CLI, the shared library, the OCaml example): the tests are `make test`'s.
demo: deps build-cli ocaml
	scripts/demo

bench: deps
	cmake -S . -B $(BUILD) -DTURSO_SYNC_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)
	bench/run
	BUILD_DIR=$(BUILD) bench/sync_run
	BUILD_DIR=$(BUILD) bench/publish_run
	BUILD_DIR=$(BUILD) bench/memory_run

soak: build
	scripts/soak

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)

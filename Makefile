# turso-sync: `make` builds build/turso-sync; `make test` and `make demo` also install what is missing.
JOBS ?= 2
# Tests mostly wait on servers and child processes, so they run one more at a time than the build jobs.
TEST_JOBS ?= 3
BUILD ?= build
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 10
CMAKE_FLAGS ?=
# Debug information: line tables only (enough for the sanitizers' and gdb's stack traces; compiles about
# 40% faster than full -g on the test files). `make DEBUG_INFO=-g` for variables in gdb (a fresh build dir).
DEBUG_INFO ?= -g1
PREFIX ?= /usr/local

.PHONY: all build build-cli build-release build-sanitized deps test test-release test-slow test-sanitized fuzz fuzz-smoke demo bench soak format clean ocaml install

all: build

# A failed configure (a dependency missing) leaves no cache behind, so the next `make` configures again, and
# says which command installs what is missing.
CONFIGURE_FAILED = { rm -f $(1)/CMakeCache.txt; \
  echo "turso-sync: configuring $(1) failed (above). If a package is missing, \`make deps\` installs every dependency (Debian), then run make again." >&2; \
  exit 1; }

# The build directory holds both variants: the product, and (in $(BUILD)/asan/) the library, the CLI and the
# shared library built with ASan+UBSan, against which every test is registered again (asan.*). The test
# programs' own code is compiled once for both (tests/CMakeLists.txt).
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 $(DEBUG_INFO) -DNDEBUG" \
	  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 $(DEBUG_INFO) -DNDEBUG" -DTURSO_SYNC_SANITIZED_TESTS=ON $(CMAKE_FLAGS) || \
	  $(call CONFIGURE_FAILED,$(BUILD))

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# What the demo and the OCaml binding need, without the tests: the CLI and libturso_sync.so.
build-cli: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target turso-sync turso_sync_c

deps:
	scripts/install-deps

# The product's programs and its tests, without the sanitized variant.
RELEASE_TARGETS = turso-sync turso_sync_c unit_tests integration_tests open_guard capi_test capi_surface_test \
  capi_inprocess_writers_test
build-release: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target $(RELEASE_TARGETS)

# The *Slow* tests (long property runs, the minute-long live soak, 200k rows) are not part of `make test`: on
# a loaded 2-core machine they alone took over 10 minutes. `make test-slow` runs them; `make soak` runs the
# property tests on fresh seeds.
# Until the sanitized variant is built, ctest lists a placeholder for each of its GoogleTest programs
# (<target>_NOT_BUILT), which the product's run leaves out with the variant's tests.
test-release: build-release
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 600 -E '^asan\.|_asan_NOT_BUILT$$|Slow'

test-slow: build-release
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 1800 -R 'Slow' -E '^asan\.'

# The sanitized variant through the generated Makefiles, so that it shares make's job slots with what runs
# beside it (`make test`).
build-sanitized: $(BUILD)/CMakeCache.txt
	$(MAKE) -C $(BUILD) --no-print-directory $(if $(findstring jobserver,$(MAKEFLAGS)),,-j $(JOBS))

# The sanitized variant's tests (asan.*) run with tests/sanitized_env.sh's settings: fewer property cases
# (the same seeds, the first of each list), every change set spilled to disk.
test-sanitized: build-sanitized
	cd $(BUILD) && ctest --output-on-failure -j $(TEST_JOBS) --timeout 900 -R '^asan\.' -E '$(SANITIZED_EXCLUDE)'

# Not run in the sanitized variant (not registered there): the OCaml tests (the OCaml executables are not
# built with ASan, and a sanitized libturso_sync.so cannot be loaded without the ASan runtime in the
# process); the installed-package test (it compiles fresh programs without the sanitizer flags).
# Excluded below: the `slow` tests. DiffMemory, ChangeMemory and the 50 MB BLOB of InitFrom measure peak RSS,
# which ASan's shadow memory and quarantine multiply. The fault and kill matrices (FaultMatrix, KillMatrix,
# StagedPushKill) run the code paths of the scenario tests many times over, through processes faulted or
# killed from outside. The 20 MB
# staged push takes 90 s under the sanitizers; the smaller StagedPush tests run the same code there. Some
# measure cost or volume on code the others run there too, and took the longest under the sanitizers: the
# bytes a ten-row pull moves (73 s there; the other PagePull tests run), 20,000 children staged before their
# parents (42 s; the smaller StagedPush tests run), the requests of an idle remote followed for ten seconds
# (the long-poll PullOnChange test runs), 2000-column tables on every path (72 s; the wide-row code runs in
# the 200-table and other tests), ten 1 MB BLOB rows (29 s; LargeValue and the BLOB round trips run).
SANITIZED_EXCLUDE = Slow|^asan\.(DiffMemory|ChangeMemory|FaultMatrix|KillMatrix|StagedPushKill)\.|^asan\.StagedPush\.ConflictInALatePartOfA20Mb|^asan\.PagePull\.TenRowPullMovesAFractionOfTheRemote|^asan\.StagedPush\.ChildrenDeclaredBeforeTheirParents|^asan\.PullOnChange\.ARemoteChangeReaches|^asan\.WideTables\.|^asan\.HostileInput\.TenMegabyteBlob|^asan\.InitFrom\.AFiftyMegabyte(Blob|Text)

# The OCaml binding and the example (dune), against this build's libturso_sync.so:
# _build/default/examples/email_scheduler/email_scheduler.exe
DUNE = TURSO_SYNC_BUILD_DIR=$(abspath $(BUILD)) TURSO_SYNC_INCLUDE_DIR=$(abspath include) dune
ocaml: build-cli
	$(DUNE) build --root .

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

# Every test: the product's (all but the Slow ones; the C API, OCaml and installed-package tests included),
# the sanitized variant's (all but SANITIZED_EXCLUDE), and a short run of every fuzz target. The tests mostly
# wait on servers and child processes, so the sanitized variant compiles while the product's tests run
# (sharing make's job slots: JOBS compile jobs besides the tests), and the fuzz targets build and run beside
# the sanitized tests.
test: deps
	$(MAKE) build-release
	$(MAKE) -j $$(($(JOBS) + 1)) --output-sync=line test-release build-sanitized
	$(MAKE) -j 2 --output-sync=line test-sanitized fuzz-smoke

# Builds only what it runs (the CLI, the shared library, the OCaml example): the tests are `make test`'s.
demo: deps build-cli
	$(DUNE) build --root . ./examples/email_scheduler/email_scheduler.exe
	scripts/demo

bench: deps
	cmake -S . -B $(BUILD) -DTURSO_SYNC_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS) --target turso-sync diff_bench
	bench/run
	BUILD_DIR=$(BUILD) bench/sync_run
	BUILD_DIR=$(BUILD) bench/publish_run
	BUILD_DIR=$(BUILD) bench/memory_run
	BUILD_DIR=$(BUILD) bench/follow_run

soak: build
	scripts/soak

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.c')

clean:
	rm -rf $(BUILD) $(FUZZ_BUILD)

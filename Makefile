# turso-sync: `make` builds build/turso-sync; `make test` and `make demo` also install what is missing.
JOBS ?= 2
BUILD ?= build
ASAN_BUILD ?= build-asan
CMAKE_FLAGS ?=

.PHONY: all build deps test test-release test-asan demo bench format clean ocaml

all: build

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

deps:
	scripts/install-deps

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DTURSO_SYNC_SANITIZE=ON $(CMAKE_FLAGS)

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

test-asan: $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS) --timeout 900 -E Slow

# Every test: the release build (all tests), then the sanitizer build (all but the `slow` label).
test: deps
	$(MAKE) test-release
	$(MAKE) test-asan

demo: deps build
	scripts/demo

bench: deps
	cmake -S . -B $(BUILD) -DTURSO_SYNC_BENCH=ON
	cmake --build $(BUILD) -j $(JOBS)
	bench/run

format:
	clang-format -i $$(git ls-files '*.cpp' '*.h' '*.c')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

# The one-word commands.  CMake does the building; see README.md.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build demo test bench asan tsan sanitize format format-check clean

all: build

build:
	@scripts/deps.sh test
	cmake -S . -B $(BUILD) -DPC_WERROR=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# The seed tour: every example of the seed, under its question.
demo:
	@scripts/deps.sh build
	cmake -S . -B $(BUILD)-demo -DPC_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD)-demo -j $(JOBS)
	@examples/seed/tour.sh $(BUILD)-demo/examples/seed

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j 2

# Sanitizer builds of the whole suite (CI runs both).
asan:
	@scripts/deps.sh sanitize
	cmake -S . -B $(BUILD)-asan -DPC_SANITIZE=address -DPC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(BUILD)-asan -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD)-asan --output-on-failure -j 2

tsan:
	@scripts/deps.sh sanitize
	cmake -S . -B $(BUILD)-tsan -DPC_SANITIZE=thread -DPC_WERROR=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(BUILD)-tsan -j $(JOBS)
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/test/tsan.supp" \
	  ctest --test-dir $(BUILD)-tsan --output-on-failure -j 2

sanitize: asan tsan

# Benchmarks beside their peers; writes bench/results/.
bench:
	@scripts/deps.sh bench
	cmake -S . -B $(BUILD)-bench -DPC_BUILD_BENCH=ON -DPC_BUILD_TESTS=OFF -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $(BUILD)-bench -j $(JOBS)
	bench/run.sh $(BUILD)-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(BUILD)-demo $(BUILD)-asan $(BUILD)-tsan $(BUILD)-bench

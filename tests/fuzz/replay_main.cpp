// Replays a fuzz target's seed corpus in the ordinary build, so that `make check` runs every target and
// none can rot: each file, and every proper prefix of it (truncation is the commonest hostile input),
// goes through LLVMFuzzerTestOneInput in a heap buffer of its exact size, so AddressSanitizer sees a read
// past the end.  Never mutates input: that is libFuzzer's job (--enable-fuzzing).  A target reports a
// broken invariant by aborting, exactly as under libFuzzer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size);

#ifndef FUZZ_TARGET_NAME
#error "FUZZ_TARGET_NAME must name the target, e.g. -DFUZZ_TARGET_NAME='\"lenenc\"'"
#endif
#ifndef FUZZ_CORPUS_DIR
#error "FUZZ_CORPUS_DIR must be the seed directory (absolute, so VPATH builds and distcheck find it)"
#endif

namespace {

/* One call with a private copy, so nothing past @size is addressable. */
void run_one(const std::vector<std::uint8_t> &input, std::size_t size)
{
	const auto copy = std::make_unique<std::uint8_t[]>(size == 0 ? 1 : size);
	std::copy_n(input.begin(), size, copy.get());
	(void)LLVMFuzzerTestOneInput(copy.get(), size);
}

bool read_file(const std::filesystem::path &path, std::vector<std::uint8_t> &out)
{
	std::ifstream in(path, std::ios::binary);
	if (!in)
		return false;
	out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
	return !in.bad();
}

struct Totals {
	std::size_t inputs = 0;
	std::size_t runs = 0;
	std::size_t failures = 0;
};

void replay_directory(const std::filesystem::path &directory, Totals &totals)
{
	std::error_code error;
	std::vector<std::filesystem::path> files;
	for (std::filesystem::directory_iterator it(directory, error), end; !error && it != end; it.increment(error)) {
		std::error_code type_error;
		if (it->is_regular_file(type_error))
			files.push_back(it->path());
	}
	if (error) {
		std::fprintf(stderr, "replay fuzz_%s: %s: %s\n", FUZZ_TARGET_NAME, directory.c_str(),
			     error.message().c_str());
		++totals.failures;
		return;
	}
	std::sort(files.begin(), files.end());

	std::vector<std::uint8_t> input;
	for (const auto &file : files) {
		if (!read_file(file, input)) {
			std::fprintf(stderr, "replay fuzz_%s: cannot read %s\n", FUZZ_TARGET_NAME, file.c_str());
			++totals.failures;
			continue;
		}
		/* Printed first, so a crash report below it names the input. */
		std::printf("  %s (%zu bytes)\n", file.filename().c_str(), input.size());
		std::fflush(stdout);
		for (std::size_t n = 0; n <= input.size(); ++n)
			run_one(input, n);
		++totals.inputs;
		totals.runs += input.size() + 1;
	}
}

} // namespace

/* Usage: replay_NAME [CORPUS_DIR...]; without arguments, the target's seed directory in the source tree. */
int main(int argc, char **argv)
{
	std::vector<std::filesystem::path> directories;
	for (int i = 1; i < argc; ++i)
		directories.emplace_back(argv[i]);
	if (directories.empty())
		directories.emplace_back(FUZZ_CORPUS_DIR);

	Totals totals;
	for (const auto &directory : directories)
		replay_directory(directory, totals);
	if (totals.inputs == 0) {
		/* An empty or missing corpus must not pass silently. */
		std::fprintf(stderr, "replay fuzz_%s: no inputs found\n", FUZZ_TARGET_NAME);
		++totals.failures;
	}
	std::printf("replay fuzz_%s: %zu inputs (%zu runs with prefixes), %zu failures\n", FUZZ_TARGET_NAME,
		    totals.inputs, totals.runs, totals.failures);
	return totals.failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

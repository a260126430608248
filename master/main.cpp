// myproxy's entry point (master side).  The proxy itself arrives with the master/worker
// processes; until then the binary only answers --help and --version.
#include <cstdio>
#include <cstring>

static void print_usage(FILE *out)
{
	std::fprintf(out, "Usage: myproxy [--config FILE] [--check-config]\n"
			  "       myproxy --help | --version\n");
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; ++i) {
		if (std::strcmp(argv[i], "--help") == 0) {
			print_usage(stdout);
			return 0;
		}
		if (std::strcmp(argv[i], "--version") == 0) {
			std::printf("myproxy " PACKAGE_VERSION "\n");
			return 0;
		}
		std::fprintf(stderr, "myproxy: unknown option '%s'\n", argv[i]);
		print_usage(stderr);
		return 64; /* EX_USAGE */
	}
	print_usage(stderr);
	return 64;
}

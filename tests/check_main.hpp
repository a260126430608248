// Runs Check suites and turns the outcome into an exit status for automake's test driver.
// Every test binary ends its main() with run_check_suites(); Check prints its own summary line
// ("100%: Checks: N, Failures: 0, Errors: 0"), which scripts/test.sh collects.
#pragma once

#include <check.h>

#include <cstdlib>
#include <initializer_list>

/* CK_TIMEOUT_MULTIPLIER (Check's own knob for its test timeouts, e.g. 3 under valgrind or on a
   loaded machine), at least 1: the safety-net limits of the tests scale with it.  Those limits
   only stop a hung test; what a test asserts is an order or a cause, never a duration. */
inline unsigned timeout_multiplier()
{
	const char *value = std::getenv("CK_TIMEOUT_MULTIPLIER");
	const long parsed = value != nullptr ? std::strtol(value, nullptr, 10) : 1;
	return parsed >= 1 && parsed <= 100 ? static_cast<unsigned>(parsed) : 1;
}

inline int run_check_suites(std::initializer_list<Suite *> suites)
{
	auto begin = suites.begin();
	SRunner *runner = srunner_create(*begin);
	for (auto it = begin + 1; it != suites.end(); ++it)
		srunner_add_suite(runner, *it);
	srunner_run_all(runner, CK_NORMAL);
	const int failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

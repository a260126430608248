// Unit tests for common/node_choice and common/node_state: the rendezvous score is what its
// documentation says (keyed BLAKE2b over the stated layout) and never changes between versions
// (pinned values), accounts spread evenly (10,000 accounts over 3 and 5 nodes, every node within
// 5 % of its fair share: about 3.5 and 2.5 standard deviations of a uniform hash), removing a node
// moves only its own accounts and adding one takes only accounts for itself, and the tiers of the
// ranking follow the node states and the preference.
#include "common/node_choice.hpp"
#include "tests/check_main.hpp"

#include <sodium.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace myproxy;

namespace {

std::vector<std::string> node_names(std::size_t count, std::size_t first = 0)
{
	std::vector<std::string> names;
	for (std::size_t i = first; i < first + count; ++i)
		names.push_back("10.0.0." + std::to_string(i + 1) + ":3306");
	return names;
}

std::string account(int i)
{
	return "account" + std::to_string(i);
}

/* The index of the node the ranking puts first for @acct, every node in @state. */
std::uint32_t first_choice(const std::vector<std::string> &names, const std::string &acct,
			   NodeState state = NodeState::alive, NodePreference preference = NodePreference::any)
{
	std::vector<NodeCandidate> candidates;
	for (const std::string &name : names)
		candidates.push_back({name, state});
	std::vector<std::uint32_t> order;
	rank_nodes(candidates, preference, acct, order);
	ck_assert_uint_eq(order.size(), names.size());
	return order.front();
}

} // namespace

START_TEST(test_score_is_pinned)
{
	/* Changing these moves every account to another node on upgrade. */
	ck_assert_uint_eq(rendezvous_score("127.0.0.1:3306", "acme"), 6526598437334477928ull);
	ck_assert_uint_eq(rendezvous_score("/run/mysqld/mysqld.sock", ""), 3221744478058998238ull);
}
END_TEST

/* The documented layout, computed independently with libsodium. */
START_TEST(test_score_layout)
{
	ck_assert_int_ge(sodium_init(), 0);
	const unsigned char key[16] = {'m', 'y', 'p', 'r', 'o', 'x', 'y', ' ', 'r', 'e', 'n', 'd', 'e', 'z', 'v', '1'};
	const std::string node = "[::1]:3307", acct = "tenant-42";
	std::string input;
	input += char(node.size()), input += '\0', input += '\0', input += '\0';
	input += node + acct;
	unsigned char digest[16];
	crypto_generichash(digest, sizeof(digest), reinterpret_cast<const unsigned char *>(input.data()), input.size(), key,
			   sizeof(key));
	std::uint64_t expected = 0;
	for (int i = 7; i >= 0; --i)
		expected = (expected << 8) | digest[i];
	ck_assert_uint_eq(rendezvous_score(node, acct), expected);

	/* The length prefix keeps the split between node and account unambiguous. */
	ck_assert_uint_ne(rendezvous_score("ab", "c"), rendezvous_score("a", "bc"));
	ck_assert_uint_eq(rendezvous_score(node, acct), rendezvous_score(node, acct));
}
END_TEST

static void check_spread(std::size_t node_count)
{
	const auto names = node_names(node_count);
	std::vector<int> counts(node_count, 0);
	constexpr int accounts = 10000;
	for (int i = 0; i < accounts; ++i)
		counts[first_choice(names, account(i))]++;
	const double fair = double(accounts) / double(node_count);
	for (std::size_t n = 0; n < node_count; ++n)
		ck_assert_msg(std::abs(counts[n] - fair) <= 0.05 * fair, "%zu nodes: node %zu has %d accounts, fair share %.0f",
			      node_count, n, counts[n], fair);
}

START_TEST(test_spread_over_3_nodes)
{
	check_spread(3);
}
END_TEST

START_TEST(test_spread_over_5_nodes)
{
	check_spread(5);
}
END_TEST

START_TEST(test_removing_a_node_moves_only_its_accounts)
{
	const auto five = node_names(5);
	for (std::size_t removed = 0; removed < five.size(); ++removed) {
		std::vector<std::string> four = five;
		four.erase(four.begin() + std::ptrdiff_t(removed));
		int moved = 0;
		for (int i = 0; i < 10000; ++i) {
			const std::string &before = five[first_choice(five, account(i))];
			const std::string &after = four[first_choice(four, account(i))];
			if (before == five[removed]) {
				++moved;
				ck_assert(after != five[removed]);
			} else {
				ck_assert_msg(before == after, "%s moved from %s to %s", account(i).c_str(), before.c_str(),
					      after.c_str());
			}
		}
		ck_assert_int_gt(moved, 0);
	}
}
END_TEST

START_TEST(test_adding_a_node_takes_only_for_itself)
{
	const auto three = node_names(3);
	auto four = three;
	four.push_back(node_names(1, 7).front());
	for (int i = 0; i < 10000; ++i) {
		const std::string &before = three[first_choice(three, account(i))];
		const std::string &after = four[first_choice(four, account(i))];
		ck_assert(after == before || after == four.back());
	}
}
END_TEST

/* The order of the nodes in the configuration does not matter: the score depends on the address. */
START_TEST(test_order_of_nodes_irrelevant)
{
	const auto names = node_names(4);
	const std::vector<std::string> reversed(names.rbegin(), names.rend());
	for (int i = 0; i < 1000; ++i)
		ck_assert(names[first_choice(names, account(i))] == reversed[first_choice(reversed, account(i))]);
}
END_TEST

START_TEST(test_tiers)
{
	using S = NodeState;
	using P = NodePreference;
	ck_assert_uint_eq(node_tier(S::unknown, P::any), 0);
	ck_assert_uint_eq(node_tier(S::alive, P::any), 0);
	ck_assert_uint_eq(node_tier(S::read_only, P::any), 0);
	ck_assert_uint_eq(node_tier(S::alive, P::writable), 0);
	ck_assert_uint_eq(node_tier(S::read_only, P::writable), 1);
	ck_assert_uint_eq(node_tier(S::unknown, P::writable), 1);
	ck_assert_uint_eq(node_tier(S::read_only, P::read_only), 0);
	ck_assert_uint_eq(node_tier(S::alive, P::read_only), 1);
	for (P p : {P::any, P::writable, P::read_only}) {
		ck_assert_uint_eq(node_tier(S::dead, p), 2);
		ck_assert_uint_eq(node_tier(S::auth_failed, p), 2);
	}
}
END_TEST

/* Preferred nodes first, then the other available ones, the unavailable last; each group by score. */
START_TEST(test_ranking_by_tier_then_score)
{
	const auto names = node_names(5);
	const NodeState states[] = {NodeState::dead, NodeState::alive, NodeState::read_only, NodeState::alive,
				    NodeState::auth_failed};
	std::vector<NodeCandidate> candidates;
	for (std::size_t i = 0; i < names.size(); ++i)
		candidates.push_back({names[i], states[i]});
	std::vector<std::uint32_t> order;
	for (int i = 0; i < 200; ++i) {
		const std::string acct = account(i);
		rank_nodes(candidates, NodePreference::writable, acct, order);
		ck_assert_uint_eq(order.size(), 5);
		ck_assert(order[0] == 1 || order[0] == 3);
		ck_assert(order[1] == 1 || order[1] == 3);
		ck_assert_uint_eq(order[2], 2);
		ck_assert(order[3] == 0 || order[3] == 4);
		ck_assert_uint_ge(rendezvous_score(names[order[0]], acct), rendezvous_score(names[order[1]], acct));
		ck_assert_uint_ge(rendezvous_score(names[order[3]], acct), rendezvous_score(names[order[4]], acct));

		rank_nodes(candidates, NodePreference::read_only, acct, order);
		ck_assert_uint_eq(order[0], 2);

		/* Among all-usable nodes the first choice is the plain hash choice. */
		rank_nodes(candidates, NodePreference::any, acct, order);
		ck_assert(order[0] == 1 || order[0] == 2 || order[0] == 3);
	}
	rank_nodes({}, NodePreference::any, "x", order);
	ck_assert(order.empty());
}
END_TEST

START_TEST(test_state_names)
{
	ck_assert_str_eq(node_state_name(NodeState::unknown), "unknown");
	ck_assert_str_eq(node_state_name(NodeState::alive), "alive");
	ck_assert_str_eq(node_state_name(NodeState::read_only), "read_only");
	ck_assert_str_eq(node_state_name(NodeState::auth_failed), "auth_failed");
	ck_assert_str_eq(node_state_name(NodeState::dead), "dead");
	ck_assert_str_eq(node_state_name(NodeState(9)), "invalid");
	ck_assert(node_state_available(NodeState::unknown));
	ck_assert(!node_state_available(NodeState::dead));
	ck_assert(!node_state_available(NodeState::auth_failed));
}
END_TEST

static Suite *node_choice_suite()
{
	Suite *s = suite_create("node_choice");
	TCase *tc = tcase_create("hash");
	tcase_add_test(tc, test_score_is_pinned);
	tcase_add_test(tc, test_score_layout);
	tcase_add_test(tc, test_spread_over_3_nodes);
	tcase_add_test(tc, test_spread_over_5_nodes);
	tcase_add_test(tc, test_removing_a_node_moves_only_its_accounts);
	tcase_add_test(tc, test_adding_a_node_takes_only_for_itself);
	tcase_add_test(tc, test_order_of_nodes_irrelevant);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	tc = tcase_create("ranking");
	tcase_add_test(tc, test_tiers);
	tcase_add_test(tc, test_ranking_by_tier_then_score);
	tcase_add_test(tc, test_state_names);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({node_choice_suite()});
}

// Unit tests for common/node_choice and common/node_state: the node choice of 1,000 accounts over
// three nodes (IPv4, IPv6, local socket) and single scores equal upstream CM4all myproxy's rule as
// computed independently by tests/unit/vectors/node_choice_vectors.py (python3 hashlib); the hash
// keys are the addresses' steady parts (ports ignored); accounts spread evenly (10,000 accounts over
// 3 and 5 nodes, every node within 5 % of its fair share: about 3.5 and 2.5 standard deviations of a
// uniform hash), removing a node moves only its own accounts and adding one takes only accounts for
// itself, and the tiers of the ranking follow the node states and the preference.
#include "common/node_choice.hpp"
#include "tests/check_main.hpp"
#include "tests/unit/node_choice_vectors.hpp"

#include <sodium.h>

#include <cstdlib>
#include <string>
#include <vector>

using namespace myproxy;

namespace {

std::string key_of(const std::string &text)
{
	const AddressResult address = parse_numeric_address(text, mysql_default_port);
	ck_assert_msg(address.ok(), "%s", address.error());
	return node_hash_key(address.value());
}

/* The hash keys of 10.0.0.<first+1>... */
std::vector<std::string> node_names(std::size_t count, std::size_t first = 0)
{
	std::vector<std::string> names;
	for (std::size_t i = first; i < first + count; ++i)
		names.push_back(key_of("10.0.0." + std::to_string(i + 1) + ":3306"));
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

/* Changing these moves every account to another node: they are upstream's. */
START_TEST(test_scores_are_upstreams)
{
	for (const auto &v : node_choice_vectors::scores)
		ck_assert_msg(rendezvous_score(key_of(v.address), v.account) == v.score, "%s '%s'", v.address,
			      v.account);
}
END_TEST

START_TEST(test_1000_accounts_over_3_nodes)
{
	std::vector<std::string> keys;
	for (const char *node : node_choice_vectors::nodes)
		keys.push_back(key_of(node));
	for (int i = 0; i < 1000; ++i) {
		const std::string acct = i == 0 ? std::string() : "tenant" + std::to_string(i);
		for (NodeState state : {NodeState::unknown, NodeState::alive})
			ck_assert_msg(first_choice(keys, acct, state) == node_choice_vectors::winner[i], "account '%s'",
				      acct.c_str());
	}
}
END_TEST

/* The steady parts: address bytes without the port, the path, an abstract name with its NUL. */
START_TEST(test_hash_keys)
{
	ck_assert(key_of("10.0.0.1:3306") == std::string("\x0a\x00\x00\x01", 4));
	ck_assert(key_of("10.0.0.1:3306") == key_of("10.0.0.1:3307"));
	ck_assert(key_of("[::1]:3306") == std::string(15, '\0') + "\x01");
	ck_assert(key_of("/run/mysqld/mysqld.sock") == "/run/mysqld/mysqld.sock");
	ck_assert(key_of("@mysqld") == std::string("\0mysqld", 7));
	ck_assert(node_hash_key(SocketAddress{}).empty());
	/* Nodes on one host tie: the first in the nodes table wins, whatever the account. */
	const std::vector<std::string> same_host = {key_of("127.0.0.1:3306"), key_of("127.0.0.1:3307")};
	for (int i = 0; i < 100; ++i)
		ck_assert_uint_eq(first_choice(same_host, account(i)), 0);
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
		/* The smallest score first. */
		ck_assert_uint_le(rendezvous_score(names[order[0]], acct), rendezvous_score(names[order[1]], acct));
		ck_assert_uint_le(rendezvous_score(names[order[3]], acct), rendezvous_score(names[order[4]], acct));

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
	tcase_add_test(tc, test_scores_are_upstreams);
	tcase_add_test(tc, test_1000_accounts_over_3_nodes);
	tcase_add_test(tc, test_hash_keys);
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

// Unit tests for worker/cluster_state: NODE_STATE bookkeeping with index checks, the connection's
// preference, ranking over the reported states, and exactly when disconnect_unavailable closes the
// writers of a node (unavailable with another node available; read_only under no_read_only with
// another node alive; never without the option), and which other nodes lose theirs when a better node
// comes back.
#include "worker/cluster_state.hpp"
#include "tests/check_main.hpp"

#include <vector>

using namespace myproxy;

namespace {

ClusterConfig cluster_of(std::size_t nodes, bool disconnect, bool no_read_only)
{
	ClusterConfig c;
	for (std::size_t i = 0; i < nodes; ++i)
		c.nodes.push_back({SocketAddress{}, "10.0.0." + std::to_string(i + 1) + ":3306"});
	c.monitoring = true;
	c.disconnect_unavailable = disconnect;
	c.no_read_only = no_read_only;
	return c;
}

} // namespace

START_TEST(test_set_and_bounds)
{
	const std::vector<ClusterConfig> clusters = {cluster_of(2, false, false), cluster_of(3, true, true)};
	ClusterState state(clusters);
	ck_assert(state.state(1, 2) == NodeState::unknown);
	ck_assert(state.set(1, 2, NodeState::dead));
	ck_assert(state.state(1, 2) == NodeState::dead);
	ck_assert(!state.set(1, 3, NodeState::alive));
	ck_assert(!state.set(2, 0, NodeState::alive));
	ck_assert(state.state(2, 0) == NodeState::unknown);
	ck_assert_ptr_null(state.config(2));
	ck_assert_ptr_eq(state.config(1), &clusters[1]);
}
END_TEST

START_TEST(test_preference_and_rank)
{
	const std::vector<ClusterConfig> clusters = {cluster_of(3, false, false), cluster_of(3, true, true)};
	ClusterState state(clusters);
	ck_assert(ClusterState::preference(clusters[0], false) == NodePreference::any);
	ck_assert(ClusterState::preference(clusters[1], false) == NodePreference::writable);
	ck_assert(ClusterState::preference(clusters[1], true) == NodePreference::read_only);

	std::vector<std::uint32_t> order;
	state.set(1, 0, NodeState::read_only);
	state.set(1, 1, NodeState::alive);
	state.set(1, 2, NodeState::dead);
	for (int i = 0; i < 50; ++i) {
		const std::string account = "a" + std::to_string(i);
		state.rank(1, NodePreference::writable, account, order);
		ck_assert_uint_eq(order.size(), 3);
		ck_assert_uint_eq(order[0], 1);
		ck_assert_uint_eq(order[1], 0);
		ck_assert_uint_eq(order[2], 2);
		state.rank(1, NodePreference::read_only, account, order);
		ck_assert_uint_eq(order[0], 0);
	}
	state.rank(7, NodePreference::any, "x", order);
	ck_assert(order.empty());
}
END_TEST

START_TEST(test_disconnects_writers)
{
	const std::vector<ClusterConfig> clusters = {cluster_of(2, false, false), cluster_of(2, true, false),
						     cluster_of(2, true, true)};
	ClusterState state(clusters);
	for (std::uint32_t c = 0; c < 3; ++c)
		for (std::uint32_t n = 0; n < 2; ++n)
			state.set(c, n, NodeState::alive);

	/* Without the option: never. */
	state.set(0, 0, NodeState::dead);
	ck_assert(!state.disconnects_writers(0, 0));

	/* Dead or auth_failed with another node available: yes; the other one unavailable too: no. */
	state.set(1, 0, NodeState::dead);
	ck_assert(state.disconnects_writers(1, 0));
	state.set(1, 0, NodeState::auth_failed);
	ck_assert(state.disconnects_writers(1, 0));
	state.set(1, 1, NodeState::dead);
	ck_assert(!state.disconnects_writers(1, 0));
	state.set(1, 1, NodeState::read_only);
	ck_assert(state.disconnects_writers(1, 0));
	/* read_only without no_read_only is available: nothing to do. */
	state.set(1, 0, NodeState::read_only);
	ck_assert(!state.disconnects_writers(1, 0));
	state.set(1, 0, NodeState::alive);
	ck_assert(!state.disconnects_writers(1, 0));

	/* no_read_only: turning read_only closes writers only when another node is alive. */
	state.set(2, 0, NodeState::read_only);
	ck_assert(state.disconnects_writers(2, 0));
	state.set(2, 1, NodeState::read_only);
	ck_assert(!state.disconnects_writers(2, 0));
	state.set(2, 1, NodeState::unknown);
	ck_assert(!state.disconnects_writers(2, 0));

	ck_assert(!state.disconnects_writers(1, 9));
	ck_assert(!state.disconnects_writers(9, 0));
}
END_TEST

/* Which nodes lose their writers after a change: the changed node when it got unavailable, and every
 * other node in a worse tier when the changed node is available (a better node came back). */
START_TEST(test_writer_disconnects)
{
	const std::vector<ClusterConfig> clusters = {cluster_of(3, false, false), cluster_of(3, true, false),
						     cluster_of(3, true, true)};
	ClusterState state(clusters);
	std::vector<std::uint32_t> nodes = {42};
	using V = std::vector<std::uint32_t>;

	/* Without the option: nothing, whatever happens. */
	state.set(0, 0, NodeState::dead);
	state.set(0, 1, NodeState::alive);
	state.writer_disconnects(0, 1, nodes);
	ck_assert(nodes.empty());

	/* disconnect_unavailable: node 0 dead while 1 is alive closes 0's writers; 0 coming back alive
	 * closes nothing (1 is no worse); node 2 auth_failed is worse than a returning node 0. */
	state.set(1, 1, NodeState::alive);
	state.set(1, 0, NodeState::dead);
	state.writer_disconnects(1, 0, nodes);
	ck_assert(nodes == V{0});
	state.set(1, 2, NodeState::auth_failed);
	state.set(1, 0, NodeState::alive);
	state.writer_disconnects(1, 0, nodes);
	ck_assert(nodes == V{2});
	/* An unknown node is never worse. */
	state.set(1, 2, NodeState::unknown);
	state.writer_disconnects(1, 0, nodes);
	ck_assert(nodes.empty());

	/* no_read_only: a node turning alive moves the writers off the read_only nodes, not off the
	 * alive or unknown ones; turning read_only itself closes its own while another is alive. */
	state.set(2, 0, NodeState::read_only);
	state.set(2, 1, NodeState::read_only);
	state.set(2, 2, NodeState::alive);
	state.writer_disconnects(2, 2, nodes);
	ck_assert(nodes == (V{0, 1}));
	state.writer_disconnects(2, 1, nodes);
	ck_assert(nodes == V{1});
	state.set(2, 0, NodeState::unknown);
	state.set(2, 1, NodeState::alive);
	state.writer_disconnects(2, 1, nodes);
	ck_assert(nodes.empty());

	state.writer_disconnects(1, 9, nodes);
	ck_assert(nodes.empty());
	state.writer_disconnects(9, 0, nodes);
	ck_assert(nodes.empty());
}
END_TEST

static Suite *cluster_state_suite()
{
	Suite *s = suite_create("cluster_state");
	TCase *tc = tcase_create("state");
	tcase_add_test(tc, test_set_and_bounds);
	tcase_add_test(tc, test_preference_and_rank);
	tcase_add_test(tc, test_disconnects_writers);
	tcase_add_test(tc, test_writer_disconnects);
	suite_add_tcase(s, tc);
	return s;
}

int main()
{
	return run_check_suites({cluster_state_suite()});
}

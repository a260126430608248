// Proves myproxy's client side against a real MariaDB: ClientLogin (native password, password_sha1,
// an AuthSwitchRequest, wrong password, unknown database) and ResultSetReader (values and NULLs,
// several rows, multi-statement results, a 16 MiB column, ERR), with and without
// CLIENT_DEPRECATE_EOF, over TCP and the UNIX socket.  The socket loop here is a blocking test
// helper; the daemon drives the same sans-I/O code from its event loop.
#include "common/client_login.hpp"
#include "common/command_packet.hpp"
#include "common/mysql_capabilities.hpp"
#include "common/mysql_packet.hpp"
#include "common/native_password.hpp"
#include "common/result_set.hpp"
#include "common/unique_fd.hpp"
#include "tests/fixture/fixture.hpp"

#include <check.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

using namespace myproxy;
using namespace myproxy::test;

static const char *const USER = "native_user";
static const char *const PASSWORD = "native-secret";
static const char *const DATABASE = "client_db";

/* MariaDB's default max_allowed_packet (16 MiB) would refuse the 16 MiB column test; PAM with
 * mysql_clear_password gives a real switch to that plugin. */
static const char *const SERVER_ARGS[] = {"--max-allowed-packet=64M", "--plugin-load-add=auth_pam",
					  "--pam-use-cleartext-plugin=ON"};
static constexpr std::size_t MAX_PAYLOAD_FOR_TESTS = 64u << 20;

static constexpr std::uint32_t WANTED = CLIENT_LONG_FLAG | CLIENT_TRANSACTIONS | CLIENT_MULTI_STATEMENTS |
	CLIENT_MULTI_RESULTS;

/* ck_assert_str_eq() keeps its pointers past the full expression: copy temporaries first. */
#define ck_assert_string(actual, expected)                                                               \
	do {                                                                                             \
		const std::string ck_actual_ = (actual);                                                 \
		const std::string ck_expected_ = (expected);                                             \
		ck_assert_str_eq(ck_actual_.c_str(), ck_expected_.c_str());                              \
	} while (0)

/* A blocking connection to the server that reads and writes whole MySQL packets. */
class Connection {
	UniqueFd fd;
	std::vector<std::uint8_t> buffer; /* received, not yet returned */

	void set_timeouts()
	{
		const timeval timeout{30, 0};
		ck_assert_int_eq(setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)), 0);
		ck_assert_int_eq(setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)), 0);
	}

public:
	static Connection tcp(std::uint16_t port)
	{
		Connection c;
		c.fd.reset(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ck_assert(c.fd.is_valid());
		sockaddr_in address{};
		address.sin_family = AF_INET;
		address.sin_port = htons(port);
		address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		ck_assert_msg(connect(c.fd.get(), reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 0,
			      "connect(127.0.0.1:%u): %s", unsigned(port), strerror(errno));
		c.set_timeouts();
		return c;
	}

	static Connection unix_socket(const std::string &path)
	{
		Connection c;
		c.fd.reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
		ck_assert(c.fd.is_valid());
		sockaddr_un address{};
		address.sun_family = AF_UNIX;
		ck_assert_uint_lt(path.size(), sizeof(address.sun_path));
		memcpy(address.sun_path, path.c_str(), path.size() + 1);
		ck_assert_msg(connect(c.fd.get(), reinterpret_cast<const sockaddr *>(&address), sizeof(address)) == 0,
			      "connect(%s): %s", path.c_str(), strerror(errno));
		c.set_timeouts();
		return c;
	}

	void write(const std::vector<std::uint8_t> &bytes)
	{
		std::size_t done = 0;
		while (done < bytes.size()) {
			const ssize_t n = send(fd.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
			ck_assert_msg(n > 0, "send: %s", strerror(errno));
			done += std::size_t(n);
		}
	}

	/* Reads more bytes into the buffer; false at the end of the stream. */
	bool receive()
	{
		std::uint8_t chunk[65536];
		const ssize_t n = recv(fd.get(), chunk, sizeof(chunk), 0);
		ck_assert_msg(n >= 0, "recv: %s", strerror(errno));
		buffer.insert(buffer.end(), chunk, chunk + n);
		return n > 0;
	}

	/* The next logical payload (continuation packets joined) and its first sequence id. */
	std::uint8_t read_payload(std::vector<std::uint8_t> &payload, std::uint8_t *last_sequence_id = nullptr)
	{
		for (;;) {
			auto reassembled = reassemble_payload(buffer, payload, MAX_PAYLOAD_FOR_TESTS);
			ck_assert_msg(reassembled.ok(), "framing: %s", reassembled.ok() ? "" : reassembled.error().what);
			if (reassembled->complete) {
				buffer.erase(buffer.begin(), buffer.begin() + std::ptrdiff_t(reassembled->wire_size));
				if (last_sequence_id)
					*last_sequence_id = reassembled->last_sequence_id;
				return reassembled->first_sequence_id;
			}
			ck_assert_msg(receive(), "the server closed the connection in the middle of a packet");
		}
	}

	/* True when the server closed the connection (after COM_QUIT). */
	bool at_end()
	{
		return buffer.empty() && !receive();
	}
};

static ClientLoginParams login_params(std::uint32_t extra_capabilities = 0)
{
	ClientLoginParams params;
	params.user = USER;
	params.password = PASSWORD;
	params.capabilities = WANTED | extra_capabilities;
	return params;
}

/* Drives @login over @connection to the end; returns its final status. */
static ClientLoginStatus run_login(Connection &connection, ClientLogin &login)
{
	std::vector<std::uint8_t> payload;
	std::vector<std::uint8_t> out;
	for (;;) {
		const std::uint8_t sequence_id = connection.read_payload(payload);
		out.clear();
		const ClientLoginStatus status = login.feed(payload, sequence_id, out);
		if (!out.empty())
			connection.write(out);
		if (status != ClientLoginStatus::CONTINUE)
			return status;
	}
}

static void assert_logged_in(const ClientLogin &login, ClientLoginStatus status)
{
	ck_assert_msg(status == ClientLoginStatus::SUCCEEDED, "login failed: %u %s %s",
		      unsigned(login.failure().error_code), login.failure().sql_state.c_str(),
		      login.failure().message.c_str());
}

/* One result of a query: its column names and rows ("NULL" for SQL NULL), or an OK, or an ERR. */
struct QueryResult {
	bool had_result_set = false;
	std::vector<std::string> columns;
	std::vector<std::vector<std::optional<std::string>>> rows;
	bool columns_eof = false;
	std::uint16_t status_flags = 0;
	bool error = false;
	std::uint16_t error_code = 0;
	std::string sql_state;
	std::string message;
};

/* Sends COM_QUERY and reads the whole response with ResultSetReader. */
static std::vector<QueryResult> run_query(Connection &connection, std::uint32_t capabilities, std::string_view sql)
{
	std::vector<std::uint8_t> command;
	build_com_query(command, sql);
	std::vector<std::uint8_t> framed;
	std::uint8_t sequence_id = 0;
	append_packet(framed, command, sequence_id);
	connection.write(framed);

	ResultSetReader reader(capabilities);
	std::vector<QueryResult> results(1);
	std::vector<std::uint8_t> payload;
	while (!reader.done()) {
		std::uint8_t last_sequence_id = 0;
		const std::uint8_t first_sequence_id = connection.read_payload(payload, &last_sequence_id);
		ck_assert_uint_eq(first_sequence_id, sequence_id);
		sequence_id = std::uint8_t(last_sequence_id + 1);
		auto event = reader.feed(payload);
		ck_assert_msg(event.ok(), "result set: %s at %zu", event.ok() ? "" : event.error().what,
			      event.ok() ? 0 : event.error().offset);
		QueryResult &current = results.back();
		if (std::get_if<ResultColumnCount>(&*event)) {
			current.had_result_set = true;
		} else if (auto *column = std::get_if<ResultColumn>(&*event)) {
			ck_assert_uint_eq(column->index, current.columns.size());
			current.columns.emplace_back(column->definition.name);
		} else if (std::get_if<ResultColumnsEnd>(&*event)) {
			current.columns_eof = true;
		} else if (auto *row = std::get_if<ResultRow>(&*event)) {
			auto &values = current.rows.emplace_back();
			for (const auto &value : row->row)
				values.push_back(value ? std::optional<std::string>(*value) : std::nullopt);
		} else if (auto *end = std::get_if<ResultEnd>(&*event)) {
			ck_assert(end->had_result_set == current.had_result_set);
			current.status_flags = end->ok.status_flags;
			if (end->more_results())
				results.emplace_back();
		} else if (auto *error = std::get_if<ResultError>(&*event)) {
			current.error = true;
			current.error_code = error->err.error_code;
			current.sql_state = error->err.sql_state;
			current.message = error->err.message;
		}
	}
	return results;
}

static void quit(Connection &connection)
{
	std::vector<std::uint8_t> command;
	build_com_quit(command);
	std::vector<std::uint8_t> framed;
	std::uint8_t sequence_id = 0;
	append_packet(framed, command, sequence_id);
	connection.write(framed);
	ck_assert_msg(connection.at_end(), "the server did not close the connection after COM_QUIT");
}

static const std::uint32_t EOF_MODES[] = {0, CLIENT_DEPRECATE_EOF};

static void check_select_values(Connection &connection, std::uint32_t capabilities)
{
	const auto results = run_query(connection, capabilities, "SELECT 1, 'abc', NULL");
	ck_assert_uint_eq(results.size(), 1);
	const QueryResult &r = results[0];
	ck_assert(r.had_result_set && !r.error);
	ck_assert(r.columns_eof == !(capabilities & CLIENT_DEPRECATE_EOF));
	ck_assert_uint_eq(r.columns.size(), 3);
	ck_assert_string(r.columns[1], "abc");
	ck_assert_uint_eq(r.rows.size(), 1);
	ck_assert_uint_eq(r.rows[0].size(), 3);
	ck_assert_string(*r.rows[0][0], "1");
	ck_assert_string(*r.rows[0][1], "abc");
	ck_assert(!r.rows[0][2].has_value());
	ck_assert_uint_eq(r.status_flags & SERVER_MORE_RESULTS_EXISTS, 0);
}

START_TEST(test_login_and_select_tcp)
{
	for (std::uint32_t eof_mode : EOF_MODES) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLogin login(login_params(eof_mode));
		assert_logged_in(login, run_login(connection, login));
		const ClientLoginSuccess &success = login.success();
		ck_assert_msg(success.server_version.find("MariaDB") != std::string::npos, "version %s",
			      success.server_version.c_str());
		ck_assert_uint_ne(success.connection_id, 0);
		ck_assert_uint_eq(success.capabilities & CLIENT_DEPRECATE_EOF, eof_mode);
		ck_assert_uint_eq(success.capabilities & CLIENT_PROTOCOL_41, CLIENT_PROTOCOL_41);
		ck_assert_uint_eq(success.status_flags & SERVER_STATUS_AUTOCOMMIT, SERVER_STATUS_AUTOCOMMIT);
		ck_assert_string(success.auth_plugin, "mysql_native_password");
		ck_assert(!success.auth_switched);
		check_select_values(connection, success.capabilities);
		/* The session is the one we expect. */
		const auto who = run_query(connection, success.capabilities, "SELECT CURRENT_USER(), CONNECTION_ID()");
		ck_assert_string(*who[0].rows[0][0], "native_user@%");
		ck_assert_string(*who[0].rows[0][1], std::to_string(success.connection_id).c_str());
		quit(connection);
	}
}
END_TEST

START_TEST(test_login_and_select_socket)
{
	for (std::uint32_t eof_mode : EOF_MODES) {
		Connection connection = Connection::unix_socket(shared_mariadb().socket_path());
		ClientLogin login(login_params(eof_mode));
		assert_logged_in(login, run_login(connection, login));
		check_select_values(connection, login.success().capabilities);
		const auto who = run_query(connection, login.success().capabilities, "SELECT CURRENT_USER()");
		ck_assert_string(*who[0].rows[0][0], "native_user@localhost");
		quit(connection);
	}
}
END_TEST

START_TEST(test_several_rows_with_database)
{
	for (std::uint32_t eof_mode : EOF_MODES) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLoginParams params = login_params(eof_mode);
		params.database = DATABASE;
		/* performance_schema, which would show the attributes, is off to save memory; the server
		 * still checks the block's length, and the unit tests check its encoding. */
		const ConnectAttr attrs[] = {{"_client_name", "myproxy"}, {"program_name", "check_protocol_client"}};
		params.attrs = attrs;
		ClientLogin login(params);
		assert_logged_in(login, run_login(connection, login));
		ck_assert_uint_eq(login.success().capabilities & (CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS),
				  CLIENT_CONNECT_WITH_DB | CLIENT_CONNECT_ATTRS);
		const auto results = run_query(connection, login.success().capabilities,
					       "SELECT seq, IF(seq % 2, NULL, CONCAT('r', seq)) AS v, DATABASE() "
					       "FROM seq_1_to_5");
		ck_assert_uint_eq(results.size(), 1);
		const QueryResult &r = results[0];
		ck_assert_uint_eq(r.columns.size(), 3);
		ck_assert_string(r.columns[0], "seq");
		ck_assert_string(r.columns[1], "v");
		ck_assert_uint_eq(r.rows.size(), 5);
		for (std::size_t i = 0; i < 5; ++i) {
			ck_assert_string(*r.rows[i][0], std::to_string(i + 1).c_str());
			if (i % 2 == 0)
				ck_assert(!r.rows[i][1].has_value());
			else
				ck_assert_string(*r.rows[i][1], ("r" + std::to_string(i + 1)).c_str());
			ck_assert_string(*r.rows[i][2], DATABASE);
		}
		quit(connection);
	}
}
END_TEST

START_TEST(test_multi_statement)
{
	for (std::uint32_t eof_mode : EOF_MODES) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLogin login(login_params(eof_mode));
		assert_logged_in(login, run_login(connection, login));
		const std::uint32_t capabilities = login.success().capabilities;
		ck_assert_uint_eq(capabilities & CLIENT_MULTI_STATEMENTS, CLIENT_MULTI_STATEMENTS);
		const auto results = run_query(connection, capabilities, "SELECT 1 AS a; DO 1; SELECT 'x' AS b, NULL AS c");
		ck_assert_uint_eq(results.size(), 3);
		ck_assert(results[0].had_result_set);
		ck_assert_string(results[0].columns[0], "a");
		ck_assert_string(*results[0].rows[0][0], "1");
		ck_assert_uint_eq(results[0].status_flags & SERVER_MORE_RESULTS_EXISTS, SERVER_MORE_RESULTS_EXISTS);
		ck_assert(!results[1].had_result_set);
		ck_assert_uint_eq(results[1].status_flags & SERVER_MORE_RESULTS_EXISTS, SERVER_MORE_RESULTS_EXISTS);
		ck_assert(results[2].had_result_set);
		ck_assert_uint_eq(results[2].columns.size(), 2);
		ck_assert_string(*results[2].rows[0][0], "x");
		ck_assert(!results[2].rows[0][1].has_value());
		ck_assert_uint_eq(results[2].status_flags & SERVER_MORE_RESULTS_EXISTS, 0);

		/* An error in the second statement ends the response. */
		const auto failing = run_query(connection, capabilities, "SELECT 2; SELECT * FROM no_such_table; SELECT 3");
		ck_assert_uint_eq(failing.size(), 2);
		ck_assert_string(*failing[0].rows[0][0], "2");
		ck_assert(failing[1].error);
		ck_assert_uint_eq(failing[1].error_code, 1046); /* no database selected */
		ck_assert_string(failing[1].sql_state, "3D000");

		/* The connection is still in step. */
		check_select_values(connection, capabilities);
		quit(connection);
	}
}
END_TEST

START_TEST(test_error_and_ok_responses)
{
	Connection connection = Connection::tcp(shared_mariadb().port());
	ClientLoginParams params = login_params(CLIENT_DEPRECATE_EOF);
	params.database = DATABASE;
	ClientLogin login(params);
	assert_logged_in(login, run_login(connection, login));
	const std::uint32_t capabilities = login.success().capabilities;
	const auto missing = run_query(connection, capabilities, "SELECT * FROM no_such_table");
	ck_assert(missing[0].error);
	ck_assert_uint_eq(missing[0].error_code, 1146);
	ck_assert_string(missing[0].sql_state, "42S02");
	ck_assert_string(missing[0].message, "Table 'client_db.no_such_table' doesn't exist");
	const auto set = run_query(connection, capabilities, "SET @x = 5");
	ck_assert(!set[0].had_result_set && !set[0].error);
	const auto x = run_query(connection, capabilities, "SELECT @x, @undefined");
	ck_assert_string(*x[0].rows[0][0], "5");
	ck_assert(!x[0].rows[0][1].has_value());
	/* An empty result set: definitions, no rows. */
	const auto empty = run_query(connection, capabilities, "SELECT 1 AS one FROM DUAL WHERE 1 = 0");
	ck_assert_uint_eq(empty[0].columns.size(), 1);
	ck_assert_uint_eq(empty[0].rows.size(), 0);
	quit(connection);
}
END_TEST

/* A column of 16 MiB: its row starts with 0xFE (like an EOF or OK terminator) and spans two
 * packets; and one of 70000 bytes (a 0xFD length). */
START_TEST(test_long_columns)
{
	for (std::uint32_t eof_mode : EOF_MODES) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLogin login(login_params(eof_mode));
		assert_logged_in(login, run_login(connection, login));
		const std::uint32_t capabilities = login.success().capabilities;
		const auto medium = run_query(connection, capabilities, "SELECT REPEAT('m', 70000), 'after'");
		ck_assert_uint_eq(medium[0].rows[0][0]->size(), 70000);
		ck_assert_string(*medium[0].rows[0][1], "after");
		const auto big = run_query(connection, capabilities, "SELECT REPEAT('x', 16777216) AS big, 'after'");
		ck_assert_uint_eq(big.size(), 1);
		ck_assert_uint_eq(big[0].rows.size(), 1);
		ck_assert_uint_eq(big[0].rows[0][0]->size(), 16777216);
		ck_assert((*big[0].rows[0][0])[16777215] == 'x');
		ck_assert_string(*big[0].rows[0][1], "after");
		check_select_values(connection, capabilities);
		quit(connection);
	}
}
END_TEST

START_TEST(test_password_sha1)
{
	Connection connection = Connection::tcp(shared_mariadb().port());
	ClientLoginParams params = login_params();
	params.password = {};
	params.password_sha1 = native_password_sha1(PASSWORD);
	ck_assert(params.password_sha1.has_value());
	ClientLogin login(params);
	assert_logged_in(login, run_login(connection, login));
	check_select_values(connection, login.success().capabilities);
	quit(connection);
}
END_TEST

START_TEST(test_wrong_password)
{
	for (bool via_sha1 : {false, true}) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLoginParams params = login_params();
		params.password = "not-the-password";
		if (via_sha1) {
			params.password = {};
			params.password_sha1 = native_password_sha1("not-the-password");
		}
		ClientLogin login(params);
		ck_assert(run_login(connection, login) == ClientLoginStatus::FAILED);
		const ClientLoginFailure &failure = login.failure();
		ck_assert(failure.kind == ClientLoginFailure::Kind::SERVER_ERROR);
		ck_assert_uint_eq(failure.error_code, 1045);
		ck_assert_string(failure.sql_state, "28000");
		ck_assert_msg(failure.message.rfind("Access denied for user 'native_user'@'", 0) == 0 &&
				      failure.message.ends_with("(using password: YES)"),
			      "message: %s", failure.message.c_str());
		ck_assert(connection.at_end());
	}
}
END_TEST

START_TEST(test_unknown_database)
{
	Connection connection = Connection::tcp(shared_mariadb().port());
	ClientLoginParams params = login_params();
	params.database = "no_such_db";
	ClientLogin login(params);
	ck_assert(run_login(connection, login) == ClientLoginStatus::FAILED);
	ck_assert_uint_eq(login.failure().error_code, 1049);
	ck_assert_string(login.failure().sql_state, "42000");
	ck_assert_string(login.failure().message, "Unknown database 'no_such_db'");
}
END_TEST

/* The response names another plugin, so the server switches us to the account's
 * mysql_native_password with an AuthSwitchRequest. */
START_TEST(test_auth_switch)
{
	for (const char *socket_or_tcp : {"tcp", "socket"}) {
		Connection connection = std::string_view(socket_or_tcp) == "tcp"
			? Connection::tcp(shared_mariadb().port())
			: Connection::unix_socket(shared_mariadb().socket_path());
		ClientLoginParams params = login_params(CLIENT_DEPRECATE_EOF);
		params.initial_plugin = "client_ed25519";
		ClientLogin login(params);
		assert_logged_in(login, run_login(connection, login));
		ck_assert_string(login.success().auth_plugin, "mysql_native_password");
		ck_assert(login.success().auth_switched);
		check_select_values(connection, login.success().capabilities);
		quit(connection);
	}

	/* The same with a wrong password: the server's ERR after the switch. */
	Connection connection = Connection::tcp(shared_mariadb().port());
	ClientLoginParams params = login_params();
	params.password = "wrong";
	params.initial_plugin = "client_ed25519";
	ClientLogin login(params);
	ck_assert(run_login(connection, login) == ClientLoginStatus::FAILED);
	ck_assert_uint_eq(login.failure().error_code, 1045);
	ck_assert_string(login.failure().sql_state, "28000");
}
END_TEST

/* An ed25519 account: the server switches us to client_ed25519 and checks our signature; a wrong
 * password gets the server's ERR. */
START_TEST(test_switch_to_ed25519)
{
	for (bool right : {true, false}) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLoginParams params = login_params();
		params.user = "ed_user";
		params.password = right ? "ed-secret" : "ed-wrong";
		ClientLogin login(params);
		const ClientLoginStatus status = run_login(connection, login);
		if (right) {
			ck_assert_msg(status == ClientLoginStatus::SUCCEEDED, "%s", login.failure().message.c_str());
			ck_assert_string(login.success().auth_plugin, "client_ed25519");
			ck_assert(login.success().auth_switched);
		} else {
			ck_assert(status == ClientLoginStatus::FAILED);
			ck_assert(login.failure().kind == ClientLoginFailure::Kind::SERVER_ERROR);
			ck_assert_uint_eq(login.failure().error_code, 1045);
		}
	}
}
END_TEST

/* A PAM account (pam_use_cleartext_plugin): the server switches us to mysql_clear_password.  Refused
 * unless allowed; when allowed the password goes out and PAM (no such service) says no. */
START_TEST(test_switch_to_clear_password)
{
	for (bool allowed : {false, true}) {
		Connection connection = Connection::tcp(shared_mariadb().port());
		ClientLoginParams params = login_params();
		params.user = "pam_user";
		params.password = "pam-secret";
		params.allow_clear_password = allowed;
		ClientLogin login(params);
		ck_assert(run_login(connection, login) == ClientLoginStatus::FAILED);
		const ClientLoginFailure &failure = login.failure();
		if (!allowed) {
			ck_assert(failure.kind == ClientLoginFailure::Kind::PROTOCOL_ERROR);
			ck_assert_string(failure.message, "mysql_clear_password is not allowed for this login (neither TLS "
							  "nor a local socket, and allow_cleartext is not set)");
		} else {
			ck_assert_msg(failure.kind == ClientLoginFailure::Kind::SERVER_ERROR, "%s",
				      failure.message.c_str());
			ck_assert_uint_eq(failure.error_code, 1045);
			ck_assert_string(failure.sql_state, "28000");
		}
	}
	/* Over the UNIX socket (secure_transport) the password goes out without allow_clear_password. */
	Connection connection = Connection::unix_socket(shared_mariadb().socket_path());
	ClientLoginParams params = login_params();
	params.user = "pam_user";
	params.password = "pam-secret";
	params.secure_transport = true;
	ClientLogin login(params);
	ck_assert(run_login(connection, login) == ClientLoginStatus::FAILED);
	ck_assert_msg(login.failure().kind == ClientLoginFailure::Kind::SERVER_ERROR, "%s", login.failure().message.c_str());
	ck_assert_uint_eq(login.failure().error_code, 1045);
}
END_TEST

static Suite *protocol_client_suite()
{
	Suite *s = suite_create("protocol_client");
	TCase *login = server_tcase("login");
	tcase_add_test(login, test_login_and_select_tcp);
	tcase_add_test(login, test_login_and_select_socket);
	tcase_add_test(login, test_password_sha1);
	tcase_add_test(login, test_wrong_password);
	tcase_add_test(login, test_unknown_database);
	tcase_add_test(login, test_auth_switch);
	tcase_add_test(login, test_switch_to_ed25519);
	tcase_add_test(login, test_switch_to_clear_password);
	suite_add_tcase(s, login);
	TCase *results = server_tcase("result_sets");
	tcase_add_test(results, test_several_rows_with_database);
	tcase_add_test(results, test_multi_statement);
	tcase_add_test(results, test_error_and_ok_responses);
	tcase_add_test(results, test_long_columns);
	suite_add_tcase(s, results);
	return s;
}

int main()
{
	SharedServerSpec spec;
	spec.mariadb.extra_args.assign(std::begin(SERVER_ARGS), std::end(SERVER_ARGS));
	return run_suites_with_servers(spec, {protocol_client_suite()}, [] {
		MariaDbServer &db = shared_mariadb();
		db.create_database(DATABASE);
		db.create_user("ed_user", "ed-secret", "ed25519");
		for (const char *host : {"'%'", "'localhost'"}) {
			/* Spelled out rather than via create_user(), so the plugin is explicit. */
			const std::string account = mariadb_string_literal(USER) + "@" + host;
			db.execute("CREATE OR REPLACE USER " + account + " IDENTIFIED VIA mysql_native_password USING PASSWORD(" +
				   mariadb_string_literal(PASSWORD) + ")");
			db.execute("GRANT ALL PRIVILEGES ON *.* TO " + account);
			db.execute(std::string("CREATE OR REPLACE USER pam_user@") + host +
				   " IDENTIFIED VIA pam USING 'myproxy-no-such-service'");
		}
	});
}

// A libmariadb connection for the end-to-end tests of myproxy, set up the way myproxy needs its
// clients: mysql_clear_password enabled (myproxy asks for the cleartext password), timeouts so a
// hung daemon fails the test.  Includes <mysql.h>: never include common/mysql_capabilities.hpp
// or common/mysql_errors.hpp next to it (their names clash with its macros).  Test-only.
#pragma once

#include "tests/fixture/sql_client.hpp"

#include <mysql.h>

#include <optional>
#include <string>
#include <string_view>

namespace myproxy::test {

struct ClientOptions {
	std::string database;
	unsigned long flags = 0;    // CLIENT_MULTI_STATEMENTS, ...
	bool local_infile = false;  // MYSQL_OPT_LOCAL_INFILE: CLIENT_LOCAL_FILES
	unsigned read_timeout = 60; // seconds
};

class MysqlClient {
public:
	MysqlClient() : mysql_(mysql_init(nullptr)) {}
	~MysqlClient()
	{
		if (mysql_ != nullptr)
			mysql_close(mysql_);
	}
	MysqlClient(const MysqlClient &) = delete;
	MysqlClient &operator=(const MysqlClient &) = delete;

	MYSQL *get() const { return mysql_; }

	bool connect(const Endpoint &endpoint, std::string_view user, std::string_view password,
		     const ClientOptions &options = {})
	{
		const my_bool yes = 1;
		const unsigned connect_timeout = 10;
		mysql_optionsv(mysql_, MYSQL_ENABLE_CLEARTEXT_PLUGIN, &yes);
		mysql_optionsv(mysql_, MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
		mysql_optionsv(mysql_, MYSQL_OPT_READ_TIMEOUT, &options.read_timeout);
		mysql_optionsv(mysql_, MYSQL_OPT_WRITE_TIMEOUT, &options.read_timeout);
		const unsigned local_infile = options.local_infile ? 1 : 0;
		mysql_optionsv(mysql_, MYSQL_OPT_LOCAL_INFILE, &local_infile);
		const std::string u(user), p(password);
		const bool unix_socket = !endpoint.socket_path.empty();
		return mysql_real_connect(mysql_, unix_socket ? "localhost" : endpoint.host.c_str(), u.c_str(),
					  p.c_str(), options.database.empty() ? nullptr : options.database.c_str(),
					  unix_socket ? 0 : endpoint.port,
					  unix_socket ? endpoint.socket_path.c_str() : nullptr,
					  options.flags) != nullptr;
	}

	unsigned error_code() const { return mysql_errno(mysql_); }
	std::string error() const
	{
		return "ERROR " + std::to_string(mysql_errno(mysql_)) + " (" + mysql_sqlstate(mysql_) +
		       "): " + mysql_error(mysql_);
	}
	std::string message() const { return mysql_error(mysql_); }

	// Runs @sql; the first column of its first row (nullopt for no rows, NULL or no result set).
	// Later results of a multi-statement query are consumed.
	SqlResult query(std::string_view sql)
	{
		SqlResult r;
		if (mysql_real_query(mysql_, sql.data(), sql.size()) != 0)
			return failed();
		for (bool first = true;; first = false) {
			MYSQL_RES *result = mysql_store_result(mysql_);
			if (result == nullptr && mysql_field_count(mysql_) != 0)
				return failed();
			if (result != nullptr) {
				MYSQL_ROW row = mysql_fetch_row(result);
				unsigned long *lengths = row != nullptr ? mysql_fetch_lengths(result) : nullptr;
				if (first && row != nullptr && row[0] != nullptr)
					r.value = std::string(row[0], lengths[0]);
				mysql_free_result(result);
			}
			const int next = mysql_next_result(mysql_);
			if (next > 0)
				return failed();
			if (next < 0)
				break;
		}
		r.ok = true;
		return r;
	}

	// The value of a query that must succeed, or "<error ...>" so a comparison fails visibly.
	std::string text(std::string_view sql)
	{
		const SqlResult r = query(sql);
		if (!r.ok)
			return "<" + r.error + ">";
		return r.value.value_or("<NULL>");
	}

private:
	SqlResult failed() const
	{
		SqlResult r;
		r.error_code = mysql_errno(mysql_);
		r.sqlstate = mysql_sqlstate(mysql_);
		r.error = error();
		return r;
	}

	MYSQL *mysql_;
};

} // namespace myproxy::test

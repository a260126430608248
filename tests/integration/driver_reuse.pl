# Run by check_proxy_reuse against a MariaDB socket, directly or through a listener with backend
# connection reuse: 40 short sessions in a row with Perl's DBD::mysql, each checking that it starts
# fresh, then leaving state behind for the next.  Prints "fresh N/40" and "reused yes|no" (whether
# some session got a server thread an earlier one had), and the first stale observation.
# Usage: perl driver_reuse.pl SOCKET USER PASSWORD
use strict;
use warnings;
use DBI;
use Time::HiRes qw(usleep);

my ($socket, $user, $password) = @ARGV;
my $check = "SELECT \@driver_variable IS NULL, \@\@session.sql_mode = \@\@global.sql_mode, "
	. "\@\@session.wait_timeout = \@\@global.wait_timeout, \@\@autocommit = 1, "
	. "\@\@character_set_client = 'utf8mb4', \@\@character_set_results = 'utf8mb4', DATABASE() = 'app_db'";
my @leave = ("SET \@driver_variable = 1", "SET SESSION sql_mode = 'ANSI_QUOTES', SESSION wait_timeout = 1234",
	     "CREATE TEMPORARY TABLE driver_table (x INT)", "PREPARE driver_statement FROM 'SELECT 1'",
	     "SET NAMES latin1", "SET autocommit = 0");

# (first row or undef, error code or 0)
sub run {
	my ($link, $sql) = @_;
	my $row = $link->selectrow_arrayref($sql);
	return (undef, $link->err) if $link->err;
	return ($row // [], 0);
}

my ($fresh, %seen, $reused, $first_stale) = (0);
for my $i (0 .. 39) {
	my $link = DBI->connect("DBI:mysql:database=app_db;mysql_socket=$socket", $user, $password,
				{PrintError => 0, RaiseError => 0, mysql_enable_utf8mb4 => 1})
		or die "connect: $DBI::errstr\n";
	my ($id) = run($link, 'SELECT CONNECTION_ID()');
	$reused = 1 if $seen{$id->[0]}++;
	my @stale;
	my ($flags) = run($link, $check);
	push @stale, 'variables ' . join(',', @{$flags // []}) if join(',', @{$flags // []}) ne join(',', ('1') x 7);
	push @stale, 'temporary table' if (run($link, 'SELECT COUNT(*) FROM driver_table'))[1] != 1146;
	push @stale, 'prepared statement' if (run($link, 'EXECUTE driver_statement'))[1] != 1243;
	if (!@stale) {
		++$fresh;
	} elsif (!defined $first_stale) {
		$first_stale = "session $i: " . join('; ', @stale);
	}
	for my $sql (@leave) {
		die "$sql failed: " . $link->errstr . "\n" if !defined $link->do($sql);
	}
	$link->disconnect;
	usleep(50000);
}
print "fresh $fresh/40\n", 'reused ', ($reused ? 'yes' : 'no'), "\n";
print "stale: $first_stale\n" if defined $first_stale;

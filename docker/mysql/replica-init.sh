# shellcheck shell=bash
# MySQL replica, first start only (empty data volume). The mysql image's
# entrypoint sources this file (it is not executable) while a temporary,
# socket-only server runs, so its docker_process_sql helper is available.
#
# Waits for the primary, points replication at it with GTID auto-positioning
# and makes this server super-read-only (persisted, so it holds after the
# restart that follows the init phase). Replication settings are kept in the
# data directory; the replica reconnects by itself after any restart.
#
# Environment (set in docker/compose.yaml):
#   MYSQL_SOURCE_HOST           the primary (default: mysql-primary)
#   MYSQL_SOURCE_PORT           its port (default: 3306)
#   MYSQL_REPLICATION_USER      replication user (default: repl)
#   MYSQL_REPLICATION_PASSWORD  its password
#   MYSQL_SOURCE_WAIT_SECS      how long to wait for the primary (default: 600)

drseek_sql_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}

: "${MYSQL_REPLICATION_PASSWORD:?MYSQL_REPLICATION_PASSWORD must be set}"
drseek_source_host="${MYSQL_SOURCE_HOST:-mysql-primary}"
drseek_source_port="${MYSQL_SOURCE_PORT:-3306}"
drseek_repl_user="${MYSQL_REPLICATION_USER:-repl}"
drseek_wait="${MYSQL_SOURCE_WAIT_SECS:-600}"

# The primary answers once its own init is done: it only listens on TCP after
# its temporary server has stopped, and the replication user exists by then.
mysql_note "drseek: waiting for the primary ${drseek_source_host}:${drseek_source_port}"
drseek_deadline=$(( $(date +%s) + drseek_wait ))
until mysql --defaults-extra-file=<(printf '[client]\npassword="%s"\n' "$MYSQL_REPLICATION_PASSWORD") \
		--protocol=tcp -h"$drseek_source_host" -P"$drseek_source_port" -u"$drseek_repl_user" \
		--connect-timeout=5 -e 'SELECT 1' >/dev/null 2>&1; do
	if [ "$(date +%s)" -ge "$drseek_deadline" ]; then
		mysql_error "drseek: the primary did not answer within ${drseek_wait}s." \
			"This replica's data volume is now half-initialized: remove it before retrying."
	fi
	sleep 2
done

mysql_note "drseek: replicating from ${drseek_source_host}:${drseek_source_port} (GTID auto-position)"
docker_process_sql --database=mysql <<-EOSQL
	-- Drop this server's own GTIDs (the time zone tables the entrypoint
	-- loaded), so its history is a subset of the primary's.
	RESET MASTER;

	CHANGE REPLICATION SOURCE TO
		SOURCE_HOST = $(drseek_sql_quote "$drseek_source_host"),
		SOURCE_PORT = ${drseek_source_port},
		SOURCE_USER = $(drseek_sql_quote "$drseek_repl_user"),
		SOURCE_PASSWORD = $(drseek_sql_quote "$MYSQL_REPLICATION_PASSWORD"),
		SOURCE_AUTO_POSITION = 1,
		GET_SOURCE_PUBLIC_KEY = 1,
		SOURCE_CONNECT_RETRY = 10;
	START REPLICA;

	-- Nobody writes here but the replication applier, not even root.
	SET PERSIST super_read_only = ON;
EOSQL
unset drseek_source_host drseek_source_port drseek_repl_user drseek_wait drseek_deadline

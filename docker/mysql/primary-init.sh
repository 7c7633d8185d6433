# shellcheck shell=bash
# MySQL primary, first start only (empty data volume). The mysql image's
# entrypoint sources this file (it is not executable) while a temporary,
# socket-only server runs, so its docker_process_sql helper is available.
#
# Creates the app database, the app user and the replication user. These
# statements go to the binary log on purpose: the replica receives the
# database and both users through GTID replication.
#
# Environment (set in docker/compose.yaml):
#   DRSEEK_DB_PASSWORD          password of the app user `drseek`
#   MYSQL_REPLICATION_USER      replication user (default: repl)
#   MYSQL_REPLICATION_PASSWORD  its password

# A value as a single-quoted SQL string literal.
drseek_sql_quote() {
	printf "'%s'" "$(printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/''/g")"
}

: "${DRSEEK_DB_PASSWORD:?DRSEEK_DB_PASSWORD must be set}"
: "${MYSQL_REPLICATION_PASSWORD:?MYSQL_REPLICATION_PASSWORD must be set}"
drseek_repl_user="${MYSQL_REPLICATION_USER:-repl}"

mysql_note "drseek: creating database drseek, user drseek and replication user ${drseek_repl_user}"
docker_process_sql --database=mysql <<-EOSQL
	-- Start the binary log afresh: the entrypoint has already logged the time
	-- zone tables (the root accounts are created with sql_log_bin=0). The
	-- replica loads its own copy of those; replaying ours would clash.
	RESET MASTER;

	CREATE DATABASE IF NOT EXISTS \`drseek\` CHARACTER SET utf8mb4;

	CREATE USER 'drseek'@'%' IDENTIFIED BY $(drseek_sql_quote "$DRSEEK_DB_PASSWORD");
	GRANT ALL PRIVILEGES ON \`drseek\`.* TO 'drseek'@'%';
	-- drseek runs SHOW REPLICA STATUS on the replica to measure lag (read
	-- routing and /readyz); that needs REPLICATION CLIENT.
	GRANT REPLICATION CLIENT ON *.* TO 'drseek'@'%';

	CREATE USER $(drseek_sql_quote "$drseek_repl_user")@'%'
		IDENTIFIED BY $(drseek_sql_quote "$MYSQL_REPLICATION_PASSWORD");
	GRANT REPLICATION SLAVE ON *.* TO $(drseek_sql_quote "$drseek_repl_user")@'%';
EOSQL
unset drseek_repl_user

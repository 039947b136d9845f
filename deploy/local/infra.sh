#!/usr/bin/env bash
# Real infrastructure on 127.0.0.1 for tests and benchmarks, without Docker:
#
#   Apache Kafka (KRaft, one combined broker+controller)  127.0.0.1:19092 (controller 19093),
#     SASL/SCRAM-SHA-512 only, StandardAuthorizer with ACLs (topics.ServiceACLs)
#   PostgreSQL, a private cluster (not the system one)    127.0.0.1:25432
#   FerretDB (MongoDB wire protocol on that PostgreSQL)   127.0.0.1:27018
#   Ory Hydra (OAuth 2.0 server on that PostgreSQL)       127.0.0.1:4444 (admin API 4445)
#
# Every port can be moved with INFRA_KAFKA_PORT, INFRA_KAFKA_CONTROLLER_PORT,
# INFRA_PG_PORT, INFRA_FERRETDB_PORT, INFRA_HYDRA_PORT, INFRA_HYDRA_ADMIN_PORT
# (so that a second set can run beside the first). Kafka users, passwords and
# Hydra's clients are generated into INFRA_DIR/credentials/.
#
# Usage: deploy/local/infra.sh up|down|clean|status
#
#   up      installs what is missing, starts what is not running, waits until
#           Kafka answers a metadata request and FerretDB a ping (cmd/waitready)
#   down    stops what `up` started (pid files / pg_ctl); data is kept
#   clean   down, then removes INFRA_DIR
#   status  what runs, and whether it answers
#
# Everything (jars, binaries, data, logs, pid files) lives in INFRA_DIR,
# default <repo>/.infra. See deploy/local/README.md.
set -euo pipefail

REPO_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
HERE=$REPO_DIR/deploy/local
INFRA_DIR=${INFRA_DIR:-$REPO_DIR/.infra}
case $INFRA_DIR in /*) ;; *) INFRA_DIR=$PWD/$INFRA_DIR ;; esac
INFRA_DIR=${INFRA_DIR%/}

# Versions.
KAFKA_VERSION=${INFRA_KAFKA_VERSION:-4.4.0}
KAFKA_FALLBACK_VERSION=${INFRA_KAFKA_FALLBACK_VERSION:-4.3.1}
FERRETDB_VERSION=v1.24.2
HYDRA_VERSION=v2.3.0
# Hydra's go.mod replaces its API client with ./internal/httpclient, a nested
# module that the module zip leaves out; this published one stands in for it
# (only the hydra CLI's client commands use it, not the server).
HYDRA_CLIENT_VERSION=v2.2.1

# Addresses: loopback only; the Makefile derives its addresses from the same variables.
HOST=127.0.0.1
KAFKA_PORT=${INFRA_KAFKA_PORT:-19092}
KAFKA_CONTROLLER_PORT=${INFRA_KAFKA_CONTROLLER_PORT:-19093}
# Outside Linux's ephemeral range (32768-60999): PostgreSQL cannot bind a
# port that a closed client connection still holds in TIME_WAIT (up to a
# minute), which after a load test is likely for any port of that range.
PG_PORT=${INFRA_PG_PORT:-25432}
FERRETDB_PORT=${INFRA_FERRETDB_PORT:-27018}
HYDRA_PORT=${INFRA_HYDRA_PORT:-4444}
HYDRA_ADMIN_PORT=${INFRA_HYDRA_ADMIN_PORT:-4445}
KAFKA_ADDR=$HOST:$KAFKA_PORT
MONGODB_URI=mongodb://$HOST:$FERRETDB_PORT/
HYDRA_ISSUER=http://$HOST:$HYDRA_PORT/
# The audience every test client may ask for, and the scopes of issue 10.
HYDRA_AUDIENCE=cliente-api

# Tunables.
KAFKA_HEAP=${INFRA_KAFKA_HEAP:--Xms256m -Xmx768m}
READY_TIMEOUT=${INFRA_READY_TIMEOUT:-3m}
# FerretDB's HTTP debug/metrics listener: "-" disables it; set e.g. 127.0.0.1:28088 to get /metrics.
FERRETDB_DEBUG_ADDR=${INFRA_FERRETDB_DEBUG_ADDR:--}

# Layout.
MARKER=$INFRA_DIR/.cliente-infra
BIN=$INFRA_DIR/bin
RUN=$INFRA_DIR/run
LOGS=$INFRA_DIR/logs
K_DIR=$INFRA_DIR/kafka
K_LIBS=$K_DIR/libs
K_CONF=$K_DIR/config
K_DATA=$K_DIR/data
K_LOGS=$LOGS/kafka
K_PID=$RUN/kafka.pid
F_DIR=$INFRA_DIR/ferretdb
F_PID=$RUN/ferretdb.pid
F_LOG=$LOGS/ferretdb.log
H_DIR=$INFRA_DIR/hydra
H_PID=$RUN/hydra.pid
H_LOG=$LOGS/hydra.log
CREDS=$INFRA_DIR/credentials
# Kafka SCRAM users: the super user (admin, bootstrap, tests) and one per service.
KAFKA_USERS="admin cliente-worker cliente-edge ventas"
PG_LINK=$INFRA_DIR/postgres # the postgres folder, or a symlink to the fallback folder
PG_DIR=                     # set by pg_dirs
PG_DATA=
PG_LOG=
PG_BIN=${INFRA_PG_BIN:-} # e.g. /usr/lib/postgresql/15/bin; default: the newest there
JAVA=

say() { printf 'infra: %s\n' "$*"; }
die() {
	printf 'infra: ERROR: %s\n' "$*" >&2
	exit 1
}

CLEANUP=()
WAIT_PID=
on_exit() {
	local p
	if [[ -n $WAIT_PID ]]; then kill "$WAIT_PID" 2>/dev/null || true; fi
	for p in "${CLEANUP[@]+"${CLEANUP[@]}"}"; do rm -rf -- "$p"; done
	return 0
}
trap on_exit EXIT

# ---------------------------------------------------------------- helpers

# lock serialises up/down/clean of one INFRA_DIR.
lock() {
	mkdir -p "$INFRA_DIR"
	exec 9>"$INFRA_DIR/.lock"
	if ! flock -w 900 9; then die "another infra.sh holds $INFRA_DIR/.lock for 15 minutes; giving up"; fi
}

# port_open HOST PORT: true if something accepts TCP connections there.
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE PATTERN: true if the pid in PIDFILE runs and its command line contains PATTERN.
pid_alive() {
	local pid cmdline
	[[ -s $1 ]] || return 1
	pid=$(<"$1")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == *"$2"* ]]
}

# close_fds, in a subshell about to exec a command that may outlive this
# script: close every descriptor above 2 (the lock on fd 9, make's jobserver
# pipes), so that no server keeps them open.
close_fds() {
	local fd
	for fd in /proc/$BASHPID/fd/*; do
		fd=${fd##*/}
		if ((fd > 2)); then eval "exec $fd>&-"; fi
	done
}

# spawn LOGFILE PIDFILE CMD...: start CMD detached (own session, no inherited
# descriptors, stdin from /dev/null), output appended to LOGFILE.
spawn() {
	local log=$1 pidfile=$2
	shift 2
	(
		close_fds
		exec setsid "$@" </dev/null >>"$log" 2>&1
	) &
	echo $! >"$pidfile"
}

# stop_pid NAME PIDFILE PATTERN SECONDS: TERM, wait up to SECONDS, then KILL.
stop_pid() {
	local name=$1 pidfile=$2 pattern=$3 secs=$4 pid i
	if ! pid_alive "$pidfile" "$pattern"; then
		[[ -e $pidfile ]] && say "$name: not running (stale pid file removed)" || say "$name: not running"
		rm -f "$pidfile"
		return 0
	fi
	pid=$(<"$pidfile")
	say "$name: stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < secs * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name: still running after ${secs}s, sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && die "$name: pid $pid survived KILL"
	fi
	rm -f "$pidfile"
	say "$name: stopped"
}

# tail_log FILE: the last lines of a log, for error messages.
tail_log() {
	[[ -f $1 ]] || return 0
	printf -- '--- last lines of %s ---\n' "$1" >&2
	tail -n 25 "$1" >&2 || true
	printf -- '---\n' >&2
}

APT_UPDATED=0
apt_install() {
	[[ $EUID -eq 0 ]] || die "missing $*: install it (apt-get install -y $*) or run as root"
	command -v apt-get >/dev/null || die "missing $* and no apt-get to install it with"
	if [[ $APT_UPDATED == 0 ]]; then
		say "apt-get update"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null || die "apt-get update failed"
		APT_UPDATED=1
	fi
	say "apt-get install -y $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null ||
		die "apt-get install $* failed"
}

# as_pg CMD...: run as the postgres OS user when root (initdb refuses root),
# else as the current user; from / so that the caller's folder need not be readable.
# pg_ctl start leaves the server running: no descriptor of this script reaches it.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		(cd / && close_fds && exec runuser -u postgres -- "$@")
	else
		(cd / && close_fds && exec "$@")
	fi
}

# ---------------------------------------------------------------- tools

java_major() { "$1" -version 2>&1 | sed -n '1s/.*version "\([0-9]*\).*/\1/p'; }

find_java() {
	local c v
	for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
		[[ -n $c && -x $c ]] || continue
		v=$(java_major "$c")
		if [[ $v =~ ^[0-9]+$ ]] && ((v >= 17)); then
			JAVA=$c
			return 0
		fi
	done
	return 1
}

ensure_java() {
	[[ -n $JAVA ]] && return 0
	if ! find_java; then
		apt_install openjdk-17-jre-headless
		find_java || die "no Java 17+ found after installing openjdk-17-jre-headless"
	fi
}

ensure_mvn() { command -v mvn >/dev/null || apt_install maven; }

ensure_go() { command -v go >/dev/null || die "the Go toolchain (go 1.26, see README.md) is needed and not on PATH"; }

# find_pg_bin sets PG_BIN to the newest /usr/lib/postgresql/*/bin with initdb (Debian's layout).
find_pg_bin() {
	[[ -n $PG_BIN ]] && return 0
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n $d && -x $d/initdb ]] || return 1
	PG_BIN=$d
}

ensure_pg_bin() {
	find_pg_bin && return 0
	apt_install postgresql
	find_pg_bin || die "no initdb under /usr/lib/postgresql/*/bin after installing postgresql"
}

ensure_waitready() {
	ensure_go
	mkdir -p "$BIN"
	# Cached by go build: about a second when nothing changed.
	(cd "$REPO_DIR" && go build -o "$BIN/" ./cmd/waitready ./cmd/kafkaacl) || die "go build ./cmd/waitready ./cmd/kafkaacl failed"
}

# ---------------------------------------------------------------- credentials

# secret prints 24 random URL-safe characters: nothing to quote in a JAAS
# line, a YAML file, an env file or JSON.
secret() { head -c 18 /dev/urandom | base64 | tr '+/' '-_'; }

# ensure_credentials generates, once, a password per Kafka user, the
# controller listener's password, Hydra's system secret and a secret per
# Hydra client; they live as long as INFRA_DIR (the Kafka users are stored
# in the broker's metadata when it is formatted).
ensure_credentials() {
	local u f
	mkdir -p "$CREDS"
	chmod 700 "$CREDS"
	for u in $KAFKA_USERS; do
		f=$CREDS/kafka-$u.env
		[[ -s $f ]] && continue
		printf 'KAFKA_SASL_MECHANISM=SCRAM-SHA-512\nKAFKA_SASL_USERNAME=%s\nKAFKA_SASL_PASSWORD=%s\n' "$u" "$(secret)" >"$f.tmp"
		mv "$f.tmp" "$f"
	done
	for f in kafka-controller.password hydra-system.secret; do
		[[ -s $CREDS/$f ]] || secret >"$CREDS/$f"
	done
}

kafka_password() { sed -n 's/^KAFKA_SASL_PASSWORD=//p' "$CREDS/kafka-$1.env"; }

# as_kafka_admin CMD...: CMD with the super user's KAFKA_SASL_* in its environment.
as_kafka_admin() { (set -a && . "$CREDS/kafka-admin.env" && set +a && exec "$@"); }

# ---------------------------------------------------------------- Kafka

kafka_running() { pid_alive "$K_PID" "kafka.Kafka $K_CONF/server.properties"; }

kafka_libs() {
	local v want
	if [[ -f $K_LIBS/.complete ]]; then return 0; fi
	ensure_java
	ensure_mvn
	mkdir -p "$LOGS"
	for v in "$KAFKA_VERSION" "$KAFKA_FALLBACK_VERSION"; do
		say "kafka: resolving org.apache.kafka:kafka_2.13:$v and its runtime dependencies from Maven Central"
		rm -rf "$K_LIBS.tmp"
		if mvn -B -q -Dstyle.color=never -f "$HERE/kafka/pom.xml" \
			dependency:copy-dependencies -DincludeScope=runtime \
			-Dkafka.version="$v" -DoutputDirectory="$K_LIBS.tmp" >"$LOGS/maven.log" 2>&1 &&
			[[ -f $K_LIBS.tmp/kafka_2.13-$v.jar ]]; then
			echo "$v" >"$K_LIBS.tmp/.complete"
			rm -rf "$K_LIBS"
			mv "$K_LIBS.tmp" "$K_LIBS"
			say "kafka: $(find "$K_LIBS" -name '*.jar' | wc -l) jars in $K_LIBS"
			return 0
		fi
		say "kafka: could not resolve Kafka $v (see $LOGS/maven.log)"
		tail_log "$LOGS/maven.log"
	done
	rm -rf "$K_LIBS.tmp"
	want="$KAFKA_VERSION or $KAFKA_FALLBACK_VERSION"
	die "kafka: neither $want resolved from Maven Central"
}

kafka_config() {
	local admin_pw ctrl_pw
	mkdir -p "$K_CONF" "$K_DATA" "$K_LOGS"
	admin_pw=$(kafka_password admin)
	ctrl_pw=$(<"$CREDS/kafka-controller.password")
	# It holds passwords: readable by this user only.
	(umask 077 && : >"$K_CONF/server.properties.tmp")
	cat >"$K_CONF/server.properties.tmp" <<EOF
# Written by deploy/local/infra.sh on every start: edit the script, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=$HOST:$KAFKA_CONTROLLER_PORT
# No unauthenticated listener: clients authenticate with SCRAM-SHA-512
# (users stored in the metadata log); the controller listener uses PLAIN
# with one static user, as KRaft controllers cannot use SCRAM.
listeners=SASL_PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=SASL_PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:SASL_PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="$admin_pw";
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.controller.sasl.enabled.mechanisms=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="$ctrl_pw" user_admin="$ctrl_pw";
sasl.mechanism.controller.protocol=PLAIN

# ACLs (granted by cmd/kafkaacl on every start); admin bypasses them
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:admin
allow.everyone.if.no.acl.found=false

log.dirs=$K_DATA

# topics are created by the services (EnsureTopics), never on first use
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1

# one node: internal topics with one replica
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# no 3 s wait before the first assignment of a new consumer group
group.initial.rebalance.delay.ms=0
EOF
	mv "$K_CONF/server.properties.tmp" "$K_CONF/server.properties"
	cp "$HERE/kafka/log4j2.xml" "$K_CONF/log4j2.xml"
}

kafka_start() {
	local v formatted cid u scram
	kafka_libs
	ensure_java
	v=$(<"$K_LIBS/.complete")
	ensure_credentials
	if [[ -f $K_DATA/meta.properties && ! -f $K_DATA/.scram-users ]]; then
		die "kafka: $K_DATA was formatted before the broker required SASL (no users in it); run 'make infra-clean'"
	fi
	kafka_config
	for p in $KAFKA_PORT $KAFKA_CONTROLLER_PORT; do
		port_open "$HOST" "$p" && die "kafka: $HOST:$p is already in use by a process this script did not start (ss -ltnp | grep $p)"
	done
	if [[ ! -f $K_DATA/meta.properties ]]; then
		# A random id as kafka-storage random-uuid makes it: 16 bytes, URL-safe
		# base64, never starting with '-' (the CLI would take it for an option).
		cid=-
		while [[ $cid == -* ]]; do cid=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n'); done
		say "kafka: formatting $K_DATA (KRaft, standalone controller, cluster id $cid, SCRAM users $KAFKA_USERS)"
		# The SCRAM users go into the metadata log with the format: the broker
		# admits nobody without one, so they cannot be added later by a client.
		scram=()
		for u in $KAFKA_USERS; do scram+=(--add-scram "SCRAM-SHA-512=[name=$u,password=$(kafka_password "$u")]"); done
		"$JAVA" -Xmx256m -Dlog4j2.configurationFile="$K_CONF/log4j2.xml" -Dkafka.logs.dir="$K_LOGS" \
			-cp "$K_LIBS/*" kafka.tools.StorageTool format --standalone \
			-t "$cid" -c "$K_CONF/server.properties" "${scram[@]}" >>"$K_LOGS/storage-format.log" 2>&1 ||
			{
				tail_log "$K_LOGS/storage-format.log"
				die "kafka: storage format failed"
			}
		echo "$v" >"$K_DATA/.formatted-by"
		echo "$KAFKA_USERS" >"$K_DATA/.scram-users"
	fi
	formatted=$(cat "$K_DATA/.formatted-by" 2>/dev/null || echo "$v")
	if [[ $(printf '%s\n%s\n' "$formatted" "$v" | sort -V | head -n 1) != "$formatted" ]]; then
		die "kafka: $K_DATA was formatted by Kafka $formatted, newer than the $v jars in $K_LIBS; run 'make infra-clean'"
	fi
	say "kafka: starting Kafka $v with $("$JAVA" -version 2>&1 | head -n 1)"
	spawn "$K_LOGS/kafka.out" "$K_PID" "$JAVA" $KAFKA_HEAP \
		-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
		-XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
		"-Xlog:gc*:file=$K_LOGS/gc.log:time,tags:filecount=3,filesize=10M" \
		-Dlog4j2.configurationFile="$K_CONF/log4j2.xml" -Dkafka.logs.dir="$K_LOGS" \
		-cp "$K_LIBS/*" kafka.Kafka "$K_CONF/server.properties"
}

# ---------------------------------------------------------------- PostgreSQL

# pg_dirs picks the postgres folder: INFRA_DIR/postgres, or, when the postgres
# OS user cannot reach INFRA_DIR (a repository under /root, say), a folder in
# /var/tmp named after INFRA_DIR, linked from INFRA_DIR/postgres.
pg_dirs() {
	local fb
	if [[ -L $PG_LINK ]]; then
		PG_DIR=$(readlink -f "$PG_LINK")
	else
		PG_DIR=$PG_LINK
	fi
	if [[ $EUID -eq 0 ]]; then
		mkdir -p "$PG_DIR"
		chown postgres:postgres "$PG_DIR"
		chmod 700 "$PG_DIR"
		if ! as_pg test -w "$PG_DIR" -a -x "$PG_DIR"; then
			[[ -L $PG_LINK ]] && die "postgres: the postgres OS user cannot use $PG_DIR"
			[[ -e $PG_DIR/data ]] && die "postgres: the postgres OS user cannot reach $PG_DIR/data (a parent folder lacks o+x); chmod o+x the parents or run 'make infra-clean'"
			fb=/var/tmp/cliente-infra-postgres-$(printf '%s' "$INFRA_DIR" | sha1sum | cut -c1-12)
			say "postgres: the postgres OS user cannot reach $INFRA_DIR (a parent folder lacks o+x); using $fb, linked from $PG_LINK"
			rmdir "$PG_DIR"
			mkdir -p "$fb"
			chown postgres:postgres "$fb"
			chmod 700 "$fb"
			ln -s "$fb" "$PG_LINK"
			PG_DIR=$fb
			as_pg test -w "$PG_DIR" -a -x "$PG_DIR" || die "postgres: the postgres OS user cannot use $fb either"
		fi
	else
		mkdir -p "$PG_DIR"
	fi
	PG_DATA=$PG_DIR/data
	PG_LOG=$PG_DIR/postgres.log
	mkdir -p "$LOGS"
	ln -sfn "$PG_LOG" "$LOGS/postgres.log"
}

pg_running() {
	[[ -n $PG_BIN && -f $PG_DATA/PG_VERSION ]] || return 1
	as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1
}

pg_psql() { "$PG_BIN/psql" -X -q -w -h "$HOST" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }

pg_start() {
	if [[ ! -f $PG_DATA/PG_VERSION ]]; then
		say "postgres: initdb $PG_DATA ($("$PG_BIN/postgres" --version))"
		rm -rf "$PG_DATA"
		as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 ||
			{
				tail_log "$PG_DIR/initdb.log"
				die "postgres: initdb failed"
			}
		printf "\n# deploy/local/infra.sh\ninclude = 'infra.conf'\n" >>"$PG_DATA/postgresql.conf"
	fi
	# Rewritten on every start. No Unix socket: TCP on 127.0.0.1 only.
	cat >"$PG_DATA/infra.conf" <<EOF
# Written by deploy/local/infra.sh on every start: edit the script, not this file.
listen_addresses = '$HOST'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 100
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
EOF
	[[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DATA/infra.conf"
	port_open "$HOST" "$PG_PORT" && die "postgres: $HOST:$PG_PORT is already in use by a process this script did not start"
	say "postgres: starting on $HOST:$PG_PORT"
	as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 >/dev/null && return 0
	tail_log "$PG_LOG"
	die "postgres: pg_ctl start failed"
}

# pg_ensure_db NAME creates database NAME if missing.
pg_ensure_db() {
	local exists
	exists=$(pg_psql -tAc "SELECT 1 FROM pg_database WHERE datname = '$1'") ||
		die "postgres: cannot query $HOST:$PG_PORT"
	if [[ $exists != 1 ]]; then
		say "postgres: creating database $1"
		pg_psql -c "CREATE DATABASE $1" || die "postgres: CREATE DATABASE $1 failed"
	fi
}

# ---------------------------------------------------------------- FerretDB

ferretdb_running() { pid_alive "$F_PID" "$BIN/ferretdb"; }

# ferretdb_version_ok: the binary exists and is FerretDB $FERRETDB_VERSION.
# (Output captured first: `| grep -q` could SIGPIPE it and fail under pipefail.)
ferretdb_version_ok() {
	local out
	[[ -x $BIN/ferretdb ]] || return 1
	out=$("$BIN/ferretdb" --version 2>/dev/null) || return 1
	[[ $'\n'$out$'\n' == *$'\n'"version: $FERRETDB_VERSION"$'\n'* ]]
}

# ferretdb_build builds cmd/ferretdb from a copy of the released module.
# Building it straight from this module (go build github.com/FerretDB/FerretDB/cmd/ferretdb)
# gives a binary that panics at start: its build/version package needs a
# version.txt that the module zip does not ship (FerretDB's own build generates it).
ferretdb_build() {
	local tmp src
	if ferretdb_version_ok; then return 0; fi
	ensure_go
	mkdir -p "$BIN" "$LOGS"
	say "ferretdb: building FerretDB $FERRETDB_VERSION from its Go module (1-2 minutes the first time on 2 cores)"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/ferretdb-build.XXXXXX")
	CLEANUP+=("$tmp")
	src=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || true
	[[ -n $src && -d $src ]] || die "ferretdb: go mod download github.com/FerretDB/FerretDB@$FERRETDB_VERSION failed"
	cp -R "$src" "$tmp/FerretDB"
	chmod -R u+w "$tmp/FerretDB"
	echo "$FERRETDB_VERSION" >"$tmp/FerretDB/build/version/version.txt"
	if ! (cd "$tmp/FerretDB" && GOWORK=off GOFLAGS= CGO_ENABLED=0 go build -trimpath -o "$BIN/ferretdb.tmp" ./cmd/ferretdb) >"$LOGS/ferretdb-build.log" 2>&1; then
		tail_log "$LOGS/ferretdb-build.log"
		die "ferretdb: build failed"
	fi
	mv "$BIN/ferretdb.tmp" "$BIN/ferretdb"
	ferretdb_version_ok || die "ferretdb: built binary does not report version $FERRETDB_VERSION"
}

ferretdb_start() {
	ferretdb_build
	mkdir -p "$F_DIR" "$RUN" "$LOGS"
	port_open "$HOST" "$FERRETDB_PORT" && die "ferretdb: $HOST:$FERRETDB_PORT is already in use by a process this script did not start"
	say "ferretdb: starting FerretDB $FERRETDB_VERSION on $HOST:$FERRETDB_PORT (PostgreSQL $HOST:$PG_PORT/ferretdb)"
	spawn "$F_LOG" "$F_PID" env DO_NOT_TRACK=1 "$BIN/ferretdb" \
		--handler=postgresql \
		--postgresql-url="postgres://postgres@$HOST:$PG_PORT/ferretdb" \
		--listen-addr="$HOST:$FERRETDB_PORT" \
		--debug-addr="$FERRETDB_DEBUG_ADDR" \
		--telemetry=disable \
		--state-dir="$F_DIR" \
		--log-level=info --log-format=text
}

# ---------------------------------------------------------------- Hydra

hydra_running() { pid_alive "$H_PID" "$BIN/hydra serve all"; }

# hydra_version_ok: the binary exists and reports $HYDRA_VERSION (set at build).
hydra_version_ok() {
	local out
	[[ -x $BIN/hydra ]] || return 1
	out=$("$BIN/hydra" version 2>/dev/null) || return 1
	[[ $out == *"Version:"*"$HYDRA_VERSION"* ]]
}

# hydra_build builds Ory Hydra from a writable copy of its released module:
# `go install github.com/ory/hydra/v2@$HYDRA_VERSION` refuses a module whose
# go.mod has replace directives, and one of them names a folder that the
# module zip lacks (internal/httpclient, a module of its own), filled here
# with the published github.com/ory/hydra-client-go/v2. No cgo: PostgreSQL
# only (SQLite would need the sqlite build tag and cgo).
hydra_build() {
	local tmp src client t0
	if hydra_version_ok; then return 0; fi
	ensure_go
	mkdir -p "$BIN" "$LOGS"
	say "hydra: building Ory Hydra $HYDRA_VERSION from its Go module (about a minute on 2 cores with a cold build cache)"
	t0=$SECONDS
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/hydra-build.XXXXXX")
	CLEANUP+=("$tmp")
	src=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/ory/hydra/v2@$HYDRA_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || true
	[[ -n $src && -d $src ]] || die "hydra: go mod download github.com/ory/hydra/v2@$HYDRA_VERSION failed"
	client=$(cd "$tmp" && GOWORK=off GOFLAGS= go mod download -json "github.com/ory/hydra-client-go/v2@$HYDRA_CLIENT_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p') || true
	[[ -n $client && -d $client ]] || die "hydra: go mod download github.com/ory/hydra-client-go/v2@$HYDRA_CLIENT_VERSION failed"
	cp -R "$src" "$tmp/hydra"
	chmod -R u+w "$tmp/hydra"
	rm -rf "$tmp/hydra/internal/httpclient"
	cp -R "$client" "$tmp/hydra/internal/httpclient"
	chmod -R u+w "$tmp/hydra/internal/httpclient"
	if ! (cd "$tmp/hydra" && GOWORK=off GOFLAGS= CGO_ENABLED=0 go build -trimpath \
		-ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" \
		-o "$BIN/hydra.tmp" .) >"$LOGS/hydra-build.log" 2>&1; then
		tail_log "$LOGS/hydra-build.log"
		die "hydra: build failed"
	fi
	mv "$BIN/hydra.tmp" "$BIN/hydra"
	hydra_version_ok || die "hydra: built binary does not report version $HYDRA_VERSION"
	say "hydra: built in $((SECONDS - t0))s"
}

hydra_dsn() { echo "postgres://postgres@$HOST:$PG_PORT/hydra?sslmode=disable&max_conns=10"; }

hydra_config() {
	mkdir -p "$H_DIR"
	# It holds the system secret: readable by this user only.
	(umask 077 && : >"$H_DIR/hydra.yml.tmp")
	cat >"$H_DIR/hydra.yml.tmp" <<EOF
# Written by deploy/local/infra.sh on every start: edit the script, not this file.
dsn: $(hydra_dsn)
serve:
  public:
    host: $HOST
    port: $HYDRA_PORT
  admin:
    host: $HOST
    port: $HYDRA_ADMIN_PORT
urls:
  self:
    issuer: $HYDRA_ISSUER
secrets:
  system:
    - $(<"$CREDS/hydra-system.secret")
strategies:
  # JWT access tokens, signed by a key published at the JWKS endpoint, so
  # the edge verifies them without calling Hydra; scopes both as "scp"
  # (a list) and "scope" (a string).
  access_token: jwt
  jwt:
    scope_claim: both
ttl:
  access_token: 1h
log:
  level: info
  format: text
EOF
	mv "$H_DIR/hydra.yml.tmp" "$H_DIR/hydra.yml"
}

hydra_start() {
	local p
	hydra_build
	pg_ensure_db hydra
	hydra_config
	# Idempotent: applies only pending migrations.
	DSN=$(hydra_dsn) "$BIN/hydra" migrate sql up --read-from-env --yes >"$LOGS/hydra-migrate.log" 2>&1 ||
		{
			tail_log "$LOGS/hydra-migrate.log"
			die "hydra: migrate sql up failed"
		}
	for p in $HYDRA_PORT $HYDRA_ADMIN_PORT; do
		port_open "$HOST" "$p" && die "hydra: $HOST:$p is already in use by a process this script did not start"
	done
	say "hydra: starting Ory Hydra $HYDRA_VERSION on $HOST:$HYDRA_PORT (admin $HOST:$HYDRA_ADMIN_PORT, PostgreSQL $HOST:$PG_PORT/hydra)"
	# --dev allows the plain-http issuer on loopback (Hydra otherwise wants TLS).
	spawn "$H_LOG" "$H_PID" env SQA_OPT_OUT=true "$BIN/hydra" serve all --dev --sqa-opt-out -c "$H_DIR/hydra.yml"
}

# hydra_wait: until the admin API says ready, failing early if Hydra exits.
hydra_wait() {
	local i
	for ((i = 0; i < 600; i++)); do
		if curl -fsS -o /dev/null "http://$HOST:$HYDRA_ADMIN_PORT/health/ready" 2>/dev/null; then return 0; fi
		if ! hydra_running; then
			tail_log "$H_LOG"
			die "hydra exited while starting (log: $H_LOG)"
		fi
		sleep 0.2 # poll interval, not a readiness delay
	done
	tail_log "$H_LOG"
	die "hydra: not ready within 2 minutes"
}

# The tests' OAuth2 clients (client-credentials grant): name|scopes|audience.
# otra-api gets tokens for another audience, for negative tests.
HYDRA_CLIENTS=(
	"lector|clientes:leer|$HYDRA_AUDIENCE"
	"escritor|clientes:leer clientes:escribir|$HYDRA_AUDIENCE"
	"ventas|clientes:leer ventas|$HYDRA_AUDIENCE"
	"admin|clientes:leer clientes:escribir ventas admin|$HYDRA_AUDIENCE"
	"otra-api|clientes:leer|otra-api"
)

# hydra_clients registers (or updates) the test clients through the admin
# API, then writes credentials/hydra.json, which tests read
# (cmd/internal/infratest), and credentials/hydra.env for the edge.
hydra_clients() {
	local entry name scope aud id sec body code method url scopes json first=1
	json=$(printf '{\n  "issuer": "%s",\n  "token_endpoint": "%soauth2/token",\n  "admin_url": "http://%s:%s/",\n  "audience": "%s",\n  "clients": {' \
		"$HYDRA_ISSUER" "$HYDRA_ISSUER" "$HOST" "$HYDRA_ADMIN_PORT" "$HYDRA_AUDIENCE")
	for entry in "${HYDRA_CLIENTS[@]}"; do
		IFS='|' read -r name scope aud <<<"$entry"
		id=cliente-test-$name
		[[ -s $CREDS/hydra-client-$name.secret ]] || secret >"$CREDS/hydra-client-$name.secret"
		sec=$(<"$CREDS/hydra-client-$name.secret")
		body=$(printf '{"client_id":"%s","client_name":"%s","client_secret":"%s","grant_types":["client_credentials"],"response_types":["token"],"token_endpoint_auth_method":"client_secret_basic","scope":"%s","audience":["%s"]}' \
			"$id" "$id" "$sec" "$scope" "$aud")
		url=http://$HOST:$HYDRA_ADMIN_PORT/admin/clients
		method=POST
		code=$(curl -sS -o /dev/null -w '%{http_code}' "$url/$id") || die "hydra: admin API unreachable"
		if [[ $code == 200 ]]; then method=PUT url=$url/$id; fi
		code=$(curl -sS -o "$RUN/hydra-client.out" -w '%{http_code}' -X "$method" -H 'Content-Type: application/json' \
			--data-binary "$body" "$url") || die "hydra: admin API unreachable"
		[[ $code == 200 || $code == 201 ]] || die "hydra: $method client $id: HTTP $code: $(cat "$RUN/hydra-client.out")"
		scopes=$(printf '"%s",' $scope)
		((first)) || json+=","
		first=0
		json+=$(printf '\n    "%s": {"client_id": "%s", "client_secret": "%s", "scopes": [%s], "audience": ["%s"]}' \
			"$name" "$id" "$sec" "${scopes%,}" "$aud")
	done
	rm -f "$RUN/hydra-client.out"
	(umask 077 && printf '%s\n  }\n}\n' "$json" >"$CREDS/hydra.json.tmp")
	mv "$CREDS/hydra.json.tmp" "$CREDS/hydra.json"
	printf 'AUTH_ISSUER=%s\nAUTH_AUDIENCE=%s\n' "$HYDRA_ISSUER" "$HYDRA_AUDIENCE" >"$CREDS/hydra.env"
	say "hydra: ${#HYDRA_CLIENTS[@]} clients registered, issuer $HYDRA_ISSUER ($CREDS/hydra.json)"
}

# ---------------------------------------------------------------- readiness

# wait_ready: cmd/waitready against both endpoints, aborting early if a
# process dies meanwhile.
wait_ready() {
	local wpid rc=0 out=$RUN/waitready.out
	as_kafka_admin "$BIN/waitready" -kafka "$KAFKA_ADDR" -mongodb "$MONGODB_URI" -timeout "$READY_TIMEOUT" >"$out" 2>&1 &
	wpid=$!
	WAIT_PID=$wpid
	while kill -0 "$wpid" 2>/dev/null; do
		if ! kafka_running; then
			kill "$wpid" 2>/dev/null || true
			tail_log "$K_LOGS/kafka.out"
			tail_log "$K_LOGS/server.log"
			die "kafka exited while starting (logs: $K_LOGS)"
		fi
		if ! ferretdb_running; then
			kill "$wpid" 2>/dev/null || true
			tail_log "$F_LOG"
			die "ferretdb exited while starting (log: $F_LOG)"
		fi
		if ! pg_running; then
			kill "$wpid" 2>/dev/null || true
			tail_log "$PG_LOG"
			die "postgres stopped while starting (log: $PG_LOG)"
		fi
		sleep 0.2 # poll interval of this loop, not a readiness delay
	done
	wait "$wpid" || rc=$?
	WAIT_PID=
	sed 's/^/infra: /' "$out"
	if ((rc != 0)); then
		tail_log "$K_LOGS/server.log"
		tail_log "$F_LOG"
		die "not ready within $READY_TIMEOUT (see logs in $LOGS)"
	fi
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local start=$SECONDS
	lock
	[[ -f $MARKER ]] || echo "Folder of deploy/local/infra.sh ($REPO_DIR): 'make infra-clean' removes it." >"$MARKER"
	mkdir -p "$BIN" "$RUN" "$LOGS"

	# Kafka first: it boots while the rest is set up.
	if kafka_running && [[ ! -f $K_DATA/.scram-users ]]; then
		die "kafka: the running broker was started by an infra.sh from before SASL and ACLs; run 'make infra-clean' (it stops it), then 'make infra-up'"
	fi
	if kafka_running; then say "kafka: running (pid $(<"$K_PID"))"; else kafka_start; fi

	ensure_pg_bin
	pg_dirs
	if pg_running; then say "postgres: running"; else pg_start; fi
	pg_ensure_db ferretdb
	# FerretDB's own indexes cannot serve the queries it sends (see the file).
	PGOPTIONS='-c client_min_messages=warning' pg_psql -d ferretdb -o /dev/null -f "$REPO_DIR/deploy/local/ferretdb-gin.sql" ||
		die "postgres: applying deploy/local/ferretdb-gin.sql failed"
	say "postgres: FerretDB's single-field indexes get GIN twins (deploy/local/ferretdb-gin.sql)"

	if ferretdb_running; then say "ferretdb: running (pid $(<"$F_PID"))"; else ferretdb_start; fi
	command -v curl >/dev/null || apt_install curl
	if hydra_running; then say "hydra: running (pid $(<"$H_PID"))"; else hydra_start; fi

	ensure_waitready
	wait_ready
	# Makes the services' rules exactly the matrix (adds and revokes).
	as_kafka_admin "$BIN/kafkaacl" -kafka "$KAFKA_ADDR" >"$RUN/kafkaacl.out" 2>&1 ||
		{
			tail_log "$RUN/kafkaacl.out"
			die "kafka: granting the ACLs failed"
		}
	say "kafka: ACLs of cliente-worker, cliente-edge, ventas granted ($RUN/kafkaacl.out)"
	hydra_wait
	hydra_clients
	say "up in $((SECONDS - start))s: KAFKA_BROKERS=$KAFKA_ADDR MONGODB_URI=$MONGODB_URI AUTH_ISSUER=$HYDRA_ISSUER (credentials: $CREDS, logs: $LOGS)"
}

cmd_down() {
	lock
	stop_pid hydra "$H_PID" "$BIN/hydra serve all" 15
	stop_pid ferretdb "$F_PID" "$BIN/ferretdb" 15
	if [[ -e $PG_LINK ]] && find_pg_bin; then
		pg_dirs
		if pg_running; then
			say "postgres: stopping (pg_ctl stop -m fast)"
			as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null ||
				as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null ||
				die "postgres: pg_ctl stop failed"
			say "postgres: stopped"
		else
			say "postgres: not running"
		fi
	else
		say "postgres: not running"
	fi
	stop_pid kafka "$K_PID" "kafka.Kafka $K_CONF/server.properties" 60
}

cmd_clean() {
	local fb=
	[[ -d $INFRA_DIR ]] || {
		say "nothing to clean: $INFRA_DIR does not exist"
		return 0
	}
	case $INFRA_DIR in / | "$HOME" | "$REPO_DIR") die "refusing to remove $INFRA_DIR" ;; esac
	[[ -f $MARKER ]] || die "refusing to remove $INFRA_DIR: no $MARKER in it (not made by this script?)"
	cmd_down
	[[ -L $PG_LINK ]] && fb=$(readlink -f "$PG_LINK")
	if [[ -n $fb && $fb == /var/tmp/cliente-infra-postgres-* ]]; then rm -rf -- "$fb"; fi
	rm -rf -- "$INFRA_DIR"
	say "removed $INFRA_DIR"
}

cmd_status() {
	local ok=0
	if kafka_running; then say "kafka:    running, pid $(<"$K_PID"), $KAFKA_ADDR (logs $K_LOGS)"; else
		say "kafka:    stopped"
		ok=1
	fi
	if [[ -e $PG_LINK ]] && find_pg_bin && PG_DIR=$(readlink -f "$PG_LINK") && PG_DATA=$PG_DIR/data && pg_running; then
		say "postgres: running, $HOST:$PG_PORT (data $PG_DATA, log $PG_DIR/postgres.log)"
	else
		say "postgres: stopped"
		ok=1
	fi
	if ferretdb_running; then say "ferretdb: running, pid $(<"$F_PID"), $MONGODB_URI (log $F_LOG)"; else
		say "ferretdb: stopped"
		ok=1
	fi
	if hydra_running; then say "hydra:    running, pid $(<"$H_PID"), issuer $HYDRA_ISSUER, admin http://$HOST:$HYDRA_ADMIN_PORT/ (log $H_LOG, clients $CREDS/hydra.json)"; else
		say "hydra:    stopped"
		ok=1
	fi
	if ((ok == 0)) && [[ -x $BIN/waitready ]]; then
		if ! curl -fsS -o /dev/null "${HYDRA_ISSUER}.well-known/openid-configuration" 2>/dev/null; then
			say "NOT ready: Hydra does not serve its OpenID configuration (see $H_LOG)"
			ok=1
		elif as_kafka_admin "$BIN/waitready" -kafka "$KAFKA_ADDR" -mongodb "$MONGODB_URI" -timeout 10s >/dev/null 2>&1; then
			say "ready: Kafka answers metadata (SASL as admin), FerretDB answers ping, Hydra serves its discovery document"
		else
			say "NOT ready: processes run but do not answer (see logs in $LOGS)"
			ok=1
		fi
	fi
	return $ok
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
clean) cmd_clean ;;
status) cmd_status ;;
*)
	echo "usage: $0 up|down|clean|status   (INFRA_DIR=${INFRA_DIR})" >&2
	exit 2
	;;
esac

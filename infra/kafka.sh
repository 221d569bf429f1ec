#!/usr/bin/env bash
# Runs a real, single-node Apache Kafka 4.1.1 broker (KRaft, combined
# broker+controller) on 127.0.0.1 for development and tests. No Docker and no
# tarball: the broker's jars come from Maven Central through infra/kafka/pom.xml.
#
#   infra/kafka.sh start    fetch jars if needed, format storage once, start, wait until it answers
#   infra/kafka.sh stop     SIGTERM, up to 30 s for a clean shutdown, then SIGKILL
#   infra/kafka.sh status   "running" (exit 0) or "not running" (exit 1)
#   infra/kafka.sh fetch    only assemble the jars into the cache
#
# Environment (see infra/README.md):
#   KAFKA_PORT=9092  KAFKA_CONTROLLER_PORT=9093
#   REGISTERVARD_STATE=<repo>/.state   KAFKA_DATA_DIR=$REGISTERVARD_STATE/kafka
#   REGISTERVARD_CACHE=$HOME/.cache/registervard   (jars: kafka-4.1.1/lib)
#   KAFKA_HEAP_OPTS="-Xms256m -Xmx768m"  KAFKA_JVM_OPTS=(extra JVM flags)
#   KAFKA_START_TIMEOUT=90 (seconds)
set -euo pipefail

KAFKA_VERSION=4.1.1
INFRA_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(dirname "$INFRA_DIR")
POM=$INFRA_DIR/kafka/pom.xml
LOG4J2_CONF=$INFRA_DIR/kafka/log4j2.properties

abspath() { mkdir -p "$1" && (cd "$1" && pwd); }

CACHE=${REGISTERVARD_CACHE:-${HOME:-/root}/.cache/registervard}
KAFKA_CACHE=$CACHE/kafka-$KAFKA_VERSION
LIB=$KAFKA_CACHE/lib
MARKER=$KAFKA_CACHE/.complete   # holds the sha256 of the pom the lib was copied from

PORT=${KAFKA_PORT:-9092}
CPORT=${KAFKA_CONTROLLER_PORT:-9093}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}

# Per-instance files; resolved lazily (so `fetch` creates no state dir).
init_state() {
  STATE=$(abspath "${REGISTERVARD_STATE:-$REPO_ROOT/.state}")
  DATA=$(abspath "${KAFKA_DATA_DIR:-$STATE/kafka}")
  LOG_DIRS=$DATA/data                # Kafka's log.dirs (formatted once)
  LOGS=$DATA/logs                    # server.log, kafka.out
  PROPS=$DATA/server.properties
  PIDFILE=$DATA/kafka.pid
}

die() { echo "kafka.sh: $*" >&2; exit 1; }

# --- prerequisites --------------------------------------------------------

apt_install() {
  command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]] ||
    die "missing $1 and cannot install it (needs root and apt-get); install: $*"
  echo "kafka.sh: installing $* with apt-get ..." >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_java() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    JAVA=$JAVA_HOME/bin/java
  else
    command -v java >/dev/null 2>&1 || apt_install openjdk-17-jre-headless
    JAVA=$(command -v java)
  fi
}

# --- jars -----------------------------------------------------------------

lib_complete() {
  [[ -f $MARKER && -f $LIB/kafka_2.13-$KAFKA_VERSION.jar ]] &&
    [[ $(cat "$MARKER") == "$(sha256sum "$POM" | cut -d' ' -f1)" ]]
}

fetch() {
  lib_complete && return 0
  mkdir -p "$KAFKA_CACHE"
  # Two concurrent starts must not both copy into the same folder.
  exec 8>"$KAFKA_CACHE/.lock"
  flock 8
  if lib_complete; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null 2>&1 || apt_install maven
  echo "kafka.sh: assembling Kafka $KAFKA_VERSION jars from Maven Central into $LIB ..." >&2
  local tmp mvnlog=$KAFKA_CACHE/mvn.log
  tmp=$(mktemp -d "$KAFKA_CACHE/lib.tmp.XXXXXX")
  if ! mvn -q -B -Dstyle.color=never -f "$POM" dependency:copy-dependencies \
        -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    tail -n 40 "$mvnlog" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (full log: $mvnlog)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]] ||
    { rm -rf "$tmp"; die "mvn finished but kafka jars are missing from $tmp"; }
  rm -rf "$LIB"
  mv "$tmp" "$LIB"
  sha256sum "$POM" | cut -d' ' -f1 >"$MARKER"
  exec 8>&-
}

# --- probes ---------------------------------------------------------------

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# A real Kafka request without starting a JVM: Metadata v4 (no topics) over
# /dev/tcp. Succeeds when the broker serves requests and lists >= 1 live broker,
# i.e. it is registered with the controller and unfenced.
metadata_ready() {
  local out
  out=$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    # size=23 | api_key=3 (Metadata) | version=4 | correlation_id=7 | client_id="rv-probe"
    # | topics=[] (int32 0) | allow_auto_topic_creation=false
    printf "\x00\x00\x00\x17\x00\x03\x00\x04\x00\x00\x00\x07\x00\x08rv-probe\x00\x00\x00\x00\x00" >&3
    head -c 16 <&3 | od -An -tu1 -v' 2>/dev/null) || return 1
  # Response: size(4) correlation_id(4) throttle_time_ms(4) brokers.length(4)
  local -a b=($out)
  (( ${#b[@]} == 16 )) || return 1
  (( b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 7 )) || return 1
  (( (b[12] << 24 | b[13] << 16 | b[14] << 8 | b[15]) >= 1 ))
}

read_pid() { [[ -f $PIDFILE ]] && cat "$PIDFILE" 2>/dev/null || true; }

# Our broker is running: pid file names a live kafka.Kafka process using our config.
is_running() {
  local pid
  pid=$(read_pid)
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "kafka.Kafka $PROPS"
}

# Port the running broker was started with (from its server.properties).
running_port() {
  sed -n 's/^advertised.listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$PROPS" 2>/dev/null
}

# Last 30 lines this start wrote to server.log (it is appended to across
# starts), then the JVM's own stdout/stderr if it said anything.
LOG_OFFSET=0
show_log_tail() {
  local log=$LOGS/server.log size
  if [[ -s $log ]]; then
    size=$(stat -c %s "$log")
    ((size >= LOG_OFFSET)) || LOG_OFFSET=0   # rolled over meanwhile
    if ((size > LOG_OFFSET)); then
      echo "--- last 30 lines of $log ---" >&2
      tail -c +$((LOG_OFFSET + 1)) "$log" | tail -n 30 >&2
    fi
  fi
  if [[ -s $LOGS/kafka.out ]]; then
    echo "--- $LOGS/kafka.out ---" >&2
    tail -n 30 "$LOGS/kafka.out" >&2
  fi
}

# --- start / stop ---------------------------------------------------------

write_props() {
  cat >"$PROPS" <<EOF
# Written by infra/kafka.sh on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CPORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$LOG_DIRS

# One node: every internal topic has a single replica.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1

# Topics are created explicitly by the application.
auto.create.topics.enable=false
num.partitions=3
delete.topic.enable=true

# Fast consumer-group joins in tests.
group.initial.rebalance.delay.ms=0

# After a kill -9 the restarted broker cannot register until the old
# registration's session expires (default 9 s); keep that short.
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=4000

# Small machine: fewer threads.
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

format_once() {
  [[ -f $LOG_DIRS/meta.properties ]] && return 0
  local cid
  cid=$("$JAVA" "${TOOL_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool random-uuid)
  [[ -n $cid ]] || die "kafka.tools.StorageTool random-uuid printed nothing"
  mkdir -p "$LOG_DIRS"
  if ! "$JAVA" "${TOOL_OPTS[@]}" -cp "$LIB/*" kafka.tools.StorageTool \
        format -t "$cid" -c "$PROPS" >"$LOGS/format.out" 2>&1; then
    cat "$LOGS/format.out" >&2
    die "formatting $LOG_DIRS failed"
  fi
}

start() {
  init_state
  # Serialize concurrent starts of the same instance (fd 9 is closed for java).
  exec 9>"$DATA/.start.lock"
  flock 9
  if is_running; then
    local rport
    rport=$(running_port)
    if [[ -n $rport && $rport != "$PORT" ]]; then
      die "Kafka from $DATA is already running on port $rport, not $PORT; run 'infra/kafka.sh stop' first"
    fi
    if metadata_ready "$PORT"; then
      echo "Kafka is already running at 127.0.0.1:$PORT (pid $(read_pid))"
      return 0
    fi
    # Running but not answering yet (e.g. a concurrent start): wait for it below.
  else
    rm -f "$PIDFILE"
    [[ $PORT != "$CPORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT are both $PORT; they must differ"
    if port_open "$PORT"; then
      die "port $PORT on 127.0.0.1 is already in use by another process; set KAFKA_PORT to a free port"
    fi
    if port_open "$CPORT"; then
      die "port $CPORT on 127.0.0.1 is already in use by another process; set KAFKA_CONTROLLER_PORT to a free port"
    fi
    fetch
    find_java
    mkdir -p "$LOGS"
    # CLI tools log warnings to stderr only.
    TOOL_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
      -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J2_CONF"
      "-Dkafka.logs.dir=$LOGS" -Dkafka.log.target=STDERR -Dkafka.log.level=WARN)
    write_props
    format_once
    # shellcheck disable=SC2206  # word splitting of the option strings is intended
    local jvm=($HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:-UsePerfData
      -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
      "-Dlog4j2.configurationFile=$LOG4J2_CONF" "-Dkafka.logs.dir=$LOGS"
      ${KAFKA_JVM_OPTS:-})
    # setsid: the broker outlives the shell (and Ctrl-C) that started it; the
    # inner bash records its own pid, then becomes java.
    : >"$LOGS/kafka.out"
    [[ -f $LOGS/server.log ]] && LOG_OFFSET=$(stat -c %s "$LOGS/server.log")
    nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PIDFILE" \
      "$JAVA" "${jvm[@]}" -cp "$LIB/*" kafka.Kafka "$PROPS" \
      >>"$LOGS/kafka.out" 2>&1 </dev/null 9>&- &
    local i
    for i in {1..50}; do [[ -s $PIDFILE ]] && break; sleep 0.1; done
  fi

  local pid deadline=$((SECONDS + START_TIMEOUT))
  pid=$(read_pid)
  while ((SECONDS < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_log_tail
      rm -f "$PIDFILE"
      die "Kafka exited during startup (logs: $LOGS)"
    fi
    if metadata_ready "$PORT"; then
      echo "Kafka is up at 127.0.0.1:$PORT"
      return 0
    fi
    sleep 0.25
  done
  show_log_tail
  stop_pid "$pid" >/dev/null
  die "Kafka did not answer on 127.0.0.1:$PORT within ${START_TIMEOUT}s; stopped it (logs: $LOGS)"
}

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$PIDFILE"; echo "Kafka stopped"; return 0; }
    sleep 0.2
  done
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  rm -f "$PIDFILE"
  echo "Kafka did not stop within 30 s; killed it (pid $pid)"
}

stop() {
  init_state
  if ! is_running; then
    rm -f "$PIDFILE"
    echo "Kafka is not running"
    return 0
  fi
  stop_pid "$(read_pid)"
}

status() {
  init_state
  if is_running; then
    local rport
    rport=$(running_port)
    if metadata_ready "${rport:-$PORT}"; then
      echo "Kafka is running at 127.0.0.1:${rport:-$PORT} (pid $(read_pid))"
    else
      echo "Kafka is running (pid $(read_pid)) but not answering on 127.0.0.1:${rport:-$PORT} yet"
    fi
    return 0
  fi
  echo "Kafka is not running"
  return 1
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  fetch) fetch && echo "Kafka $KAFKA_VERSION jars are in $LIB" ;;
  *) echo "usage: $0 start|stop|status|fetch" >&2; exit 2 ;;
esac

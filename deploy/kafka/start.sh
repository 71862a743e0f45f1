#!/bin/bash
# The Kafka broker of docker-compose.yml: KRaft, single node, SASL/SCRAM for
# clients, SASL/PLAIN for the controller, StandardAuthorizer denying what no
# ACL allows; the same configuration as infra/kafka.py runs locally
# (docs/decisions/0010-trust-boundaries.md). The apache/kafka image's own
# start-up formats without SCRAM users, so this replaces it:
#
# 1. write server.properties (mode 0600: it holds passwords) from the
#    environment; the controller's password is new at every start;
# 2. on the first start only, format the log directory with the SCRAM
#    credentials of the admin and of every role (warcflow provision then
#    makes the topics and the ACLs; later password changes: kafka-configs.sh,
#    docs/operations.md "Rotating credentials");
# 3. write admin.properties (0600) for the health check and for operators'
#    kafka-*.sh commands, then exec the broker.
#
# Passwords: letters, digits, '-' and '_' only (the storage tool's [name=…,
# password=…] syntax and JAAS quoting break on others), e.g. openssl rand -hex 24.
set -euo pipefail
umask 077

KAFKA_HOME=${KAFKA_HOME:-/opt/kafka}
DATA=${KAFKA_DATA:-/var/lib/kafka/data}
CONF=${KAFKA_CONF:-/tmp/warcflow}
LISTEN=${KAFKA_LISTEN:-0.0.0.0:9092}
ADVERTISED=${KAFKA_ADVERTISED:-kafka:9092}
CONTROLLER=${KAFKA_CONTROLLER:-127.0.0.1:9093}
ROLES="submitter viewer worker operator"

for name in KAFKA_ADMIN_PASSWORD KAFKA_SUBMITTER_PASSWORD KAFKA_VIEWER_PASSWORD \
            KAFKA_WORKER_PASSWORD KAFKA_OPERATOR_PASSWORD; do
  value=${!name:-}
  if [[ ! $value =~ ^[A-Za-z0-9_-]+$ ]]; then
    echo "start.sh: $name must be set, of letters, digits, '-' and '_' only" >&2
    exit 2
  fi
done

mkdir -p "$CONF" "$DATA"
controller_password=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$CONF/server.properties" <<PROPERTIES
# written by deploy/kafka/start.sh at each start; it holds passwords
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${CONTROLLER}
listeners=SASL_PLAINTEXT://${LISTEN},CONTROLLER://${CONTROLLER}
advertised.listeners=SASL_PLAINTEXT://${ADVERTISED}
controller.listener.names=CONTROLLER
inter.broker.listener.name=SASL_PLAINTEXT
listener.security.protocol.map=SASL_PLAINTEXT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="controller" password="${controller_password}" user_controller="${controller_password}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:controller
log.dirs=${DATA}
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES

cat > "$CONF/admin.properties" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${KAFKA_ADMIN_PASSWORD}";
PROPERTIES

if [[ ! -f "$DATA/meta.properties" ]]; then
  scram=(--add-scram "SCRAM-SHA-512=[name=admin,password=${KAFKA_ADMIN_PASSWORD}]")
  for role in $ROLES; do
    variable="KAFKA_${role^^}_PASSWORD"
    scram+=(--add-scram "SCRAM-SHA-512=[name=${role},password=${!variable}]")
  done
  cluster_id=$("$KAFKA_HOME/bin/kafka-storage.sh" random-uuid)
  "$KAFKA_HOME/bin/kafka-storage.sh" format --cluster-id="$cluster_id" \
    -c "$CONF/server.properties" "${scram[@]}"
fi

exec "$KAFKA_HOME/bin/kafka-server-start.sh" "$CONF/server.properties"

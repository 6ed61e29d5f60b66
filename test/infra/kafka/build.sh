#!/usr/bin/env bash
# Fetches Apache Kafka (KRaft mode, no ZooKeeper) from Maven Central: `org.apache.kafka:kafka_2.13` and its
# runtime dependencies, resolved with Maven into a cache directory outside the repository.
# Idempotent: does nothing when the cached libs carry a stamp for the pinned version.
# Prints the absolute path of the Kafka directory (its `libs/` holds the class path) on stdout; progress
# goes to stderr. Start a node with: java -cp "<dir>/libs/*" kafka.Kafka server.properties
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
CACHE_DIR="${HERALD_CACHE:-${HOME}/.cache/herald}"
KAFKA_DIR="${CACHE_DIR}/kafka-${KAFKA_VERSION}"
# Bump REVISION when the dependency list below changes, so cached libs are fetched again.
REVISION=2
STAMP="${KAFKA_DIR}/libs/.herald-kafka-${KAFKA_VERSION}-r${REVISION}"

log() { echo "kafka/build.sh: $*" >&2; }

for tool in java mvn; do
  if ! command -v "${tool}" >/dev/null 2>&1; then
    log "'${tool}' is required (Kafka ${KAFKA_VERSION} needs Java 17+; Maven resolves its jars)"
    exit 1
  fi
done

if [[ -f "${STAMP}" ]]; then
  log "cached Kafka ${KAFKA_VERSION} at ${KAFKA_DIR}"
  echo "${KAFKA_DIR}"
  exit 0
fi

mkdir -p "${CACHE_DIR}"
work="$(mktemp -d "${CACHE_DIR}/.kafka-fetch.XXXXXX")"
trap 'rm -rf "${work}"' EXIT

# A throwaway project whose only purpose is to name the runtime class path of a broker: the server
# (kafka_2.13, which pulls kafka-server, kafka-raft, kafka-metadata, …), the storage tool, and a
# logging backend so the broker's log4j2 output goes somewhere.
cat >"${work}/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.herald.test</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>${KAFKA_VERSION}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>2.0.17</version></dependency>
  </dependencies>
</project>
POM

log "resolving org.apache.kafka:kafka_2.13:${KAFKA_VERSION} and its runtime dependencies with Maven"
start=$(date +%s)
mvn -B -q -f "${work}/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="${work}/libs" >&2
rm -rf "${KAFKA_DIR}"
mkdir -p "${KAFKA_DIR}"
mv "${work}/libs" "${KAFKA_DIR}/libs"
touch "${STAMP}"
log "fetched $(ls "${KAFKA_DIR}/libs" | wc -l) jars in $(($(date +%s) - start))s"
echo "${KAFKA_DIR}"

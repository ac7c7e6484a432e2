#!/bin/sh
# Runs once, after InfluxDB 2.x set itself up: maps the v1 database and retention policy
# that pilotproof writes (/write?db=) and queries (InfluxQL /query) to the bucket.
set -e
influx v1 dbrp create \
  --token "${DOCKER_INFLUXDB_INIT_ADMIN_TOKEN}" \
  --org "${DOCKER_INFLUXDB_INIT_ORG}" \
  --bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}" \
  --db "${PILOTPROOF_DB:-pilotproof}" \
  --rp autogen \
  --default

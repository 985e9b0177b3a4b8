#!/bin/sh
# Runs once, when the postgres volume is first initialised: the tracker keeps
# its own database next to the competition's (TRACKER_DATABASE_URL).
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE DATABASE ${TRACKER_DB:-chaos_tracker} OWNER "$POSTGRES_USER";
SQL

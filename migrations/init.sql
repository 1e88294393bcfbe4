-- evapi database bootstrap.  Run once by the postgres image on a fresh data
-- volume (/docker-entrypoint-initdb.d), as POSTGRES_USER in POSTGRES_DB.
-- Idempotent: safe to re-run by hand with
--   psql -v ON_ERROR_STOP=1 -f migrations/init.sql
-- Only metadata lives here; evapi's handlers need no tables of their own.

CREATE TABLE IF NOT EXISTS evapi_meta (
    key        text        PRIMARY KEY,
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE evapi_meta IS 'evapi: schema bookkeeping (key/value)';

-- The schema version this file creates; later migrations bump it.
INSERT INTO evapi_meta (key, value)
VALUES ('schema_version', '1')
ON CONFLICT (key) DO NOTHING;

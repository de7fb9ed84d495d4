-- binding-proxy store schema, version 1, for PostgreSQL.
-- The twin of migrations/sqlite/0001_initial.sql: same tables, columns and constraints, so the
-- portable SQL in src/portable runs on both. Times are BIGINT unix seconds, ids TEXT, lists JSON
-- text, no booleans. Secrets are stored only as AES-256-GCM ciphertext (BYTEA) with their nonce
-- and the id of the master key that sealed them. Unqualified names: the tables go into the first
-- schema of the connection's search_path.

CREATE TABLE bindings (
    id                              TEXT    NOT NULL PRIMARY KEY,
    org_id                          TEXT    NOT NULL UNIQUE,
    generation                      BIGINT  NOT NULL,
    scopes_json                     TEXT    NOT NULL,
    rate_limit_rps                  BIGINT  NULL,
    rate_limit_burst                BIGINT  NULL,
    api_key_ciphertext              BYTEA   NOT NULL,
    api_key_nonce                   BYTEA   NOT NULL,
    api_key_key_id                  TEXT    NOT NULL,
    api_key_hint                    TEXT    NOT NULL,
    previous_generation             BIGINT  NULL,
    previous_generation_expires_at  BIGINT  NULL,
    created_at                      BIGINT  NOT NULL,
    updated_at                      BIGINT  NOT NULL
);

CREATE TABLE tokens (
    jti          TEXT    NOT NULL PRIMARY KEY,
    binding_id   TEXT    NOT NULL REFERENCES bindings (id) ON DELETE CASCADE,
    function_id  TEXT    NULL,
    generation   BIGINT  NOT NULL,
    scopes_json  TEXT    NULL,
    kid          TEXT    NOT NULL,
    issued_at    BIGINT  NOT NULL,
    expires_at   BIGINT  NOT NULL,
    revoked_at   BIGINT  NULL
);

CREATE INDEX tokens_binding_revoked ON tokens (binding_id, revoked_at);

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    algorithm           TEXT    NOT NULL,
    public_key          BYTEA   NOT NULL,
    private_ciphertext  BYTEA   NOT NULL,
    private_nonce       BYTEA   NOT NULL,
    private_key_id      TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('active', 'verify_only', 'retired')),
    created_at          BIGINT  NOT NULL,
    retired_at          BIGINT  NULL
);

-- At most one active signing key, whatever the writers do.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE audit_events (
    id           BIGSERIAL NOT NULL PRIMARY KEY,
    at           BIGINT    NOT NULL,
    actor        TEXT      NOT NULL,
    action       TEXT      NOT NULL,
    org_id       TEXT      NULL,
    binding_id   TEXT      NULL,
    detail_json  TEXT      NOT NULL
);

CREATE INDEX audit_events_org ON audit_events (org_id, id);

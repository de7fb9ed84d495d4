-- binding-proxy store schema, version 1.
-- Portable on purpose (a PostgreSQL twin lives in migrations/postgres): times are INTEGER unix
-- seconds, ids TEXT, lists JSON text, no booleans. Secrets are stored only as AES-256-GCM
-- ciphertext with their nonce and the id of the master key that sealed them.

CREATE TABLE bindings (
    id                              TEXT    NOT NULL PRIMARY KEY,
    org_id                          TEXT    NOT NULL UNIQUE,
    generation                      INTEGER NOT NULL,
    scopes_json                     TEXT    NOT NULL,
    rate_limit_rps                  INTEGER NULL,
    rate_limit_burst                INTEGER NULL,
    api_key_ciphertext              BLOB    NOT NULL,
    api_key_nonce                   BLOB    NOT NULL,
    api_key_key_id                  TEXT    NOT NULL,
    api_key_hint                    TEXT    NOT NULL,
    previous_generation             INTEGER NULL,
    previous_generation_expires_at  INTEGER NULL,
    created_at                      INTEGER NOT NULL,
    updated_at                      INTEGER NOT NULL
);

CREATE TABLE tokens (
    jti          TEXT    NOT NULL PRIMARY KEY,
    binding_id   TEXT    NOT NULL REFERENCES bindings (id) ON DELETE CASCADE,
    function_id  TEXT    NULL,
    generation   INTEGER NOT NULL,
    scopes_json  TEXT    NULL,
    kid          TEXT    NOT NULL,
    issued_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    revoked_at   INTEGER NULL
);

CREATE INDEX tokens_binding_revoked ON tokens (binding_id, revoked_at);

CREATE TABLE signing_keys (
    kid                 TEXT    NOT NULL PRIMARY KEY,
    algorithm           TEXT    NOT NULL,
    public_key          BLOB    NOT NULL,
    private_ciphertext  BLOB    NOT NULL,
    private_nonce       BLOB    NOT NULL,
    private_key_id      TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('active', 'verify_only', 'retired')),
    created_at          INTEGER NOT NULL,
    retired_at          INTEGER NULL
);

-- At most one active signing key, whatever the writers do.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (status) WHERE status = 'active';

CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    org_id       TEXT    NULL,
    binding_id   TEXT    NULL,
    detail_json  TEXT    NOT NULL
);

CREATE INDEX audit_events_org ON audit_events (org_id, id);

-- Switchyard control-plane store (SQLite). Declarative objects (what
-- gateway.yaml says) keep their identifying columns as columns and the rest of
-- their fields as a JSON `spec`; secrets are never in a spec: they sit in
-- their own columns, AES-256-GCM encrypted under the master key. Runtime state
-- (balances, spend, nodes, usage) lives in separate tables that apply never
-- touches. Money is integer micro-units with a currency.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row: the Config revision, bumped by every declarative write.
CREATE TABLE revision (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    config         BIGINT  NOT NULL,
    runtime        BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);
INSERT INTO revision (id, config, runtime, updated_at_ms) VALUES (1, 0, 0, 0);

CREATE TABLE providers (
    name           TEXT PRIMARY KEY,
    spec           TEXT    NOT NULL,
    proxy_secret   TEXT,
    managed        BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);

CREATE TABLE accounts (
    provider        TEXT    NOT NULL REFERENCES providers (name) ON DELETE CASCADE,
    name            TEXT    NOT NULL,
    position        BIGINT  NOT NULL,
    spec            TEXT    NOT NULL,
    api_key         TEXT    NOT NULL,
    api_key_fp      TEXT    NOT NULL,
    PRIMARY KEY (provider, name)
);

CREATE TABLE routes (
    name           TEXT PRIMARY KEY,
    spec           TEXT    NOT NULL,
    managed        BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);

CREATE TABLE route_aliases (
    alias     TEXT PRIMARY KEY,
    route     TEXT    NOT NULL REFERENCES routes (name) ON DELETE CASCADE,
    position  BIGINT  NOT NULL
);

CREATE TABLE route_targets (
    route                   TEXT    NOT NULL REFERENCES routes (name) ON DELETE CASCADE,
    position                BIGINT  NOT NULL,
    provider                TEXT    NOT NULL,
    model                   TEXT    NOT NULL,
    priority                BIGINT  NOT NULL,
    price_currency          TEXT,
    input_per_mtok_micros   BIGINT,
    output_per_mtok_micros  BIGINT,
    cached_per_mtok_micros  BIGINT,
    PRIMARY KEY (route, position)
);

CREATE TABLE client_keys (
    name           TEXT PRIMARY KEY,
    key_sha256     TEXT    NOT NULL UNIQUE,
    spec           TEXT    NOT NULL,
    managed        BIGINT  NOT NULL,
    updated_at_ms  BIGINT  NOT NULL
);

-- One row: settings without alert channels.
CREATE TABLE settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    spec           TEXT   NOT NULL,
    updated_at_ms  BIGINT NOT NULL
);

CREATE TABLE alert_channels (
    name           TEXT PRIMARY KEY,
    position       BIGINT  NOT NULL,
    kind           TEXT    NOT NULL,
    secret_a       TEXT    NOT NULL,
    secret_b       TEXT,
    managed        BIGINT  NOT NULL
);

CREATE TABLE admin_tokens (
    name            TEXT PRIMARY KEY,
    role            TEXT   NOT NULL,
    token_sha256    TEXT   NOT NULL UNIQUE,
    created_at_ms   BIGINT NOT NULL,
    last_used_ms    BIGINT,
    revoked_at_ms   BIGINT
);

CREATE TABLE node_tokens (
    name            TEXT PRIMARY KEY,
    node_id         TEXT   NOT NULL,
    token_sha256    TEXT   NOT NULL UNIQUE,
    description     TEXT   NOT NULL,
    created_at_ms   BIGINT NOT NULL,
    last_used_ms    BIGINT,
    revoked_at_ms   BIGINT
);

CREATE TABLE nodes (
    id              TEXT PRIMARY KEY,
    region          TEXT   NOT NULL,
    zone            TEXT   NOT NULL,
    labels          TEXT   NOT NULL,
    build_version   TEXT   NOT NULL,
    first_seen_ms   BIGINT NOT NULL,
    last_seen_ms    BIGINT NOT NULL
);

-- Runtime state: never in gateway.yaml, never touched by apply.
CREATE TABLE balances (
    provider        TEXT   NOT NULL,
    account         TEXT   NOT NULL,
    currency        TEXT   NOT NULL,
    amount_micros   BIGINT NOT NULL,
    source          TEXT   NOT NULL,
    updated_at_ms   BIGINT NOT NULL,
    PRIMARY KEY (provider, account)
);

CREATE TABLE spend (
    key_name         TEXT   NOT NULL,
    period_start_ms  BIGINT NOT NULL,
    currency         TEXT   NOT NULL,
    amount_micros    BIGINT NOT NULL,
    PRIMARY KEY (key_name, period_start_ms)
);

-- Append-only: who changed what, when, before and after (secrets masked).
CREATE TABLE audit_log (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    at_ms            BIGINT NOT NULL,
    actor            TEXT   NOT NULL,
    action           TEXT   NOT NULL,
    object_kind      TEXT   NOT NULL,
    object_name      TEXT   NOT NULL,
    before           TEXT,
    after            TEXT,
    config_revision  BIGINT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);

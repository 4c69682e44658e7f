-- Telemetry from data planes: usage records and health events, delivered at
-- least once in batches keyed by (node_id, boot_id, sequence) and stored
-- exactly once: a batch's row, its usage rows, rollups and health land in
-- one transaction, and a batch whose key exists is acked and ignored.

CREATE TABLE telemetry_batches (
    node_id         TEXT   NOT NULL,
    boot_id         TEXT   NOT NULL,
    sequence        BIGINT NOT NULL,
    received_at_ms  BIGINT NOT NULL,
    usage_records   BIGINT NOT NULL,
    health_events   BIGINT NOT NULL,
    PRIMARY KEY (node_id, boot_id, sequence)
);
CREATE INDEX telemetry_batches_received ON telemetry_batches (received_at_ms);

-- Every usage record as the node sent it, plus its cost (integer micro-units
-- of `currency`, priced at ingestion from the Config then in force; 0 and ''
-- when unpriced). Tokens: cached is part of prompt, reasoning part of completion.
CREATE TABLE usage_events (
    id                 BIGSERIAL PRIMARY KEY,
    node_id            TEXT   NOT NULL,
    boot_id            TEXT   NOT NULL,
    sequence           BIGINT NOT NULL,
    request_id         TEXT   NOT NULL,
    started_at_ms      BIGINT NOT NULL,
    key_name           TEXT   NOT NULL,
    route              TEXT   NOT NULL,
    provider           TEXT   NOT NULL,
    account            TEXT   NOT NULL,
    upstream_model     TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    http_status        BIGINT NOT NULL,
    attempts           BIGINT NOT NULL,
    stream             BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    completion_tokens  BIGINT NOT NULL,
    cached_tokens      BIGINT NOT NULL,
    reasoning_tokens   BIGINT NOT NULL,
    usage_source       TEXT   NOT NULL,
    latency_us         BIGINT NOT NULL,
    first_token_us     BIGINT,
    config_version     BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,
    currency           TEXT   NOT NULL
);
CREATE INDEX usage_events_key ON usage_events (key_name, started_at_ms);
CREATE INDEX usage_events_route ON usage_events (route, started_at_ms);
CREATE INDEX usage_events_started ON usage_events (started_at_ms);

-- Per-minute rollups (by the records' start), one row per node and group.
-- Latency and time-to-first-token are log-bucket histograms ("bucket:count"
-- pairs, 8 buckets per power of two: percentiles within ~6%); rejected
-- requests are counted but not in the latency histogram.
CREATE TABLE usage_minutes (
    minute_ms          BIGINT NOT NULL,
    node_id            TEXT   NOT NULL,
    key_name           TEXT   NOT NULL,
    route              TEXT   NOT NULL,
    provider           TEXT   NOT NULL,
    account            TEXT   NOT NULL,
    status             TEXT   NOT NULL,
    currency           TEXT   NOT NULL,
    requests           BIGINT NOT NULL,
    errors             BIGINT NOT NULL,
    prompt_tokens      BIGINT NOT NULL,
    completion_tokens  BIGINT NOT NULL,
    cached_tokens      BIGINT NOT NULL,
    reasoning_tokens   BIGINT NOT NULL,
    cost_micros        BIGINT NOT NULL,
    latency_hist       TEXT   NOT NULL,
    first_token_hist   TEXT   NOT NULL,
    PRIMARY KEY (minute_ms, node_id, key_name, route, provider, account, status, currency)
);
CREATE INDEX usage_minutes_key ON usage_minutes (key_name, minute_ms);

-- Breaker transitions as reported, and the latest state per endpoint per node.
CREATE TABLE breaker_events (
    id              BIGSERIAL PRIMARY KEY,
    node_id         TEXT   NOT NULL,
    boot_id         TEXT   NOT NULL,
    at_ms           BIGINT NOT NULL,
    provider        TEXT   NOT NULL,
    account         TEXT   NOT NULL,
    route           TEXT   NOT NULL,
    upstream_model  TEXT   NOT NULL,
    from_state      TEXT   NOT NULL,
    to_state        TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    open_for_ms     BIGINT NOT NULL
);
CREATE INDEX breaker_events_at ON breaker_events (at_ms);

CREATE TABLE endpoint_health (
    node_id         TEXT   NOT NULL,
    provider        TEXT   NOT NULL,
    account         TEXT   NOT NULL,
    route           TEXT   NOT NULL,
    upstream_model  TEXT   NOT NULL,
    boot_id         TEXT   NOT NULL,
    state           TEXT   NOT NULL,
    reason          TEXT   NOT NULL,
    open_for_ms     BIGINT NOT NULL,
    at_ms           BIGINT NOT NULL,
    PRIMARY KEY (node_id, provider, account, route, upstream_model)
);

-- Telemetry heartbeats (control-plane receive time): a node with neither a
-- recent heartbeat nor a live config stream counts as lost.
ALTER TABLE nodes ADD COLUMN last_heartbeat_ms BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN inflight_requests BIGINT NOT NULL DEFAULT 0;

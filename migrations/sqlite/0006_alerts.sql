-- Alerts. `alert_state` holds every condition that fired and has not cleared
-- since: when it was first notified and last re-sent, so a control-plane
-- restart (or another replica taking over) sends nothing new for it.
-- `alert_deliveries` is each such condition's last delivery per channel.
-- `alert_lease` is the one row that lets a single replica evaluate at a time:
-- its holder renews it; once it has expired another replica may take it.

CREATE TABLE alert_state (
    key          TEXT PRIMARY KEY,
    event        TEXT   NOT NULL,
    severity     TEXT   NOT NULL,
    subject      TEXT   NOT NULL,
    text         TEXT   NOT NULL,
    -- JSON object of string labels (provider, account, node, ...).
    labels       TEXT   NOT NULL,
    since_ms     BIGINT NOT NULL,
    notified_ms  BIGINT NOT NULL,
    reminders    BIGINT NOT NULL
);

CREATE TABLE alert_deliveries (
    key       TEXT   NOT NULL,
    channel   TEXT   NOT NULL,
    ok        BIGINT NOT NULL,
    attempts  BIGINT NOT NULL,
    error     TEXT   NOT NULL,
    at_ms     BIGINT NOT NULL,
    PRIMARY KEY (key, channel)
);

CREATE TABLE alert_lease (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    holder           TEXT   NOT NULL,
    expires_at_ms    BIGINT NOT NULL,
    evaluated_at_ms  BIGINT NOT NULL
);
INSERT INTO alert_lease (id, holder, expires_at_ms, evaluated_at_ms) VALUES (1, '', 0, 0);

-- Model discovery: what each provider's list endpoint (GET .../models) named
-- when last read. One row per provider in model_discovery (when it was last
-- tried, when it last worked, why it last failed) and one per model in
-- discovered_models. Every replica schedules from model_discovery: a replica
-- claims a provider that is due with one conditional UPDATE of checked_at_ms,
-- so two replicas do not read the same list at once. Runtime state: never in
-- gateway.yaml, never exported; a changed list bumps the Runtime revision.
CREATE TABLE model_discovery (
    provider      TEXT   PRIMARY KEY,
    checked_at_ms BIGINT NOT NULL,           -- the last attempt (or claim)
    fetched_at_ms BIGINT NOT NULL DEFAULT 0, -- the last success; 0 = never
    error         TEXT                       -- the last attempt's failure; never a secret
);

CREATE TABLE discovered_models (
    provider TEXT NOT NULL,
    model    TEXT NOT NULL,
    PRIMARY KEY (provider, model)
);

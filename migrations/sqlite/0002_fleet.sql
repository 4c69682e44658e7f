-- The node registry every replica shares: who is connected, what each node
-- ACKed, its last NACK. A node whose last_seen_ms is older than the loss
-- timeout counts as lost (its replica may have died without saying so).
ALTER TABLE nodes ADD COLUMN boot_id TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN connected BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN config_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN config_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN runtime_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN runtime_hash TEXT NOT NULL DEFAULT '';
-- JSON {"type", "error", "at_ms"}, or NULL.
ALTER TABLE nodes ADD COLUMN last_nack TEXT;

-- Live nodes as of the Runtime revision: each key's rpm/tpm is shared among them.
ALTER TABLE revision ADD COLUMN live_nodes BIGINT NOT NULL DEFAULT 0;

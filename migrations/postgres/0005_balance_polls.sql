-- Balance polling: one row per account a poller applies to (its provider's
-- effective balance_api is not `none`, provider and account enabled). Every
-- replica schedules from this table; a replica claims a due row with one
-- conditional UPDATE (due, and its lease free, expired or its own), holds the
-- lease while it polls (a little longer than the poll's timeout), then writes
-- the result and the next due time and frees the lease. A replica that dies
-- leaves its leases to expire: another takes the rows over.
CREATE TABLE balance_polls (
    provider        TEXT   NOT NULL,
    account         TEXT   NOT NULL,
    poller          TEXT   NOT NULL,   -- BalanceApi name
    next_due_ms     BIGINT NOT NULL,
    last_attempt_ms BIGINT,
    last_ok_ms      BIGINT,
    failures        BIGINT NOT NULL DEFAULT 0,  -- consecutive
    last_error      TEXT,              -- never contains a secret
    lease_owner     TEXT,              -- replica id holding the lease
    lease_until_ms  BIGINT,
    PRIMARY KEY (provider, account)
);
CREATE INDEX balance_polls_due ON balance_polls (next_due_ms);

-- A balance's source is `manual` (set by hand, decremented by priced usage) or
-- `polled`; a polled one names its poller (a BalanceApi name).
ALTER TABLE balances ADD COLUMN poller TEXT;

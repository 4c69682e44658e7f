-- The prices of each Config revision whose prices changed (routes, aliases,
-- targets and their prices as JSON; nothing secret), so a usage record is
-- priced with the Config it was served from, however late it arrives.
CREATE TABLE price_history (
    revision  BIGINT NOT NULL PRIMARY KEY,
    pricing   TEXT   NOT NULL
);

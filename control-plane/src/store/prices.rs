//! The prices of each Config revision (`price_history`): written with every
//! Config write whose prices differ from the newest stored ones, read to
//! price usage with the Config its request was served from.

use super::{Store, StoreError};
use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use switchyard_proto::model::{Config, Price};

/// The prices of one Config, stored as JSON per revision.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pricing {
    pub routes: Vec<RoutePricing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutePricing {
    pub name: String,
    pub aliases: Vec<String>,
    pub price: Option<Cost>,
    pub targets: Vec<TargetPricing>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetPricing {
    pub provider: String,
    pub model: String,
    pub price: Option<Cost>,
}

/// [`Price`], as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cost {
    pub currency: String,
    pub input: Option<i64>,
    pub output: Option<i64>,
    pub cached_input: Option<i64>,
}

impl From<&Price> for Cost {
    fn from(p: &Price) -> Self {
        Cost {
            currency: p.currency.clone(),
            input: p.input_per_mtok_micros,
            output: p.output_per_mtok_micros,
            cached_input: p.cached_input_per_mtok_micros,
        }
    }
}

impl From<&Cost> for Price {
    fn from(c: &Cost) -> Self {
        Price {
            currency: c.currency.clone(),
            input_per_mtok_micros: c.input,
            output_per_mtok_micros: c.output,
            cached_input_per_mtok_micros: c.cached_input,
        }
    }
}

impl Pricing {
    pub fn of(config: &Config) -> Pricing {
        let routes = config
            .models
            .iter()
            .map(|r| RoutePricing {
                name: r.name.clone(),
                aliases: r.aliases.clone(),
                price: r.price.as_ref().map(Cost::from),
                targets: r
                    .targets
                    .iter()
                    .map(|t| TargetPricing {
                        provider: t.provider.clone(),
                        model: t.model.clone(),
                        price: t.price.as_ref().map(Cost::from),
                    })
                    .collect(),
            })
            .collect();
        Pricing { routes }
    }
}

/// Stores `config`'s pricing under `revision` when it differs from the newest stored one.
pub(super) async fn record(conn: &mut AnyConnection, revision: u64, config: &Config) -> Result<(), StoreError> {
    let pricing = Pricing::of(config);
    let newest: Option<String> = sqlx::query_scalar("SELECT pricing FROM price_history ORDER BY revision DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    if newest.and_then(|text| serde_json::from_str::<Pricing>(&text).ok()).is_some_and(|p| p == pricing) {
        return Ok(());
    }
    let text = serde_json::to_string(&pricing).map_err(|e| StoreError::Internal(e.to_string()))?;
    sqlx::query("INSERT INTO price_history (revision, pricing) VALUES ($1, $2)")
        .bind(i64::try_from(revision).unwrap_or(i64::MAX))
        .bind(text)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

impl Store {
    /// The newest stored pricing at or before `revision`, with its revision.
    pub async fn pricing_at(&self, revision: u64) -> Result<Option<(u64, Pricing)>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT revision, pricing FROM price_history WHERE revision <= $1 ORDER BY revision DESC LIMIT 1",
        )
        .bind(i64::try_from(revision).unwrap_or(i64::MAX))
        .fetch_optional(self.pool())
        .await?;
        row.map(|(r, text)| {
            let pricing =
                serde_json::from_str(&text).map_err(|e| StoreError::Internal(format!("price_history: {e}")))?;
            Ok((u64::try_from(r).unwrap_or(0), pricing))
        })
        .transpose()
    }

    /// The revision the newest stored pricing took effect at (0: none stored).
    pub async fn pricing_since(&self) -> Result<u64, StoreError> {
        let r: Option<i64> =
            sqlx::query_scalar("SELECT MAX(revision) FROM price_history").fetch_one(self.pool()).await?;
        Ok(r.and_then(|r| u64::try_from(r).ok()).unwrap_or(0))
    }
}

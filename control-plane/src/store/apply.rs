//! Applying a gateway.yaml document to the store: what `--bootstrap` does at
//! start (creates and updates, never deletes), so the same file on every
//! replica gives the same result and a second apply changes nothing.
//! `${redacted:FINGERPRINT}` keeps the stored secret when the fingerprint
//! matches and is refused otherwise.

use super::{Change, Ownership, Store, StoreError};
use switchyard_proto::model::{AlertChannelKind, Config, Secret};

impl Store {
    pub async fn apply_document(&self, document: Config, actor: &str, action: &str) -> Result<u64, StoreError> {
        let change = Change { actor, action, ownership: Ownership::Managed };
        self.write(change, move |current| merge(current, document)).await
    }
}

/// `current` with everything `document` declares created or replaced.
pub fn merge(current: &mut Config, mut document: Config) -> Result<(), StoreError> {
    resolve_redacted(&mut document, current)?;
    for p in document.providers {
        match current.providers.iter_mut().find(|c| c.name == p.name) {
            Some(c) => *c = p,
            None => current.providers.push(p),
        }
    }
    for r in document.models {
        match current.models.iter_mut().find(|c| c.name == r.name) {
            Some(c) => *c = r,
            None => current.models.push(r),
        }
    }
    for k in document.keys {
        match current.keys.iter_mut().find(|c| c.name == k.name) {
            Some(c) => *c = k,
            None => current.keys.push(k),
        }
    }
    current.settings = document.settings;
    Ok(())
}

/// Replaces each `${redacted:FP}` in `document` with the stored secret it names.
fn resolve_redacted(document: &mut Config, current: &Config) -> Result<(), StoreError> {
    fn resolve(path: String, secret: &mut Secret, stored: Option<&Secret>) -> Result<(), StoreError> {
        let Some(fp) = secret.redacted_fingerprint() else { return Ok(()) };
        match stored.filter(|s| s.fingerprint().starts_with(fp) || fp.starts_with(&s.fingerprint())) {
            Some(s) => {
                *secret = s.clone();
                Ok(())
            }
            None => Err(StoreError::Refused(format!(
                "{path}: ${{redacted:{fp}}} does not match the stored secret; give the secret itself"
            ))),
        }
    }
    for (i, p) in document.providers.iter_mut().enumerate() {
        let stored = current.providers.iter().find(|c| c.name == p.name);
        if let Some(proxy) = p.proxy.as_mut() {
            resolve(format!("providers[{i}].proxy"), proxy, stored.and_then(|s| s.proxy.as_ref()))?;
        }
        for (j, a) in p.accounts.iter_mut().enumerate() {
            let stored = stored.and_then(|s| s.account(&a.name)).map(|s| &s.api_key);
            resolve(format!("providers[{i}].accounts[{j}].api_key"), &mut a.api_key, stored)?;
        }
    }
    for (i, c) in document.settings.alerts.channels.iter_mut().enumerate() {
        let stored = current.settings.alerts.channels.iter().find(|s| s.name == c.name).map(|s| &s.kind);
        let path = format!("settings.alerts.channels[{i}]");
        match (&mut c.kind, stored) {
            (
                AlertChannelKind::DingTalk { webhook, secret },
                Some(AlertChannelKind::DingTalk { webhook: w, secret: s }),
            ) => {
                resolve(format!("{path}.webhook"), webhook, Some(w))?;
                if let Some(secret) = secret {
                    resolve(format!("{path}.secret"), secret, s.as_ref())?;
                }
            }
            (AlertChannelKind::Webhook { url }, Some(AlertChannelKind::Webhook { url: u })) => {
                resolve(format!("{path}.url"), url, Some(u))?;
            }
            (AlertChannelKind::DingTalk { webhook, secret }, _) => {
                resolve(format!("{path}.webhook"), webhook, None)?;
                if let Some(secret) = secret {
                    resolve(format!("{path}.secret"), secret, None)?;
                }
            }
            (AlertChannelKind::Webhook { url }, _) => resolve(format!("{path}.url"), url, None)?,
        }
    }
    Ok(())
}

//! `gateway.yaml` helpers: a config as its export reads back.

use switchyard_proto::model::{AlertChannelKind, Config};

/// `c` with every secret replaced by its `${redacted:...}` marker: what
/// `parse(emit(c))` must give. The same list of secrets as
/// proto/tests/common/export.rs's `redacted`; a new kind of secret goes in both.
pub fn redacted(c: &Config) -> Config {
    let mut c = c.clone();
    for p in &mut c.providers {
        if let Some(proxy) = &mut p.proxy {
            *proxy = proxy.to_redacted();
        }
        p.headers.values_mut().for_each(|v| *v = v.to_redacted());
        for a in &mut p.accounts {
            a.api_key = a.api_key.to_redacted();
        }
    }
    for ch in &mut c.settings.alerts.channels {
        match &mut ch.kind {
            AlertChannelKind::DingTalk { webhook, secret } => {
                *webhook = webhook.to_redacted();
                if let Some(s) = secret {
                    *s = s.to_redacted();
                }
            }
            AlertChannelKind::Webhook { url } => *url = url.to_redacted(),
        }
    }
    c
}

//! Objects with every secret replaced by its `${redacted:FP}` marker: what
//! reads return and what an export reads back as. The one list of where
//! secrets sit; a new kind of secret is added here.

use super::{AlertChannelKind, Config, Provider, Secret, Settings};

impl Provider {
    pub fn redacted(&self) -> Provider {
        let mut p = self.clone();
        p.proxy = p.proxy.as_ref().map(Secret::to_redacted);
        p.headers.values_mut().for_each(|v| *v = v.to_redacted());
        for a in &mut p.accounts {
            a.api_key = a.api_key.to_redacted();
        }
        p
    }
}

impl Settings {
    pub fn redacted(&self) -> Settings {
        let mut s = self.clone();
        for c in &mut s.alerts.channels {
            match &mut c.kind {
                AlertChannelKind::DingTalk { webhook, secret } | AlertChannelKind::Feishu { webhook, secret } => {
                    *webhook = webhook.to_redacted();
                    *secret = secret.as_ref().map(Secret::to_redacted);
                }
                AlertChannelKind::WeCom { webhook } => *webhook = webhook.to_redacted(),
                AlertChannelKind::Webhook { url } => *url = url.to_redacted(),
            }
        }
        s
    }
}

impl Config {
    /// Client keys are already hashes; everything else secret is redacted.
    pub fn redacted(&self) -> Config {
        Config {
            providers: self.providers.iter().map(Provider::redacted).collect(),
            models: self.models.clone(),
            keys: self.keys.clone(),
            settings: self.settings.redacted(),
        }
    }
}

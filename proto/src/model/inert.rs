//! Settings that are parsed, validated and stored but do nothing yet: every
//! one set away from its default is named, so `--check` and `apply` can warn
//! (no knob may look as if it acts when it does not).

use super::{Config, Logging};

/// One warning per inert setting the config sets, naming its field.
pub fn inert_settings(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    if config.settings.logging != Logging::default() {
        out.push(
            "settings.logging: has no effect yet (request logging is not built); the gateway keeps no request logs"
                .to_owned(),
        );
    }
    for key in config.keys.iter().filter(|k| k.log_bodies == Some(true)) {
        out.push(format!(
            "keys.{}.log_bodies: has no effect yet (request logging is not built); no bodies are kept",
            key.name
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::{Resolver, parse};

    const DOC: &str = "providers:\n  - {name: p, kind: openai, base_url: \"https://api.openai.com/v1\", accounts: [{name: a, api_key: sk-test-000000000000}]}\nmodels:\n  - {name: m, targets: [{provider: p, model: gpt-4o-mini}]}\nkeys:\n  - {name: app, key: sk-app-00000000000000000000, LOG}\n";

    #[test]
    fn only_settings_that_are_set_are_named() {
        let plain = parse(&DOC.replace(", LOG", ""), &Resolver::refusing()).unwrap();
        assert!(inert_settings(&plain).is_empty());
        let doc = DOC.replace("LOG", "log_bodies: true") + "settings:\n  logging: {request_bodies: true}\n";
        let warnings = inert_settings(&parse(&doc, &Resolver::refusing()).unwrap());
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].starts_with("settings.logging: has no effect yet"), "{warnings:?}");
        assert!(warnings[1].starts_with("keys.app.log_bodies: has no effect yet"), "{warnings:?}");
    }
}

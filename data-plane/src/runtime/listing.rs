//! `GET /v1/models` bodies, made once per Runtime: every route and alias a
//! key may use, and for keys with `allow_direct` every model discovered on
//! an enabled provider, as `provider/model` (a direct call's name; a route
//! of the same name is listed once). Wildcard routes are not models a client
//! can name as such, and what they match is open-ended: they are left out.
//! Keys that see the same list share one body.

use bytes::Bytes;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use switchyard_proto::model::Config;

/// What tells two keys' lists apart: the allowed routes (sorted; `None`: all) and `allow_direct`.
type Sees = (Option<Vec<Arc<str>>>, bool);

/// Lists already made.
#[derive(Default)]
pub(super) struct Listings {
    made: HashMap<Sees, Bytes>,
}

impl Listings {
    pub fn get(
        &mut self,
        config: &Config,
        discovered: &BTreeMap<String, BTreeSet<String>>,
        allowed: Option<&HashSet<Arc<str>>>,
        allow_direct: bool,
    ) -> Bytes {
        let id = allowed.map(|a| {
            let mut names: Vec<Arc<str>> = a.iter().cloned().collect();
            names.sort();
            names
        });
        self.made.entry((id, allow_direct)).or_insert_with(|| list(config, discovered, allowed, allow_direct)).clone()
    }
}

fn list(
    config: &Config,
    discovered: &BTreeMap<String, BTreeSet<String>>,
    allowed: Option<&HashSet<Arc<str>>>,
    allow_direct: bool,
) -> Bytes {
    let mut data = Vec::new();
    let mut listed = HashSet::new();
    for r in &config.models {
        if allowed.is_some_and(|a| !a.contains(r.name.as_str())) || r.wildcard_prefix().is_some() {
            continue;
        }
        for id in std::iter::once(&r.name).chain(&r.aliases) {
            listed.insert(id.as_str());
            data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": "switchyard"}));
        }
    }
    if allow_direct {
        for p in config.providers.iter().filter(|p| p.enabled) {
            for model in discovered.get(&p.name).into_iter().flatten() {
                let id = format!("{}/{model}", p.name);
                if !listed.contains(id.as_str()) {
                    data.push(json!({"id": id, "object": "model", "created": 0, "owned_by": p.name}));
                }
            }
        }
    }
    Bytes::from(json!({"object": "list", "data": data}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::document::{self, Resolver};

    const YAML: &str = r#"
providers:
  - {name: up, kind: openai, accounts: [{name: a, api_key: "sk-000000000000"}]}
  - {name: off, kind: openai, enabled: false, accounts: [{name: a, api_key: "sk-000000000001"}]}
models:
  - {name: m, aliases: [up/x], targets: [{provider: up, model: x}]}
  - {name: "gpt-*", targets: [{provider: up, model: "gpt-*"}]}
keys:
  - {name: k, key: "sk-client-0123456789"}
"#;

    fn ids(body: &Bytes) -> Vec<String> {
        let value: serde_json::Value = serde_json::from_slice(body).unwrap();
        value["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn direct_keys_see_enabled_providers_models_once_and_lists_are_shared() {
        let config = document::parse(YAML, &Resolver::process()).unwrap();
        let discovered: BTreeMap<String, BTreeSet<String>> =
            [("up".to_owned(), ["x".to_owned(), "y".to_owned()].into()), ("off".to_owned(), ["z".to_owned()].into())]
                .into();
        let mut listings = Listings::default();
        let direct = listings.get(&config, &discovered, None, true);
        assert_eq!(ids(&direct), ["m", "up/x", "up/y"], "the alias up/x is listed once; a disabled provider's never");
        assert_eq!(ids(&listings.get(&config, &discovered, None, false)), ["m", "up/x"]);
        let again = listings.get(&config, &discovered, None, true);
        assert_eq!(again.as_ptr(), direct.as_ptr(), "keys that see the same list share one body");
        let none: HashSet<Arc<str>> = HashSet::new();
        assert_eq!(ids(&listings.get(&config, &discovered, Some(&none), true)), ["up/x", "up/y"]);
    }
}

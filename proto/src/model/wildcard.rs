//! Wildcard model routes, one rule for both planes.
//!
//! A route whose `name` ends in `*` (`gpt-*`, `openai/*`, or `*` alone) is a
//! wildcard route. A requested name that is no exact route name or alias is
//! matched against the wildcard routes: it matches one when it starts with
//! the route's literal prefix (the name without its `*`) and goes on for at
//! least one more character, and the longest prefix wins (`gpt-4*` before
//! `gpt-*` before `*`). `*` may only end a name, so two wildcard routes with
//! the same prefix are the same name, refused as a duplicate.
//!
//! In a wildcard route a target's `model` may end in `*` too: the `*` stands
//! for what the route's `*` matched, so the upstream model is the requested
//! name with the route's prefix replaced by the target's:
//!
//! | route      | target model | requested        | upstream model          |
//! |------------|--------------|------------------|-------------------------|
//! | `gpt-*`    | `gpt-*`      | `gpt-4.1-mini`   | `gpt-4.1-mini`          |
//! | `*`        | `*`          | `gpt-4.1-mini`   | `gpt-4.1-mini`          |
//! | `openai/*` | `*`          | `openai/gpt-4o`  | `gpt-4o`                |
//! | `gpt-*`    | `openai/gpt-*` | `gpt-4o`       | `openai/gpt-4o`         |
//! | `gpt-*`    | `gpt-4o-mini` | `gpt-4o`        | `gpt-4o-mini` (fixed)   |
//!
//! A target model without `*` serves every matched name with that one model.

use std::borrow::Cow;

/// The wildcard character; only ever the last character of a name.
pub const WILDCARD: char = '*';

/// The literal prefix of a wildcard name (`gpt-*` -> `gpt-`, `*` -> ``);
/// `None` for an exact name.
pub fn prefix(name: &str) -> Option<&str> {
    name.strip_suffix(WILDCARD)
}

/// What the `*` after `prefix` matches in `requested`: the rest of it after
/// the prefix, at least one character.
pub fn matched<'a>(prefix: &str, requested: &'a str) -> Option<&'a str> {
    requested.strip_prefix(prefix).filter(|rest| !rest.is_empty())
}

/// The most specific of `prefixes` (wildcard routes' literal prefixes, with
/// something to tell them by) that `requested` matches, and what its `*`
/// matched. Prefixes are distinct in a valid config, so there is no tie.
pub fn best<'p, 'r, T>(prefixes: impl IntoIterator<Item = (&'p str, T)>, requested: &'r str) -> Option<(T, &'r str)> {
    prefixes
        .into_iter()
        .filter_map(|(prefix, item)| matched(prefix, requested).map(|rest| (prefix.len(), item, rest)))
        .max_by_key(|(len, _, _)| *len)
        .map(|(_, item, rest)| (item, rest))
}

/// The upstream model a wildcard route's target `model` gives for `matched`
/// (what the route's `*` matched): a pattern's prefix and `matched`, or the
/// fixed model itself.
pub fn upstream<'a>(target_model: &'a str, matched: &str) -> Cow<'a, str> {
    match prefix(target_model) {
        Some(p) => Cow::Owned(format!("{p}{matched}")),
        None => Cow::Borrowed(target_model),
    }
}

/// Where `*` is misplaced in a name: anywhere but at its end.
pub fn misplaced(name: &str) -> bool {
    name.find(WILDCARD).is_some_and(|at| at + 1 != name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_star_matches_one_or_more_characters_after_the_prefix() {
        assert_eq!(prefix("gpt-*"), Some("gpt-"));
        assert_eq!(prefix("*"), Some(""));
        assert_eq!(prefix("gpt-4o"), None);
        assert_eq!(matched("gpt-", "gpt-4.1-mini"), Some("4.1-mini"));
        assert_eq!(matched("gpt-", "gpt-"), None, "the star matches at least one character");
        assert_eq!(matched("gpt-", "claude-3"), None);
        assert_eq!(matched("", "anything"), Some("anything"));
        assert_eq!(matched("", ""), None);
    }

    #[test]
    fn the_longest_prefix_wins_whatever_the_order() {
        const ROUTES: [(&str, &str); 4] =
            [("", "catch-all"), ("gpt-", "gpt"), ("gpt-4", "gpt-4"), ("openai/", "openai")];
        fn pick(requested: &str) -> Option<(&'static str, &str)> {
            best(ROUTES.iter().copied(), requested)
        }
        fn reversed(requested: &str) -> Option<(&'static str, &str)> {
            best(ROUTES.iter().rev().copied(), requested)
        }
        assert_eq!(pick("gpt-4o"), Some(("gpt-4", "o")));
        assert_eq!(pick("gpt-3.5"), Some(("gpt", "3.5")));
        assert_eq!(pick("openai/gpt-4o"), Some(("openai", "gpt-4o")));
        assert_eq!(pick("claude-3"), Some(("catch-all", "claude-3")));
        assert_eq!(reversed("gpt-4o"), Some(("gpt-4", "o")));
        assert_eq!(best([("gpt-", 1)], "claude"), None);
        assert_eq!(best([("gpt-", 1)], "gpt-"), None);
    }

    #[test]
    fn a_target_pattern_replaces_the_prefix_and_a_fixed_model_stays() {
        // Route gpt-*, requested gpt-4.1-mini: the star matched 4.1-mini.
        assert_eq!(upstream("gpt-*", "4.1-mini"), "gpt-4.1-mini");
        assert_eq!(upstream("openai/gpt-*", "4.1-mini"), "openai/gpt-4.1-mini");
        // Route openai/*, requested openai/gpt-4o: the star matched gpt-4o.
        assert_eq!(upstream("*", "gpt-4o"), "gpt-4o");
        assert_eq!(upstream("gpt-4o-mini", "4.1"), "gpt-4o-mini");
    }

    #[test]
    fn a_star_may_only_end_a_name() {
        for ok in ["gpt-*", "*", "openai/*", "gpt-4o", ""] {
            assert!(!misplaced(ok), "{ok}");
        }
        for bad in ["*-mini", "gpt-*-mini", "**", "a*b*", "*a"] {
            assert!(misplaced(bad), "{bad}");
        }
    }
}

//! `--check`: judge a gateway.yaml the way serving it would, like `nginx -t`.

use std::path::Path;
use switchyard_proto::document;
use switchyard_proto::model::inert_settings;

/// `Ok(warnings)` when the file would serve (the settings it sets that have
/// no effect yet); otherwise every error, one per line, each with its path in
/// the document.
pub fn check_file(path: &Path) -> Result<Vec<String>, Vec<String>> {
    document::load_file(path)
        .map(|config| inert_settings(&config))
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

//! `--check`: judge a gateway.yaml the way serving it would, like `nginx -t`.

use std::path::Path;
use switchyard_proto::document;

/// `Ok(())` when the file would serve; otherwise every error, one per line,
/// each with its path in the document.
pub fn check_file(path: &Path) -> Result<(), Vec<String>> {
    document::load_file(path).map(drop).map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

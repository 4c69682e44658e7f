//! The one place the control plane's errors become gRPC statuses. A caller
//! learns what it did wrong (the field, the object, the refusal); internals
//! (database, crypto, corrupt rows) are logged here and answered with a
//! generic status that reveals nothing about the host or the database.

use crate::store::StoreError;
use tonic::Status;

/// The status for a store error.
pub fn store_status(e: StoreError) -> Status {
    match e {
        StoreError::Invalid(errors) => Status::invalid_argument(errors.to_string()),
        StoreError::Refused(message) => Status::failed_precondition(message),
        StoreError::NotFound(message) => Status::not_found(message),
        StoreError::Exists(message) => Status::already_exists(message),
        StoreError::Db(e) => {
            tracing::error!(error = %e, "database error");
            Status::unavailable("the database is unavailable; try again")
        }
        e => {
            tracing::error!(error = %e, "control plane error");
            Status::internal("the control plane failed to handle the call; its log has the details")
        }
    }
}

/// A request message's field is wrong: the status names it.
pub fn invalid(field: &str, problem: impl std::fmt::Display) -> Status {
    Status::invalid_argument(format!("{field}: {problem}"))
}

/// A required field of a request message left empty.
pub fn required(field: &str) -> Status {
    invalid(field, "required")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internals_stay_in_the_log() {
        let corrupt = store_status(StoreError::Corrupt("row 7 of /var/lib/switchyard.db".into()));
        assert_eq!(corrupt.code(), tonic::Code::Internal);
        assert!(!corrupt.message().contains("switchyard.db"), "{}", corrupt.message());
        let db = store_status(StoreError::Db(sqlx::Error::PoolTimedOut));
        assert_eq!(db.code(), tonic::Code::Unavailable);
        assert!(!db.message().contains("pool"), "{}", db.message());
        assert_eq!(store_status(StoreError::NotFound("no key \"x\"".into())).message(), "no key \"x\"");
        assert_eq!(invalid("usage[3].model", "required").message(), "usage[3].model: required");
    }
}

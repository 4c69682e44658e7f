//! The last-known-good snapshot on disk: the last Config and Runtime this
//! node ACKed, so it serves after a restart while no control plane answers.
//! Written atomically (temporary file + rename), mode 0600, encrypted with
//! AES-256-GCM under a key derived from the node token (keep the token on
//! another volume for this to mean anything).

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use prost::Message;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use switchyard_proto::pb::DiscoveryResponse;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("the cached snapshot does not decrypt (another node token?) or is corrupt")]
    Corrupt,
}

pub struct Cache {
    dir: PathBuf,
    key: LessSafeKey,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Cache {
    pub fn new(dir: impl Into<PathBuf>, node_token: &str) -> Result<Cache, CacheError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        let digest =
            Sha256::digest([b"switchyard last-known-good\0".as_slice(), node_token.trim().as_bytes()].concat());
        let key = UnboundKey::new(&AES_256_GCM, &digest).map_err(|_| CacheError::Corrupt)?;
        Ok(Cache { dir, key: LessSafeKey::new(key) })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.snapshot"))
    }

    /// Saves one resource (`config` or `runtime`) as received.
    pub fn save(&self, name: &str, response: &DiscoveryResponse) -> Result<(), CacheError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| CacheError::Corrupt)?;
        let mut data = response.encode_to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(name.as_bytes()), &mut data)
            .map_err(|_| CacheError::Corrupt)?;
        crate::durable::write(&self.dir, &format!("{name}.snapshot"), &[&nonce, &data])?;
        Ok(())
    }

    /// Loads one resource, `None` when there is none.
    pub fn load(&self, name: &str) -> Result<Option<DiscoveryResponse>, CacheError> {
        let raw = match std::fs::read(self.path(name)) {
            Ok(raw) => raw,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if raw.len() < NONCE_LEN {
            return Err(CacheError::Corrupt);
        }
        let (nonce, data) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| CacheError::Corrupt)?;
        let mut data = data.to_vec();
        let plain =
            self.key.open_in_place(nonce, Aad::from(name.as_bytes()), &mut data).map_err(|_| CacheError::Corrupt)?;
        DiscoveryResponse::decode(&*plain).map(Some).map_err(|_| CacheError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_proto::pb::{ResourceType, ResourceVersion};

    #[test]
    fn round_trip_private_and_bound_to_the_token() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), "node-token-0123456789").unwrap();
        assert!(cache.load("config").unwrap().is_none());
        let response = DiscoveryResponse {
            version: Some(ResourceVersion { r#type: ResourceType::Config as i32, version: 7, hash: vec![1; 32] }),
            nonce: "n".into(),
            resource: None,
        };
        cache.save("config", &response).unwrap();
        assert_eq!(cache.load("config").unwrap(), Some(response));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("config.snapshot")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = Cache::new(dir.path(), "another-token-0123456789").unwrap();
        assert!(matches!(other.load("config"), Err(CacheError::Corrupt)));
        assert!(matches!(cache.load("runtime"), Ok(None)));
    }
}

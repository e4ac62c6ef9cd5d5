//! The state in memory: for tests, and for `--dry-run`, which reads the real state (to know
//! what the agent holds) but never writes it.

use std::sync::{Arc, Mutex};

use super::{Change, Durable, Store, StoreError};

#[derive(Default, Clone)]
pub struct MemStore {
    pub inner: Arc<Mutex<Durable>>,
}

impl MemStore {
    /// A store that starts from `state`.
    pub fn with(state: Durable) -> MemStore {
        MemStore {
            inner: Arc::new(Mutex::new(state)),
        }
    }
}

#[async_trait::async_trait]
impl Store for MemStore {
    async fn preflight(&self) -> Result<(), StoreError> {
        Ok(())
    }
    async fn load(&self) -> Result<Durable, StoreError> {
        Ok(self.inner.lock().unwrap_or_else(|e| e.into_inner()).clone())
    }
    async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        for c in changes {
            g.apply(c);
        }
        Ok(())
    }
    fn describe(&self) -> String {
        "state in memory".into()
    }
}

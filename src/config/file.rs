//! The optional TOML file (`--config`): per-connector settings and `[[maintenance]]` tables.
//! Unknown keys are errors that name the key.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::core::windows::MaintenanceEntry;
use crate::core::{AfterTimeout, HoldWith};

/// Per-connector settings from the config file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorFileEntry {
    /// Database URL to probe for this connector.
    pub db: Option<String>,
    pub max_wait: Option<String>,
    pub after_timeout: Option<AfterTimeout>,
    pub hold_with: Option<HoldWith>,
    /// Never act on this connector.
    #[serde(default)]
    pub ignore: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    #[serde(default)]
    pub(crate) connectors: BTreeMap<String, ConnectorFileEntry>,
    #[serde(default)]
    pub(crate) maintenance: Vec<MaintenanceEntry>,
}

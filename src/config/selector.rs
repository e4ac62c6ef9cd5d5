//! Which connectors this agent acts on: the single decision point.

use regex::Regex;

/// Which connectors this agent acts on: the single decision point.
#[derive(Debug, Clone, Default)]
pub struct Selector {
    pub(crate) names: Vec<String>,
    pub(crate) include: Option<Regex>,
    pub(crate) exclude: Option<Regex>,
    pub(crate) ignored: Vec<String>,
}

impl Selector {
    /// A pattern as the user typed it (`--include`/`--exclude` are stored anchored as
    /// `^(?:PATTERN)$`, so that they match whole names).
    pub fn as_typed(re: &Regex) -> &str {
        re.as_str()
            .strip_prefix("^(?:")
            .and_then(|r| r.strip_suffix(")$"))
            .unwrap_or(re.as_str())
    }

    pub fn selects(&self, name: &str) -> bool {
        if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
            return false;
        }
        if let Some(re) = &self.include {
            if !re.is_match(name) {
                return false;
            }
        }
        if let Some(re) = &self.exclude {
            if re.is_match(name) {
                return false;
            }
        }
        !self.ignored.iter().any(|n| n == name)
    }
}

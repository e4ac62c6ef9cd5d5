//! The state as a JSON file, written atomically (temp file in the same directory, fsync,
//! rename, fsync of the directory), so a crash leaves either the old or the new state, never a
//! torn one. A missing file is an empty state; a corrupt or newer one stops the agent.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{Change, Durable, Store, StoreError, STATE_VERSION};

/// A JSON file. Keeps the last written state in memory to apply batches to.
pub struct FileStore {
    path: PathBuf,
    current: Mutex<Option<Durable>>,
}

impl FileStore {
    pub fn new(path: impl Into<PathBuf>) -> FileStore {
        FileStore {
            path: path.into(),
            current: Mutex::new(None),
        }
    }

    fn what(&self) -> String {
        format!("state file {}", self.path.display())
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn write_err(&self, e: std::io::Error) -> StoreError {
        StoreError::Write {
            what: self.what(),
            fix: write_fix(&self.dir(), e.kind(), &current_user()),
            source: e,
        }
    }

    /// Reads the file (blocking).
    pub fn read(&self) -> Result<Durable, StoreError> {
        if self.path.is_dir() {
            return Err(StoreError::NotAFile { what: self.what() });
        }
        let bytes = match std::fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Durable::empty()),
            Err(e) => {
                return Err(StoreError::Read {
                    what: self.what(),
                    source: e,
                })
            }
        };
        parse(&self.what(), &bytes)
    }

    /// Writes `state` atomically (blocking).
    fn write(&self, state: &Durable) -> Result<(), StoreError> {
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| self.write_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        write_atomically(&self.path, &self.dir(), &json).map_err(|e| self.write_err(e))
    }

    /// Creates, fsyncs and removes a temp file beside the state file (blocking).
    pub fn check_writable(&self) -> Result<(), StoreError> {
        if self.path.is_dir() {
            return Err(StoreError::NotAFile { what: self.what() });
        }
        let probe = self
            .dir()
            .join(format!(".cdc-sentinel-write-check-{}", std::process::id()));
        let res = (|| {
            let mut f = std::fs::File::create(&probe)?;
            f.write_all(b"cdc-sentinel\n")?;
            f.sync_all()?;
            drop(f);
            std::fs::remove_file(&probe)
        })();
        if res.is_err() {
            let _ = std::fs::remove_file(&probe);
        }
        res.map_err(|e| self.write_err(e))
    }
}

/// A state file's bytes as the agent reads them at start-up; `what` names the file in errors.
pub fn parse(what: &str, bytes: &[u8]) -> Result<Durable, StoreError> {
    let state: Durable = serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt {
        what: what.to_string(),
        detail: e.to_string(),
    })?;
    if state.version > STATE_VERSION {
        return Err(StoreError::TooNew {
            what: what.to_string(),
            found: state.version,
        });
    }
    Ok(state)
}

fn write_atomically(path: &Path, dir: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "state".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let res = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path)?;
        #[cfg(unix)]
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

/// What to do when the state directory `dir` cannot be written, by the kind of error.
fn write_fix(dir: &Path, kind: std::io::ErrorKind, user: &str) -> String {
    let dir = dir.display();
    match kind {
        std::io::ErrorKind::NotFound => format!(
            "the directory {dir} does not exist: create it, writable by {user} (mount a volume there in a container), or point --state-file elsewhere"
        ),
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => format!(
            "the directory {dir} is not writable by {user}: give that user write access to it (chown/chmod, or fsGroup/a writable volume in Kubernetes), or point --state-file elsewhere"
        ),
        _ => format!(
            "the directory {dir} must exist and be writable by {user}: fix it or point --state-file elsewhere"
        ),
    }
}

/// The user the agent runs as, for error messages (`uid 65532` in the image).
fn current_user() -> String {
    #[cfg(unix)]
    {
        if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
            if let Some(uid) = s
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1))
            {
                let name = std::env::var("USER").ok().filter(|u| !u.is_empty());
                return match name {
                    Some(n) => format!("user {n} (uid {uid})"),
                    None => format!("uid {uid}"),
                };
            }
        }
    }
    std::env::var("USER").unwrap_or_else(|_| "the agent's user".into())
}

#[cfg(test)]
#[test]
fn the_fix_fits_the_error() {
    use std::io::ErrorKind;
    let dir = Path::new("/var/lib/cdc-sentinel");
    let f = write_fix(dir, ErrorKind::NotFound, "uid 65532");
    assert!(
        f.contains("/var/lib/cdc-sentinel does not exist") && f.contains("uid 65532"),
        "{f}"
    );
    let f = write_fix(dir, ErrorKind::PermissionDenied, "uid 65532");
    assert!(
        f.contains("not writable by uid 65532") && f.contains("--state-file"),
        "{f}"
    );
    let f = write_fix(dir, ErrorKind::ReadOnlyFilesystem, "uid 65532");
    assert!(f.contains("not writable"), "{f}");
}

#[async_trait::async_trait]
impl Store for FileStore {
    async fn preflight(&self) -> Result<(), StoreError> {
        self.check_writable()
    }

    async fn load(&self) -> Result<Durable, StoreError> {
        let state = self.read()?;
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(state.clone());
        Ok(state)
    }

    async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = match cur.as_ref() {
            Some(c) => c.clone(),
            None => self.read()?,
        };
        for c in changes {
            next.apply(c);
        }
        // The file is small (a record per held connector); writing it inline keeps the order
        // of batches and the write-ahead guarantee simple.
        self.write(&next)?;
        *cur = Some(next);
        Ok(())
    }

    fn describe(&self) -> String {
        self.what()
    }
}

//! `check-config`: the effective configuration as text, secrets redacted.

use std::fmt::Write as _;
use std::time::Duration;

use super::Config;

/// `64MiB`, `1GiB`, `1500000B`: the largest binary unit that divides the size.
pub fn size(bytes: u64) -> String {
    for (unit, n) in [("GiB", 1u64 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)] {
        if bytes >= n && bytes.is_multiple_of(n) {
            return format!("{}{unit}", bytes / n);
        }
    }
    format!("{bytes}B")
}

impl Config {
    /// The effective configuration as text, secrets redacted (`check-config`).
    pub fn describe(&self) -> String {
        let d = |d: Duration| humantime::format_duration(d).to_string();
        let dm = |m: u64| humantime::format_duration(Duration::from_millis(m)).to_string();
        let mut s = String::new();
        let _ = writeln!(
            s,
            "connect_url        = {}",
            crate::core::classify::redact(&self.connect.url)
        );
        let _ = writeln!(
            s,
            "connect_user       = {}",
            self.connect.user.as_deref().unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "connect_password   = {}",
            if self.connect.password.is_some() {
                "*** (set)"
            } else {
                "(none)"
            }
        );
        let _ = writeln!(
            s,
            "connect_tls        = ca: {}, client certificate: {}",
            self.connect.ca_pem.is_some(),
            self.connect.identity_pem.is_some()
        );
        let _ = writeln!(
            s,
            "connect_timeout    = {} (actions: {})",
            d(self.connect.timeout),
            d(self.connect.action_timeout)
        );
        let _ = writeln!(
            s,
            "connect_max_answer = {} (--connect-max-response-size)",
            size(self.connect.max_response_bytes)
        );
        let _ = writeln!(
            s,
            "connectors         = {}",
            if self.selector.names.is_empty() {
                "(all)".to_string()
            } else {
                self.selector.names.join(", ")
            }
        );
        let _ = writeln!(
            s,
            "include            = {}",
            self.selector
                .include
                .as_ref()
                .map(super::Selector::as_typed)
                .unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "exclude            = {}",
            self.selector
                .exclude
                .as_ref()
                .map(super::Selector::as_typed)
                .unwrap_or("(none)")
        );
        let _ = writeln!(
            s,
            "db                 = {}",
            self.db
                .as_ref()
                .map(|t| t.url())
                .unwrap_or_else(|| "(from each connector's config)".into())
        );
        let _ = writeln!(s, "poll_interval      = {}", d(self.poll_interval));
        let _ = writeln!(s, "probe_interval     = {}", d(self.probe.interval));
        let _ = writeln!(s, "probe_timeout      = {}", d(self.probe.timeout));
        let _ = writeln!(s, "down_after         = {}", self.settings.down_after);
        let _ = writeln!(s, "up_after           = {}", self.settings.up_after);
        let _ = writeln!(
            s,
            "verify_timeout     = {}",
            dm(self.settings.verify_timeout)
        );
        let _ = writeln!(
            s,
            "verify_window      = {}",
            dm(self.settings.verify_window)
        );
        let _ = writeln!(s, "max_wait           = {}", dm(self.settings.max_wait));
        let _ = writeln!(s, "offsets_interval   = {}", d(self.offsets_interval));
        let _ = writeln!(
            s,
            "stall_after        = {} (must exceed the worker's offset.flush.interval.ms, 60s by default)",
            dm(self.settings.stall_after)
        );
        let _ = writeln!(
            s,
            "after_timeout      = {}",
            self.settings.after_timeout.as_str()
        );
        let _ = writeln!(
            s,
            "hold_with          = {}",
            self.settings.hold_with.as_str()
        );
        let _ = writeln!(
            s,
            "max_concurrent_actions = {}",
            self.max_concurrent_actions
        );
        match &self.state_store {
            None => {
                let _ = writeln!(s, "state_file         = {}", self.state_file.display());
                let _ = writeln!(s, "state_store        = (none: the state file, one agent)");
            }
            Some(o) => {
                let _ = writeln!(
                    s,
                    "state_file         = {} (imported once into the topic if it exists)",
                    self.state_file.display()
                );
                for line in o.describe().lines() {
                    let _ = writeln!(s, "state_store        | {line}");
                }
            }
        }
        let _ = writeln!(s, "web.listen_address = {}", self.listen);
        let _ = writeln!(s, "dry_run            = {}", self.dry_run);
        match &self.strimzi {
            None => {
                let _ = writeln!(
                    s,
                    "strimzi_cluster    = (none: every connector through REST)"
                );
            }
            Some(o) => {
                let _ = writeln!(s, "strimzi_cluster    = {}", o.cluster);
                let _ = writeln!(
                    s,
                    "strimzi_namespace  = {}",
                    o.namespace.as_deref().unwrap_or(
                        "(the pod's; outside a pod the kubeconfig context's, else default)"
                    )
                );
                let _ = writeln!(
                    s,
                    "strimzi_kubeconfig = {}",
                    o.kubeconfig.as_ref().map_or_else(
                        || "(KUBECONFIG, else the pod's service account, else ~/.kube/config)"
                            .to_string(),
                        |p| p.display().to_string()
                    )
                );
                let _ = writeln!(s, "strimzi_timeout    = {}", d(o.request_timeout));
            }
        }
        for w in &self.maintenance {
            let _ = writeln!(
                s,
                "maintenance        = {} ({}; from {})",
                w.schedule,
                w.scope(),
                w.source
            );
        }
        for (name, o) in &self.overrides {
            let _ = writeln!(
                s,
                "[connectors.{name:?}] db = {}, max_wait = {}, after_timeout = {}, hold_with = {}{}{}",
                o.db.as_ref().map(|t| t.url()).unwrap_or_else(|| "-".into()),
                o.max_wait.map(d).unwrap_or_else(|| "-".into()),
                o.after_timeout.map_or("-", |a| a.as_str()),
                o.hold_with.map_or("-", |h| h.as_str()),
                o.expect_progress.map(|e| format!(", expect_progress = {e}")).unwrap_or_default(),
                if self.selector.ignored.contains(name) { ", ignore = true" } else { "" }
            );
        }
        s
    }
}

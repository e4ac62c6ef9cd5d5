//! `--state-store kafka://...` and the Kafka security flags that go with it, checked and turned
//! into the Kafka state store's options: exit 64 for a bad flag, 78 for a file that cannot be
//! read. The SASL password comes from a file or `CDC_SENTINEL_KAFKA_SASL_PASSWORD`, never from a
//! flag (it would show in `ps`), and no error message ever carries it.

use std::path::PathBuf;

use cdc_sentinel_kafka::{parse_url, Options, Sasl, SaslMechanism, Secret, Security, Tls};

use super::error::{file_err, usage, ConfigError};
use super::flags::RunArgs;

/// The environment variable that may hold the SASL password.
pub const KAFKA_PASSWORD_ENV: &str = "CDC_SENTINEL_KAFKA_SASL_PASSWORD";

impl RunArgs {
    /// The Kafka state store's options, or `None` without `--state-store` (the state file).
    pub(crate) fn state_store(&self) -> Result<Option<Options>, ConfigError> {
        let tls_given = self.kafka_tls_ca.is_some()
            || self.kafka_tls_cert.is_some()
            || self.kafka_tls_key.is_some();
        let sasl_given = self.kafka_sasl_mechanism.is_some()
            || self.kafka_sasl_user.is_some()
            || self.kafka_sasl_password_file.is_some();
        let Some(url) = self
            .state_store
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
        else {
            if tls_given || sasl_given {
                return Err(usage(
                    "the --kafka-* flags configure the Kafka state store, but --state-store is not set: give --state-store kafka://HOST:PORT/TOPIC too, or drop them",
                ));
            }
            return Ok(None);
        };
        if self.dry_run {
            return Err(usage(
                "--dry-run cannot be combined with --state-store: a dry run must not take part in the election of the agents that act. Run the dry run without --state-store (it then knows no holds)",
            ));
        }
        let url = parse_url(url).map_err(|e| usage(format!("--state-store: {e}")))?;
        let mut opts = Options::new(url).with_session_timeout(self.kafka_session_timeout);

        let readable = |flag: &str, p: &Option<PathBuf>| -> Result<(), ConfigError> {
            match p {
                Some(p) => std::fs::File::open(p)
                    .map(|_| ())
                    .map_err(|e| file_err(format!("{flag} {}: cannot read it ({e})", p.display()))),
                None => Ok(()),
            }
        };
        let tls = if tls_given {
            readable("--kafka-tls-ca", &self.kafka_tls_ca)?;
            readable("--kafka-tls-cert", &self.kafka_tls_cert)?;
            readable("--kafka-tls-key", &self.kafka_tls_key)?;
            if self.kafka_tls_cert.is_some() != self.kafka_tls_key.is_some() {
                return Err(usage(
                    "--kafka-tls-cert and --kafka-tls-key go together: give both for TLS client authentication, or neither",
                ));
            }
            Some(Tls {
                ca: self.kafka_tls_ca.clone(),
                cert: self.kafka_tls_cert.clone(),
                key: self.kafka_tls_key.clone(),
                key_password: None,
            })
        } else {
            None
        };

        let env_password = std::env::var(KAFKA_PASSWORD_ENV)
            .ok()
            .filter(|p| !p.is_empty());
        let sasl = if sasl_given || env_password.is_some() {
            let Some(mechanism) = self.kafka_sasl_mechanism.as_deref() else {
                return Err(usage(
                    "SASL for the state store needs --kafka-sasl-mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)",
                ));
            };
            let mechanism: SaslMechanism =
                mechanism
                    .trim()
                    .parse()
                    .map_err(|e: cdc_sentinel_kafka::Error| {
                        usage(format!("--kafka-sasl-mechanism: {e}"))
                    })?;
            let Some(user) = self
                .kafka_sasl_user
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
            else {
                return Err(usage(format!(
                    "SASL {} for the state store needs --kafka-sasl-user",
                    mechanism.as_str()
                )));
            };
            let password = match (&self.kafka_sasl_password_file, env_password) {
                (Some(f), _) => Secret::from_file(f)
                    .map_err(|e| file_err(format!("--kafka-sasl-password-file: {e}")))?,
                (None, Some(p)) => Secret::new(p),
                (None, None) => {
                    return Err(usage(format!(
                        "SASL {} for the state store needs a password: --kafka-sasl-password-file, or {KAFKA_PASSWORD_ENV} in the environment",
                        mechanism.as_str()
                    )))
                }
            };
            Some(Sasl {
                mechanism,
                username: user.to_string(),
                password,
            })
        } else {
            None
        };
        opts.security = Security { tls, sasl };
        opts.validate().map_err(|e| {
            usage(format!(
                "--state-store / --kafka-session-timeout / --kafka-*: {e}"
            ))
        })?;
        Ok(Some(opts))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{Cli, Command, ErrorKind};
    use clap::Parser;

    fn validate(extra: &[&str]) -> Result<crate::config::Config, crate::config::ConfigError> {
        let mut v = vec!["cdc-sentinel", "run"];
        v.extend_from_slice(extra);
        match Cli::try_parse_from(v).unwrap().command {
            Some(Command::Run(a)) => a.validate(),
            _ => unreachable!(),
        }
    }

    #[test]
    fn without_state_store_nothing_changes() {
        let c = validate(&[]).unwrap();
        assert!(c.state_store.is_none());
        let e = validate(&["--kafka-sasl-user", "u"]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.contains("--state-store"), "{}", e.message);
    }

    #[test]
    fn the_url_and_session_are_checked() {
        let c = validate(&[
            "--state-store",
            "kafka://k1:9092,k2:9092/cdc-sentinel-state",
            "--kafka-session-timeout",
            "6s",
        ])
        .unwrap();
        let o = c.state_store.unwrap();
        assert_eq!(o.url.topic, "cdc-sentinel-state");
        assert_eq!(o.session_timeout, std::time::Duration::from_secs(6));
        for bad in ["k1:9092/t", "kafka://k1:9092", "kafka:///t", "http://k1/t"] {
            let e = validate(&["--state-store", bad]).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Usage, "{bad}");
            assert!(e.message.contains("--state-store"), "{}", e.message);
        }
        let e = validate(&[
            "--state-store",
            "kafka://k1:9092/t",
            "--kafka-session-timeout",
            "100ms",
        ])
        .unwrap_err();
        assert!(e.message.contains("session timeout"), "{}", e.message);
        let e = validate(&["--state-store", "kafka://k1:9092/t", "--dry-run"]).unwrap_err();
        assert!(e.message.contains("--dry-run"), "{}", e.message);
    }

    #[test]
    fn sasl_needs_mechanism_user_and_a_password_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cr3t-kafka-pw\n").unwrap();
        let pw = pw.to_str().unwrap();
        let base = ["--state-store", "kafka://k1:9092/t"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            validate(&v)
        };
        let e = with(&["--kafka-sasl-user", "u", "--kafka-sasl-password-file", pw]).unwrap_err();
        assert!(
            e.message.contains("--kafka-sasl-mechanism"),
            "{}",
            e.message
        );
        let e = with(&["--kafka-sasl-mechanism", "GSSAPI", "--kafka-sasl-user", "u"]).unwrap_err();
        assert!(e.message.contains("SCRAM-SHA-512"), "{}", e.message);
        let e = with(&["--kafka-sasl-mechanism", "SCRAM-SHA-512"]).unwrap_err();
        assert!(e.message.contains("--kafka-sasl-user"), "{}", e.message);
        let e = with(&["--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"]).unwrap_err();
        assert!(e.message.contains("password"), "{}", e.message);
        let e = with(&[
            "--kafka-sasl-mechanism",
            "PLAIN",
            "--kafka-sasl-user",
            "u",
            "--kafka-sasl-password-file",
            "/nonexistent/pw",
        ])
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(e.message.contains("/nonexistent/pw"), "{}", e.message);
        let c = with(&[
            "--kafka-sasl-mechanism",
            "scram-sha-256",
            "--kafka-sasl-user",
            "agent",
            "--kafka-sasl-password-file",
            pw,
        ])
        .unwrap();
        let text = c.describe();
        assert!(
            text.contains("SCRAM-SHA-256") && text.contains("*** (set)"),
            "{text}"
        );
        assert!(!text.contains("s3cr3t-kafka-pw"), "{text}");
        assert!(!format!("{c:?}").contains("s3cr3t-kafka-pw"));
    }

    #[test]
    fn tls_files_must_be_readable_and_cert_goes_with_key() {
        let base = ["--state-store", "kafka://k1:9093/t"];
        let mut v = base.to_vec();
        v.extend_from_slice(&["--kafka-tls-ca", "/nonexistent/ca.pem"]);
        let e = validate(&v).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Config);
        assert!(
            e.message.contains("--kafka-tls-ca /nonexistent/ca.pem"),
            "{}",
            e.message
        );
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("c.pem");
        std::fs::write(&cert, "x").unwrap();
        let mut v = base.to_vec();
        v.extend_from_slice(&["--kafka-tls-cert", cert.to_str().unwrap()]);
        let e = validate(&v).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.contains("--kafka-tls-key"), "{}", e.message);
        let mut v = base.to_vec();
        v.extend_from_slice(&["--kafka-tls-ca", cert.to_str().unwrap()]);
        let text = validate(&v).unwrap().describe();
        assert!(text.contains("SSL"), "{text}");
    }
}

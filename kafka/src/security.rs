//! TLS and SASL for the state store's Kafka clients, the same choices Kafka Connect's workers
//! offer: TLS with a CA and an optional client certificate and key; SASL PLAIN, SCRAM-SHA-256
//! and SCRAM-SHA-512 with the password from a file or the environment. Secrets live in
//! [`Secret`], whose `Debug` and `Display` never show the value.

use std::path::{Path, PathBuf};

use crate::error::Error;

/// A password. `Debug` and `Display` print `***`; the value is only handed to librdkafka.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value already read (e.g. from a flag's environment variable).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads a password file; one trailing newline is dropped (as `echo pw > file` leaves one).
    /// The error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<Secret, Error> {
        let raw = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read the Kafka password file {}: {e}. Check the path and that this user may read it",
                path.display()
            ))
        })?;
        let value = raw
            .strip_suffix("\r\n")
            .or_else(|| raw.strip_suffix('\n'))
            .unwrap_or(&raw);
        if value.is_empty() {
            return Err(Error::Config(format!(
                "the Kafka password file {} is empty",
                path.display()
            )));
        }
        Ok(Secret(value.to_string()))
    }

    /// Reads a password from environment variable `var`; the error names the variable only.
    pub fn from_env(var: &str) -> Result<Secret, Error> {
        match std::env::var(var) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            Ok(_) => Err(Error::Config(format!(
                "environment variable {var} (the Kafka password) is empty"
            ))),
            Err(_) => Err(Error::Config(format!(
                "environment variable {var} (the Kafka password) is not set or not UTF-8"
            ))),
        }
    }

    /// The value, for librdkafka only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// TLS to the brokers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tls {
    /// CA certificate(s) (PEM) that signed the brokers' certificates. Without it the system's
    /// CA store is probed (there is none in the scratch image: give a CA there).
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM), for brokers that require TLS client authentication.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    pub key: Option<PathBuf>,
    /// The private key's password, if it is encrypted.
    pub key_password: Option<Secret>,
}

/// The SASL mechanisms Kafka Connect users have (GSSAPI and OAUTHBEARER are not offered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    ScramSha256,
    ScramSha512,
}

impl SaslMechanism {
    /// The name librdkafka and Kafka use.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

impl std::str::FromStr for SaslMechanism {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_uppercase().replace('_', "-").as_str() {
            "PLAIN" => Ok(SaslMechanism::Plain),
            "SCRAM-SHA-256" => Ok(SaslMechanism::ScramSha256),
            "SCRAM-SHA-512" => Ok(SaslMechanism::ScramSha512),
            _ => Err(Error::Config(format!(
                "SASL mechanism {s:?} is not supported; use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
            ))),
        }
    }
}

/// SASL authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sasl {
    pub mechanism: SaslMechanism,
    pub username: String,
    pub password: Secret,
}

/// How the state store's clients secure their connections; the default is plaintext.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Security {
    pub tls: Option<Tls>,
    pub sasl: Option<Sasl>,
}

impl Security {
    /// Kafka's `security.protocol` for these settings.
    pub fn protocol(&self) -> &'static str {
        match (&self.tls, &self.sasl) {
            (None, None) => "PLAINTEXT",
            (Some(_), None) => "SSL",
            (None, Some(_)) => "SASL_PLAINTEXT",
            (Some(_), Some(_)) => "SASL_SSL",
        }
    }

    /// Checks what can be checked without a broker: files exist, cert and key come together,
    /// the user name is set.
    pub fn validate(&self) -> Result<(), Error> {
        if let Some(tls) = &self.tls {
            for (what, p) in [
                ("CA", &tls.ca),
                ("client certificate", &tls.cert),
                ("client key", &tls.key),
            ] {
                if let Some(p) = p {
                    if let Err(e) = std::fs::metadata(p) {
                        return Err(Error::Config(format!(
                            "the Kafka TLS {what} file {} cannot be read: {e}",
                            p.display()
                        )));
                    }
                }
            }
            match (&tls.cert, &tls.key) {
                (Some(_), None) => {
                    return Err(Error::Config(
                        "a Kafka TLS client certificate was given without its key: give both or neither".into(),
                    ))
                }
                (None, Some(_)) => {
                    return Err(Error::Config(
                        "a Kafka TLS client key was given without its certificate: give both or neither".into(),
                    ))
                }
                _ => {}
            }
            if tls.key_password.is_some() && tls.key.is_none() {
                return Err(Error::Config(
                    "a Kafka TLS key password was given without a client key".into(),
                ));
            }
        }
        if let Some(sasl) = &self.sasl {
            if sasl.username.is_empty() {
                return Err(Error::Config(format!(
                    "SASL {} needs a user name",
                    sasl.mechanism.as_str()
                )));
            }
            if sasl.password.expose().is_empty() {
                return Err(Error::Config(format!(
                    "SASL {} needs a password (from a file or the environment)",
                    sasl.mechanism.as_str()
                )));
            }
        }
        Ok(())
    }

    /// The librdkafka settings, with real secret values: for building clients only, never print.
    pub(crate) fn librdkafka_settings(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("security.protocol", self.protocol().to_string())];
        if let Some(tls) = &self.tls {
            out.push((
                "ssl.ca.location",
                match &tls.ca {
                    Some(p) => p.display().to_string(),
                    None => "probe".to_string(),
                },
            ));
            // Brokers' certificates must name the host we dialled (librdkafka's default, kept
            // explicit so a future default change cannot weaken it).
            out.push(("ssl.endpoint.identification.algorithm", "https".to_string()));
            if let Some(c) = &tls.cert {
                out.push(("ssl.certificate.location", c.display().to_string()));
            }
            if let Some(k) = &tls.key {
                out.push(("ssl.key.location", k.display().to_string()));
            }
            if let Some(pw) = &tls.key_password {
                out.push(("ssl.key.password", pw.expose().to_string()));
            }
        }
        if let Some(sasl) = &self.sasl {
            out.push(("sasl.mechanism", sasl.mechanism.as_str().to_string()));
            out.push(("sasl.username", sasl.username.clone()));
            out.push(("sasl.password", sasl.password.expose().to_string()));
        }
        out
    }

    /// The secret values, for the redactor.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut s = Vec::new();
        if let Some(pw) = self.tls.as_ref().and_then(|t| t.key_password.as_ref()) {
            s.push(pw.expose().to_string());
        }
        if let Some(sasl) = &self.sasl {
            s.push(sasl.password.expose().to_string());
        }
        s
    }

    /// One line per setting for `check-config`; secrets as `*** (set)`.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("security protocol", self.protocol().to_string())];
        if let Some(tls) = &self.tls {
            let path = |p: &Option<PathBuf>, none: &str| {
                p.as_ref()
                    .map_or(none.to_string(), |p| p.display().to_string())
            };
            out.push(("TLS CA", path(&tls.ca, "system CA store (probed)")));
            out.push(("TLS client certificate", path(&tls.cert, "none")));
            out.push(("TLS client key", path(&tls.key, "none")));
            if tls.key_password.is_some() {
                out.push(("TLS key password", "*** (set)".to_string()));
            }
        }
        if let Some(sasl) = &self.sasl {
            out.push(("SASL mechanism", sasl.mechanism.as_str().to_string()));
            out.push(("SASL user", sasl.username.clone()));
            out.push(("SASL password", "*** (set)".to_string()));
            if self.tls.is_none() {
                out.push((
                    "warning",
                    "SASL without TLS: the password crosses the network in clear text with PLAIN"
                        .to_string(),
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(s: &'a [(&'static str, String)], k: &str) -> Option<&'a str> {
        s.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str())
    }

    #[test]
    fn plaintext_by_default() {
        let s = Security::default();
        assert_eq!(
            s.librdkafka_settings(),
            vec![("security.protocol", "PLAINTEXT".to_string())]
        );
        s.validate().unwrap();
    }

    #[test]
    fn sasl_scram_over_tls_builds_the_librdkafka_settings() {
        let s = Security {
            tls: Some(Tls {
                ca: Some("/etc/kafka/ca.pem".into()),
                cert: Some("/etc/kafka/client.pem".into()),
                key: Some("/etc/kafka/client.key".into()),
                key_password: Some(Secret::new("keypw-9f")),
            }),
            sasl: Some(Sasl {
                mechanism: "scram-sha-512".parse().unwrap(),
                username: "sentinel".into(),
                password: Secret::new("pw-3b7e"),
            }),
        };
        let l = s.librdkafka_settings();
        assert_eq!(get(&l, "security.protocol"), Some("SASL_SSL"));
        assert_eq!(get(&l, "sasl.mechanism"), Some("SCRAM-SHA-512"));
        assert_eq!(get(&l, "sasl.username"), Some("sentinel"));
        assert_eq!(get(&l, "sasl.password"), Some("pw-3b7e"));
        assert_eq!(get(&l, "ssl.ca.location"), Some("/etc/kafka/ca.pem"));
        assert_eq!(
            get(&l, "ssl.certificate.location"),
            Some("/etc/kafka/client.pem")
        );
        assert_eq!(get(&l, "ssl.key.location"), Some("/etc/kafka/client.key"));
        assert_eq!(get(&l, "ssl.key.password"), Some("keypw-9f"));
        assert_eq!(
            get(&l, "ssl.endpoint.identification.algorithm"),
            Some("https")
        );
        // Every setting is one librdkafka knows and accepts.
        let mut cfg = rdkafka::ClientConfig::new();
        for (k, v) in &l {
            cfg.set(*k, v);
        }
        cfg.create_native_config()
            .expect("librdkafka accepts the settings");

        let shown = format!("{:?} {:?}", s, s.describe());
        assert!(
            !shown.contains("pw-3b7e") && !shown.contains("keypw-9f"),
            "{shown}"
        );
        assert!(shown.contains("*** (set)"), "{shown}");
        assert_eq!(s.secrets().len(), 2);
    }

    #[test]
    fn tls_only_and_sasl_plain_only() {
        let tls = Security {
            tls: Some(Tls::default()),
            sasl: None,
        };
        let l = tls.librdkafka_settings();
        assert_eq!(get(&l, "security.protocol"), Some("SSL"));
        assert_eq!(get(&l, "ssl.ca.location"), Some("probe"));
        assert_eq!(get(&l, "sasl.password"), None);
        let plain = Security {
            tls: None,
            sasl: Some(Sasl {
                mechanism: SaslMechanism::Plain,
                username: "u".into(),
                password: Secret::new("p"),
            }),
        };
        assert_eq!(
            get(&plain.librdkafka_settings(), "security.protocol"),
            Some("SASL_PLAINTEXT")
        );
        assert!(plain.describe().iter().any(|(k, _)| *k == "warning"));
    }

    #[test]
    fn validation_names_the_problem() {
        let e = "GSSAPI".parse::<SaslMechanism>().unwrap_err().to_string();
        assert!(e.contains("PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"), "{e}");
        let half = Security {
            tls: Some(Tls {
                cert: Some("/dev/null".into()),
                ..Tls::default()
            }),
            sasl: None,
        };
        assert!(half
            .validate()
            .unwrap_err()
            .to_string()
            .contains("without its key"));
        let missing = Security {
            tls: Some(Tls {
                ca: Some("/nonexistent/ca.pem".into()),
                ..Tls::default()
            }),
            sasl: None,
        };
        assert!(missing
            .validate()
            .unwrap_err()
            .to_string()
            .contains("/nonexistent/ca.pem"));
        let nouser = Security {
            tls: None,
            sasl: Some(Sasl {
                mechanism: SaslMechanism::ScramSha256,
                username: String::new(),
                password: Secret::new("x"),
            }),
        };
        assert!(nouser
            .validate()
            .unwrap_err()
            .to_string()
            .contains("user name"));
    }

    #[test]
    fn password_file_drops_one_newline_and_errors_never_show_content() {
        let dir = std::env::temp_dir().join(format!("cdc-kafka-sec-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pw");
        std::fs::write(&f, "s3cret-value\n").unwrap();
        assert_eq!(Secret::from_file(&f).unwrap().expose(), "s3cret-value");
        std::fs::write(&f, "\n").unwrap();
        let e = Secret::from_file(&f).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        let e = Secret::from_file(&dir.join("absent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            format!("{:?} {}", Secret::new("x1"), Secret::new("x1")),
            "*** ***"
        );
        let e = Secret::from_env("CDC_SENTINEL_KAFKA_TEST_UNSET_VAR")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CDC_SENTINEL_KAFKA_TEST_UNSET_VAR"), "{e}");
    }
}

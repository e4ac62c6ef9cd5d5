//! Database targets: what the agent probes for a connector, parsed from `--db` URLs or derived
//! from the connector's own configuration (Debezium `database.hostname`/`database.port`, or a JDBC
//! `database.url`). Pure functions, no I/O.

use std::collections::BTreeMap;
use std::fmt;

/// How a target is probed.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Protocol {
    /// A TCP connect: proves the port accepts connections.
    Tcp,
    /// Oracle TNS CONNECT for a service name or SID.
    Oracle,
    /// PostgreSQL startup up to the authentication request.
    Postgres,
    /// MySQL/MariaDB initial handshake.
    Mysql,
}

/// Oracle identifies a database either by service name or by SID.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OracleId {
    Service(String),
    Sid(String),
}

/// A database endpoint to probe.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct Target {
    pub protocol: Protocol,
    pub host: String,
    pub port: u16,
    /// Oracle only: the service or SID the connector uses.
    pub oracle: Option<OracleId>,
}

impl Target {
    pub fn tcp(host: impl Into<String>, port: u16) -> Self {
        Target {
            protocol: Protocol::Tcp,
            host: host.into(),
            port,
            oracle: None,
        }
    }

    /// The `target` label value: `HOST:PORT`, with `/SERVICE` (or `/SID`) appended for Oracle.
    pub fn label(&self) -> String {
        let hp = host_port(&self.host, self.port);
        match &self.oracle {
            Some(OracleId::Service(s)) => format!("{hp}/{s}"),
            Some(OracleId::Sid(s)) => format!("{hp}/{s}"),
            None => hp,
        }
    }

    /// The URL form accepted by `--db` that denotes this target.
    pub fn url(&self) -> String {
        let hp = host_port(&self.host, self.port);
        let scheme = self.protocol.scheme();
        match &self.oracle {
            Some(OracleId::Service(s)) => format!("{scheme}://{hp}/{s}"),
            Some(OracleId::Sid(s)) => format!("{scheme}://{hp}?sid={s}"),
            None => format!("{scheme}://{hp}"),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.url())
    }
}

fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Why a `--db` URL was rejected. The message names the accepted forms.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid database URL {url:?}: {problem}; accepted forms: tcp://HOST:PORT, oracle://HOST:PORT/SERVICE, oracle://HOST:PORT?sid=SID, postgres://HOST:PORT, mysql://HOST:PORT")]
pub struct TargetUrlError {
    pub url: String,
    pub problem: String,
}

/// Parses a `--db` URL.
pub fn parse_url(url: &str) -> Result<Target, TargetUrlError> {
    let err = |problem: &str| TargetUrlError {
        url: url.to_string(),
        problem: problem.to_string(),
    };
    let (scheme, rest) = url.split_once("://").ok_or_else(|| err("missing scheme"))?;
    let lower = scheme.to_ascii_lowercase();
    let protocol = crate::PROBERS
        .iter()
        .find(|p| p.schemes.contains(&lower.as_str()))
        .map(|p| p.protocol.clone())
        .ok_or_else(|| err(&format!("unknown scheme {lower:?}")))?;
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.split_once('/') {
        Some((a, p)) => (a, p),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(err(
            "credentials do not belong in a probe URL (the probes need none)",
        ));
    }
    let (host, port) = split_host_port(authority)
        .ok_or_else(|| err("expected HOST:PORT with a port from 1 to 65535"))?;
    let mut target = Target {
        protocol: protocol.clone(),
        host,
        port,
        oracle: None,
    };
    match protocol {
        Protocol::Oracle => {
            let sid = query.and_then(|q| {
                q.split('&')
                    .find_map(|kv| kv.strip_prefix("sid=").map(str::to_string))
            });
            target.oracle =
                match (path.is_empty(), sid) {
                    (false, None) => Some(OracleId::Service(path.to_string())),
                    (true, Some(s)) if !s.is_empty() => Some(OracleId::Sid(s)),
                    (true, None) => return Err(err(
                        "oracle needs a service (oracle://HOST:PORT/SERVICE) or a SID (?sid=SID)",
                    )),
                    _ => return Err(err("give either a service or ?sid=, not both")),
                };
        }
        _ => {
            if !path.is_empty() || query.is_some() {
                return Err(err("this scheme takes only HOST:PORT"));
            }
        }
    }
    Ok(target)
}

fn split_host_port(s: &str) -> Option<(String, u16)> {
    let (host, port, bracketed) = if let Some(rest) = s.strip_prefix('[') {
        let (h, p) = rest.split_once("]:")?;
        (h, p, true)
    } else {
        let (h, p) = s.rsplit_once(':')?;
        (h, p, false)
    };
    let port: u16 = port.trim().parse().ok()?;
    let host = host.trim();
    if host.is_empty() || port == 0 {
        return None;
    }
    // An IPv6 address only in brackets, and a bracket or colon nowhere else: `mysql://]::777`
    // was once taken as host "]:" (fuzz/, target).
    let plain = |c: char| c.is_alphanumeric() || "-._~".contains(c);
    let ok = if bracketed {
        host.parse::<std::net::Ipv6Addr>().is_ok()
    } else {
        host.chars().all(plain)
    };
    ok.then(|| (host.to_string(), port))
}

/// Why no target could be derived from a connector's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("database.port {0:?} is not a port number")]
    BadPort(String),
    #[error("database.hostname is set but database.port is not")]
    MissingPort,
    #[error("database.hostname is an externalized secret reference (${{...}}); give the target with --db or in the config file")]
    SecretReference,
    #[error("no database.hostname/database.port and no JDBC database.url in its config")]
    NoDatabase,
    #[error("{0}")]
    Jdbc(String),
}

/// Derives the target from a connector's configuration, or says why it cannot.
///
/// Debezium `database.hostname` + `database.port` come first, then a JDBC URL in
/// `database.url` or `connection.url`. The protocol is chosen from the connector class (Oracle,
/// Postgres, MySQL/MariaDB), else TCP. Only the keys named here are read; nothing else of the
/// configuration (passwords!) is kept or printed.
pub fn derive(config: &BTreeMap<String, String>) -> Result<Target, TargetError> {
    let class = config
        .get("connector.class")
        .map(String::as_str)
        .unwrap_or("");
    let protocol = protocol_for_class(class);
    let default_port = protocol.prober().default_port;
    let get = |k: &str| config.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());

    let mut target = if let Some(host) = get("database.hostname") {
        let port = match get("database.port") {
            Some(p) => p
                .parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| TargetError::BadPort(p.to_string()))?,
            None => default_port.ok_or(TargetError::MissingPort)?,
        };
        if host.starts_with("${") {
            return Err(TargetError::SecretReference);
        }
        Target {
            protocol: protocol.clone(),
            host: host.to_string(),
            port,
            oracle: None,
        }
    } else if let Some(url) = get("database.url").or_else(|| get("connection.url")) {
        parse_jdbc(url).map_err(TargetError::Jdbc)?
    } else {
        return Err(TargetError::NoDatabase);
    };

    if target.protocol == Protocol::Oracle || protocol == Protocol::Oracle {
        target.protocol = if protocol == Protocol::Oracle || target.oracle.is_some() {
            Protocol::Oracle
        } else {
            target.protocol
        };
        if target.oracle.is_none() {
            // Debezium Oracle: the PDB's service carries the data for a CDB+PDB setup.
            target.oracle = get("database.pdb.name")
                .or_else(|| get("database.dbname"))
                .map(|s| OracleId::Service(s.to_string()));
        }
    }
    Ok(target)
}

fn protocol_for_class(class: &str) -> Protocol {
    let c = class.to_ascii_lowercase();
    crate::PROBERS
        .iter()
        .find(|p| p.class_hints.iter().any(|h| c.contains(h)))
        .map(|p| p.protocol.clone())
        .unwrap_or(Protocol::Tcp)
}

/// Parses the JDBC URL forms connectors use. Credentials embedded in the URL are never returned.
pub fn parse_jdbc(url: &str) -> Result<Target, String> {
    let lower = url.to_ascii_lowercase();
    if let Some(idx) = lower.find("@") {
        if lower.starts_with("jdbc:oracle:") {
            return parse_oracle_jdbc(&url[idx + 1..]);
        }
    }
    if lower.starts_with("jdbc:oracle:") {
        return Err("JDBC Oracle URL without @HOST".into());
    }
    let rows = crate::PROBERS.iter().flat_map(|p| {
        p.jdbc
            .iter()
            .map(|(prefix, port)| (*prefix, p.protocol.clone(), *port))
    });
    for (prefix, proto, default) in rows {
        if lower.starts_with(prefix) {
            let rest = &url[prefix.len()..];
            let end = rest.find(['/', ';', '?']).unwrap_or(rest.len());
            let authority = rest[..end].rsplit('@').next().unwrap_or("");
            let first = authority.split(',').next().unwrap_or("");
            let (host, port) = match split_host_port(first) {
                Some(hp) => hp,
                None if !first.is_empty() && !first.contains(':') => (first.to_string(), default),
                None => return Err("JDBC URL without a usable HOST:PORT".into()),
            };
            return Ok(Target {
                protocol: proto,
                host,
                port,
                oracle: None,
            });
        }
    }
    let supported: Vec<&str> = std::iter::once("jdbc:oracle:thin")
        .chain(crate::PROBERS.iter().flat_map(|p| {
            p.jdbc
                .iter()
                .map(|(prefix, _)| prefix.trim_end_matches("://"))
        }))
        .collect();
    Err(format!(
        "unrecognised JDBC URL (supported: {})",
        supported.join(", ")
    ))
}

fn parse_oracle_jdbc(after_at: &str) -> Result<Target, String> {
    let s = after_at.trim();
    if s.starts_with('(') {
        // TNS descriptor: first ADDRESS's HOST and PORT, SERVICE_NAME or SID.
        let host = tns_value(s, "HOST").ok_or("TNS descriptor without (HOST=...)")?;
        let port = tns_value(s, "PORT")
            .and_then(|p| p.parse::<u16>().ok())
            .ok_or("TNS descriptor without a numeric (PORT=...)")?;
        let oracle = tns_value(s, "SERVICE_NAME")
            .map(OracleId::Service)
            .or_else(|| tns_value(s, "SID").map(OracleId::Sid));
        return Ok(Target {
            protocol: Protocol::Oracle,
            host,
            port,
            oracle,
        });
    }
    // @//host:port/service  |  @host:port:sid  |  @host:port/service
    let s = s.strip_prefix("//").unwrap_or(s);
    let (hp, id) = if let Some((hp, svc)) = s.split_once('/') {
        (
            hp,
            Some(OracleId::Service(
                svc.split(['?', ':']).next().unwrap_or("").to_string(),
            )),
        )
    } else {
        let mut parts = s.rsplitn(2, ':');
        let last = parts.next().unwrap_or("");
        match parts.next() {
            Some(rest) if last.parse::<u16>().is_err() => {
                (rest, Some(OracleId::Sid(last.to_string())))
            }
            _ => (s, None),
        }
    };
    let (host, port) = split_host_port(hp)
        .or_else(|| (!hp.is_empty() && !hp.contains(':')).then(|| (hp.to_string(), 1521)))
        .ok_or("JDBC Oracle URL without a usable HOST:PORT")?;
    let oracle = id.filter(|i| match i {
        OracleId::Service(s) | OracleId::Sid(s) => !s.is_empty(),
    });
    Ok(Target {
        protocol: Protocol::Oracle,
        host,
        port,
        oracle,
    })
}

fn tns_value(desc: &str, key: &str) -> Option<String> {
    let upper = desc.to_ascii_uppercase();
    let pat = format!("({key}");
    let mut from = 0;
    while let Some(i) = upper[from..].find(&pat) {
        let start = from + i + pat.len();
        let rest = &desc[start..];
        let rest_trim = rest.trim_start();
        if let Some(v) = rest_trim.strip_prefix('=') {
            let end = v.find(')')?;
            let val = v[..end].trim();
            if !val.is_empty() {
                return Some(val.to_string());
            }
        }
        from = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by `scripts/fuzz.sh` (target `target`): a malformed host was accepted, and the URL
    /// the agent then printed for it (`mysql://[]:]:777`) did not parse back.
    #[test]
    fn fuzz_malformed_hosts_are_refused_and_urls_round_trip() {
        for bad in [
            "mysQl://]::777/",
            "mysql://]::777",
            "tcp://[::1:5432",
            "tcp://[not-v6]:5432",
            "tcp://a:b:5432",
            "postgres://h/x:5432",
            "tcp://h%20x:1",
        ] {
            assert!(
                parse_url(bad).is_err(),
                "{bad} accepted: {:?}",
                parse_url(bad)
            );
        }
        for good in [
            "mysql://[::1]:3306",
            "tcp://10.0.0.1:1521",
            "postgres://pg-01.db.example:5432",
            "oracle://db_1:1521/ORCLPDB1",
            "oracle://db1:1521?sid=ORCL",
        ] {
            let t = parse_url(good).unwrap();
            assert_eq!(parse_url(&t.url()).unwrap(), t, "{good}");
        }
    }

    fn cfg(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_db_urls() {
        assert_eq!(
            parse_url("tcp://10.78.30.98:1521").unwrap().label(),
            "10.78.30.98:1521"
        );
        let o = parse_url("oracle://db1:1521/ORCLPDB1").unwrap();
        assert_eq!(o.oracle, Some(OracleId::Service("ORCLPDB1".into())));
        assert_eq!(o.label(), "db1:1521/ORCLPDB1");
        let s = parse_url("oracle://db1:1521?sid=ORCL").unwrap();
        assert_eq!(s.oracle, Some(OracleId::Sid("ORCL".into())));
        assert_eq!(
            parse_url("postgres://[::1]:5432").unwrap().label(),
            "[::1]:5432"
        );
        assert_eq!(
            parse_url("mysql://m:3306").unwrap().protocol,
            Protocol::Mysql
        );
    }

    #[test]
    fn rejects_bad_db_urls_with_the_accepted_forms() {
        for bad in [
            "10.0.0.1:1521",
            "tcp://host",
            "tcp://host:0",
            "tcp://host:99999",
            "http://h:1",
            "oracle://h:1521",
            "tcp://u:p@h:1",
        ] {
            let e = parse_url(bad).unwrap_err().to_string();
            assert!(e.contains("accepted forms"), "{bad}: {e}");
        }
        assert!(!parse_url("tcp://u:secret@h:1")
            .unwrap_err()
            .problem
            .contains("secret"));
    }

    #[test]
    fn derives_from_debezium_hostname_and_port() {
        let t = derive(&cfg(&[
            (
                "connector.class",
                "io.debezium.connector.oracle.OracleConnector",
            ),
            ("database.hostname", "10.78.30.98"),
            ("database.port", "1521"),
            ("database.dbname", "ORCLCDB"),
            ("database.pdb.name", "ORCLPDB1"),
            ("database.password", "hunter2"),
        ]))
        .unwrap();
        assert_eq!(t.label(), "10.78.30.98:1521/ORCLPDB1");
        assert_eq!(t.protocol, Protocol::Oracle);
        let p = derive(&cfg(&[
            (
                "connector.class",
                "io.debezium.connector.postgresql.PostgresConnector",
            ),
            ("database.hostname", "pg"),
        ]))
        .unwrap();
        assert_eq!(
            (p.label().as_str(), p.protocol),
            ("pg:5432", Protocol::Postgres)
        );
    }

    #[test]
    fn derives_from_jdbc_urls() {
        let cases = [
            ("jdbc:oracle:thin:@dbhost:1521:ORCL", "dbhost:1521/ORCL"),
            ("jdbc:oracle:thin:@//dbhost:1522/ORCLPDB1", "dbhost:1522/ORCLPDB1"),
            ("jdbc:oracle:thin:scott/tiger@//dbhost:1522/SVC", "dbhost:1522/SVC"),
            (
                "jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(PROTOCOL=TCP)(HOST=10.1.2.3)(PORT=1530))(CONNECT_DATA=(SERVICE_NAME=SALES)))",
                "10.1.2.3:1530/SALES",
            ),
            ("jdbc:postgresql://pg.example:5433/inventory?ssl=true", "pg.example:5433"),
            ("jdbc:postgresql://pg.example/inventory", "pg.example:5432"),
            ("jdbc:mysql://user:pw@my:3307/db", "my:3307"),
            ("jdbc:sqlserver://mssql:1433;databaseName=x", "mssql:1433"),
        ];
        for (url, label) in cases {
            let t = derive(&cfg(&[("database.url", url)])).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.label(), label, "{url}");
            assert!(!format!("{t:?}").contains("tiger"));
        }
    }

    #[test]
    fn reports_what_is_missing_instead_of_guessing() {
        assert!(derive(&cfg(&[("connector.class", "x.FileStreamSource")]))
            .unwrap_err()
            .to_string()
            .contains("no database.hostname"));
        assert!(derive(&cfg(&[("database.hostname", "h")]))
            .unwrap_err()
            .to_string()
            .contains("database.port"));
        assert!(derive(&cfg(&[
            ("database.hostname", "h"),
            ("database.port", "abc")
        ]))
        .unwrap_err()
        .to_string()
        .contains("not a port"));
        let e = derive(&cfg(&[("database.url", "jdbc:weird://x")])).unwrap_err();
        assert!(
            e.to_string().contains("jdbc:postgresql") && e.to_string().contains("jdbc:db2"),
            "{e}"
        );
        assert!(derive(&cfg(&[("database.url", "jdbc:weird://x")])).is_err());
    }
}

//! Debezium-like Java stack traces for a task that lost its database with
//! `errors.max.retries=0`: the Connect `ConnectException` raised by Debezium's ErrorHandler,
//! its frames, then the JDBC driver's `Caused by:` chain for the connector's database and what
//! reconnecting got (nothing listening, or an Oracle listener's REFUSE such as ORA-12514).

use std::net::SocketAddr;

use super::db::Reach;

const HEAD: &str = "org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.";

const COORDINATOR_FRAMES: &str = "\tat io.debezium.pipeline.ChangeEventSourceCoordinator.streamEvents(ChangeEventSourceCoordinator.java:324)
\tat io.debezium.pipeline.ChangeEventSourceCoordinator.executeChangeEventSources(ChangeEventSourceCoordinator.java:203)
\tat io.debezium.pipeline.ChangeEventSourceCoordinator.lambda$start$0(ChangeEventSourceCoordinator.java:143)
\tat java.base/java.util.concurrent.Executors$RunnableAdapter.call(Executors.java:539)
\tat java.base/java.util.concurrent.FutureTask.run(FutureTask.java:264)
\tat java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)
\tat java.base/java.util.concurrent.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:635)
\tat java.base/java.lang.Thread.run(Thread.java:840)
";

const SOCKET_CAUSE: &str = "Caused by: java.net.ConnectException: Connection refused
\tat java.base/sun.nio.ch.Net.pollConnect(Native Method)
\tat java.base/sun.nio.ch.Net.pollConnectNow(Net.java:672)
\tat java.base/sun.nio.ch.NioSocketImpl.timedFinishConnect(NioSocketImpl.java:547)
\tat java.base/sun.nio.ch.NioSocketImpl.connect(NioSocketImpl.java:602)
\tat java.base/java.net.SocksSocketImpl.connect(SocksSocketImpl.java:327)
\tat java.base/java.net.Socket.connect(Socket.java:633)
\t... 14 more
";

/// The message text of the listener errors the Oracle driver can report at logon.
fn listener_error_text(code: u32) -> &'static str {
    match code {
        12514 => "TNS:listener does not currently know of service requested in connect descriptor",
        12505 => "TNS:listener does not currently know of SID given in connect descriptor",
        12528 => "TNS:listener: all appropriate instances are blocking new connections",
        12526 => "TNS:listener: all appropriate instances are in restricted mode",
        12516 => "TNS:listener could not find available handler with matching protocol stack",
        12530 => "TNS:listener: rate limit reached",
        _ => "TNS:listener refused the connection",
    }
}

/// The frames of a Debezium Oracle task's failed JDBC logon, under the driver's exception.
const ORACLE_LOGON_FRAMES: &str = "\tat oracle.jdbc.driver.T4CConnection.handleLogonNetException(T4CConnection.java:1627)
\tat oracle.jdbc.driver.T4CConnection.logon(T4CConnection.java:1152)
\tat oracle.jdbc.driver.PhysicalConnection.connect(PhysicalConnection.java:1181)
\tat oracle.jdbc.driver.T4CDriverExtension.getConnection(T4CDriverExtension.java:106)
\tat oracle.jdbc.driver.OracleDriver.connect(OracleDriver.java:895)
\tat oracle.jdbc.driver.OracleDriver.connect(OracleDriver.java:702)
\tat io.debezium.jdbc.JdbcConnection.lambda$patternBasedFactory$0(JdbcConnection.java:251)
\tat io.debezium.jdbc.JdbcConnection$ConnectionFactoryDecorator.connect(JdbcConnection.java:130)
\tat io.debezium.jdbc.JdbcConnection.connection(JdbcConnection.java:889)
\tat io.debezium.jdbc.JdbcConnection.connection(JdbcConnection.java:884)
\tat io.debezium.connector.oracle.logminer.LogMinerStreamingChangeEventSource.execute(LogMinerStreamingChangeEventSource.java:213)
\t... 9 more
";

/// The Oracle driver's logon failure when the listener answered REFUSE with `code` (ojdbc 19/21
/// wording: "Listener refused the connection with the following error:" and the ORA line).
fn oracle_listener_refusal(code: u32) -> String {
    let msg = format!(
        "Listener refused the connection with the following error:\nORA-{code}, {}\n  (CONNECTION_ID=q3ZC5kT0SxyJ2Rr0f8bGNA==)",
        listener_error_text(code)
    );
    format!(
        "Caused by: java.sql.SQLRecoverableException: {msg}
{ORACLE_LOGON_FRAMES}Caused by: oracle.net.ns.NetException: {msg}
\tat oracle.net.ns.NSProtocolNIO.negotiateConnection(NSProtocolNIO.java:309)
\tat oracle.net.ns.NSProtocol.connect(NSProtocol.java:347)
\tat oracle.jdbc.driver.T4CConnection.connect(T4CConnection.java:2364)
\tat oracle.jdbc.driver.T4CConnection.logon(T4CConnection.java:657)
\t... 18 more
"
    )
}

/// The trace of a FailFast task whose database became unreachable, chosen by connector class
/// and by what reconnecting got.
pub fn producer_failure(class: &str, db: Option<SocketAddr>, reach: Reach) -> String {
    let lower = class.to_ascii_lowercase();
    let (host, port) = match db {
        Some(a) => (a.ip().to_string(), a.port()),
        None => ("localhost".to_string(), 0),
    };
    let (source, cause) = if let (true, Reach::ListenerRefused(code)) =
        (lower.contains("oracle"), reach)
    {
        (
            "io.debezium.connector.oracle.logminer.LogMinerStreamingChangeEventSource",
            oracle_listener_refusal(code),
        )
    } else if lower.contains("oracle") {
        (
            "io.debezium.connector.oracle.logminer.LogMinerStreamingChangeEventSource",
            format!(
                "Caused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection (CONNECTION_ID=q3ZC5kT0SxyJ2Rr0f8bGNA==)
{ORACLE_LOGON_FRAMES}Caused by: oracle.net.ns.NetException: The Network Adapter could not establish the connection (CONNECTION_ID=q3ZC5kT0SxyJ2Rr0f8bGNA==)
\tat oracle.net.nt.ConnStrategy.execute(ConnStrategy.java:902)
\tat oracle.net.resolver.AddrResolution.resolveAndExecute(AddrResolution.java:702)
\tat oracle.net.ns.NSProtocol.establishConnection(NSProtocol.java:960)
\tat oracle.net.ns.NSProtocol.connect(NSProtocol.java:330)
\tat oracle.jdbc.driver.T4CConnection.connect(T4CConnection.java:2364)
\tat oracle.jdbc.driver.T4CConnection.logon(T4CConnection.java:657)
\t... 18 more
Caused by: java.io.IOException: Connection refused, socket connect lapse 0 ms. /{host} {port} 0 1 true
\tat oracle.net.nt.TcpNTAdapter.connect(TcpNTAdapter.java:252)
\tat oracle.net.nt.ConnOption.connect(ConnOption.java:178)
\tat oracle.net.nt.ConnStrategy.execute(ConnStrategy.java:808)
\t... 23 more
"
            ),
        )
    } else if lower.contains("postgres") {
        (
            "io.debezium.connector.postgresql.PostgresStreamingChangeEventSource",
            format!(
                "Caused by: org.postgresql.util.PSQLException: Connection to {host}:{port} refused. Check that the hostname and port are correct and that the postmaster is accepting TCP/IP connections.
\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:352)
\tat org.postgresql.core.ConnectionFactory.openConnection(ConnectionFactory.java:54)
\tat org.postgresql.jdbc.PgConnection.<init>(PgConnection.java:273)
\tat org.postgresql.Driver.makeConnection(Driver.java:446)
\tat org.postgresql.Driver.connect(Driver.java:298)
\tat io.debezium.jdbc.JdbcConnection.lambda$patternBasedFactory$0(JdbcConnection.java:251)
\tat io.debezium.jdbc.JdbcConnection$ConnectionFactoryDecorator.connect(JdbcConnection.java:130)
\tat io.debezium.jdbc.JdbcConnection.connection(JdbcConnection.java:889)
\tat io.debezium.connector.postgresql.connection.PostgresReplicationConnection.reconnect(PostgresReplicationConnection.java:780)
\tat io.debezium.connector.postgresql.PostgresStreamingChangeEventSource.execute(PostgresStreamingChangeEventSource.java:190)
\t... 9 more
{SOCKET_CAUSE}"
            ),
        )
    } else if lower.contains("mysql") || lower.contains("mariadb") {
        (
            "io.debezium.connector.binlog.BinlogStreamingChangeEventSource",
            format!(
                "Caused by: com.mysql.cj.jdbc.exceptions.CommunicationsException: Communications link failure

The last packet sent successfully to the server was 0 milliseconds ago. The driver has not received any packets from the server.
\tat com.mysql.cj.jdbc.exceptions.SQLError.createCommunicationsException(SQLError.java:175)
\tat com.mysql.cj.jdbc.exceptions.SQLExceptionsMapping.translateException(SQLExceptionsMapping.java:64)
\tat com.mysql.cj.jdbc.ConnectionImpl.createNewIO(ConnectionImpl.java:819)
\tat com.mysql.cj.jdbc.ConnectionImpl.<init>(ConnectionImpl.java:440)
\tat io.debezium.jdbc.JdbcConnection.connection(JdbcConnection.java:889)
\t... 9 more
{SOCKET_CAUSE}"
            ),
        )
    } else {
        (
            "io.debezium.pipeline.source.AbstractStreamingChangeEventSource",
            format!("Caused by: java.sql.SQLException: Cannot connect to {host}:{port}\n\t... 9 more\n{SOCKET_CAUSE}"),
        )
    };
    format!(
        "{HEAD}
\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable(ErrorHandler.java:67)
\tat {source}.execute({file}.java:240)
{COORDINATOR_FRAMES}{cause}",
        file = source.rsplit('.').next().unwrap_or("Source"),
    )
}

#[cfg(test)]
mod tests {
    use super::producer_failure;
    use crate::db::Reach;

    #[test]
    fn traces_name_the_driver_cause() {
        let db = Some("127.0.0.1:15432".parse().unwrap());
        let pg = producer_failure(
            "io.debezium.connector.postgresql.PostgresConnector",
            db,
            Reach::Unreachable,
        );
        assert!(pg.starts_with("org.apache.kafka.connect.errors.ConnectException: An exception occurred in the change event producer. This connector will be stopped.\n\tat io.debezium.pipeline.ErrorHandler.setProducerThrowable"));
        assert!(pg.contains("\nCaused by: org.postgresql.util.PSQLException: Connection to 127.0.0.1:15432 refused."));
        let class = "io.debezium.connector.oracle.OracleConnector";
        let ora = producer_failure(class, db, Reach::Unreachable);
        assert!(ora.contains("\nCaused by: java.sql.SQLRecoverableException: IO Error: The Network Adapter could not establish the connection"));
        let refused = producer_failure(class, db, Reach::ListenerRefused(12514));
        assert!(refused.contains("\nCaused by: java.sql.SQLRecoverableException: Listener refused the connection with the following error:\nORA-12514, TNS:listener does not currently know of service requested in connect descriptor\n"));
        assert!(!refused.contains("Network Adapter"));
    }
}

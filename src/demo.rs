//! `cdc-sentinel demo`: plays a nightly backup against an embedded simulated Kafka Connect.
use crate::config::DemoArgs;
pub async fn run(_d: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("the demo is not wired yet")
}

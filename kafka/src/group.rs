//! The election member: one consumer in the group `Options::group_id`, subscribed to the
//! one-partition topic. The group coordinator assigns partition 0 to exactly one member per
//! generation; that member may claim leadership. Its own thread polls it (serving rebalance
//! callbacks and heartbeating) and also checks the leader's freshness, since it keeps running
//! while the leader thread waits on Kafka.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::FromClientConfigAndContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;

use crate::error::Error;
use crate::shared::{client_config, Ctx, GroupCtx, Shared};

pub(crate) enum GroupCmd {
    /// Leave the group and join again: the only way back to leadership after stepping down.
    Rejoin,
}

pub(crate) fn start(
    shared: &Arc<Shared>,
    stop: Arc<AtomicBool>,
) -> Result<(SyncSender<GroupCmd>, JoinHandle<()>), Error> {
    let consumer: BaseConsumer<GroupCtx> = BaseConsumer::from_config_and_context(
        &client_config(&shared.opts.group_settings()),
        GroupCtx(Ctx {
            shared: shared.clone(),
            client: "group",
        }),
    )
    .map_err(|e| Error::Config(shared.redactor.clean(&e.to_string())))?;
    consumer
        .subscribe(&[&shared.opts.url.topic])
        .map_err(|e| shared.map_err("subscribe", &e))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    let s = shared.clone();
    let handle = std::thread::Builder::new()
        .name("kafka-store-group".into())
        .spawn(move || run(s, consumer, rx, stop))
        .map_err(|e| Error::Config(format!("cannot start the state store's group thread: {e}")))?;
    Ok((tx, handle))
}

fn run(
    shared: Arc<Shared>,
    consumer: BaseConsumer<GroupCtx>,
    cmds: Receiver<GroupCmd>,
    stop: Arc<AtomicBool>,
) {
    let topic = shared.opts.url.topic.clone();
    while !stop.load(Ordering::Relaxed) {
        // Messages are not needed here (the partition is paused once assigned); polling serves
        // rebalance callbacks and keeps max.poll.interval.ms satisfied.
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            match e.rdkafka_error_code() {
                // The brokers' group.min/max.session.timeout.ms reject ours: this member can
                // never be elected. Say so instead of standing by forever.
                Some(RDKafkaErrorCode::InvalidSessionTimeout) => shared.set_down(format!(
                    "the brokers refuse the session timeout of {:?} (outside their group.min.session.timeout.ms..group.max.session.timeout.ms, 6s..30m by default): choose a value in that range",
                    shared.timings.session
                )),
                Some(RDKafkaErrorCode::GroupAuthorizationFailed | RDKafkaErrorCode::TopicAuthorizationFailed) => {
                    shared.set_down(shared.map_err("joining the election group", &e).to_string())
                }
                _ => tracing::debug!(topic = %topic, "state store: election member: {}", shared.redactor.clean(&e.to_string())),
            }
        }
        let mut rejoin = false;
        loop {
            match cmds.try_recv() {
                Ok(GroupCmd::Rejoin) => rejoin = true,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return close(&shared, consumer),
            }
        }
        if shared.stale_check(Instant::now()) {
            rejoin = true;
        }
        if rejoin {
            tracing::info!(topic = %topic, "state store: leaving the election group to rejoin it (a fresh election)");
            consumer.unsubscribe();
            if let Err(e) = consumer.subscribe(&[&topic]) {
                tracing::warn!(
                    "state store: rejoining the election group: {}",
                    shared.map_err("subscribe", &e)
                );
            }
        }
    }
    close(&shared, consumer)
}

/// Leaves the group at once (LeaveGroup), so a standby is assigned the partition without
/// waiting for our session to expire.
fn close(shared: &Shared, consumer: BaseConsumer<GroupCtx>) {
    consumer.unsubscribe();
    // Serve the revoke callback and let the leave go out.
    let deadline = Instant::now() + Duration::from_millis(500);
    while Instant::now() < deadline
        && !consumer
            .assignment()
            .map(|a| a.count() == 0)
            .unwrap_or(true)
    {
        consumer.poll(Duration::from_millis(50));
    }
    let _ = shared;
    drop(consumer);
}

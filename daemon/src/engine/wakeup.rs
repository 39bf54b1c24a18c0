//! Wake-ups: keeps a LISTEN session open and nudges a loop when its site is notified: the
//! claim loop on `purser_queue` (ready tasks), the reconciler on `purser_reconcile` (dirty
//! marks, a new snapshot). Reconnects by itself; while it is down, the loop's poll interval
//! still finds the work.

use std::sync::Arc;

use purser_sql::notify::{Channel, Listener};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::outage::Outage;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    listen(
        &shared.config.database_url,
        Channel::Queue,
        &shared.config.site,
        &shared.wake,
        stop,
    )
    .await;
}

/// Listens on `channel` until `stop`, notifying `wake` for each notification naming `site`,
/// and once on every (re)connection: anything sent while nobody listened is due now.
pub(crate) async fn listen(
    url: &str,
    channel: Channel,
    site: &str,
    wake: &Notify,
    stop: CancellationToken,
) {
    let mut outage = Outage::new(match channel {
        Channel::Queue => "listen for the queue's wake-ups (polling meanwhile)",
        Channel::Reconcile => "listen for the reconciler's wake-ups (polling meanwhile)",
    });
    loop {
        let backoff = match Listener::connect(url, channel).await {
            Ok(mut listener) => {
                outage.succeeded();
                wake.notify_one();
                loop {
                    tokio::select! {
                        notified = listener.next() => match notified {
                            Some(notified) if notified == site => wake.notify_one(),
                            Some(_) => {}
                            None => break,
                        },
                        () = stop.cancelled() => return,
                    }
                }
                outage.failed(&"the wake-up connection was lost")
            }
            Err(error) => outage.failed(&error),
        };
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
    }
}

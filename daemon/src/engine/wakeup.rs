//! Wake-ups: keeps a LISTEN session open and nudges the claim loop when the site gets ready
//! tasks. Reconnects by itself; while it is down, the poll interval still finds the tasks.

use std::sync::Arc;

use purser_sql::notify::{Channel, Listener};
use tokio_util::sync::CancellationToken;

use super::Shared;
use super::outage::Outage;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut outage = Outage::new("listen for wake-ups (polling meanwhile)");
    loop {
        let backoff = match Listener::connect(&shared.config.database_url, Channel::Queue).await {
            Ok(mut listener) => {
                outage.succeeded();
                // Anything enqueued while we were not listening is ready now.
                shared.wake.notify_one();
                loop {
                    tokio::select! {
                        site = listener.next() => match site {
                            Some(site) if site == shared.config.site => shared.wake.notify_one(),
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

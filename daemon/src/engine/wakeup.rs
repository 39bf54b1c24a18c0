//! Wake-ups: keeps a LISTEN session open and nudges the claim loop when the site gets ready
//! tasks. Reconnects by itself; while it is down, the poll interval still finds the tasks.

use std::sync::Arc;
use std::time::Duration;

use purser_sql::notify::Listener;
use tokio_util::sync::CancellationToken;

use super::Shared;

pub(super) async fn run(shared: Arc<Shared>, stop: CancellationToken) {
    let mut failures: u32 = 0;
    loop {
        match Listener::connect(&shared.config.database_url).await {
            Ok(mut listener) => {
                if failures > 0 {
                    tracing::info!("listening for wake-ups again");
                }
                failures = 0;
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
                tracing::warn!("lost the wake-up connection; polling until it is back");
            }
            Err(error) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(%error, "cannot listen for wake-ups; polling until it can");
                }
            }
        }
        let backoff = Duration::from_millis(100 * 2_u64.pow(failures.min(6)));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
    }
}

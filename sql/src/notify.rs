//! Wake-ups: a dedicated connection that LISTENs on one of Purser's channels (the queue's, or
//! the reconciler's) and hands each notification's payload (a site name) to the daemon. Not pooled: a LISTEN belongs to one
//! session. When the connection ends, [`Listener::next`] returns `None` and the caller
//! reconnects.

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::error::{DbError, flatten_pg_error};
use crate::statements::{LISTEN_QUEUE, LISTEN_RECONCILE, Statement};

/// Which wake-ups to listen for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// `purser_queue`: a site has ready tasks.
    Queue,
    /// `purser_reconcile`: a site has dirty marks or a new snapshot to plan.
    Reconcile,
}

impl Channel {
    fn statement(self) -> Statement {
        match self {
            Self::Queue => LISTEN_QUEUE,
            Self::Reconcile => LISTEN_RECONCILE,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Queue => "the queue's wake-up channel",
            Self::Reconcile => "the reconciler's wake-up channel",
        }
    }
}

/// A LISTENing session.
#[derive(Debug)]
pub struct Listener {
    // Held so the session stays open: dropping the client closes the connection.
    _client: tokio_postgres::Client,
    receiver: mpsc::Receiver<String>,
}

impl Listener {
    /// Connects and LISTENs on `channel`.
    pub async fn connect(url: &str, channel: Channel) -> Result<Self, DbError> {
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|error| DbError::InvalidUrl(flatten_pg_error(&error)))?;
        let (client, mut connection) =
            config
                .connect(NoTls)
                .await
                .map_err(|error| DbError::Connect {
                    target: channel.describe().to_string(),
                    reason: flatten_pg_error(&error),
                })?;
        let (sender, receiver) = mpsc::channel(256);
        let mut messages =
            futures_util::stream::poll_fn(move |context| connection.poll_message(context));
        tokio::spawn(async move {
            while let Some(Ok(message)) = messages.next().await {
                if let AsyncMessage::Notification(notification) = message {
                    // A full channel already holds a wake-up, so dropping this one loses nothing.
                    if let Err(mpsc::error::TrySendError::Closed(_)) =
                        sender.try_send(notification.payload().to_string())
                    {
                        break;
                    }
                }
            }
        });
        client
            .batch_execute(channel.statement().text)
            .await
            .map_err(|error| DbError::Statement {
                statement: channel.statement(),
                error,
            })?;
        Ok(Self {
            _client: client,
            receiver,
        })
    }

    /// The next notified site; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<String> {
        self.receiver.recv().await
    }
}

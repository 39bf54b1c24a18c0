//! `purser api --listen ADDR`: serves the REST API until SIGTERM or SIGINT, then finishes the
//! requests in flight. It reaches the database before it listens, so a wrong URL or a server
//! that is down is a one-line error at start rather than an API answering 503 to everyone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use purser_api::AppState;
use purser_api::oidc::OidcVerifier;
use purser_sql::DbPool;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Where the API listens when neither `--listen` nor `[api] listen` says.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// How long a request may run when `[api] request_timeout` does not say.
const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Options of `purser api`.
#[derive(Debug, clap::Args)]
pub struct ApiArgs {
    /// The address to listen on (default `[api] listen`, else 127.0.0.1:8080).
    #[arg(long, env = "PURSER_API_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Print the OpenAPI document and exit (it needs no database).
    #[arg(long)]
    pub openapi: bool,
}

/// Prints the OpenAPI document, as kept in docs/openapi.json.
pub fn print_openapi() -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&purser_api::openapi::document())
        .context("cannot render the OpenAPI document")?;
    println!("{text}");
    Ok(())
}

/// Builds the API's shared state from the configuration.
pub async fn state(config: &Config, pool: DbPool) -> anyhow::Result<AppState> {
    let oidc = match &config.api.oidc {
        Some(oidc) => Some(Arc::new(
            OidcVerifier::load(oidc.clone())
                .await
                .context("cannot use [api.oidc]")?,
        )),
        None => None,
    };
    Ok(AppState {
        pool,
        oidc,
        request_timeout: config
            .api
            .request_timeout
            .unwrap_or(DEFAULT_REQUEST_TIMEOUT),
    })
}

/// Serves until a shutdown signal.
pub async fn run(config: &Config, pool: DbPool, args: ApiArgs) -> anyhow::Result<()> {
    let address = match args.listen.or(config.api.listen) {
        Some(address) => address,
        None => DEFAULT_LISTEN
            .parse()
            .context("the default listen address")?,
    };
    check_database(&pool).await?;
    let state = state(config, pool).await?;
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    tracing::info!(address = %listener.local_addr()?, "serving the API");
    let shutdown = CancellationToken::new();
    super::cancel_on_signals(&shutdown)?;
    purser_api::serve(listener, state, shutdown.cancelled_owned())
        .await
        .context("the API server failed")
}

/// Makes one connection, and says which database answered.
async fn check_database(pool: &DbPool) -> anyhow::Result<()> {
    let client = pool
        .connection()
        .await
        .context("the API cannot start without its database")?;
    drop(client);
    tracing::info!(database = %pool.target(), "the database answers");
    Ok(())
}

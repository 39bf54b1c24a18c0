//! `purser api --listen ADDR`: serves the REST API until SIGTERM or SIGINT, then finishes the
//! requests in flight. It reaches the database before it listens, so a wrong URL or a server
//! that is down is a one-line error at start rather than an API answering 503 to everyone.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use purser_api::AppState;
use purser_api::oidc::OidcVerifier;
use purser_sql::DbPool;
use serde::Deserialize;
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
    #[arg(long, env = "PURSER_API_LISTEN", value_name = "HOST:PORT")]
    listen: Option<ListenAddress>,
    /// Print the OpenAPI document and exit (it needs no database).
    #[arg(long)]
    pub openapi: bool,
    /// Print the endpoint reference (markdown, as kept in docs/api-reference.md) and exit.
    #[arg(long, conflicts_with = "openapi")]
    pub reference: bool,
}

/// Where the API listens: `HOST:PORT`, the host a name (`localhost`), an IPv4 address or a
/// bracketed IPv6 address (`[::1]:8080`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ListenAddress {
    host: String,
    port: u16,
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{text} is not HOST:PORT ({why}), e.g. localhost:8080");
        let (host, port) = text.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port = port
            .parse()
            .map_err(|_| bad("the port is not 0 to 65535"))?;
        let bracketed = host.starts_with('[') || host.ends_with(']');
        if host.is_empty() || (bracketed && !(host.starts_with('[') && host.ends_with(']'))) {
            return Err(bad("no host"));
        }
        if !bracketed && host.contains(':') {
            return Err(bad("an IPv6 host goes in brackets"));
        }
        Ok(Self {
            host: host.to_string(),
            port,
        })
    }
}

impl TryFrom<String> for ListenAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}:{}", self.host, self.port)
    }
}

/// Prints the OpenAPI document, as kept in docs/openapi.json.
pub fn print_openapi() -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(&purser_api::openapi::document())
        .context("cannot render the OpenAPI document")?;
    println!("{text}");
    Ok(())
}

/// Prints the endpoint reference, as kept in docs/api-reference.md.
pub fn print_reference() -> anyhow::Result<()> {
    let text = purser_api::reference::markdown().context("cannot render the endpoint reference")?;
    print!("{text}");
    Ok(())
}

/// Builds the API's shared state from the configuration: its own pool, whose statements are
/// limited to just under the request timeout.
pub async fn state(config: &Config) -> anyhow::Result<AppState> {
    let oidc = match &config.api.oidc {
        Some(oidc) => Some(Arc::new(
            OidcVerifier::load(oidc.clone())
                .await
                .context("cannot use [api.oidc]")?,
        )),
        None => None,
    };
    let request_timeout = config
        .api
        .request_timeout
        .unwrap_or(DEFAULT_REQUEST_TIMEOUT);
    AppState::connect(
        &config.database_url,
        config.database_pool_size,
        oidc,
        request_timeout,
    )
    .context("cannot use the database")
}

/// Serves until a shutdown signal.
pub async fn run(config: &Config, args: ApiArgs) -> anyhow::Result<()> {
    let address = match args.listen.or_else(|| config.api.listen.clone()) {
        Some(address) => address,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(anyhow::Error::msg)
            .context("the default listen address")?,
    };
    let state = state(config).await?;
    check_database(&state.pool).await?;
    let listener = tokio::net::TcpListener::bind(address.to_string())
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

#[cfg(test)]
mod tests {
    use super::ListenAddress;

    #[test]
    fn a_listen_address_may_name_its_host() {
        for good in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "api.example.edu:443",
        ] {
            let address: ListenAddress = good.parse().unwrap_or_else(|error| panic!("{error}"));
            assert_eq!(address.to_string(), good);
        }
        for bad in [
            "localhost",
            ":8080",
            "localhost:http",
            "::1:8080",
            "[::1:8080",
            "h:70000",
        ] {
            assert!(bad.parse::<ListenAddress>().is_err(), "{bad} parsed");
        }
    }
}

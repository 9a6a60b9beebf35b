//! Building and running the server: connect the database, apply migrations, load keys and the
//! theme, then serve the router until shutdown.

use std::{future::Future, net::SocketAddr, ops::Deref, sync::Arc, time::Duration};

use axum::Router;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;

use crate::{
    config::Config,
    crypto::{at_rest::SecretBox, keys::SigningKeys, password::PasswordHasherConfig},
    mfa::passkey::PasskeyService,
    model::now,
    store::{self, browser_sessions::DbSessionStore},
    web::templates::Templates,
};

/// Everything a request handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub db: DatabaseConnection,
    pub keys: SigningKeys,
    /// Seals secrets kept in the database (private keys; TOTP secrets later).
    pub secrets: SecretBox,
    pub templates: Templates,
    pub passwords: PasswordHasherConfig,
    /// The WebAuthn relying party; `None` when passkeys cannot work (an IP-address issuer).
    pub passkeys: Option<PasskeyService>,
    /// `private_key_jwt` clients' JWK Sets fetched from their `jwks_uri`.
    pub client_keys: crate::oidc::client_assertion::JwksCache,
    pub write_queue: store::WriteQueue,
    /// The discovery document, serialized once.
    pub discovery_json: axum::body::Bytes,
    pub rate_limits: crate::web::rate_limit::RateLimits,
    pub metrics: crate::web::metrics::Metrics,
}

impl AppState {
    /// Waits for this node's turn to write to SQLite (see `store::WriteQueue`); take it just
    /// before a write transaction begins and keep it until the commit.
    pub async fn sqlite_writer(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        self.write_queue.turn().await
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

pub struct App {
    listener: TcpListener,
    router: Router,
    state: AppState,
}

impl App {
    /// Prepares a server on an already bound listener (tests bind port 0 first, so that the
    /// issuer can name the real port).
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<App> {
        let db = store::connect(&config.database_url)
            .await
            .map_err(|e| anyhow::anyhow!("database_url: cannot open the database: {e}"))?;
        store::migrate(&db).await?;
        let has_keys = store::keys::any_stored(&db).await?;
        let secrets = SecretBox::load_or_create(&config.secret_key_file, !has_keys)?;
        let keys = SigningKeys::load(&store::keys::load_or_create(&db, &secrets).await?)?;
        let templates = Templates::load(&config.themes_dir, &config.theme, &config.branding)?;
        if let Some(ratio) = config.branding.accent_contrast_with_white()
            && ratio < 4.5
        {
            tracing::warn!(
                accent_color = %config.branding.accent_color,
                "white button text on branding.accent_color has a contrast of {ratio:.1}:1, below the 4.5:1 of WCAG AA: pick a darker colour"
            );
        }
        let passwords = PasswordHasherConfig::new(&config.argon2)?;
        let passkeys = PasskeyService::new(&config)?;
        if passkeys.is_none() {
            tracing::warn!(
                issuer = %config.issuer,
                "passkeys are off: the issuer is an IP address, which browsers refuse as a WebAuthn relying party; use a host name or set webauthn.rp_id"
            );
        }
        let write_queue = store::WriteQueue::for_url(&config.database_url);
        let discovery_json = crate::oidc::discovery::document(&config).to_string().into();
        let state = AppState(Arc::new(Inner {
            write_queue,
            discovery_json,
            rate_limits: crate::web::rate_limit::RateLimits::new(&config.rate_limits),
            metrics: Default::default(),
            config,
            db,
            keys,
            secrets,
            templates,
            passwords,
            passkeys,
            client_keys: Default::default(),
        }));
        let router = crate::web::router(state.clone());
        Ok(App {
            listener,
            router,
            state,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then finishes in-flight requests.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        tokio::spawn(housekeeping(self.state.clone()));
        tokio::spawn(reload_keys(self.state.clone()));
        axum::serve(
            self.listener,
            self.router
                .into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await
    }
}

/// Re-reads the signing keys now and then: a rotation made by `idp keys rotate` (on any
/// machine) reaches this node within `keys.reload_interval`, well before the new key signs.
async fn reload_keys(state: AppState) {
    let mut tick = tokio::time::interval(state.config.keys.reload_interval);
    tick.tick().await;
    loop {
        tick.tick().await;
        let result = async {
            let stored = store::keys::current(&state.db, &state.secrets).await?;
            state.keys.reload(&stored)
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(
                error = format!("{e:#}"),
                "reloading the signing keys failed; keeping the current ones"
            );
        }
    }
}

/// Deletes expired sessions, login transactions, codes and token records now and then.
async fn housekeeping(state: AppState) {
    let sessions = DbSessionStore::new(state.db.clone(), state.write_queue.clone());
    let mut tick = tokio::time::interval(Duration::from_secs(300));
    loop {
        tick.tick().await;
        let now = now();
        state.rate_limits.forget_quiet_addresses();
        let result = async {
            sessions
                .delete_expired()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            store::transactions::delete_expired(&state.db, now).await?;
            store::tokens::delete_expired(&state.db, now).await?;
            store::user_sessions::delete_expired(&state.db, now).await?;
            store::ceremonies::delete_expired(&state.db, now).await?;
            store::pushed_requests::delete_expired(&state.db, now).await?;
            crate::oidc::client_assertion::delete_expired(&state.db, now).await?;
            let retention = state.config.audit.retention.as_secs() as i64;
            store::security_events::delete_older_than(&state.db, now - retention).await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "housekeeping failed; will retry");
        }
    }
}

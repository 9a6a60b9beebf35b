//! The `idp` command line: run the server, migrate the database, manage clients and users.
//! Every subcommand reads the same configuration (`--config`, `idp.toml`, `IDP_*`), so the
//! CLI and the server always work on the same database.

use std::{io::Read, path::PathBuf, process::ExitCode};

use clap::{Args, Parser, Subcommand};
use serde_json::json;

use crate::{
    admin::{
        self, Actor, AdminError,
        clients::{ClientCredentials, NewClient},
        users::NewUser,
    },
    app::App,
    config::Config,
    crypto::{keys::SigningAlg, password::PasswordHasherConfig},
    model::client::{Client, GrantType, TokenEndpointAuthMethod},
    store,
};

#[derive(Debug, Parser)]
#[command(
    name = "idp",
    version,
    about = "A passkey-first OpenID Connect identity provider",
    long_about = "A passkey-first OpenID Connect identity provider.\n\n\
        Configuration comes from idp.toml in the working directory (or --config PATH), then \
        from IDP_* environment variables: IDP_ISSUER, IDP_LISTEN, IDP_DATABASE_URL, IDP_THEME, \
        and nested keys with a double underscore, such as IDP_TOKENS__ACCESS_TOKEN=5m."
)]
pub struct Cli {
    /// Configuration file [default: ./idp.toml if it exists]
    #[arg(long, global = true, value_name = "PATH", env = "IDP_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Run the server (applies pending database migrations first)
    Serve,
    /// Apply pending database migrations and exit
    Migrate,
    /// Check the configuration and print it as TOML
    CheckConfig,
    /// Manage OAuth clients (relying parties)
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage users
    #[command(subcommand)]
    User(UserCommand),
    /// Manage token signing keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage admin API tokens
    #[command(subcommand)]
    AdminToken(AdminTokenCommand),
    /// Read the audit log (security and admin events)
    #[command(subcommand)]
    Audit(AuditCommand),
}

#[derive(Debug, Subcommand)]
// Parsed once per run: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
pub enum ClientCommand {
    /// Register a client; prints its id and (for confidential clients) its secret, once
    Add {
        /// Name shown to users on the sign-in page
        #[arg(long)]
        name: String,
        /// Redirect URI, matched exactly (repeat for several): https, http on a loopback
        /// host, or a private-use scheme such as com.example.app:/callback
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Where RP-initiated logout may send the browser back to, matched exactly (repeat
        /// for several; same rules as redirect URIs)
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// A public client (native or browser app): no secret, PKCE required
        #[arg(long)]
        public: bool,
        /// Algorithm of the client's ID tokens: ES256 or RS256
        #[arg(long, value_name = "ALG", default_value = "ES256")]
        id_token_alg: String,
        /// The lowest authentication level the client accepts, applied to every request:
        /// pwd, mfa, phr (phishing-resistant: a passkey) or phrh (an attested hardware
        /// passkey, when configured); the names set in the config's [acr] section
        #[arg(long, value_name = "ACR")]
        min_acr: Option<String>,
        /// A grant type the client may use (repeat for several): authorization_code,
        /// refresh_token, client_credentials [default: authorization_code and refresh_token]
        #[arg(long = "grant", value_name = "GRANT")]
        grants: Vec<String>,
        /// A scope a client_credentials client may ask for (repeat for several)
        #[arg(long = "scope", value_name = "SCOPE")]
        scopes: Vec<String>,
        /// The client must push its authorization requests first (RFC 9126 PAR)
        #[arg(long)]
        require_par: bool,
        /// How a confidential client authenticates: client_secret_basic (default),
        /// client_secret_post, or private_key_jwt (a JWT signed with its key, RFC 7523)
        #[arg(long, value_name = "METHOD")]
        auth_method: Option<String>,
        /// private_key_jwt: where the client publishes its public keys (a JWK Set)
        #[arg(long, value_name = "URI", conflicts_with = "jwks_file")]
        jwks_uri: Option<String>,
        /// private_key_jwt: a file holding the client's public keys (a JWK Set)
        #[arg(long, value_name = "FILE")]
        jwks_file: Option<PathBuf>,
        /// Issue access tokens only with a DPoP proof, bound to the client's key (RFC 9449)
        #[arg(long)]
        dpop_bound: bool,
        /// Where to POST a logout token when a user who signed in to this client signs out
        /// (OpenID Connect Back-Channel Logout 1.0)
        #[arg(long, value_name = "URI")]
        backchannel_logout_uri: Option<String>,
        /// Issue refresh tokens even when the app did not ask for offline_access
        #[arg(long)]
        refresh_without_offline_access: bool,
        /// Do not rotate DPoP-bound refresh tokens: the same token stays valid until it
        /// expires (FAPI 2.0 advises against rotating sender-constrained tokens)
        #[arg(long)]
        keep_dpop_refresh_tokens: bool,
        /// The operator's own application: users are not asked for consent
        #[arg(long)]
        first_party: bool,
        #[command(flatten)]
        details: ClientDetails,
        #[command(flatten)]
        output: Output,
    },
    /// Change a client's settings; those not given stay as they are
    Update {
        /// The client_id
        #[arg(allow_hyphen_values = true)]
        id: String,
        /// New name shown to users
        #[arg(long)]
        name: Option<String>,
        /// Replaces the redirect URIs (repeat for several)
        #[arg(long = "redirect-uri", value_name = "URI")]
        redirect_uris: Vec<String>,
        /// Replaces the post-logout redirect URIs (repeat for several)
        #[arg(long = "post-logout-redirect-uri", value_name = "URI")]
        post_logout_redirect_uris: Vec<String>,
        /// The lowest authentication level the client accepts ("" for none)
        #[arg(long, value_name = "ACR")]
        min_acr: Option<String>,
        /// Whether the client is the operator's own application (no consent page)
        #[arg(long, value_name = "BOOL")]
        first_party: Option<bool>,
        #[command(flatten)]
        details: ClientDetails,
        #[command(flatten)]
        output: Output,
    },
    /// List clients
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Show one client
    Show {
        /// The client_id (ids made before 0.1 may start with "-")
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a client and every code and token issued to it
    Remove {
        /// The client_id (ids made before 0.1 may start with "-")
        #[arg(allow_hyphen_values = true)]
        id: String,
    },
    /// Replace a confidential client's secret; prints the new one, once
    RotateSecret {
        /// The client_id (ids made before 0.1 may start with "-")
        #[arg(allow_hyphen_values = true)]
        id: String,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user
    Add {
        /// Letters, digits and . _ - @ (1 to 64 characters); stored in lower case, since
        /// usernames are compared without regard to case
        username: String,
        /// E-mail address (profile data; released with the email scope)
        #[arg(long)]
        email: Option<String>,
        /// Display name (released with the profile scope)
        #[arg(long)]
        name: Option<String>,
        /// Read the user's password from standard input (one line, at least 8 characters)
        #[arg(long)]
        password_stdin: bool,
    },
    /// List users
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Stop a user from signing in; their existing tokens stop working
    Disable { username: String },
    /// Let a disabled user sign in again
    Enable { username: String },
    /// Make a user set up a second factor (passkey or authenticator app) at their next
    /// sign-in; they cannot finish signing in to an application before
    RequireMfa {
        username: String,
        /// Lift the requirement instead
        #[arg(long)]
        off: bool,
    },
    /// Make a user add a passkey at their next sign-in, after their password (and second
    /// factor, if any); they cannot finish signing in before. Met once they have a passkey
    RequirePasskey {
        username: String,
        /// Lift the requirement instead
        #[arg(long)]
        off: bool,
    },
    /// Make a one-time sign-up link for someone (needs `signup = "invite"` or `"open"`);
    /// they create their account with a passkey
    Invite {
        /// The invitee's e-mail address (shown on the sign-up form; never used to sign in)
        #[arg(long)]
        email: String,
        /// The username they get (default: they choose one)
        #[arg(long)]
        username: Option<String>,
        /// How long the link works, e.g. 7d, 12h (at most 90 days)
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
        #[command(flatten)]
        output: Output,
    },
    /// Delete a user with their passkeys, app, recovery codes, password, sessions and
    /// tokens; a security event keeps only the user id
    Delete { username: String },
    /// Make a user an admin: they may use the admin pages (/admin) and API
    GrantAdmin { username: String },
    /// Take the admin role away from a user
    RevokeAdmin { username: String },
    /// Sign a user out of every browser and revoke every token issued to them
    SignOut { username: String },
    /// Remove a user's passkeys, authenticator app and/or recovery codes (all three when no
    /// option is given) and sign them out everywhere; their password stays
    ResetFactors {
        username: String,
        #[arg(long)]
        passkeys: bool,
        #[arg(long)]
        totp: bool,
        #[arg(long)]
        recovery_codes: bool,
    },
    /// Print a one-time link with which the user adds a new passkey (after losing theirs)
    RecoveryLink {
        username: String,
        /// How long the link works, e.g. 24h (at most 7 days)
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        expires: std::time::Duration,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum AdminTokenCommand {
    /// Make a token for the admin API (or, with --scope register, for apps to register
    /// themselves); prints it once
    Create {
        /// What the token is for (shown in lists and the audit log)
        #[arg(long)]
        name: String,
        /// How long it works, e.g. 30d, 12h [default: until revoked]
        #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
        expires: Option<std::time::Duration>,
        /// admin (the admin API) or register (dynamic client registration, RFC 7591)
        #[arg(long, default_value = "admin")]
        scope: String,
        #[command(flatten)]
        output: Output,
    },
    /// List admin tokens (never the tokens themselves)
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Revoke a token: it stops working at once
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the latest security and admin events, oldest first; --follow keeps printing
    /// new ones as they happen
    Tail {
        /// Keep waiting for new events (Ctrl-C stops)
        #[arg(long, short)]
        follow: bool,
        /// Only this user's events
        #[arg(long, value_name = "USERNAME")]
        user: Option<String>,
        /// Only events of this type, e.g. signed_in, client_created
        #[arg(long = "type", value_name = "TYPE")]
        kind: Option<String>,
        /// How many past events to print first
        #[arg(long, short = 'n', default_value_t = 20)]
        lines: u64,
        #[command(flatten)]
        output: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// List signing keys and their state (pending, signing, published, retired)
    List {
        #[command(flatten)]
        output: Output,
    },
    /// Make new signing keys: published now, signing after keys.prepublication; the old
    /// keys stay published until every token they signed has expired
    Rotate {
        /// Rotate only this algorithm's key: ES256 or RS256 [default: both]
        #[arg(long, value_name = "ALG")]
        alg: Option<String>,
        #[command(flatten)]
        output: Output,
    },
}

/// What the consent page shows about a client, and its token lifetimes.
#[derive(Debug, Args)]
pub struct ClientDetails {
    /// Logo shown on the consent page (https URL; "" removes it on update)
    #[arg(long, value_name = "URI")]
    logo_uri: Option<String>,
    /// The client's privacy policy, linked from the consent page (https URL)
    #[arg(long, value_name = "URI")]
    policy_uri: Option<String>,
    /// The client's terms of service, linked from the consent page (https URL)
    #[arg(long, value_name = "URI")]
    tos_uri: Option<String>,
    /// How long this client's access tokens live, e.g. 5m [default: tokens.access_token]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    access_token_lifetime: Option<std::time::Duration>,
    /// How long this client's refresh tokens live at most, e.g. 7days [default:
    /// tokens.refresh_token]
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    refresh_token_lifetime: Option<std::time::Duration>,
}

impl ClientDetails {
    /// Applies the details given to `new` ("" clears a URI).
    fn apply(self, new: &mut NewClient) {
        let uri = |given: Option<String>, current: &mut Option<String>| {
            if let Some(value) = given {
                *current = Some(value).filter(|v| !v.is_empty());
            }
        };
        uri(self.logo_uri, &mut new.logo_uri);
        uri(self.policy_uri, &mut new.policy_uri);
        uri(self.tos_uri, &mut new.tos_uri);
        if self.access_token_lifetime.is_some() {
            new.access_token_lifetime = self.access_token_lifetime;
        }
        if self.refresh_token_lifetime.is_some() {
            new.refresh_token_lifetime = self.refresh_token_lifetime;
        }
    }
}

#[derive(Debug, Args)]
pub struct Output {
    /// Print JSON instead of text
    #[arg(long)]
    json: bool,
}

/// A failure the CLI reports on one line before exiting non-zero.
type CliResult = Result<(), String>;

pub async fn run(cli: Cli) -> ExitCode {
    match execute(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cli: Cli) -> CliResult {
    let config = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    match cli.command {
        Command::Serve => serve(config).await,
        Command::CheckConfig => {
            print!("{}", toml_of(&config)?);
            Ok(())
        }
        Command::Migrate => {
            open_db(&config).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Client(command) => client(&config, command).await,
        Command::User(command) => user(&config, command).await,
        Command::Keys(command) => keys(&config, command).await,
        Command::AdminToken(command) => admin_token(&config, command).await,
        Command::Audit(command) => audit(&config, command).await,
    }
}

fn toml_of(config: &Config) -> Result<String, String> {
    toml::to_string(config).map_err(|e| format!("printing the configuration: {e}"))
}

async fn open_db(config: &Config) -> Result<sea_orm::DatabaseConnection, String> {
    let db = store::connect(&config.database_url)
        .await
        .map_err(|e| format!("database_url: cannot open the database: {e}"))?;
    store::migrate(&db).await.map_err(|e| format!("{e:#}"))?;
    Ok(db)
}

async fn serve(config: Config) -> CliResult {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| format!("listen: cannot listen on {}: {e}", config.listen))?;
    let issuer = config.issuer.clone();
    let app = App::build(config, listener)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let addr = app.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, %issuer, "idp is listening");
    eprintln!("idp listening on http://{addr} (issuer {issuer})");
    app.run(shutdown_signal()).await.map_err(|e| e.to_string())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down; finishing in-flight requests");
}

fn admin_error(e: AdminError) -> String {
    match e {
        AdminError::Invalid(m) | AdminError::NotFound(m) => m,
        AdminError::Internal(e) => format!("{e:#}"),
    }
}

/// The client as JSON, its minimum level under the configured acr name.
fn client_json(config: &Config, client: &Client) -> serde_json::Value {
    let mut json = serde_json::to_value(client).expect("clients serialize");
    if let Some(level) = client.min_acr {
        json["min_acr"] = config.acr_ladder().name(level).into();
    }
    json
}

fn print_credentials(credentials: &ClientCredentials, output: &Output, verb: &str) {
    let client = &credentials.client;
    if output.json {
        println!(
            "{}",
            json!({
                "client_id": client.client_id,
                "client_secret": credentials.client_secret,
            })
        );
        return;
    }
    println!("{verb} client {:?}", client.name);
    println!("client_id:     {}", client.client_id);
    match &credentials.client_secret {
        Some(secret) => {
            println!("client_secret: {secret}");
            println!("The secret is shown only now; store it safely.");
        }
        None => println!("(public client: no secret; it must use PKCE)"),
    }
}

fn print_client(config: &Config, client: &Client) {
    println!("client_id:       {}", client.client_id);
    println!("name:            {}", client.name);
    println!(
        "type:            {}",
        match client.client_type {
            crate::model::client::ClientType::Confidential => "confidential",
            crate::model::client::ClientType::Public => "public",
        }
    );
    println!(
        "auth method:     {}",
        client.token_endpoint_auth_method.as_str()
    );
    println!("id token alg:    {}", client.id_token_signed_response_alg);
    for uri in &client.redirect_uris {
        println!("redirect uri:    {uri}");
    }
    for uri in &client.post_logout_redirect_uris {
        println!("post-logout uri: {uri}");
    }
    if let Some(level) = client.min_acr {
        println!("minimum acr:     {}", config.acr_ladder().name(level));
    }
    let grants: Vec<_> = client.grant_types.iter().map(|g| g.as_str()).collect();
    println!("grant types:     {}", grants.join(" "));
    if let Some(scope) = &client.scope {
        println!("scope:           {scope}");
    }
    if client.require_pushed_authorization_requests {
        println!("requires PAR:    yes");
    }
    if let Some(uri) = &client.jwks_uri {
        println!("jwks uri:        {uri}");
    }
    if client.jwks.is_some() {
        println!("jwks:            registered");
    }
    if client.dpop_bound_access_tokens {
        println!("DPoP-bound:      yes");
    }
    if let Some(uri) = &client.backchannel_logout_uri {
        println!("logout uri:      {uri} (back-channel)");
    }
    if client.refresh_tokens_without_offline_access {
        println!("refresh tokens:  without offline_access too");
    }
    if !client.rotate_dpop_bound_refresh_tokens {
        println!("DPoP refresh:    kept, not rotated");
    }
    if client.first_party {
        println!("first party:     yes (no consent page)");
    }
    for (label, uri) in [
        ("logo uri:       ", &client.logo_uri),
        ("policy uri:     ", &client.policy_uri),
        ("terms uri:      ", &client.tos_uri),
    ] {
        if let Some(uri) = uri {
            println!("{label} {uri}");
        }
    }
    for (label, seconds) in [
        ("access tokens:  ", client.access_token_lifetime),
        ("refresh tokens: ", client.refresh_token_lifetime),
    ] {
        if let Some(seconds) = seconds {
            let lifetime = humantime::format_duration(std::time::Duration::from_secs(seconds));
            println!("{label} live {lifetime}");
        }
    }
}

async fn client(config: &Config, command: ClientCommand) -> CliResult {
    // Check what needs no database before opening it.
    let db = match &command {
        ClientCommand::Add { id_token_alg, .. } => {
            id_token_alg.parse::<SigningAlg>()?;
            open_db(config).await?
        }
        _ => open_db(config).await?,
    };
    match command {
        ClientCommand::Add {
            name,
            redirect_uris,
            post_logout_redirect_uris,
            public,
            id_token_alg,
            min_acr,
            grants,
            scopes,
            require_par,
            auth_method,
            jwks_uri,
            jwks_file,
            dpop_bound,
            backchannel_logout_uri,
            refresh_without_offline_access,
            keep_dpop_refresh_tokens,
            first_party,
            details,
            output,
        } => {
            let auth_method = match auth_method {
                Some(m) => Some(
                    TokenEndpointAuthMethod::parse(&m)
                        .filter(|m| *m != TokenEndpointAuthMethod::None)
                        .ok_or_else(|| {
                            format!(
                                "unknown auth method {m:?}; use client_secret_basic, client_secret_post or private_key_jwt"
                            )
                        })?,
                ),
                None => None,
            };
            let jwks = match jwks_file {
                Some(path) => Some(
                    std::fs::read_to_string(&path)
                        .map_err(|e| format!("--jwks-file {}: {e}", path.display()))?,
                ),
                None => None,
            };
            let grant_types = grants
                .iter()
                .map(|g| {
                    GrantType::parse(g).ok_or_else(|| {
                        format!(
                            "unknown grant {g:?}; use authorization_code, refresh_token or client_credentials"
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let min_acr = match min_acr {
                Some(name) => parse_acr(config, &name)?,
                None => None,
            };
            let mut new = NewClient {
                name,
                redirect_uris,
                post_logout_redirect_uris,
                public,
                id_token_signed_response_alg: id_token_alg.parse()?,
                min_acr,
                grant_types,
                scopes,
                require_par,
                auth_method,
                jwks,
                jwks_uri,
                dpop_bound,
                backchannel_logout_uri,
                refresh_without_offline_access,
                keep_dpop_refresh_tokens,
                first_party,
                ..NewClient::new("")
            };
            details.apply(&mut new);
            let credentials = admin::clients::create(&db, &Actor::Cli, new)
                .await
                .map_err(admin_error)?;
            print_credentials(&credentials, &output, "Created");
        }
        ClientCommand::Update {
            id,
            name,
            redirect_uris,
            post_logout_redirect_uris,
            min_acr,
            first_party,
            details,
            output,
        } => {
            let client = admin::clients::get(&db, &id).await.map_err(admin_error)?;
            let mut new = NewClient::from_client(&client);
            if let Some(name) = name {
                new.name = name;
            }
            if !redirect_uris.is_empty() {
                new.redirect_uris = redirect_uris;
            }
            if !post_logout_redirect_uris.is_empty() {
                new.post_logout_redirect_uris = post_logout_redirect_uris;
            }
            if let Some(name) = min_acr {
                new.min_acr = parse_acr(config, &name)?;
            }
            if let Some(first_party) = first_party {
                new.first_party = first_party;
            }
            details.apply(&mut new);
            let updated = admin::clients::update(&db, &Actor::Cli, &id, new)
                .await
                .map_err(admin_error)?;
            if updated.client_secret.is_some() {
                print_credentials(&updated, &output, "Updated");
            } else if output.json {
                println!("{}", client_json(config, &updated.client));
            } else {
                print_client(config, &updated.client);
            }
        }
        ClientCommand::List { output } => {
            let clients = admin::clients::list(&db).await.map_err(admin_error)?;
            if output.json {
                let list: Vec<_> = clients.iter().map(|c| client_json(config, c)).collect();
                println!("{}", serde_json::Value::Array(list));
            } else if clients.is_empty() {
                println!("no clients");
            } else {
                for client in &clients {
                    println!("{}  {}", client.client_id, client.name);
                }
            }
        }
        ClientCommand::Show { id, output } => {
            let client = admin::clients::get(&db, &id).await.map_err(admin_error)?;
            if output.json {
                println!("{}", client_json(config, &client));
            } else {
                print_client(config, &client);
            }
        }
        ClientCommand::Remove { id } => {
            admin::clients::remove(&db, &Actor::Cli, &id)
                .await
                .map_err(admin_error)?;
            println!("removed client {id}");
        }
        ClientCommand::RotateSecret { id, output } => {
            let credentials = admin::clients::rotate_secret(&db, &Actor::Cli, &id)
                .await
                .map_err(admin_error)?;
            print_credentials(&credentials, &output, "New secret for");
        }
    }
    Ok(())
}

/// An acr name of the configured ladder; "" for none.
fn parse_acr(
    config: &Config,
    name: &str,
) -> Result<Option<crate::login::assurance::Level>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let ladder = config.acr_ladder();
    ladder.level(name).map(Some).ok_or_else(|| {
        format!(
            "unknown acr {name:?}; use one of: {}",
            ladder.supported().join(", ")
        )
    })
}

/// Reads a password from standard input: the first line, without its line ending.
fn read_password_stdin() -> Result<String, String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("reading the password from standard input: {e}"))?;
    let line = input.lines().next().unwrap_or_default().to_owned();
    if line.is_empty() {
        return Err("the password is empty".into());
    }
    Ok(line)
}

async fn user(config: &Config, command: UserCommand) -> CliResult {
    // Read and check the password before touching the database, so bad input writes nothing.
    let password = match &command {
        UserCommand::Add {
            password_stdin: true,
            ..
        } => Some(read_password_stdin()?),
        _ => None,
    };
    let db = open_db(config).await?;
    match command {
        UserCommand::Add {
            username,
            email,
            name,
            ..
        } => {
            let passwords =
                PasswordHasherConfig::new(&config.argon2).map_err(|e| format!("{e:#}"))?;
            let has_password = password.is_some();
            let user = admin::users::create(
                &db,
                &Actor::Cli,
                &passwords,
                NewUser {
                    username,
                    email,
                    name,
                    password,
                },
            )
            .await
            .map_err(admin_error)?;
            println!("created user {} (id {})", user.username, user.id);
            if !has_password {
                println!("The user has no password yet; use --password-stdin to set one.");
            }
        }
        UserCommand::List { output } => {
            let users = admin::users::list(&db).await.map_err(admin_error)?;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string(&users).expect("users serialize")
                );
            } else if users.is_empty() {
                println!("no users");
            } else {
                for user in &users {
                    let status = if user.disabled { "  (disabled)" } else { "" };
                    println!("{}  {}{status}", user.id, user.username);
                }
            }
        }
        UserCommand::Disable { username } => {
            admin::users::set_disabled(&db, &Actor::Cli, &username, true)
                .await
                .map_err(admin_error)?;
            println!("disabled user {username}");
        }
        UserCommand::RequireMfa { username, off } => {
            admin::users::set_require_mfa(&db, &Actor::Cli, &username, !off)
                .await
                .map_err(admin_error)?;
            if off {
                println!("user {username} no longer has to set up a second factor");
            } else {
                println!("user {username} must set up a second factor at their next sign-in");
            }
        }
        UserCommand::RequirePasskey { username, off } => {
            admin::users::set_require_passkey(&db, &Actor::Cli, &username, !off)
                .await
                .map_err(admin_error)?;
            if off {
                println!("user {username} no longer has to add a passkey");
            } else {
                println!("user {username} must add a passkey at their next sign-in");
            }
        }
        UserCommand::Enable { username } => {
            admin::users::set_disabled(&db, &Actor::Cli, &username, false)
                .await
                .map_err(admin_error)?;
            println!("enabled user {username}");
        }
        UserCommand::Invite {
            email,
            username,
            expires,
            output,
        } => {
            let new = admin::users::invite(
                &db,
                &Actor::Cli,
                &config.issuer,
                &email,
                username.as_deref(),
                expires,
            )
            .await
            .map_err(admin_error)?;
            if config.signup == crate::config::SignupMode::Closed {
                eprintln!(
                    "warning: signup is \"closed\": the link works once signup is \"invite\" or \"open\""
                );
            }
            let invitation = &new.invitation;
            if output.json {
                println!(
                    "{}",
                    json!({
                        "id": invitation.id,
                        "link": new.link,
                        "email": invitation.email,
                        "username": invitation.username,
                        "expires_at": invitation.expires_at,
                    })
                );
            } else {
                println!("{}", new.link);
                println!(
                    "The link works once, for {}; it is shown only now.",
                    humantime::format_duration(expires)
                );
            }
        }
        UserCommand::Delete { username } => {
            let user = admin::users::delete(&db, &Actor::Cli, &username)
                .await
                .map_err(admin_error)?;
            println!("deleted user {} ({})", user.username, user.id);
        }
        UserCommand::GrantAdmin { username } => {
            let user = admin::users::set_admin(&db, &Actor::Cli, &username, true)
                .await
                .map_err(admin_error)?;
            println!("{} is now an admin", user.username);
        }
        UserCommand::RevokeAdmin { username } => {
            let user = admin::users::set_admin(&db, &Actor::Cli, &username, false)
                .await
                .map_err(admin_error)?;
            println!("{} is no longer an admin", user.username);
        }
        UserCommand::SignOut { username } => {
            admin::users::sign_out_everywhere(&db, &Actor::Cli, &username)
                .await
                .map_err(admin_error)?;
            println!("signed {username} out everywhere; their tokens are revoked");
        }
        UserCommand::ResetFactors {
            username,
            passkeys,
            totp,
            recovery_codes,
        } => {
            let reset = admin::users::FactorReset {
                passkeys,
                totp,
                recovery_codes,
            };
            admin::users::reset_factors(&db, &Actor::Cli, &username, reset)
                .await
                .map_err(admin_error)?;
            println!(
                "reset the sign-in methods of {username}; make a recovery link with `idp user recovery-link {username}`"
            );
        }
        UserCommand::RecoveryLink {
            username,
            expires,
            output,
        } => {
            let (link, expires_at) =
                admin::users::recovery_link(&db, &Actor::Cli, &config.issuer, &username, expires)
                    .await
                    .map_err(admin_error)?;
            if output.json {
                println!("{}", json!({"link": link, "expires_at": expires_at}));
            } else {
                println!("{link}");
                println!(
                    "The link works once, for {}; it is shown only now.",
                    humantime::format_duration(expires)
                );
            }
        }
    }
    Ok(())
}

async fn admin_token(config: &Config, command: AdminTokenCommand) -> CliResult {
    let scope = match &command {
        AdminTokenCommand::Create { scope, .. } => Some(
            admin::tokens::TokenScope::parse(scope)
                .ok_or_else(|| format!("unknown scope {scope:?}; use admin or register"))?,
        ),
        _ => None,
    };
    let db = open_db(config).await?;
    match command {
        AdminTokenCommand::Create {
            name,
            expires,
            output,
            ..
        } => {
            let scope = scope.expect("parsed above");
            let new = admin::tokens::create(&db, &Actor::Cli, &name, scope, expires)
                .await
                .map_err(admin_error)?;
            if output.json {
                println!(
                    "{}",
                    json!({
                        "id": new.record.id,
                        "token": new.token,
                        "scope": new.record.scope,
                        "expires_at": new.record.expires_at,
                    })
                );
            } else {
                println!("{}", new.token);
                println!(
                    "Token {} ({:?}, scope {}) is shown only now; store it safely.",
                    new.record.id, new.record.name, new.record.scope
                );
            }
        }
        AdminTokenCommand::List { output } => {
            let tokens = admin::tokens::list(&db).await.map_err(admin_error)?;
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string(&tokens).expect("tokens serialize")
                );
            } else if tokens.is_empty() {
                println!("no admin tokens");
            } else {
                let now = crate::model::now();
                for t in &tokens {
                    let state = match (t.revoked_at, t.expires_at) {
                        (Some(_), _) => "revoked",
                        (None, Some(at)) if at <= now => "expired",
                        _ => "active",
                    };
                    println!("{}  {:<8}  {:<7}  {}", t.id, t.scope, state, t.name);
                }
            }
        }
        AdminTokenCommand::Revoke { id } => {
            admin::tokens::revoke(&db, &Actor::Cli, &id)
                .await
                .map_err(admin_error)?;
            println!("revoked admin token {id}");
        }
    }
    Ok(())
}

async fn audit(config: &Config, command: AuditCommand) -> CliResult {
    let db = open_db(config).await?;
    let AuditCommand::Tail {
        follow,
        user,
        kind,
        lines,
        output,
    } = command;
    let user_id = match user {
        Some(username) => Some(
            admin::users::find(&db, &username)
                .await
                .map_err(admin_error)?
                .id,
        ),
        None => None,
    };
    let mut filter = store::security_events::EventFilter {
        user_id,
        kind,
        ..Default::default()
    };
    // Where following starts when nothing matching is printed first: after the newest event
    // of any kind that exists now, read before the first wait so nothing written during it
    // is skipped.
    let newest = if follow {
        store::security_events::query(&db, &Default::default(), 1, false)
            .await
            .map_err(|e| store::describe(&e))?
            .first()
            .map_or(0, |e| e.id)
    } else {
        0
    };
    let mut events = store::security_events::query(&db, &filter, lines, false)
        .await
        .map_err(|e| store::describe(&e))?;
    events.reverse();
    loop {
        for event in &events {
            print_event(event, &output);
            filter.after_id = Some(event.id);
        }
        if !follow {
            return Ok(());
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        if filter.after_id.is_none() {
            filter.after_id = Some(newest);
        }
        events = store::security_events::query(&db, &filter, 1000, true)
            .await
            .map_err(|e| store::describe(&e))?;
    }
}

fn print_event(event: &store::security_events::Event, output: &Output) {
    if output.json {
        println!(
            "{}",
            serde_json::to_string(event).expect("events serialize")
        );
        return;
    }
    let when = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(event.created_at.max(0) as u64),
    );
    let mut line = format!("{when}  {:<26}", event.kind);
    if let Some(user) = &event.user_id {
        line.push_str(&format!("  user={user}"));
    }
    if let Some(actor) = &event.actor {
        line.push_str(&format!("  by={actor}"));
    }
    if let Some(detail) = &event.detail {
        line.push_str(&format!("  {detail}"));
    }
    println!("{line}");
}

async fn keys(config: &Config, command: KeysCommand) -> CliResult {
    let db = open_db(config).await?;
    let now = crate::model::now();
    match command {
        KeysCommand::List { output } => {
            let keys = store::keys::list(&db, now)
                .await
                .map_err(|e| store::describe(&e))?;
            if output.json {
                println!("{}", serde_json::to_string(&keys).expect("keys serialize"));
            } else {
                for key in &keys {
                    println!(
                        "{}  {}  {:<9}  signs from {}{}",
                        key.kid,
                        key.alg,
                        key.state,
                        key.active_from,
                        key.retired_at
                            .map(|r| format!(", published until {r}"))
                            .unwrap_or_default()
                    );
                }
            }
        }
        KeysCommand::Rotate { alg, output } => {
            let algs = match alg {
                Some(alg) => vec![alg.parse::<SigningAlg>()?],
                None => SigningAlg::ALL.to_vec(),
            };
            let has_keys = store::keys::any_stored(&db)
                .await
                .map_err(|e| store::describe(&e))?;
            let secrets = crate::crypto::at_rest::SecretBox::load_or_create(
                &config.secret_key_file,
                !has_keys,
            )
            .map_err(|e| format!("{e:#}"))?;
            store::keys::load_or_create(&db, &secrets)
                .await
                .map_err(|e| format!("{e:#}"))?;
            // The old key stays published until every token it signed has expired, and a
            // client may have access tokens that live longer than the server's.
            let longest_client_token = store::clients::longest_access_token_lifetime(&db)
                .await
                .map_err(|e| store::describe(&e))?;
            let overlap = config
                .keys_overlap()
                .max(longest_client_token.unwrap_or_default() + 60);
            let mut rotations = Vec::new();
            for alg in algs {
                rotations.push(
                    store::keys::rotate(
                        &db,
                        &secrets,
                        alg,
                        now,
                        config.keys.prepublication.as_secs() as i64,
                        overlap,
                    )
                    .await
                    .map_err(|e| format!("{e:#}"))?,
                );
            }
            if output.json {
                println!(
                    "{}",
                    serde_json::to_string(&rotations).expect("rotations serialize")
                );
            } else {
                for r in &rotations {
                    println!(
                        "new {} key {}: published now, signs from {} ({} s from now); {} retire at {}",
                        r.alg,
                        r.kid,
                        r.active_from,
                        r.active_from - now,
                        if r.retiring.is_empty() {
                            "no keys".to_owned()
                        } else {
                            r.retiring.join(", ")
                        },
                        r.retired_at
                    );
                }
            }
        }
    }
    Ok(())
}

//! A tiny relying party: "Sign in with idp", then a page with the verified ID-token claims.
//!
//! ```text
//! cargo run --example demo_rp -- --issuer http://localhost:8080 \
//!     --client-id ID --client-secret SECRET [--listen 127.0.0.1:3000]
//! ```
//! Register it first with
//! `idp client add --name "Demo app" --redirect-uri http://localhost:3000/callback`.

use std::{collections::HashMap, net::SocketAddr, sync::Arc};

use axum::{
    Router,
    extract::{Query, State},
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use clap::Parser;
use openidconnect::{
    AuthenticationContextClass, AuthenticationFlow, AuthorizationCode, ClientId, ClientSecret,
    CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
    core::{CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType},
};
use tokio::sync::Mutex;

#[derive(Debug, Clone, Parser)]
#[command(about = "A demo relying party for idp")]
pub struct Options {
    /// The IdP's issuer URL
    #[arg(long)]
    pub issuer: String,
    #[arg(long)]
    pub client_id: String,
    #[arg(long)]
    pub client_secret: Option<String>,
    /// Where this app listens
    #[arg(long, default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// The redirect URI registered for this app [default: http://localhost:PORT/callback]
    #[arg(long)]
    pub redirect_uri: Option<String>,
    /// Ask for an authentication level, e.g. "phr" (phishing-resistant: a passkey)
    #[arg(long)]
    pub acr_values: Option<String>,
}

type Client = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

struct Demo {
    client: Client,
    acr_values: Vec<String>,
    http: reqwest::Client,
    /// Pending sign-ins by `state`: the PKCE verifier and nonce to check on return.
    pending: Mutex<HashMap<String, (PkceCodeVerifier, Nonce)>>,
}

/// Discovers the IdP and serves the demo on `listener` until the process ends.
pub async fn run(options: Options, listener: tokio::net::TcpListener) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(options.issuer.clone())?, &http)
            .await
            .map_err(|e| anyhow::anyhow!("discovering {}: {e}", options.issuer))?;
    let port = listener.local_addr()?.port();
    let redirect_uri = options
        .redirect_uri
        .unwrap_or_else(|| format!("http://localhost:{port}/callback"));
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(options.client_id),
        options.client_secret.map(ClientSecret::new),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri)?);
    let demo = Arc::new(Demo {
        client,
        acr_values: options
            .acr_values
            .iter()
            .flat_map(|v| v.split(' '))
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect(),
        http,
        pending: Mutex::new(HashMap::new()),
    });
    let app = Router::new()
        .route("/", get(home))
        .route("/login", get(login))
        .route("/callback", get(callback))
        .with_state(demo);
    axum::serve(listener, app).await?;
    Ok(())
}

async fn home() -> Html<&'static str> {
    Html(
        r#"<!doctype html><title>Demo app</title><h1>Demo app</h1>
<p><a href="/login">Sign in with idp</a></p>"#,
    )
}

async fn login(State(demo): State<Arc<Demo>>) -> Response {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = demo
        .client
        .authorize_url(
            AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge);
    for acr in &demo.acr_values {
        request = request.add_auth_context_value(AuthenticationContextClass::new(acr.clone()));
    }
    let (url, state, nonce) = request.url();
    demo.pending
        .lock()
        .await
        .insert(state.secret().clone(), (verifier, nonce));
    // The state is also kept in a cookie, so a callback only completes in the browser that
    // started it (login CSRF).
    let cookie = format!(
        "demo_state={}; HttpOnly; SameSite=Lax; Path=/",
        state.secret()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response()
}

async fn callback(
    State(demo): State<Arc<Demo>>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    match complete(&demo, &headers, &params).await {
        Ok(page) => Html(page).into_response(),
        Err(e) => (
            axum::http::StatusCode::BAD_REQUEST,
            Html(format!(
                "<!doctype html><title>Sign-in failed</title><h1>Sign-in failed</h1><p>{}</p><p><a href=\"/\">Back</a></p>",
                escape(&e.to_string())
            )),
        )
            .into_response(),
    }
}

async fn complete(
    demo: &Demo,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
) -> anyhow::Result<String> {
    if let Some(error) = params.get("error") {
        anyhow::bail!(
            "the IdP answered {error}: {}",
            params
                .get("error_description")
                .map(String::as_str)
                .unwrap_or("")
        );
    }
    let state = params
        .get("state")
        .ok_or_else(|| anyhow::anyhow!("no state"))?;
    let cookie_state = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix("demo_state="));
    anyhow::ensure!(
        cookie_state == Some(state.as_str()),
        "state does not match this browser"
    );
    let (verifier, nonce) = demo
        .pending
        .lock()
        .await
        .remove(state)
        .ok_or_else(|| anyhow::anyhow!("unknown or used state"))?;
    let code = params
        .get("code")
        .ok_or_else(|| anyhow::anyhow!("no code"))?;
    let tokens = demo
        .client
        .exchange_code(AuthorizationCode::new(code.clone()))?
        .set_pkce_verifier(verifier)
        .request_async(&demo.http)
        .await
        .map_err(|e| anyhow::anyhow!("code exchange failed: {e}"))?;
    let id_token = tokens
        .id_token()
        .ok_or_else(|| anyhow::anyhow!("no ID token"))?;
    let verifier = demo.client.id_token_verifier().set_allowed_algs(vec![
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    ]);
    let claims = id_token.claims(&verifier, &nonce)?;
    let amr: Vec<String> = claims
        .auth_method_refs()
        .map(|a| a.iter().map(|v| v.as_str().to_owned()).collect())
        .unwrap_or_default();
    let rows = [
        ("sub", claims.subject().as_str().to_owned()),
        ("amr", amr.join(" ")),
        (
            "acr",
            claims
                .auth_context_ref()
                .map(|a| a.as_str().to_owned())
                .unwrap_or_default(),
        ),
        (
            "auth_time",
            claims
                .auth_time()
                .map(|t| t.to_rfc3339())
                .unwrap_or_default(),
        ),
        ("iss", claims.issuer().as_str().to_owned()),
    ];
    let table: String = rows
        .iter()
        .map(|(k, v)| format!("<tr><th>{k}</th><td id=\"{k}\">{}</td></tr>", escape(v)))
        .collect();
    Ok(format!(
        "<!doctype html><title>Signed in</title><h1>Signed in</h1>\
         <p>The ID token was verified. Its claims:</p><table>{table}</table><p><a href=\"/\">Home</a></p>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[allow(dead_code)] // the integration test includes this file as a module and calls `run`
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Options::parse();
    let listener = tokio::net::TcpListener::bind(options.listen).await?;
    println!("demo app on http://{}", listener.local_addr()?);
    run(options, listener).await
}

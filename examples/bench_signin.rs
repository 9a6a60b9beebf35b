//! Real passkey sign-ins against a running idp, for `bench/run.sh`.
//!
//! Each user named with `--users` must exist with the password `--password` (made with
//! `idp user add NAME --password-stdin`) and have no passkey yet. At start every user signs in
//! to `/account` with the password and registers a software passkey (webauthn-authenticator-rs)
//! through the passkey JSON API, as the end-to-end tests do. Then each sign-in is what a
//! browser does, in a fresh cookie jar: `GET /authorize` → the sign-in page →
//! `POST /login/passkey/begin` → an assertion from the software passkey →
//! `POST /login/passkey/finish` → the code → `POST /token` (client_secret_basic, PKCE).
//!
//! ```text
//! bench_signin --issuer http://localhost:8080 --client-id ID --client-secret SECRET \
//!     --users a,b --password PW seed --count 64          # one JSON line of tokens per sign-in
//! bench_signin ... signins --seconds 10 --concurrency 4  # sign-ins per second, as JSON
//! ```
//! The client needs the redirect URI `https://app.example/callback` (never followed).
//! A user's sign-ins run one after another (a passkey's signature counter must grow), so
//! `signins` uses one user per concurrent worker.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use clap::{Parser, Subcommand};
use reqwest::{StatusCode, header, redirect::Policy};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs::prelude::{CreationChallengeResponse, RequestChallengeResponse};

const REDIRECT_URI: &str = "https://app.example/callback";

#[derive(Debug, Parser)]
#[command(about = "Passkey sign-ins against a running idp (for bench/run.sh)")]
struct Options {
    /// The issuer (also the WebAuthn origin: http://localhost:PORT, not an IP address)
    #[arg(long)]
    issuer: String,
    /// Where to connect, if not the issuer (e.g. http://127.0.0.1:PORT)
    #[arg(long)]
    base_url: Option<String>,
    #[arg(long)]
    client_id: String,
    #[arg(long, env = "BENCH_CLIENT_SECRET")]
    client_secret: String,
    /// Users to sign in (comma-separated); each gets a software passkey at start
    #[arg(long, value_delimiter = ',', required = true)]
    users: Vec<String>,
    /// The users' password (to register their passkey)
    #[arg(long, env = "BENCH_PASSWORD")]
    password: String,
    /// Scope asked for
    #[arg(long, default_value = "openid offline_access")]
    scope: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign in COUNT times (round robin over the users, one at a time) and print each token
    /// response's `{"access_token", "refresh_token"}` as one JSON line
    Seed {
        #[arg(long)]
        count: usize,
    },
    /// Sign in over and over for SECONDS with one worker per user; print a JSON summary
    Signins {
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let options = Options::parse();
    let base =
        Url::parse(options.base_url.as_deref().unwrap_or(&options.issuer)).context("--base-url")?;
    let origin = Url::parse(&options.issuer).context("--issuer")?;
    let target = Target {
        base,
        origin,
        client_id: options.client_id.clone(),
        client_secret: options.client_secret.clone(),
        scope: options.scope.clone(),
    };

    let mut users = Vec::new();
    for username in &options.users {
        let user = enroll(&target, username, &options.password)
            .await
            .with_context(|| format!("registering a passkey for {username}"))?;
        users.push(user);
    }

    match options.command {
        Command::Seed { count } => {
            let http = http_client()?;
            for i in 0..count {
                let n = users.len();
                let tokens = sign_in(&http, &target, &mut users[i % n])
                    .await
                    .with_context(|| format!("sign-in {i}"))?;
                println!(
                    "{}",
                    json!({
                        "access_token": tokens["access_token"],
                        "refresh_token": tokens["refresh_token"],
                    })
                );
            }
        }
        Command::Signins { seconds } => {
            let deadline = Instant::now() + Duration::from_secs_f64(seconds);
            let started = Instant::now();
            let mut workers = Vec::new();
            for mut user in users {
                let target = target.clone();
                workers.push(tokio::spawn(async move {
                    let http = http_client()?;
                    let mut latencies = Vec::new();
                    let mut errors = Vec::new();
                    while Instant::now() < deadline {
                        let t = Instant::now();
                        match sign_in(&http, &target, &mut user).await {
                            Ok(_) => latencies.push(t.elapsed()),
                            Err(e) => errors.push(format!("{e:#}")),
                        }
                    }
                    anyhow::Ok((latencies, errors))
                }));
            }
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            for worker in workers {
                let (l, e) = worker.await??;
                latencies.extend(l);
                errors.extend(e);
            }
            let elapsed = started.elapsed().as_secs_f64();
            latencies.sort();
            let pct = |p: f64| -> f64 {
                if latencies.is_empty() {
                    return 0.0;
                }
                let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len());
                latencies[i - 1].as_secs_f64() * 1000.0
            };
            errors.sort();
            errors.dedup();
            println!(
                "{}",
                json!({
                    "signins": latencies.len(),
                    "seconds": elapsed,
                    "per_second": latencies.len() as f64 / elapsed,
                    "p50_ms": pct(0.50),
                    "p99_ms": pct(0.99),
                    "errors": errors.len(),
                    "first_errors": errors.iter().take(3).collect::<Vec<_>>(),
                })
            );
        }
    }
    Ok(())
}

#[derive(Clone)]
struct Target {
    base: Url,
    origin: Url,
    client_id: String,
    client_secret: String,
    scope: String,
}

impl Target {
    fn url(&self, path: &str) -> Result<Url> {
        self.base.join(path).with_context(|| format!("URL {path}"))
    }
}

/// A user with a registered software passkey.
struct User {
    soft: SoftPasskey,
    credential_id: String,
    /// The WebAuthn user handle, base64url (a discoverable credential returns it; the
    /// software passkey does not, so it is filled in as the tests do).
    user_handle: String,
}

fn http_client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?)
}

fn location(response: &reqwest::Response) -> Result<String> {
    Ok(response
        .headers()
        .get(header::LOCATION)
        .ok_or_else(|| anyhow!("no Location header; status {}", response.status()))?
        .to_str()?
        .to_owned())
}

/// The `value` of the first `<… {marker}"VALUE"` in `html`.
fn attribute_after(html: &str, marker: &str) -> Result<String> {
    let start = html
        .find(marker)
        .ok_or_else(|| anyhow!("no {marker} in the page"))?
        + marker.len();
    Ok(html[start..].split('"').next().unwrap_or("").to_owned())
}

/// Password sign-in to the account page, then a passkey registered through the JSON API.
async fn enroll(target: &Target, username: &str, password: &str) -> Result<User> {
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()?;
    let to_login = http.get(target.url("/account")?).send().await?;
    let login_url = target.url(&location(&to_login)?)?;
    let html = http.get(login_url.clone()).send().await?.text().await?;
    let form = [
        ("tx", attribute_after(&html, "name=\"tx\" value=\"")?),
        (
            "csrf_token",
            attribute_after(&html, "name=\"csrf_token\" value=\"")?,
        ),
        ("username", username.to_owned()),
        ("password", password.to_owned()),
    ];
    let signed_in = http.post(target.url("/login")?).form(&form).send().await?;
    ensure!(
        signed_in.status() == StatusCode::SEE_OTHER,
        "password sign-in answered {}",
        signed_in.status()
    );
    let account = http.get(target.url("/account")?).send().await?;
    ensure!(
        account.status() == StatusCode::OK,
        "/account answered {} after the password sign-in (wrong password, or a second factor \
         already set up?)",
        account.status()
    );
    let csrf = attribute_after(&account.text().await?, "name=\"csrf-token\" content=\"")?;

    let begin = http
        .post(target.url("/account/api/passkeys/register/begin")?)
        .header("x-csrf-token", &csrf)
        .json(&json!({}))
        .send()
        .await?;
    ensure!(
        begin.status() == StatusCode::OK,
        "register/begin answered {}: {}",
        begin.status(),
        begin.text().await?
    );
    let mut begin: Value = begin.json().await?;
    // The software passkey cannot store discoverable credentials.
    let selection = &mut begin["options"]["publicKey"]["authenticatorSelection"];
    selection["residentKey"] = json!("discouraged");
    selection["requireResidentKey"] = json!(false);
    let user_handle = begin["options"]["publicKey"]["user"]["id"]
        .as_str()
        .ok_or_else(|| anyhow!("no user id in the registration options"))?
        .to_owned();
    let options: CreationChallengeResponse = serde_json::from_value(begin["options"].clone())?;
    let mut soft = SoftPasskey::new(true);
    let credential = soft
        .do_registration(target.origin.clone(), options)
        .map_err(|e| anyhow!("software passkey registration: {e:?}"))?;
    let finish = http
        .post(target.url("/account/api/passkeys/register/finish")?)
        .header("x-csrf-token", &csrf)
        .json(&json!({
            "ceremony": begin["ceremony"],
            "name": "bench",
            "credential": serde_json::to_value(credential)?,
        }))
        .send()
        .await?;
    ensure!(
        finish.status() == StatusCode::CREATED,
        "register/finish answered {}: {}",
        finish.status(),
        finish.text().await?
    );
    let body: Value = finish.json().await?;
    let credential_id = body["passkey"]["credential_id"]
        .as_str()
        .ok_or_else(|| anyhow!("no credential_id in {body}"))?
        .to_owned();
    Ok(User {
        soft,
        credential_id,
        user_handle,
    })
}

/// The cookies of one browser (the shared HTTP client keeps none, so that connections are
/// reused across sign-ins while every sign-in starts without a session).
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(header::SET_COOKIE) {
            let Ok(value) = value.to_str() else { continue };
            let pair = value.split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                let expired = value.is_empty() || value.contains("Max-Age=0");
                if expired {
                    self.0.remove(name.trim());
                } else {
                    self.0
                        .insert(name.trim().to_owned(), value.trim().to_owned());
                }
            }
        }
    }

    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Result<reqwest::Response> {
        let request = if self.0.is_empty() {
            request
        } else {
            request.header(header::COOKIE, self.header())
        };
        let response = request.send().await?;
        self.take(&response);
        Ok(response)
    }
}

fn random_b64(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("randomness");
    URL_SAFE_NO_PAD.encode(buf)
}

/// One whole sign-in in a fresh browser; returns the token response.
async fn sign_in(http: &reqwest::Client, target: &Target, user: &mut User) -> Result<Value> {
    let mut jar = Jar::default();
    let verifier = random_b64(32);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    let mut authorize = target.url("/authorize")?;
    authorize
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &target.client_id)
        .append_pair("redirect_uri", REDIRECT_URI)
        .append_pair("scope", &target.scope)
        .append_pair("state", &random_b64(12))
        .append_pair("nonce", &random_b64(12))
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256");
    let response = jar.send(http.get(authorize)).await?;
    ensure!(
        response.status() == StatusCode::SEE_OTHER,
        "/authorize answered {}",
        response.status()
    );
    let login_url = target.url(&location(&response)?)?;
    let tx = login_url
        .query_pairs()
        .find(|(k, _)| k == "tx")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no tx in {login_url}"))?;
    let page = jar.send(http.get(login_url)).await?;
    ensure!(
        page.status() == StatusCode::OK,
        "sign-in page: {}",
        page.status()
    );
    let csrf = attribute_after(&page.text().await?, "name=\"csrf-token\" content=\"")?;

    let begin = jar
        .send(
            http.post(target.url("/login/passkey/begin")?)
                .header("x-csrf-token", &csrf)
                .json(&json!({"tx": tx})),
        )
        .await?;
    ensure!(
        begin.status() == StatusCode::OK,
        "passkey/begin answered {}",
        begin.status()
    );
    let mut begin: Value = begin.json().await?;
    let options = &mut begin["options"];
    // The software passkey answers only for listed credentials.
    if options["publicKey"]["allowCredentials"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        options["publicKey"]["allowCredentials"] =
            json!([{"type": "public-key", "id": user.credential_id}]);
    }
    let options: RequestChallengeResponse = serde_json::from_value(begin["options"].clone())?;
    let credential = user
        .soft
        .do_authentication(target.origin.clone(), options)
        .map_err(|e| anyhow!("software passkey assertion: {e:?}"))?;
    let mut credential = serde_json::to_value(credential)?;
    credential["response"]["userHandle"] = json!(user.user_handle);

    let finish = jar
        .send(
            http.post(target.url("/login/passkey/finish")?)
                .header("x-csrf-token", &csrf)
                .json(&json!({"tx": tx, "ceremony": begin["ceremony"], "credential": credential})),
        )
        .await?;
    if finish.status() != StatusCode::OK {
        bail!(
            "passkey/finish answered {}: {}",
            finish.status(),
            finish.text().await?
        );
    }
    let done: Value = finish.json().await?;
    let redirect = Url::parse(
        done["redirect"]
            .as_str()
            .ok_or_else(|| anyhow!("no redirect in {done}"))?,
    )?;
    let code = redirect
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| anyhow!("no code in {redirect}"))?;

    let token = http
        .post(target.url("/token")?)
        .basic_auth(&target.client_id, Some(&target.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if token.status() != StatusCode::OK {
        bail!(
            "/token answered {}: {}",
            token.status(),
            token.text().await?
        );
    }
    Ok(token.json().await?)
}

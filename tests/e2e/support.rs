//! Test harness: a real server on port 0 with its own fresh database, and a browser-like HTTP
//! client that signs in through the hosted form the way a person would (by label texts).

use std::sync::Arc;

use idp::{
    admin::{
        clients::{ClientCredentials, NewClient},
        users::NewUser,
    },
    app::App,
    config::{Argon2Config, Config},
    crypto::{keys::SigningAlg, password::PasswordHasherConfig},
};
use reqwest::{StatusCode, redirect::Policy};
use scraper::{Html, Selector};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use url::Url;

/// Set by the test command to run the suite against PostgreSQL as well as SQLite.
const POSTGRES_ENV: &str = "TEST_POSTGRES_URL";

pub struct TestServer {
    pub issuer: String,
    /// Where this node listens (the issuer's origin unless the test gave another issuer).
    pub base_url: String,
    pub db: DatabaseConnection,
    pub secret_key_file: std::path::PathBuf,
    _dir: Arc<tempfile::TempDir>,
}

/// A fresh, empty database URL: a temporary SQLite file, or a new PostgreSQL database when
/// `TEST_POSTGRES_URL` is set.
pub async fn fresh_database(dir: &tempfile::TempDir) -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(admin_url) if !admin_url.is_empty() => {
            let admin = sea_orm::Database::connect(&admin_url)
                .await
                .expect("connect to TEST_POSTGRES_URL");
            let name = format!("idp_test_{}", uuid::Uuid::new_v4().simple());
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let mut url = Url::parse(&admin_url).unwrap();
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
        _ => format!("sqlite://{}/idp.db", dir.path().display()),
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::start_with(|_| {}).await
    }

    /// Starts a server whose config `adjust` may change (issuer and database are set here).
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let database_url = fresh_database(&dir).await;
        Self::start_on(database_url, Arc::new(dir), adjust).await
    }

    pub async fn start_on(
        database_url: String,
        dir: Arc<tempfile::TempDir>,
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        // Warnings and errors go to the test's captured output, shown when it fails.
        idp::init_tracing(false);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut config = Config {
            issuer: format!("http://localhost:{}", addr.port()),
            database_url,
            secret_key_file: dir.path().join("secret.key"),
            ..Config::default()
        };
        adjust(&mut config);
        let app = App::build(config.clone(), listener)
            .await
            .expect("server builds");
        tokio::spawn(app.run(std::future::pending()));
        let db = idp::store::connect(&config.database_url).await.unwrap();
        TestServer {
            issuer: config.issuer.clone(),
            base_url: format!("http://localhost:{}", addr.port()),
            db,
            secret_key_file: config.secret_key_file.clone(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    pub async fn add_client(
        &self,
        redirect_uri: &str,
        public: bool,
        alg: SigningAlg,
    ) -> ClientCredentials {
        idp::admin::clients::create(
            &self.db,
            &idp::admin::Actor::Cli,
            NewClient {
                redirect_uris: vec![redirect_uri.into()],
                post_logout_redirect_uris: vec![POST_LOGOUT_URI.into()],
                public,
                id_token_signed_response_alg: alg,
                first_party: true,
                ..NewClient::new("Test App")
            },
        )
        .await
        .map_err(|e| e.to_string())
        .unwrap()
    }

    /// A confidential ES256 client with redirect URI `https://app.example/callback`.
    pub async fn confidential_client(&self) -> ClientCredentials {
        self.add_client(REDIRECT_URI, false, SigningAlg::Es256)
            .await
    }

    pub async fn add_user(&self, username: &str, password: &str) -> idp::model::user::User {
        let hasher = PasswordHasherConfig::new(&Argon2Config::default()).unwrap();
        idp::admin::users::create(
            &self.db,
            &idp::admin::Actor::Cli,
            &hasher,
            NewUser {
                username: username.into(),
                email: Some(format!("{username}@example.com")),
                name: Some(format!("{username} Example")),
                password: Some(password.into()),
            },
        )
        .await
        .map_err(|e| e.to_string())
        .unwrap()
    }
}

pub const REDIRECT_URI: &str = "https://app.example/callback";
pub const PASSWORD: &str = "correct horse battery staple";
/// Every test client's registered post-logout redirect URI.
pub const POST_LOGOUT_URI: &str = "https://app.example/signed-out";

/// An HTTP client that keeps cookies and does not follow redirects, like a browser whose
/// every hop the test inspects.
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .unwrap_or_else(|| panic!("no Location header; status {}", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// A parsed HTML form: its action and fields, with visible inputs found by their label text.
/// Fields are what a browser would submit: inputs (checkboxes only when checked), text areas
/// and selects (the selected option, else the first).
#[derive(Clone)]
pub struct Form {
    pub action: String,
    pub fields: Vec<(String, String)>,
    labels: Vec<(String, String)>,
    pub buttons: Vec<String>,
    /// Each button's `name` and `value`, sent with the form when that button is pressed.
    button_values: Vec<Option<(String, String)>>,
}

impl Form {
    /// The first `<form>` on the page.
    pub fn parse(html: &str) -> Form {
        let doc = Html::parse_document(html);
        let form_sel = Selector::parse("form").unwrap();
        let form = doc.select(&form_sel).next().expect("the page has a form");
        let input_sel = Selector::parse("input").unwrap();
        let label_sel = Selector::parse("label").unwrap();
        let button_sel = Selector::parse("button").unwrap();
        let textarea_sel = Selector::parse("textarea").unwrap();
        let select_sel = Selector::parse("select").unwrap();
        let option_sel = Selector::parse("option").unwrap();
        let unchecked = |i: &scraper::ElementRef| {
            matches!(i.value().attr("type"), Some("checkbox" | "radio"))
                && i.value().attr("checked").is_none()
        };
        let mut fields: Vec<(String, String)> = form
            .select(&input_sel)
            .filter(|i| !unchecked(i))
            .filter_map(|i| {
                let name = i.value().attr("name")?;
                Some((
                    name.to_owned(),
                    i.value().attr("value").unwrap_or("").to_owned(),
                ))
            })
            .collect();
        for area in form.select(&textarea_sel) {
            if let Some(name) = area.value().attr("name") {
                fields.push((name.to_owned(), area.text().collect()));
            }
        }
        for select in form.select(&select_sel) {
            let Some(name) = select.value().attr("name") else {
                continue;
            };
            let options: Vec<_> = select.select(&option_sel).collect();
            let chosen = options
                .iter()
                .find(|o| o.value().attr("selected").is_some())
                .or(options.first());
            if let Some(option) = chosen {
                let value = option
                    .value()
                    .attr("value")
                    .map(str::to_owned)
                    .unwrap_or_else(|| option.text().collect());
                fields.push((name.to_owned(), value));
            }
        }
        let any_field = Selector::parse("input, textarea, select").unwrap();
        let labels = form
            .select(&label_sel)
            .filter_map(|label| {
                let text = label.text().collect::<String>().trim().to_owned();
                let id = label.value().attr("for")?;
                let input = form
                    .select(&any_field)
                    .find(|i| i.value().id() == Some(id))?;
                Some((text, input.value().attr("name")?.to_owned()))
            })
            .collect();
        let buttons = form
            .select(&button_sel)
            .map(|b| b.text().collect::<String>().trim().to_owned())
            .collect();
        let button_values = form
            .select(&button_sel)
            .map(|b| {
                let name = b.value().attr("name")?;
                Some((
                    name.to_owned(),
                    b.value().attr("value").unwrap_or("").to_owned(),
                ))
            })
            .collect();
        Form {
            action: form.value().attr("action").unwrap_or("").to_owned(),
            fields,
            labels,
            buttons,
            button_values,
        }
    }

    /// Types `value` into the input labelled `label`.
    pub fn fill(&mut self, label: &str, value: &str) -> &mut Self {
        let name = self
            .labels
            .iter()
            .find(|(text, _)| text == label)
            .unwrap_or_else(|| panic!("no input labelled {label:?}"))
            .1
            .clone();
        for field in &mut self.fields {
            if field.0 == name {
                field.1 = value.to_owned();
            }
        }
        self
    }

    pub fn input_attr(html: &str, label: &str, attr: &str) -> Option<String> {
        let doc = Html::parse_document(html);
        let label_sel = Selector::parse("label").unwrap();
        let id = doc
            .select(&label_sel)
            .find(|l| l.text().collect::<String>().trim() == label)?
            .value()
            .attr("for")?
            .to_owned();
        let input_sel = Selector::parse(&format!("input#{id}")).unwrap();
        doc.select(&input_sel)
            .next()?
            .value()
            .attr(attr)
            .map(str::to_owned)
    }

    /// Presses the button with text `button` and returns the response.
    pub async fn submit(
        &self,
        browser: &reqwest::Client,
        base: &str,
        button: &str,
    ) -> reqwest::Response {
        let index = self
            .buttons
            .iter()
            .position(|b| b == button)
            .unwrap_or_else(|| panic!("no button {button:?} in {:?}", self.buttons));
        let mut fields = self.fields.clone();
        // As a browser does: the pressed button's name and value go with the form.
        if let Some(pressed) = &self.button_values[index] {
            fields.push(pressed.clone());
        }
        let url = Url::parse(base).unwrap().join(&self.action).unwrap();
        browser.post(url).form(&fields).send().await.unwrap()
    }
}

/// Follows an authorization URL to the sign-in page and returns the page's URL and HTML.
pub async fn open_login_page(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
) -> (String, String) {
    let response = browser.get(authorize_url).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::SEE_OTHER,
        "authorize should redirect to the sign-in page"
    );
    let login_url = server.url(&location(&response));
    assert!(login_url.starts_with(&server.url("/login")), "{login_url}");
    let page = browser.get(&login_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    (login_url, page.text().await.unwrap())
}

/// Signs in through the hosted form and returns where the server sent the browser next.
pub async fn sign_in(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
    username: &str,
    password: &str,
) -> reqwest::Response {
    let (login_url, html) = open_login_page(browser, server, authorize_url).await;
    let mut form = Form::parse(&html);
    form.fill("Username", username).fill("Password", password);
    form.submit(browser, &login_url, "Sign in").await
}

/// Signs in and returns the authorization response URL (the client's redirect URI + code).
pub async fn sign_in_for_code(
    browser: &reqwest::Client,
    server: &TestServer,
    authorize_url: &str,
    username: &str,
) -> String {
    let response = sign_in(browser, server, authorize_url, username, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

/// A hand-built authorization URL for protocol tests that need to break the rules.
pub fn authorize_url(server: &TestServer, params: &[(&str, &str)]) -> String {
    let mut url = Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params);
    url.to_string()
}

/// A PKCE verifier and its S256 challenge (RFC 7636 Appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Standard authorization parameters for `client_id`, with PKCE and offline access.
pub fn code_request(client_id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".into()),
        ("client_id", client_id.into()),
        ("redirect_uri", REDIRECT_URI.into()),
        ("scope", "openid profile email offline_access".into()),
        ("state", "st4te".into()),
        ("nonce", "n0nce".into()),
        ("code_challenge", CHALLENGE.into()),
        ("code_challenge_method", "S256".into()),
    ]
}

pub fn authorize_url_owned(server: &TestServer, params: &[(&'static str, String)]) -> String {
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    authorize_url(server, &borrowed)
}

/// Signs `user` in for `client` and exchanges the code; returns the token response JSON.
pub async fn tokens_for(
    server: &TestServer,
    creds: &ClientCredentials,
    username: &str,
) -> serde_json::Value {
    tokens_with_scope(
        server,
        creds,
        username,
        "openid profile email offline_access",
    )
    .await
}

/// Signs `username` in for `creds`' client asking for `scope`, exchanges the code and returns
/// the token response JSON.
pub async fn tokens_with_scope(
    server: &TestServer,
    creds: &ClientCredentials,
    username: &str,
    scope: &str,
) -> serde_json::Value {
    let mut params = code_request(&creds.client.client_id);
    params.retain(|(name, _)| *name != "scope");
    params.push(("scope", scope.into()));
    let url = authorize_url_owned(server, &params);
    let redirect = sign_in_for_code(&browser(), server, &url, username).await;
    let code = query_param(&redirect, "code").expect("a code");
    let response = token_request(
        server,
        creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

/// A token request authenticated with client_secret_basic.
pub async fn token_request(
    server: &TestServer,
    creds: &ClientCredentials,
    form: &[(&str, &str)],
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(&creds.client.client_id, creds.client_secret.as_deref())
        .form(form)
        .send()
        .await
        .unwrap()
}

/// Asserts an OAuth JSON error response.
pub async fn assert_json_error(
    response: reqwest::Response,
    status: StatusCode,
    error: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status);
    assert_eq!(
        response
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    assert!(body["error_description"].is_string());
    body
}

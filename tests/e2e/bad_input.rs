//! Bad input, endpoint by endpoint: wrong methods, wrong content types, parameters sent
//! twice (an error per RFC 6749 §3.1 and §3.2), bytes that are not UTF-8, oversized values
//! and bodies, malformed JSON. Each gets its own clear answer, never a 500.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::*;

/// What a request must get back.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// This status and an OAuth JSON error with this `error` code.
    OAuth(u16, &'static str),
    /// This status with a readable HTML page.
    Page(u16),
    /// This status, whatever the body (405 and 413 come from the framework).
    Status(u16),
}

struct Case {
    method: Method,
    path: String,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
}

fn case(method: Method, path: &str, expect: Expect) -> Case {
    Case {
        method,
        path: path.into(),
        content_type: None,
        body: Vec::new(),
        headers: Vec::new(),
        expect,
    }
}

impl Case {
    fn form(mut self, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some("application/x-www-form-urlencoded");
        self.body = body.into();
        self
    }

    fn typed(mut self, content_type: &'static str, body: impl Into<Vec<u8>>) -> Case {
        self.content_type = Some(content_type);
        self.body = body.into();
        self
    }

    fn header(mut self, name: &'static str, value: impl Into<Vec<u8>>) -> Case {
        self.headers.push((name, value.into()));
        self
    }
}

/// Sends `case`; returns what was wrong with the answer, if anything.
async fn check(server: &TestServer, http: &reqwest::Client, case: &Case) -> Option<String> {
    let mut request = http.request(case.method.clone(), server.url(&case.path));
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    for (name, value) in &case.headers {
        request = request.header(
            *name,
            reqwest::header::HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let response = request.body(case.body.clone()).send().await.unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.text().await.unwrap();
    let what = format!(
        "{} {} ({} bytes, {:?}): {status} {}",
        case.method,
        case.path.chars().take(80).collect::<String>(),
        case.body.len(),
        case.content_type,
        body.chars().take(300).collect::<String>()
    );
    let as_expected = match case.expect {
        Expect::OAuth(expected, error) => {
            let json: Value = serde_json::from_str(&body).unwrap_or_default();
            status.as_u16() == expected
                && json["error"] == error
                && json["error_description"].is_string()
        }
        Expect::Page(expected) => {
            status.as_u16() == expected && content_type.starts_with("text/html")
        }
        Expect::Status(expected) => status.as_u16() == expected,
    };
    (!as_expected).then(|| format!("expected {:?}, got {what}", case.expect))
}

/// Runs every case and fails with the list of those answered otherwise than expected.
async fn check_all(server: &TestServer, http: &reqwest::Client, cases: Vec<Case>) {
    let mut wrong = Vec::new();
    for case in &cases {
        wrong.extend(check(server, http, case).await);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same bad requests at every endpoint that takes a client-authenticated form.
fn form_endpoint_cases(path: &str, client_id: &str) -> Vec<Case> {
    let auth = format!("client_id={client_id}");
    let big = "x".repeat(3 * 1024 * 1024);
    vec![
        case(Method::GET, path, Expect::Status(405)),
        case(Method::PUT, path, Expect::Status(405)),
        case(Method::DELETE, path, Expect::Status(405)),
        // No content type, JSON, multipart: RFC 6749 §3.2 wants a form.
        case(Method::POST, path, Expect::OAuth(400, "invalid_request")),
        case(Method::POST, path, Expect::OAuth(400, "invalid_request")).typed(
            "application/json",
            format!(r#"{{"client_id":"{client_id}"}}"#),
        ),
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .typed("multipart/form-data; boundary=x", "--x--"),
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .typed("text/plain", auth.clone()),
        // Parameters twice.
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .form(format!("{auth}&{auth}")),
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .form(format!("{auth}&token=a&token=b&grant_type=x&grant_type=y")),
        // Not UTF-8, raw or percent-encoded.
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .form(b"client_id=\xff\xfe&token=x".to_vec()),
        case(Method::POST, path, Expect::OAuth(400, "invalid_request"))
            .form(format!("{auth}&token=%C3%28")),
        // A body over the limit: 413 before anything is parsed.
        case(Method::POST, path, Expect::Status(413)).form(format!("{auth}&token={big}")),
        // Unknown client, a huge client id, no client at all.
        case(Method::POST, path, Expect::OAuth(401, "invalid_client"))
            .form("client_id=nobody&token=x&grant_type=client_credentials"),
        case(Method::POST, path, Expect::OAuth(401, "invalid_client")).form(format!(
            "client_id={}&token=x&grant_type=client_credentials",
            "c".repeat(100_000)
        )),
        case(Method::POST, path, Expect::OAuth(401, "invalid_client"))
            .form("token=x&grant_type=client_credentials"),
        // Broken HTTP Basic credentials.
        case(Method::POST, path, Expect::OAuth(401, "invalid_client"))
            .form("token=x&grant_type=client_credentials")
            .header("authorization", "Basic !!!not-base64"),
        case(Method::POST, path, Expect::OAuth(401, "invalid_client"))
            .form("token=x&grant_type=client_credentials")
            .header("authorization", b"Basic \xff\xfe".to_vec()),
        case(Method::POST, path, Expect::OAuth(401, "invalid_client"))
            .form("token=x&grant_type=client_credentials")
            .header("authorization", "Basic Zm9v"),
    ]
}

#[tokio::test]
async fn back_channel_endpoints_answer_every_bad_request_with_an_oauth_error() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let client_id = creds.client.client_id.clone();
    let http = reqwest::Client::new();
    for path in ["/token", "/revoke", "/introspect", "/par"] {
        check_all(&server, &http, form_endpoint_cases(path, &client_id)).await;
    }

    // Token-endpoint specifics, with a properly authenticated client.
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{client_id}:{}", creds.client_secret.as_deref().unwrap())
        )
    );
    let token = |body: &str, expect| {
        case(Method::POST, "/token", expect)
            .form(body.to_owned())
            .header("authorization", basic.clone())
    };
    check_all(
        &server,
        &http,
        vec![
            token("", Expect::OAuth(400, "invalid_request")),
            token("grant_type=", Expect::OAuth(400, "invalid_request")),
            token(
                "grant_type=password",
                Expect::OAuth(400, "unsupported_grant_type"),
            ),
            token(
                "grant_type=authorization_code",
                Expect::OAuth(400, "invalid_request"),
            ),
            token(
                &format!(
                    "grant_type=authorization_code&code={}&redirect_uri=x",
                    "c".repeat(200_000)
                ),
                Expect::OAuth(400, "invalid_grant"),
            ),
            token(
                "grant_type=refresh_token&refresh_token=%00%01",
                Expect::OAuth(400, "invalid_grant"),
            ),
            token(
                "grant_type=client_credentials",
                Expect::OAuth(400, "unauthorized_client"),
            ),
            // The client id in the form must agree with the Basic one (or be absent).
            token(
                "grant_type=refresh_token&refresh_token=x&client_secret=y",
                Expect::OAuth(400, "invalid_request"),
            ),
        ],
    )
    .await;
}

#[tokio::test]
async fn the_authorization_endpoint_refuses_bad_requests_without_redirecting_where_it_may_not() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let client_id = creds.client.client_id.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let query = |extra: &str| {
        format!(
            "/authorize?response_type=code&client_id={client_id}&redirect_uri={}&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256{extra}",
            urlencode(REDIRECT_URI)
        )
    };
    check_all(
        &server,
        &http,
        vec![
            case(Method::PUT, "/authorize", Expect::Status(405)),
            case(Method::DELETE, "/authorize", Expect::Status(405)),
            // Nothing, or no way to know the client: a page, never a redirect.
            case(Method::GET, "/authorize", Expect::Page(400)),
            case(Method::GET, "/authorize?%FF=1", Expect::Page(400)),
            case(
                Method::GET,
                &format!("{}&client_id=other", query("")),
                Expect::Page(400),
            ),
            case(
                Method::GET,
                &query("").replace("client_id=", "client_id=%C3%28"),
                Expect::Page(400),
            ),
            case(
                Method::GET,
                &format!("/authorize?client_id={}", "c".repeat(50_000)),
                Expect::Page(400),
            ),
            case(
                Method::GET,
                &format!("{}&redirect_uri=https://evil.example/", query("")),
                Expect::Page(400),
            ),
            // POST must be a form too (OIDC Core §3.1.2.1).
            case(Method::POST, "/authorize", Expect::Page(400)).typed(
                "application/json",
                format!(r#"{{"client_id":"{client_id}"}}"#),
            ),
            case(Method::POST, "/authorize", Expect::Page(400)).form(b"client_id=\xff".to_vec()),
            case(Method::POST, "/authorize", Expect::Status(413))
                .form(format!("client_id={}", "c".repeat(3 * 1024 * 1024))),
        ],
    )
    .await;

    // With the client and redirect URI known, errors go back to the client (RFC 6749
    // §4.1.2.1), with `iss` (RFC 9207).
    for (extra, error) in [
        ("&scope=openid", "invalid_request"),
        ("&state=a&state=b", "invalid_request"),
        ("&state=%FF", "invalid_request"),
        ("&response_mode=fragment", "invalid_request"),
        ("&prompt=sometimes", "invalid_request"),
        ("&max_age=-1", "invalid_request"),
        ("&claims=%7Bnot%20json", "invalid_request"),
        ("&request=eyJ.eyJ.sig", "request_not_supported"),
    ] {
        let url = if extra == "&state=%FF" {
            // Not UTF-8 anywhere means the whole query is unreadable: a page.
            let response = http.get(server.url(&query(extra))).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            continue;
        } else {
            query(extra)
        };
        let response = http.get(server.url(&url)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{extra}");
        let to = location(&response);
        assert!(to.starts_with(REDIRECT_URI), "{extra}: {to}");
        assert_eq!(
            query_param(&to, "error").as_deref(),
            Some(error),
            "{extra}: {to}"
        );
        assert_eq!(
            query_param(&to, "iss").as_deref(),
            Some(server.issuer.as_str()),
            "{extra}"
        );
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test]
async fn resource_and_logout_endpoints_refuse_bad_requests() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    check_all(
        &server,
        &http,
        vec![
            case(Method::DELETE, "/userinfo", Expect::Status(405)),
            case(Method::PUT, "/userinfo", Expect::Status(405)),
            case(Method::GET, "/userinfo", Expect::Status(401)),
            case(Method::GET, "/userinfo", Expect::Status(401)).header("authorization", "Bearer "),
            case(Method::GET, "/userinfo", Expect::Status(401))
                .header("authorization", b"Bearer \xff\xfe".to_vec()),
            case(Method::GET, "/userinfo", Expect::Status(401))
                .header("authorization", format!("Bearer {}", "a".repeat(60_000))),
            case(Method::GET, "/userinfo", Expect::Status(401))
                .header("authorization", "Bearer a.b.c"),
            case(Method::GET, "/userinfo", Expect::Status(401))
                .header("authorization", "Basic Zm9v"),
            // RFC 6750 §2: one method at a time.
            case(
                Method::POST,
                "/userinfo",
                Expect::OAuth(400, "invalid_request"),
            )
            .form("access_token=abc")
            .header("authorization", "Bearer abc"),
            case(Method::POST, "/userinfo", Expect::Status(401))
                .form(b"access_token=\xff".to_vec()),
            case(Method::POST, "/userinfo", Expect::Status(401))
                .typed("application/json", r#"{"access_token":"abc"}"#),
            case(Method::GET, "/jwks?x=%FF", Expect::Status(200)),
            case(Method::POST, "/jwks", Expect::Status(405)),
            case(
                Method::DELETE,
                "/.well-known/openid-configuration",
                Expect::Status(405),
            ),
            // RP-initiated logout: unreadable or contradictory requests get a page.
            case(Method::PUT, "/end_session", Expect::Status(405)),
            case(
                Method::GET,
                "/end_session?id_token_hint=a&id_token_hint=b",
                Expect::Page(400),
            ),
            case(
                Method::GET,
                "/end_session?id_token_hint=not.a.jwt",
                Expect::Page(400),
            ),
            case(Method::GET, "/end_session?state=%FF", Expect::Page(400)),
            case(
                Method::GET,
                "/end_session?post_logout_redirect_uri=https://evil.example/",
                Expect::Page(400),
            ),
            case(Method::POST, "/end_session", Expect::Page(400)).form(b"client_id=\xff".to_vec()),
        ],
    )
    .await;
}

#[tokio::test]
async fn hosted_pages_and_their_json_apis_refuse_bad_requests() {
    let server = TestServer::start_with(|config| {
        config.signup = idp::config::SignupMode::Open;
        config.allow_password_signup = true;
    })
    .await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    check_all(
        &server,
        &http,
        vec![
            // JSON APIs: no session, malformed JSON, wrong content type.
            case(Method::GET, "/login/passkey/begin", Expect::Status(405)),
            case(Method::POST, "/login/passkey/finish", Expect::Status(400))
                .typed("application/json", "{not json"),
            case(Method::POST, "/login/passkey/finish", Expect::Status(400))
                .typed("text/plain", "{}"),
            case(Method::POST, "/login/passkey/finish", Expect::Status(400))
                .typed("application/json", r#"{"id": 5}"#),
            case(Method::POST, "/signup/passkey/begin", Expect::Status(400))
                .typed("application/json", "{not json"),
            case(Method::POST, "/signup/passkey/finish", Expect::Status(400))
                .typed("application/json", b"\xff\xfe".to_vec()),
            case(
                Method::POST,
                "/account/api/passkeys/register/begin",
                Expect::Status(401),
            )
            .typed("application/json", "{}"),
            case(
                Method::DELETE,
                "/account/api/passkeys/%FF",
                Expect::Status(400),
            ),
            // Forms without a sign-in under way or without their CSRF token: 403, checked
            // before anything else is read.
            case(Method::POST, "/login", Expect::Page(403)).form("username=a&password=b"),
            case(Method::POST, "/login", Expect::Page(403)).form(b"username=\xff".to_vec()),
            case(Method::POST, "/login/code", Expect::Page(403)).form("code=123456"),
            case(Method::POST, "/login/recover", Expect::Page(403)).form("username=a&code=b"),
            case(Method::POST, "/signup/password", Expect::Page(403)).form("password=x"),
            case(Method::POST, "/signup", Expect::Status(405)).form("username=someone"),
            case(Method::POST, "/account/password", Expect::Status(303)).form("password=x"),
            case(Method::GET, "/signup/invite/%FF%FE", Expect::Page(404)),
            case(Method::GET, "/login/recovery/%FF%FE", Expect::Page(400)),
            case(Method::POST, "/login/recovery/%FF%FE", Expect::Page(403)).form("csrf_token=x"),
            case(Method::PATCH, "/login", Expect::Status(405)),
        ],
    )
    .await;
}

#[tokio::test]
async fn registration_endpoints_refuse_bad_requests() {
    let server = TestServer::start_with(|c| c.registration.enabled = true).await;
    let initial = idp::admin::tokens::create(
        &server.db,
        &idp::admin::Actor::Cli,
        "apps",
        idp::admin::tokens::TokenScope::Register,
        None,
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap()
    .token;
    let bearer = format!("Bearer {initial}");
    let http = reqwest::Client::new();
    let big = "x".repeat(3 * 1024 * 1024);
    let register =
        |expect| case(Method::POST, "/register", expect).header("authorization", bearer.clone());
    check_all(
        &server,
        &http,
        vec![
            case(Method::GET, "/register", Expect::Status(405)),
            case(Method::PUT, "/register", Expect::Status(405)),
            case(
                Method::POST,
                "/register",
                Expect::OAuth(401, "invalid_token"),
            )
            .typed(
                "application/json",
                r#"{"redirect_uris":["https://a.example/cb"]}"#,
            ),
            case(
                Method::POST,
                "/register",
                Expect::OAuth(401, "invalid_token"),
            )
            .typed("application/json", "{}")
            .header("authorization", b"Bearer \xff\xfe".to_vec()),
            register(Expect::OAuth(400, "invalid_request")).typed(
                "text/plain",
                r#"{"redirect_uris":["https://a.example/cb"]}"#,
            ),
            register(Expect::OAuth(400, "invalid_request"))
                .form("redirect_uris=https://a.example/cb"),
            register(Expect::OAuth(400, "invalid_client_metadata"))
                .typed("application/json", "{not json"),
            register(Expect::OAuth(400, "invalid_client_metadata"))
                .typed("application/json", b"{\"client_name\":\"\xff\"}".to_vec()),
            register(Expect::OAuth(400, "invalid_client_metadata")).typed(
                "application/json",
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":"authorization_code"}"#,
            ),
            register(Expect::Status(413))
                .typed("application/json", format!(r#"{{"client_name":"{big}"}}"#)),
            case(
                Method::GET,
                "/register/nobody",
                Expect::OAuth(401, "invalid_token"),
            ),
            case(
                Method::GET,
                "/register/nobody",
                Expect::OAuth(401, "invalid_token"),
            )
            .header("authorization", bearer.clone()),
            case(
                Method::PUT,
                "/register/nobody",
                Expect::OAuth(401, "invalid_token"),
            )
            .typed("application/json", "{not json"),
            case(
                Method::DELETE,
                "/register/%FF",
                Expect::OAuth(401, "invalid_token"),
            ),
            case(Method::POST, "/register/nobody", Expect::Status(405)),
            case(Method::PATCH, "/register/nobody", Expect::Status(405)),
        ],
    )
    .await;
}

#[tokio::test]
async fn consent_logout_and_cancel_forms_refuse_bad_requests() {
    let server = TestServer::start().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    check_all(
        &server,
        &http,
        vec![
            case(Method::POST, "/consent", Expect::Page(403)).form("decision=allow"),
            case(Method::POST, "/consent", Expect::Page(403)).form(b"decision=\xff".to_vec()),
            case(Method::PUT, "/consent", Expect::Status(405)),
            case(Method::POST, "/end_session/confirm", Expect::Page(403)).form("csrf_token=x"),
            case(Method::GET, "/end_session/confirm", Expect::Status(405)),
            case(Method::POST, "/login/cancel", Expect::Page(403)).form("csrf_token=x"),
            case(Method::POST, "/login/cancel", Expect::Page(403)).typed("application/json", "{}"),
        ],
    )
    .await;
}

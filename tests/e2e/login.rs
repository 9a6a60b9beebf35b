//! The hosted sign-in page: its form, its failures, single sign-on and session handling.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn the_sign_in_page_has_labelled_fields_ready_for_passkey_autofill() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let mut params = code_request(&creds.client.client_id);
    params.push(("login_hint", "erin".into()));
    let (_, html) =
        open_login_page(&browser(), &server, &authorize_url_owned(&server, &params)).await;
    assert_eq!(
        Form::input_attr(&html, "Username", "autocomplete").as_deref(),
        Some("username webauthn")
    );
    assert_eq!(
        Form::input_attr(&html, "Username", "value").as_deref(),
        Some("erin")
    );
    assert_eq!(
        Form::input_attr(&html, "Password", "type").as_deref(),
        Some("password")
    );
    let form = Form::parse(&html);
    assert!(form.buttons.iter().any(|b| b == "Sign in"));
    assert!(
        form.fields
            .iter()
            .any(|(name, value)| name == "csrf_token" && !value.is_empty())
    );
    assert!(html.contains("Test App"), "the page names the application");
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("frank", PASSWORD).await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let mut answers = Vec::new();
    for (username, password) in [("frank", "wrong password"), ("nobody", PASSWORD), ("", "")] {
        let browser = browser();
        let response = sign_in(&browser, &server, &url, username, password).await;
        assert_eq!(response.status(), StatusCode::OK, "the form is shown again");
        let html = response.text().await.unwrap();
        assert!(html.contains("Incorrect username or password"), "{html}");
        // The page is ready for another try.
        let form = Form::parse(&html);
        assert!(form.buttons.iter().any(|b| b == "Sign in"));
        answers.push(html.replace(username, ""));
    }
    // Apart from the echoed username and the per-session tokens, the pages are the same.
    let strip = |html: &str| {
        html.lines()
            .filter(|l| {
                !["name=\"tx\"", "csrf_token", "csrf-token", "data-tx", "?tx="]
                    .iter()
                    .any(|per_session| l.contains(per_session))
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(strip(&answers[0]), strip(&answers[1]));
}

#[tokio::test]
async fn a_disabled_user_cannot_sign_in() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("gina", PASSWORD).await;
    idp::admin::users::set_disabled(&server.db, &idp::admin::Actor::Cli, "gina", true)
        .await
        .unwrap();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let response = sign_in(&browser(), &server, &url, "gina", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Incorrect username or password")
    );
}

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("hank", PASSWORD).await;
    let browser = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (login_url, html) = open_login_page(&browser, &server, &url).await;
    let mut form = Form::parse(&html);
    form.fill("Username", "hank").fill("Password", PASSWORD);
    form.fields.retain(|(name, _)| name != "csrf_token");
    let response = form.submit(&browser, &login_url, "Sign in").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This form has expired")
    );
}

#[tokio::test]
async fn a_sign_in_link_does_not_work_in_another_browser() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (login_url, _) = open_login_page(&browser(), &server, &url).await;
    let response = browser().get(&login_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This sign-in has expired")
    );
    for bad in ["/login", "/login?tx=forged"] {
        let response = browser().get(server.url(bad)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
}

#[tokio::test]
async fn a_login_form_cannot_be_submitted_twice() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("ivan", PASSWORD).await;
    let browser = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (login_url, html) = open_login_page(&browser, &server, &url).await;
    let mut form = Form::parse(&html);
    form.fill("Username", "ivan").fill("Password", PASSWORD);
    let first = form.submit(&browser, &login_url, "Sign in").await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let again = form.submit(&browser, &login_url, "Sign in").await;
    assert_ne!(again.status(), StatusCode::SEE_OTHER);
    assert!(again.status().is_client_error());
}

#[tokio::test]
async fn the_session_cookie_is_rotated_at_sign_in_and_locked_down() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("jane", PASSWORD).await;
    let browser = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let response = browser.get(&url).send().await.unwrap();
    let before = session_cookie(&response).expect("a session cookie before sign-in");
    assert!(
        before.contains("HttpOnly") && before.contains("SameSite=Lax"),
        "{before}"
    );
    let login_url = server.url(&location(&response));
    let html = browser
        .get(&login_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut form = Form::parse(&html);
    form.fill("Username", "jane").fill("Password", PASSWORD);
    let response = form.submit(&browser, &login_url, "Sign in").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let after = session_cookie(&response).expect("a new session cookie at sign-in");
    let id = |c: &str| c.split(';').next().unwrap().to_owned();
    assert_ne!(id(&before), id(&after), "the session id changes at sign-in");
}

fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("idp_session="))
}

#[tokio::test]
async fn a_signed_in_browser_is_not_asked_again_unless_the_client_requires_it() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("kate", PASSWORD).await;
    let browser = browser();
    let params = code_request(&creds.client.client_id);
    let first = sign_in_for_code(
        &browser,
        &server,
        &authorize_url_owned(&server, &params),
        "kate",
    )
    .await;
    assert!(query_param(&first, "code").is_some());

    // Single sign-on: the next request gets a code straight away.
    let response = browser
        .get(authorize_url_owned(&server, &params))
        .send()
        .await
        .unwrap();
    let to = location(&response);
    assert!(to.starts_with(REDIRECT_URI), "{to}");
    assert!(query_param(&to, "code").is_some());

    // prompt=none with a session works silently.
    let mut silent = params.clone();
    silent.push(("prompt", "none".into()));
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &silent))
            .send()
            .await
            .unwrap(),
    );
    assert!(query_param(&to, "code").is_some(), "{to}");

    // prompt=login and max_age=0 insist on a fresh sign-in.
    for extra in [("prompt", "login"), ("max_age", "0")] {
        let mut strict = params.clone();
        strict.push((extra.0, extra.1.into()));
        let to = location(
            &browser
                .get(authorize_url_owned(&server, &strict))
                .send()
                .await
                .unwrap(),
        );
        assert!(to.starts_with("/login?tx="), "{extra:?}: {to}");
    }
    // max_age=0 with prompt=none cannot be met silently.
    let mut impossible = silent.clone();
    impossible.push(("max_age", "0".into()));
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &impossible))
            .send()
            .await
            .unwrap(),
    );
    assert_eq!(query_param(&to, "error").as_deref(), Some("login_required"));
}

#[tokio::test]
async fn disabling_a_user_ends_their_single_sign_on() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("liam", PASSWORD).await;
    let browser = browser();
    let params = code_request(&creds.client.client_id);
    sign_in_for_code(
        &browser,
        &server,
        &authorize_url_owned(&server, &params),
        "liam",
    )
    .await;
    idp::admin::users::set_disabled(&server.db, &idp::admin::Actor::Cli, "liam", true)
        .await
        .unwrap();
    let to = location(
        &browser
            .get(authorize_url_owned(&server, &params))
            .send()
            .await
            .unwrap(),
    );
    assert!(to.starts_with("/login?tx="), "{to}");
}

#[tokio::test]
async fn unknown_pages_get_a_readable_404() {
    let server = TestServer::start().await;
    let response = reqwest::get(server.url("/nope")).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert!(response.text().await.unwrap().contains("Page not found"));
    let css = reqwest::get(server.url("/static/idp.css")).await.unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );
}

#[tokio::test]
async fn with_an_https_issuer_the_session_cookie_is_secure_and_host_prefixed() {
    // The test server speaks plain HTTP; only the cookie attributes are under test here.
    let server = TestServer::start_with(|config| {
        config.issuer = config.issuer.replace("http://", "https://");
    })
    .await;
    let creds = server.confidential_client().await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id))
        .replace("https://", "http://");
    let response = browser().get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-idp_session="), "{cookie}");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
}

#[tokio::test]
async fn usernames_are_compared_without_regard_to_case() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let user = server.add_user("Maria", PASSWORD).await;
    assert_eq!(user.username, "maria");
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let response = sign_in(&browser(), &server, &url, " MARIA ", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(query_param(&location(&response), "code").is_some());
}

#[tokio::test]
async fn a_malformed_sign_in_link_gets_a_readable_page() {
    let server = TestServer::start().await;
    let response = reqwest::get(server.url("/login?tx=a&tx=b")).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("This sign-in has expired")
    );
    let response = reqwest::Client::new()
        .post(server.url("/login"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(response.text().await.unwrap().contains("could not be read"));
}

#[tokio::test]
async fn password_guessing_is_slowed_down_the_same_for_real_and_unknown_usernames() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("nina", PASSWORD).await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    for username in ["nina", "nobody-here"] {
        for attempt in 1..=10 {
            let response = sign_in(&browser(), &server, &url, username, "wrong password").await;
            let html = response.text().await.unwrap();
            if attempt < 10 {
                assert!(
                    html.contains("Incorrect username or password"),
                    "{username} #{attempt}"
                );
            } else {
                assert!(
                    html.contains("Too many failed attempts"),
                    "{username} #{attempt}: {html}"
                );
            }
        }
    }
    // Blocked: even the right password is not checked now.
    let response = sign_in(&browser(), &server, &url, "nina", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
    // Failures and the lockout are security events (user-less for the unknown name).
    let count = |kind: &'static str| {
        let db = server.db.clone();
        async move {
            idp::store::security_events::query(
                &db,
                &idp::store::security_events::EventFilter {
                    kind: Some(kind.into()),
                    ..Default::default()
                },
                100,
                true,
            )
            .await
            .unwrap()
        }
    };
    let failed = count("sign_in_failed").await;
    assert_eq!(failed.len(), 20);
    assert_eq!(failed.iter().filter(|e| e.user_id.is_some()).count(), 10);
    assert_eq!(
        failed[0].detail.as_ref().unwrap()["client_id"],
        creds.client.client_id.as_str()
    );
    assert_eq!(count("locked_out").await.len(), 2);
}

/// Whoever keeps a username blocked by guessing cannot lock its owner out of a browser the
/// owner signed in with before (a device cookie): that browser's failures count on their own.
#[tokio::test]
async fn a_blocked_username_still_signs_in_from_its_owners_browser() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("olga", PASSWORD).await;
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));

    // Olga signs in once in her browser: it is remembered, in a cookie scripts cannot read.
    let hers = browser();
    let first = sign_in(&hers, &server, &url, "olga", PASSWORD).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    let cookie = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("idp_device="))
        .expect("a device cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );

    // Someone else guesses until the username is blocked.
    for _ in 0..10 {
        sign_in(&browser(), &server, &url, "olga", "wrong password").await;
    }
    let stranger = sign_in(&browser(), &server, &url, "olga", PASSWORD).await;
    assert!(
        stranger
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );

    // Her own browser still gets in.
    let mut params = code_request(&creds.client.client_id);
    params.push(("prompt", "login".into()));
    let again = sign_in(
        &hers,
        &server,
        &authorize_url_owned(&server, &params),
        "olga",
        PASSWORD,
    )
    .await;
    assert_eq!(again.status(), StatusCode::SEE_OTHER);
    assert!(query_param(&location(&again), "code").is_some());

    // A forged device cookie is no better than none.
    let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
    jar.add_cookie_str(
        "idp_device=v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA; Path=/",
        &server.url("/").parse().unwrap(),
    );
    let forger = reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let blocked = sign_in(&forger, &server, &url, "olga", PASSWORD).await;
    assert_eq!(blocked.status(), StatusCode::OK);
    assert!(
        blocked
            .text()
            .await
            .unwrap()
            .contains("Too many failed attempts")
    );
}

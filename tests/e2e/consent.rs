//! Consent for third-party clients: the page, remembered grants, `prompt=consent` and
//! `prompt=none`, "Deny", revoking an app's access from the account page, and bad input.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::*;
use idp::admin::{Actor, clients::NewClient};

const REDIRECT: &str = "https://third.example/cb";

async fn third_party(server: &TestServer) -> idp::admin::clients::ClientCredentials {
    idp::admin::clients::create(
        &server.db,
        &Actor::Cli,
        NewClient {
            redirect_uris: vec![REDIRECT.into()],
            logo_uri: Some("https://third.example/logo.png".into()),
            policy_uri: Some("https://third.example/privacy".into()),
            ..NewClient::new("Third App")
        },
    )
    .await
    .map_err(|e| e.to_string())
    .unwrap()
}

fn request_for(server: &TestServer, client_id: &str, scope: &str, prompt: Option<&str>) -> String {
    let mut params = code_request(client_id);
    params.retain(|(name, _)| *name != "scope" && *name != "redirect_uri");
    params.push(("scope", scope.into()));
    params.push(("redirect_uri", REDIRECT.into()));
    if let Some(prompt) = prompt {
        params.push(("prompt", prompt.into()));
    }
    authorize_url_owned(server, &params)
}

/// Follows a redirect to the consent page; returns its URL and HTML.
async fn consent_page(
    http: &reqwest::Client,
    server: &TestServer,
    response: reqwest::Response,
) -> (String, String) {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let url = server.url(&location(&response));
    assert!(url.starts_with(&server.url("/consent?tx=")), "{url}");
    let page = http.get(&url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    (url, page.text().await.unwrap())
}

#[tokio::test]
async fn a_third_party_app_gets_a_code_only_after_the_user_allows_it() {
    let server = TestServer::start().await;
    let app = third_party(&server).await;
    server.add_user("cleo", PASSWORD).await;
    let http = browser();

    // Signing in leads to the consent page, which names the app, its logo and what it asks.
    let url = request_for(
        &server,
        &app.client.client_id,
        "openid profile offline_access",
        None,
    );
    let after_sign_in = sign_in(&http, &server, &url, "cleo", PASSWORD).await;
    let (page_url, html) = consent_page(&http, &server, after_sign_in).await;
    assert!(
        html.contains("Allow Third App to use your account?"),
        "{html}"
    );
    let doc = scraper::Html::parse_document(&html);
    let attr = |selector: &str, name: &str| {
        doc.select(&scraper::Selector::parse(selector).unwrap())
            .next()
            .and_then(|e| e.value().attr(name).map(str::to_owned))
    };
    assert_eq!(
        attr("img.app-logo", "src").as_deref(),
        Some("https://third.example/logo.png")
    );
    assert_eq!(
        attr("a[href*='privacy']", "href").as_deref(),
        Some("https://third.example/privacy")
    );
    assert!(html.contains("See your username and name"));
    assert!(html.contains("Stay connected to your account"));
    let form = Form::parse(&html);
    assert_eq!(form.buttons, vec!["Allow", "Deny"]);

    let allowed = form.submit(&http, &page_url, "Allow").await;
    assert_eq!(allowed.status(), StatusCode::SEE_OTHER);
    let back = location(&allowed);
    assert!(back.starts_with(REDIRECT), "{back}");
    let code = query_param(&back, "code").expect("a code");
    let tokens: Value = token_request(
        &server,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(tokens["id_token"].is_string(), "{tokens}");

    // The same scopes again: remembered, no page.
    let again = http.get(&url).send().await.unwrap();
    assert!(
        location(&again).starts_with(REDIRECT),
        "{}",
        location(&again)
    );
    assert!(query_param(&location(&again), "code").is_some());

    // More scopes: the page again, for the single-sign-on session. Deny sends an error back.
    let more = request_for(&server, &app.client.client_id, "openid email", None);
    let response = http.get(&more).send().await.unwrap();
    let (page_url, html) = consent_page(&http, &server, response).await;
    assert!(html.contains("See your e-mail address"));
    let denied = Form::parse(&html).submit(&http, &page_url, "Deny").await;
    let back = location(&denied);
    assert!(back.starts_with(REDIRECT), "{back}");
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st4te"));
    assert_eq!(
        query_param(&back, "iss").as_deref(),
        Some(server.issuer.as_str())
    );
    assert!(query_param(&back, "code").is_none());

    // prompt=none without consent: consent_required; prompt=consent: the page even though
    // the scopes were allowed.
    let silent = request_for(&server, &app.client.client_id, "openid email", Some("none"));
    let back = location(&http.get(&silent).send().await.unwrap());
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("consent_required")
    );
    let forced = request_for(&server, &app.client.client_id, "openid", Some("consent"));
    let response = http.get(&forced).send().await.unwrap();
    consent_page(&http, &server, response).await;

    // A first-party app never asks.
    let own = server.confidential_client().await;
    let tokens = tokens_for(&server, &own, "cleo").await;
    assert!(tokens["access_token"].is_string());
}

#[tokio::test]
async fn revoking_an_app_on_the_account_page_kills_its_tokens_and_asks_again() {
    let server = TestServer::start().await;
    let app = third_party(&server).await;
    server.add_user("dora", PASSWORD).await;
    let http = browser();
    let url = request_for(
        &server,
        &app.client.client_id,
        "openid offline_access",
        None,
    );
    let after_sign_in = sign_in(&http, &server, &url, "dora", PASSWORD).await;
    let (page_url, html) = consent_page(&http, &server, after_sign_in).await;
    let allowed = Form::parse(&html).submit(&http, &page_url, "Allow").await;
    let code = query_param(&location(&allowed), "code").unwrap();
    let tokens: Value = token_request(
        &server,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();

    // The account page lists the app with a "Revoke access" button.
    let account = http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        account.contains("Apps with access") && account.contains("Third App"),
        "{account}"
    );
    let doc = scraper::Html::parse_document(&account);
    let forms = scraper::Selector::parse("form[action='/account/apps/revoke']").unwrap();
    let revoke_form = doc.select(&forms).next().expect("a revoke form");
    let form = Form::parse(&revoke_form.html());
    assert_eq!(form.buttons, vec!["Revoke access"]);
    let revoked = form
        .submit(&http, &server.url("/account"), "Revoke access")
        .await;
    assert_eq!(location(&revoked), "/account");
    let account = http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(account.contains("Access revoked"), "{account}");
    assert!(!account.contains("Revoke access"));

    // Its refresh token is dead, and the next sign-in asks again.
    let refreshed = token_request(
        &server,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &refresh)],
    )
    .await;
    assert_json_error(refreshed, StatusCode::BAD_REQUEST, "invalid_grant").await;
    let response = http.get(&url).send().await.unwrap();
    consent_page(&http, &server, response).await;

    // Both are in the user's security events.
    let account = http
        .get(server.url("/account"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        account.contains("Access given to an app")
            && account.contains("Access taken away from an app")
    );
}

#[tokio::test]
async fn bad_consent_answers_are_refused_without_a_code() {
    let server = TestServer::start().await;
    let app = third_party(&server).await;
    server.add_user("emil", PASSWORD).await;
    let http = browser();
    let url = request_for(&server, &app.client.client_id, "openid", None);
    let after_sign_in = sign_in(&http, &server, &url, "emil", PASSWORD).await;
    let (page_url, html) = consent_page(&http, &server, after_sign_in).await;
    let form = Form::parse(&html);
    let field = |name: &str| {
        form.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    let (tx, csrf) = (field("tx"), field("csrf_token"));
    let post = |fields: Vec<(&'static str, String)>, client: reqwest::Client| {
        let url = server.url("/consent");
        async move { client.post(url).form(&fields).send().await.unwrap() }
    };
    // No CSRF token, an unknown decision, another browser, a missing transaction.
    let cases = [
        (
            vec![("tx", tx.clone()), ("decision", "allow".into())],
            http.clone(),
            StatusCode::FORBIDDEN,
        ),
        (
            vec![
                ("tx", tx.clone()),
                ("csrf_token", csrf.clone()),
                ("decision", "maybe".into()),
            ],
            http.clone(),
            StatusCode::BAD_REQUEST,
        ),
        (
            vec![
                ("tx", tx.clone()),
                ("csrf_token", csrf.clone()),
                ("decision", "allow".into()),
            ],
            browser(),
            StatusCode::FORBIDDEN,
        ),
        (
            vec![
                ("tx", "nope".into()),
                ("csrf_token", csrf.clone()),
                ("decision", "allow".into()),
            ],
            http.clone(),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (fields, client, status) in cases {
        let response = post(fields.clone(), client).await;
        assert_eq!(response.status(), status, "{fields:?}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("<h1>"), "a readable page: {html}");
    }
    // A consent page for an unknown transaction.
    let unknown = http
        .get(server.url("/consent?tx=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);

    // The real answer still works once; a second answer finds the sign-in gone.
    let allowed = form.submit(&http, &page_url, "Allow").await;
    assert!(query_param(&location(&allowed), "code").is_some());
    let again = form.submit(&http, &page_url, "Allow").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

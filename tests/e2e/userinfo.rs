//! The userinfo endpoint: bearer tokens (RFC 6750) and claims filtered by scope.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn userinfo_answers_get_and_post_with_claims_for_the_granted_scopes() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let user = server.add_user("vera", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "vera").await;
    let access = tokens["access_token"].as_str().unwrap();
    let http = reqwest::Client::new();

    let get: serde_json::Value = http
        .get(server.url("/userinfo"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(get["sub"], user.id.as_str());
    assert_eq!(get["preferred_username"], "vera");
    assert_eq!(get["name"], "vera Example");
    assert_eq!(get["email"], "vera@example.com");

    let post = http
        .post(server.url("/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);

    // Only openid: only sub.
    let params: Vec<(&'static str, String)> = code_request(&creds.client.client_id)
        .into_iter()
        .map(|(k, v)| {
            if k == "scope" {
                (k, "openid".to_owned())
            } else {
                (k, v)
            }
        })
        .collect();
    let redirect = sign_in_for_code(
        &browser(),
        &server,
        &authorize_url_owned(&server, &params),
        "vera",
    )
    .await;
    let code = query_param(&redirect, "code").unwrap();
    let narrow: serde_json::Value = token_request(
        &server,
        &creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap();
    let info: serde_json::Value = http
        .get(server.url("/userinfo"))
        .bearer_auth(narrow["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info, serde_json::json!({"sub": user.id}));
}

#[tokio::test]
async fn userinfo_refuses_missing_forged_and_misused_tokens() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    server.add_user("will", PASSWORD).await;
    let tokens = tokens_for(&server, &creds, "will").await;
    let http = reqwest::Client::new();

    let none = http.get(server.url("/userinfo")).send().await.unwrap();
    assert_eq!(none.status(), StatusCode::UNAUTHORIZED);
    assert!(
        none.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );

    // An ID token is signed by us too, but it is not an access token.
    for bad in ["garbage", "a.b.c", tokens["id_token"].as_str().unwrap()] {
        let response = http
            .get(server.url("/userinfo"))
            .bearer_auth(bad)
            .send()
            .await
            .unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(challenge.contains("invalid_token"), "{challenge}");
        assert_json_error(response, StatusCode::UNAUTHORIZED, "invalid_token").await;
    }

    let access = tokens["access_token"].as_str().unwrap();
    let both = http
        .post(server.url("/userinfo"))
        .bearer_auth(access)
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_json_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;
}

//! Signing-key rotation: a new key is published before it signs, the old one stays published
//! until its tokens have expired, every node picks the change up from the database, and the
//! JWKS may be cached for a bounded time.

use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::Value;

use crate::{passkey_api::decode_claims, support::*};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

async fn jwks_kids(server: &TestServer) -> Vec<String> {
    let response = reqwest::get(server.url("/jwks")).await.unwrap();
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let jwks: Value = response.json().await.unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

/// The `kid` of a JWS.
fn kid(jwt: &str) -> String {
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jwt.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

/// Signs `username` in and returns the token response.
async fn tokens(
    server: &TestServer,
    creds: &idp::admin::clients::ClientCredentials,
    username: &str,
) -> Value {
    let url = authorize_url_owned(server, &code_request(&creds.client.client_id));
    let redirect = sign_in_for_code(&browser(), server, &url, username).await;
    token_request(
        server,
        creds,
        &[
            ("grant_type", "authorization_code"),
            ("code", &query_param(&redirect, "code").unwrap()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", VERIFIER),
        ],
    )
    .await
    .json()
    .await
    .unwrap()
}

/// Waits (bounded) until the server's JWKS satisfies `done`.
async fn until_jwks(server: &TestServer, done: impl Fn(&[String]) -> bool) -> Vec<String> {
    for _ in 0..100 {
        let kids = jwks_kids(server).await;
        if done(&kids) {
            return kids;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the JWKS never changed as expected");
}

async fn userinfo_status(server: &TestServer, access_token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(access_token)
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_rotated_key_is_published_first_and_the_old_one_kept_until_its_tokens_expire() {
    let server = TestServer::start_with(|c| {
        c.keys.reload_interval = std::time::Duration::from_secs(1);
    })
    .await;
    let creds = server.confidential_client().await;
    server.add_user("kai", PASSWORD).await;
    let before = jwks_kids(&server).await;
    assert_eq!(before.len(), 2, "one ES256 and one RS256 key");
    let old = tokens(&server, &creds, "kai").await;
    let old_kid = kid(old["id_token"].as_str().unwrap());

    // Rotate the ES256 key (what `idp keys rotate --alg ES256` does) with an hour's notice.
    let secrets =
        idp::crypto::at_rest::SecretBox::load_or_create(&server.secret_key_file, false).unwrap();
    let now = idp::model::now();
    let rotation = idp::store::keys::rotate(
        &server.db,
        &secrets,
        idp::crypto::keys::SigningAlg::Es256,
        now,
        3600,
        660,
    )
    .await
    .unwrap();
    assert_eq!(rotation.retiring, std::slice::from_ref(&old_kid));
    assert_eq!(rotation.retired_at, now + 3600 + 660);

    // Published at once (after the node reloads), but not signing yet.
    let kids = until_jwks(&server, |kids| kids.contains(&rotation.kid)).await;
    assert_eq!(kids.len(), 3);
    let meanwhile = tokens(&server, &creds, "kai").await;
    assert_eq!(kid(meanwhile["id_token"].as_str().unwrap()), old_kid);
    let listed = idp::store::keys::list(&server.db, idp::model::now())
        .await
        .unwrap();
    let state_of = |kid: &str| listed.iter().find(|k| k.kid == kid).unwrap().state;
    assert_eq!(state_of(&rotation.kid), "pending");
    assert_eq!(state_of(&old_kid), "signing");

    // Its time comes: it signs, and the old key still verifies what it signed. (The old
    // key came into force a while before: the server started within this second.)
    entity::signing_key::Entity::update_many()
        .col_expr(
            entity::signing_key::Column::ActiveFrom,
            Expr::value(now - 100),
        )
        .filter(entity::signing_key::Column::Kid.eq(old_kid.clone()))
        .exec(&server.db)
        .await
        .unwrap();
    entity::signing_key::Entity::update_many()
        .col_expr(
            entity::signing_key::Column::ActiveFrom,
            Expr::value(now - 1),
        )
        .filter(entity::signing_key::Column::Kid.eq(rotation.kid.clone()))
        .exec(&server.db)
        .await
        .unwrap();
    let mut new = Value::Null;
    for _ in 0..100 {
        new = tokens(&server, &creds, "kai").await;
        if kid(new["id_token"].as_str().unwrap()) == rotation.kid {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(kid(new["id_token"].as_str().unwrap()), rotation.kid);
    assert_eq!(
        decode_claims(new["id_token"].as_str().unwrap())["sub"],
        decode_claims(old["id_token"].as_str().unwrap())["sub"]
    );
    assert!(jwks_kids(&server).await.contains(&old_kid));
    assert_eq!(
        userinfo_status(&server, old["access_token"].as_str().unwrap()).await,
        StatusCode::OK,
        "RS256 access tokens were not rotated"
    );

    // Retired: gone from the JWKS.
    entity::signing_key::Entity::update_many()
        .col_expr(entity::signing_key::Column::RetiredAt, Expr::value(now - 1))
        .filter(entity::signing_key::Column::Kid.eq(old_kid.clone()))
        .exec(&server.db)
        .await
        .unwrap();
    let kids = until_jwks(&server, |kids| !kids.contains(&old_kid)).await;
    assert_eq!(kids.len(), 2);
}

//! The demo relying party from the README's walk-through, run against the server.

#[allow(dead_code)]
#[path = "../../examples/demo_rp.rs"]
pub mod demo;

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn the_demo_app_signs_a_user_in_and_shows_the_verified_claims() {
    let server = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let redirect_uri = format!("http://localhost:{port}/callback");
    let creds = server
        .add_client(&redirect_uri, false, idp::crypto::keys::SigningAlg::Es256)
        .await;
    let user = server.add_user("xena", PASSWORD).await;
    let options = demo::Options {
        issuer: server.issuer.clone(),
        client_id: creds.client.client_id.clone(),
        client_secret: creds.client_secret.clone(),
        listen: listener.local_addr().unwrap(),
        redirect_uri: None,
        acr_values: None,
    };
    tokio::spawn(demo::run(options, listener));

    let browser = browser();
    let app = format!("http://localhost:{port}");
    let home = browser
        .get(format!("{app}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Sign in with idp"));
    let to_idp = browser.get(format!("{app}/login")).send().await.unwrap();
    let authorize_url = location(&to_idp);
    assert!(authorize_url.starts_with(&server.url("/authorize")));
    let back = sign_in_for_code(&browser, &server, &authorize_url, "xena").await;
    assert!(back.starts_with(&redirect_uri), "{back}");
    let page = browser.get(&back).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&format!("<td id=\"sub\">{}</td>", user.id)),
        "{html}"
    );
    assert!(html.contains("<td id=\"amr\">pwd</td>"), "{html}");
    assert!(html.contains("<td id=\"acr\">pwd</td>"), "{html}");
    assert!(html.contains("id=\"auth_time\">20"), "{html}");
}

//! Browser security of the hosted pages: the response headers and the session cookie's flags,
//! over plain http (development) and behind an https issuer.

use reqwest::StatusCode;

use crate::support::*;

/// The sign-in page a relying party's request leads to, fetched from `base` (the node's
/// address, whatever the issuer says).
async fn login_page(server: &TestServer, client_id: &str) -> reqwest::Response {
    let http = browser();
    let url = authorize_url_owned(server, &code_request(client_id))
        .replace(&server.issuer, &server.base_url);
    let to = http.get(&url).send().await.unwrap();
    assert_eq!(to.status(), StatusCode::SEE_OTHER);
    http.get(format!("{}{}", server.base_url, location(&to)))
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn hosted_pages_send_security_headers_and_a_strict_cookie() {
    let server = TestServer::start().await;
    let creds = server.confidential_client().await;
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let first = http.get(&url).send().await.unwrap();
    let cookie = header(&first, "set-cookie").to_owned();
    assert!(cookie.starts_with("idp_session="), "{cookie}");
    for flag in ["HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "plain http in development: {cookie}"
    );

    let page = login_page(&server, &creds.client.client_id).await;
    assert_eq!(page.status(), StatusCode::OK);
    let csp = header(&page, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "x-frame-options"), "DENY");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    assert!(page.headers().get("strict-transport-security").is_none());
    let html = page.text().await.unwrap();
    assert!(!html.contains("<script>"), "no inline script");
}

#[tokio::test]
async fn behind_an_https_issuer_the_cookie_is_host_prefixed_and_hsts_is_sent() {
    let server = TestServer::start_with(|c| {
        c.issuer = c.issuer.replace("http://", "https://");
    })
    .await;
    let creds = server.confidential_client().await;
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id))
        .replace(&server.issuer, &server.base_url);
    let first = http.get(&url).send().await.unwrap();
    let cookie = header(&first, "set-cookie").to_owned();
    assert!(cookie.starts_with("__Host-idp_session="), "{cookie}");
    for flag in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(flag), "{flag} missing: {cookie}");
    }
    assert!(!cookie.contains("Domain="), "host-only: {cookie}");
    assert_eq!(
        header(&first, "strict-transport-security"),
        "max-age=63072000; includeSubDomains"
    );
}

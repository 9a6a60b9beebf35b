//! Themes and branding: a custom theme overrides one template and adds a static file, the
//! rest falls back to the built-in default; product name, logo and colour come from config.

use reqwest::StatusCode;

use crate::support::*;

#[tokio::test]
async fn a_custom_theme_overrides_one_template_and_branding_comes_from_config() {
    let themes = tempfile::tempdir().unwrap();
    let acme = themes.path().join("acme");
    std::fs::create_dir_all(acme.join("templates")).unwrap();
    std::fs::create_dir_all(acme.join("static")).unwrap();
    // The sign-in page, rewritten; it still extends the default base.
    let login = std::fs::read_to_string("themes/default/templates/login.html")
        .unwrap()
        .replacen(
            "{% block content %}",
            "{% block content %}<p class=\"welcome\">Welcome to Acme</p>",
            1,
        );
    std::fs::write(acme.join("templates/login.html"), login).unwrap();
    std::fs::write(
        acme.join("static/logo.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    std::fs::write(acme.join("static/notes.txt"), "not served").unwrap();

    let dir = themes.path().to_owned();
    let server = TestServer::start_with(move |c| {
        c.themes_dir = dir;
        c.theme = "acme".into();
        c.branding.product_name = "Acme ID".into();
        c.branding.logo_url = Some("/static/logo.svg".into());
        c.branding.accent_color = "#aa0000".into();
    })
    .await;
    let creds = server.confidential_client().await;
    let http = browser();
    let url = authorize_url_owned(&server, &code_request(&creds.client.client_id));
    let (_, html) = open_login_page(&http, &server, &url).await;
    assert!(
        html.contains("Welcome to Acme"),
        "the overridden template: {html}"
    );
    assert!(html.contains("Acme ID") && html.contains("logo.svg"));
    // The form still works: labels and buttons come from the default markup it copied.
    let form = Form::parse(&html);
    assert!(form.buttons.iter().any(|b| b == "Sign in"));

    // Pages the theme does not override fall back to the default, with the branding.
    let missing = http.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let html = missing.text().await.unwrap();
    assert!(html.contains("Page not found") && html.contains("Acme ID"));
    assert!(
        html.contains("<title>Page not found · Acme ID</title>"),
        "{html}"
    );

    let get = |path: &'static str| {
        let url = server.url(path);
        async move { reqwest::get(url).await.unwrap() }
    };
    let brand = get("/static/brand.css").await;
    assert_eq!(brand.headers()["content-type"], "text/css; charset=utf-8");
    assert!(brand.text().await.unwrap().contains("--accent: #aa0000"));
    let logo = get("/static/logo.svg").await;
    assert_eq!(logo.status(), StatusCode::OK);
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
    let css = get("/static/idp.css").await;
    assert!(
        css.text().await.unwrap().contains("--accent"),
        "the default style sheet"
    );
    assert_eq!(
        get("/static/notes.txt").await.status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn bad_branding_stops_the_configuration_with_the_key_named() {
    for (key, value, named) in [
        ("IDP_BRANDING__ACCENT_COLOR", "red", "branding.accent_color"),
        (
            "IDP_BRANDING__ACCENT_COLOR",
            "#12345g",
            "branding.accent_color",
        ),
        (
            "IDP_BRANDING__LOGO_URL",
            "javascript:alert(1)",
            "branding.logo_url",
        ),
        (
            "IDP_BRANDING__LOGO_URL",
            "//evil.example/x.png",
            "branding.logo_url",
        ),
        ("IDP_BRANDING__PRODUCT_NAME", " ", "branding.product_name"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_idp"))
            .arg("check-config")
            .current_dir(std::env::temp_dir())
            .env(key, value)
            .output()
            .unwrap();
        assert!(!output.status.success(), "{key}={value}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(stderr.contains(named), "{key}={value}: {stderr}");
    }
}

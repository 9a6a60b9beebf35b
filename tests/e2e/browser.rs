//! The hosted pages in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver. Elements are found by their label and button texts, as a person would.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (packages `chromium` and
//! `chromium-driver`, which `scripts/test.sh` installs). Without them the tests are skipped,
//! unless `TEST_BROWSER=required` (set by `scripts/test.sh`) makes that a failure.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::support::*;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A headless Chromium session; the driver process is killed when this is dropped.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Killing chromedriver leaves Chromium running; every one of its processes carries
        // our fresh profile directory on its command line, so end them by that.
        let _ = Command::new("pkill")
            .args(["-9", "-f"])
            .arg(self._profile.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Browser {
    /// Starts Chromium, or returns `None` (test skipped) when it is not installed.
    pub async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists()
        {
            assert!(
                std::env::var("TEST_BROWSER").as_deref() != Ok("required"),
                "chromium and chromium-driver are required (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipping a browser test: {CHROMEDRIVER} is not installed");
            return None;
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        // chromedriver needs a moment to listen; retry the connection, not a timed assertion.
        let mut last_error = None;
        for _ in 0..100 {
            match ClientBuilder::native()
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(client) => {
                    return Some(Browser {
                        client,
                        driver,
                        _profile: profile,
                    });
                }
                Err(e) => {
                    last_error = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("cannot start a WebDriver session: {last_error:?}");
    }

    /// Saves a PNG of the page as `<name>.png` in `$IDP_SCREENSHOTS`, when that is set (the
    /// README's screenshots are made this way: `IDP_SCREENSHOTS=docs/screenshots cargo test`).
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("IDP_SCREENSHOTS") else {
            return;
        };
        let png = self.client.screenshot().await.unwrap();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }

    /// Types into the input (or text area) whose `<label>` reads `label`.
    pub async fn fill(&self, label: &str, value: &str) {
        let xpath = format!(
            "//*[self::input or self::textarea][@id=//label[normalize-space()='{label}']/@for]"
        );
        // Wait for it: the page may still be loading after the last click.
        let input = self
            .client
            .wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no input labelled {label:?}: {e}"));
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Clicks the button whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}']");
        self.client
            .wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Clicks the button `text` inside the list item that shows `item`.
    pub async fn click_button_in(&self, item: &str, text: &str) {
        let xpath =
            format!("//li[.//*[normalize-space()='{item}']]//button[normalize-space()='{text}']");
        self.client
            .wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?} next to {item:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Makes every page report that passkey autofill is unavailable, as in browsers without
    /// conditional mediation. Chromium resolves an autofill request from a virtual
    /// authenticator at once, which would race tests of the explicit buttons.
    pub async fn without_passkey_autofill(&self) {
        self.client
            .issue_cmd(WebDriverCommand {
                method: http::Method::POST,
                path: "goog/cdp/execute".into(),
                body: Some(json!({
                    "cmd": "Page.addScriptToEvaluateOnNewDocument",
                    "params": {"source": "if (window.PublicKeyCredential) { PublicKeyCredential.isConditionalMediationAvailable = async () => false; }"},
                })),
            })
            .await
            .expect("CDP through chromedriver");
    }

    /// Adds a WebAuthn virtual authenticator (W3C WebAuthn §11.3) that holds discoverable
    /// credentials and verifies the user; returns its id.
    pub async fn add_authenticator(&self) -> String {
        let response = self
            .webauthn(
                http::Method::POST,
                "webauthn/authenticator",
                Some(json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserVerified": true,
                    "automaticPresenceSimulation": true,
                })),
            )
            .await;
        response.as_str().expect("an authenticator id").to_owned()
    }

    pub async fn remove_authenticator(&self, id: &str) {
        self.webauthn(
            http::Method::DELETE,
            &format!("webauthn/authenticator/{id}"),
            None,
        )
        .await;
    }

    /// The credentials a virtual authenticator holds.
    pub async fn credentials(&self, id: &str) -> Vec<serde_json::Value> {
        let response = self
            .webauthn(
                http::Method::GET,
                &format!("webauthn/authenticator/{id}/credentials"),
                None,
            )
            .await;
        response.as_array().cloned().unwrap_or_default()
    }

    async fn webauthn(
        &self,
        method: http::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        self.client
            .issue_cmd(WebDriverCommand {
                method,
                path: path.to_owned(),
                body,
            })
            .await
            .unwrap_or_else(|e| panic!("WebDriver {path}: {e}"))
    }

    /// Makes pages see `prefers-color-scheme: scheme` (`light` or `dark`), as a system in
    /// that mode would report it.
    pub async fn emulate_color_scheme(&self, scheme: &str) {
        self.client
            .issue_cmd(WebDriverCommand {
                method: http::Method::POST,
                path: "goog/cdp/execute".into(),
                body: Some(json!({
                    "cmd": "Emulation.setEmulatedMedia",
                    "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
                })),
            })
            .await
            .expect("CDP through chromedriver");
    }

    /// The texts of the current page whose colour, against what is painted behind them, has
    /// a contrast under 4.5:1 (WCAG 2.2 SC 1.4.3), each as `TAG "text": ratio`. Colours are
    /// the browser's computed ones, resolved through a canvas (so `color-mix()` and system
    /// colours count as painted); backgrounds are composited up to the page's.
    pub async fn low_contrast_texts(&self) -> Vec<String> {
        const SCRIPT: &str = r#"
            const canvas = document.createElement('canvas');
            canvas.width = canvas.height = 1;
            const ctx = canvas.getContext('2d', { willReadFrequently: true });
            const rgba = (css) => {
                ctx.clearRect(0, 0, 1, 1);
                ctx.fillStyle = 'rgba(0, 0, 0, 0)';
                ctx.fillStyle = css;
                ctx.fillRect(0, 0, 1, 1);
                const d = ctx.getImageData(0, 0, 1, 1).data;
                return [d[0], d[1], d[2], d[3] / 255];
            };
            const over = (top, below, alpha) =>
                [0, 1, 2].map((i) => top[i] * alpha + below[i] * (1 - alpha)).concat([1]);
            const luminance = (c) => {
                const [r, g, b] = c.slice(0, 3).map((v) => {
                    v /= 255;
                    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
                });
                return 0.2126 * r + 0.7152 * g + 0.0722 * b;
            };
            const contrast = (a, b) => {
                const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
                return (hi + 0.05) / (lo + 0.05);
            };
            const page = over(rgba(getComputedStyle(document.body).backgroundColor), [255, 255, 255], 1);
            const low = [];
            for (const el of document.body.querySelectorAll('*')) {
                const ownText = [...el.childNodes]
                    .filter((n) => n.nodeType === Node.TEXT_NODE)
                    .map((n) => n.textContent.trim())
                    .join(' ')
                    .trim();
                if (!ownText || el.disabled || el.getClientRects().length === 0) continue;
                const style = getComputedStyle(el);
                if (style.visibility !== 'visible') continue;
                const chain = [];
                let opacity = 1;
                for (let e = el; e && e !== document.body; e = e.parentElement) {
                    chain.push(e);
                    opacity *= parseFloat(getComputedStyle(e).opacity);
                }
                let behind = page;
                for (const e of chain.reverse()) {
                    const bg = rgba(getComputedStyle(e).backgroundColor);
                    behind = over(bg, behind, bg[3]);
                }
                const fg = rgba(style.color);
                const painted = over(fg, behind, fg[3] * opacity);
                const ratio = contrast(painted, behind);
                if (ratio < 4.5) low.push(`${el.tagName} "${ownText.slice(0, 40)}": ${ratio.toFixed(2)}`);
            }
            return low;
        "#;
        let found = self.client.execute(SCRIPT, vec![]).await.unwrap();
        serde_json::from_value(found).unwrap()
    }

    /// Asserts that the current page reads at 4.5:1 or better in light and in dark mode.
    pub async fn assert_readable(&self, page: &str) {
        for scheme in ["dark", "light"] {
            self.emulate_color_scheme(scheme).await;
            let low = self.low_contrast_texts().await;
            assert!(low.is_empty(), "{page} in {scheme} mode: {low:#?}");
            // The card's outline is drawn (a theme variable that resolves to nothing drops
            // the whole border declaration).
            let border = self
                .client
                .execute(
                    "const card = document.querySelector('.card'); \
                     return card ? getComputedStyle(card).borderTopWidth : '1px';",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                border, "1px",
                "{page} in {scheme} mode: the card has no border"
            );
        }
    }

    /// Waits for the page to stop showing `text` (the next page to load) and returns its
    /// source.
    pub async fn wait_for_text_gone(&self, text: &str) -> String {
        for _ in 0..300 {
            let source = self.client.source().await.unwrap();
            if !source.contains(text) {
                return source;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the page still shows {text:?}");
    }

    /// Waits for the page to show `text` and returns the page source.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let literal = if text.contains('\'') {
            format!("\"{text}\"")
        } else {
            format!("'{text}'")
        };
        let xpath = format!("//*[contains(normalize-space(), {literal})]");
        let mut found = self.client.wait().for_element(Locator::XPath(&xpath)).await;
        // A navigation that starts while Chromium evaluates the lookup aborts it; the page
        // that follows is the one to search, so look again (a few times at most).
        for _ in 0..3 {
            match &found {
                Err(e) if e.to_string().contains("aborted by navigation") => {
                    found = self.client.wait().for_element(Locator::XPath(&xpath)).await;
                }
                _ => break,
            }
        }
        if let Err(e) = found {
            let url = self
                .client
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let source = self.client.source().await.unwrap_or_default();
            panic!("the page never showed {text:?} ({e}); at {url}:\n{source}");
        }
        self.client.source().await.unwrap()
    }
}

/// A session-scoped WebDriver extension command (fantoccini has no WebAuthn methods).
#[derive(Debug)]
struct WebDriverCommand {
    method: http::Method,
    path: String,
    body: Option<serde_json::Value>,
}

impl fantoccini::wd::WebDriverCompatibleCommand for WebDriverCommand {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/{}",
            session.unwrap_or_default(),
            self.path
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(|b| b.to_string()),
        )
    }
}

/// A running demo relying party for `server`; returns its base URL.
pub async fn start_demo_app(server: &TestServer) -> String {
    start_demo_app_with(server, None).await
}

/// A demo relying party that asks for the acr values `acr_values`.
pub async fn start_demo_app_with(server: &TestServer, acr_values: Option<&str>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let creds = server
        .add_client(
            &format!("http://localhost:{port}/callback"),
            false,
            idp::crypto::keys::SigningAlg::Es256,
        )
        .await;
    tokio::spawn(crate::demo_rp::demo::run(
        crate::demo_rp::demo::Options {
            issuer: server.issuer.clone(),
            client_id: creds.client.client_id.clone(),
            client_secret: creds.client_secret.clone(),
            listen: listener.local_addr().unwrap(),
            redirect_uri: None,
            acr_values: acr_values.map(str::to_owned),
        },
        listener,
    ));
    format!("http://localhost:{port}")
}

#[tokio::test]
async fn a_person_signs_in_to_the_demo_app_with_a_password_in_chromium() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = TestServer::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let creds = server
        .add_client(
            &format!("http://localhost:{port}/callback"),
            false,
            idp::crypto::keys::SigningAlg::Es256,
        )
        .await;
    let user = server.add_user("amelia", PASSWORD).await;
    tokio::spawn(crate::demo_rp::demo::run(
        crate::demo_rp::demo::Options {
            issuer: server.issuer.clone(),
            client_id: creds.client.client_id.clone(),
            client_secret: creds.client_secret.clone(),
            listen: listener.local_addr().unwrap(),
            redirect_uri: None,
            acr_values: None,
        },
        listener,
    ));

    let b = &browser;
    b.client
        .goto(&format!("http://localhost:{port}/"))
        .await
        .unwrap();
    b.client
        .find(Locator::LinkText("Sign in with idp"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    b.wait_for_text("Test App").await;

    // A wrong password first: the page says so and lets the person try again.
    b.fill("Username", "amelia").await;
    b.fill("Password", "not my password").await;
    b.click_button("Sign in").await;
    b.wait_for_text("Incorrect username or password").await;

    b.fill("Username", "amelia").await;
    b.fill("Password", PASSWORD).await;
    b.click_button("Sign in").await;
    let page = b.wait_for_text("Signed in").await;
    assert!(page.contains(&user.id), "{page}");
    assert!(page.contains("<td id=\"amr\">pwd</td>"), "{page}");
    browser.client.clone().close().await.unwrap();
}

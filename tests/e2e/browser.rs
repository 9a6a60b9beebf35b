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

    /// Types into the input whose `<label>` reads `label`.
    pub async fn fill(&self, label: &str, value: &str) {
        let xpath = format!("//input[@id=//label[normalize-space()='{label}']/@for]");
        let input = self
            .client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no input labelled {label:?}: {e}"));
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    /// Clicks the button whose text is `text`.
    pub async fn click_button(&self, text: &str) {
        let xpath = format!("//button[normalize-space()='{text}']");
        self.client
            .find(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("no button {text:?}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Waits for the page to show `text` and returns the page source.
    pub async fn wait_for_text(&self, text: &str) -> String {
        let xpath = format!("//*[contains(normalize-space(), '{text}')]");
        self.client
            .wait()
            .for_element(Locator::XPath(&xpath))
            .await
            .unwrap_or_else(|e| panic!("the page never showed {text:?}: {e}"));
        self.client.source().await.unwrap()
    }
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

//! The database going away and coming back: requests that need it get 503 (JSON or a
//! readable page) quickly, `/readyz` fails, and service resumes by itself. Run on PostgreSQL
//! (TEST_POSTGRES_URL) through a TCP relay the test can cut; an embedded SQLite file cannot
//! be taken away from a running server, so the test is skipped there.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use tokio::{net::TcpListener, task::AbortHandle};

use crate::support::*;

/// A TCP relay in front of the database that can be cut and restored on the same port.
struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            target,
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn.abort_handle());
            }
        });
        self.tasks.lock().unwrap().push(accept.abort_handle());
    }

    /// The database "goes down": the listener and every open connection are dropped.
    fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    async fn restore(&self) {
        let mut attempts = 0;
        let listener = loop {
            match TcpListener::bind(("127.0.0.1", self.port)).await {
                Ok(listener) => break listener,
                Err(e) if attempts < 50 => {
                    attempts += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on the relay port again: {e}"),
            }
        };
        self.serve(listener);
    }
}

#[tokio::test]
async fn while_the_database_is_down_requests_get_503_and_service_resumes() {
    if std::env::var("TEST_POSTGRES_URL").is_err() {
        return;
    }
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let direct = url::Url::parse(&fresh_database(&dir).await).unwrap();
    let target = format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap_or(5432)
    );
    let relay = Relay::start(target).await;
    let mut relayed = direct.clone();
    relayed.set_port(Some(relay.port)).unwrap();
    let server = TestServer::start_on(relayed.to_string(), dir, |_| {}).await;
    let creds = server.confidential_client().await;
    let token = || async {
        token_request(
            &server,
            &creds,
            &[("grant_type", "refresh_token"), ("refresh_token", "x")],
        )
        .await
    };
    assert_eq!(
        token().await.status(),
        StatusCode::BAD_REQUEST,
        "up: invalid_grant"
    );

    relay.cut();
    let ready = reqwest::get(server.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let down = token().await;
    assert_json_error(
        down,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    )
    .await;
    let page = browser()
        .get(authorize_url_owned(
            &server,
            &code_request(&creds.client.client_id),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Temporarily unavailable")
    );
    // What needs no database still answers.
    let discovery = reqwest::get(server.url("/.well-known/openid-configuration"))
        .await
        .unwrap();
    assert_eq!(discovery.status(), StatusCode::OK);

    relay.restore().await;
    let mut resumed = false;
    for _ in 0..100 {
        if reqwest::get(server.url("/readyz")).await.unwrap().status() == StatusCode::OK {
            resumed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(resumed, "the node is ready again once the database is back");
    assert_eq!(
        token().await.status(),
        StatusCode::BAD_REQUEST,
        "serving again"
    );
}

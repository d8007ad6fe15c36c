//! `TestApp`: the real server on free ports with a temporary data folder and a fresh SQLite
//! file, plus HTTP clients signed in as members of each role.

#![allow(dead_code)]

use app::domain::packages::Package;
use app::ssr::auth::Caller;
use app::ssr::testing;
use server::config::Config;
use server::Running;

/// A running server and its data folder.
pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Starts a server on 127.0.0.1 with ephemeral ports.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::for_tests(dir.path().to_path_buf());
        let running = server::start(config).await.expect("server starts");
        let base = running.dashboard_url();
        Self { running, base, dir }
    }

    /// An organisation with `packages` and one member per role (viewer, editor, admin, owner).
    pub async fn organisation(&self, name: &str, packages: &[Package]) -> Vec<Caller> {
        testing::organisation(&self.running.state, name, packages).await
    }

    /// A client with a cookie jar, not signed in.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client")
    }

    /// A client signed in through the login server function.
    pub async fn signed_in(&self, email: &str) -> reqwest::Client {
        let client = self.client();
        let res = client
            .post(format!("{}/api/login", self.base))
            .form(&[("email", email), ("password", "password123")])
            .send()
            .await
            .expect("login request");
        assert!(
            res.status().is_success(),
            "login as {email}: {}",
            res.status()
        );
        client
    }

    /// POSTs a form-encoded server function call.
    pub async fn call_form(
        &self,
        client: &reqwest::Client,
        name: &str,
        form: &[(&str, String)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{name}", self.base))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a JSON server function call.
    pub async fn call_json(
        &self,
        client: &reqwest::Client,
        name: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{name}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request")
    }
}

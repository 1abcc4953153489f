//! A minimal W3C WebDriver client over reqwest, driving Debian's Chromium
//! through chromedriver. Hand-rolled rather than taken from `fantoccini`:
//! the few commands these tests need are plain JSON over HTTP, and that crate
//! would add some 26 crates to the test build (a second `http`, ICU
//! segmentation, `time`) for them.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process on a free port; killed on drop.
pub struct Driver {
    process: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Where the browser and its driver are (Debian's packages by default).
fn binary(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_owned())
}

impl Driver {
    /// Starts chromedriver and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(binary("CHROMEDRIVER", "/usr/bin/chromedriver"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "chromedriver runs (install Debian's chromium-driver: scripts/test-browser.sh)",
            );
        let driver = Self {
            process,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::new(),
        };
        let started = Instant::now();
        while driver
            .http
            .get(format!("{}/status", driver.base))
            .send()
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver never listened"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    /// A new headless browser window of `width` × `height` CSS pixels.
    pub async fn browser(&self, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": { "browser": "ALL" },
            "goog:chromeOptions": {
                "binary": binary("CHROMIUM", "/usr/bin/chromium"),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--hide-scrollbars", "--force-device-scale-factor=1", "--lang=en-GB",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        } } });
        let answer: Value = self
            .http
            .post(format!("{}/session", self.base))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no browser session: {answer}"))
            .to_owned();
        let browser = Browser {
            session: format!("{}/session/{id}", self.base),
            http: self.http.clone(),
            _profile: profile,
        };
        browser.resize(width, height).await;
        browser
    }
}

/// One browser window (its own cookies: a separate sign-in).
pub struct Browser {
    session: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

/// An element in the page.
#[derive(Clone)]
pub struct Element(String);

impl Browser {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        request = request.json(&body.unwrap_or_else(|| json!({})));
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        let value = answer["value"].clone();
        // A WebDriver error (stale element, not interactable...) fails the
        // test where it happened, not at a later wait.
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            panic!("WebDriver {path}: {error}: {}", value["message"]);
        }
        value
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }

    /// Sets the window's size.
    pub async fn resize(&self, width: u32, height: u32) {
        self.post("/window/rect", json!({ "width": width, "height": height }))
            .await;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The page's URL.
    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Every element matching `css` now.
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        let found = self
            .post(
                "/elements",
                json!({ "using": "css selector", "value": css }),
            )
            .await;
        assert!(found.is_array(), "finding {css}: {found}");
        found
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e[ELEMENT].as_str().map(|id| Element(id.to_owned())))
            .collect()
    }

    /// Waits (up to 30 s) for an element matching `css`.
    pub async fn wait(&self, css: &str) -> Element {
        self.wait_for(css, |_| true).await
    }

    /// Waits (up to 30 s) for an element matching `css` whose text contains `text`.
    pub async fn wait_text(&self, css: &str, text: &str) -> Element {
        let text = text.to_owned();
        self.wait_for(css, move |t| t.contains(&text)).await
    }

    async fn wait_for(&self, css: &str, accept: impl Fn(&str) -> bool) -> Element {
        let started = Instant::now();
        loop {
            for element in self.find_all(css).await {
                if accept(&self.text(&element).await) {
                    return element;
                }
            }
            if started.elapsed() > Duration::from_secs(30) {
                let body = self.find_all("body").await;
                let page = match body.first() {
                    Some(b) => self.text(b).await,
                    None => String::new(),
                };
                let errors = self.console_errors().await;
                let shot = std::env::temp_dir().join("switchboard-browser-failure.png");
                let _ = std::fs::write(&shot, self.screenshot().await);
                let html = self
                    .execute("return document.documentElement.outerHTML")
                    .await;
                eprintln!("{}", html.as_str().unwrap_or_default());
                panic!(
                    "no {css} appeared on {}; the page says:\n{page}\nconsole errors: {errors:#?}",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The element's rendered text.
    pub async fn text(&self, element: &Element) -> String {
        self.call(
            reqwest::Method::GET,
            &format!("/element/{}/text", element.0),
            None,
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Clicks the element.
    pub async fn click(&self, element: &Element) {
        self.post(&format!("/element/{}/click", element.0), json!({}))
            .await;
    }

    /// Types `text` into the element.
    pub async fn type_into(&self, element: &Element, text: &str) {
        self.post(&format!("/element/{}/clear", element.0), json!({}))
            .await;
        self.post(
            &format!("/element/{}/value", element.0),
            json!({ "text": text }),
        )
        .await;
    }

    /// Runs `script` in the page (WebDriver's own channel, not subject to the CSP).
    pub async fn execute(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": [] }))
            .await
    }

    /// The browser's cookies, `name=value` joined for a `Cookie` header.
    pub async fn cookie_header(&self) -> String {
        let cookies = self.call(reqwest::Method::GET, "/cookie", None).await;
        cookies
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                format!(
                    "{}={}",
                    c["name"].as_str().unwrap(),
                    c["value"].as_str().unwrap()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A PNG of the window.
    pub async fn screenshot(&self) -> Vec<u8> {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap()
    }

    /// Console messages at level SEVERE since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self.post("/se/log", json!({ "type": "browser" })).await;
        log.as_array()
            .into_iter()
            .flatten()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Ends the browser session.
    pub async fn close(self) {
        let _ = self.http.delete(&self.session).send().await;
    }
}

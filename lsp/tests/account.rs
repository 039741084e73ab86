//! `scry login | whoami | logout` against a real `scry-server` on loopback (SQLite): the device
//! flow approved through the service's own `/device` page, the session kept in the Secret
//! Service when the machine has one and in a private file when it has not.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use scry_client::{Client, ErrorKind};
use serde_json::Value;

const EMAIL: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery";

struct Service {
    base: String,
    runtime: tokio::runtime::Runtime,
    _data: tempfile::TempDir,
}

/// A service with a signed-up user and a one-second poll interval.
fn service() -> Service {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let data = tempfile::tempdir().unwrap();
    let base = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let config = scry_server::config::Config {
            data_dir: data.path().to_path_buf(),
            device_poll_interval_s: 1,
            verification_uri: format!("{base}/device"),
            ..Default::default()
        };
        let store = scry_server::open_store(&config).await.unwrap();
        let clock = Arc::new(scry_server::clock::SystemClock);
        let app = scry_server::app(store, clock, config).unwrap();
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
        });
        let client = Client::builder(&base).build().unwrap();
        client.sign_up(EMAIL, PASSWORD).await.unwrap();
        base
    });
    Service {
        base,
        runtime,
        _data: data,
    }
}

impl Service {
    /// Sends the `/device` form as a person would; the page's status and text.
    fn approve(&self, user_code: &str, password: &str, decision: &str) -> (u16, String) {
        self.runtime.block_on(async {
            let answer = reqwest::Client::new()
                .post(format!("{}/device", self.base))
                .form(&[
                    ("user_code", user_code),
                    ("email", EMAIL),
                    ("password", password),
                    ("decision", decision),
                ])
                .send()
                .await
                .unwrap();
            (answer.status().as_u16(), answer.text().await.unwrap())
        })
    }

    fn signed_in(&self) -> Client {
        self.runtime.block_on(async {
            let anonymous = Client::builder(&self.base).build().unwrap();
            let session = anonymous.login(EMAIL, PASSWORD).await.unwrap();
            Client::builder(&self.base)
                .token(session.token)
                .build()
                .unwrap()
        })
    }
}

/// A machine: its own config directory, with or without a session bus.
struct Machine {
    config: tempfile::TempDir,
    bus: bool,
}

impl Machine {
    fn headless() -> Machine {
        Machine {
            config: tempfile::tempdir().unwrap(),
            bus: false,
        }
    }

    fn scry(&self, service: &Service) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scry"));
        cmd.env("XDG_CONFIG_HOME", self.config.path())
            .env("SCRY_SERVER", &service.base)
            .env_remove("SCRY_API_KEY")
            .env("NO_COLOR", "1");
        if !self.bus {
            // Not even the desktop's bus at $XDG_RUNTIME_DIR/bus: a machine without one.
            cmd.env(
                "DBUS_SESSION_BUS_ADDRESS",
                "unix:path=/nonexistent/scry-test-bus",
            );
        }
        cmd
    }

    fn credentials_file(&self) -> PathBuf {
        self.config.path().join("scry").join("credentials.json")
    }

    /// Starts `scry login` and reads the code it shows.
    fn start_login(
        &self,
        service: &Service,
    ) -> (Child, String, BufReader<std::process::ChildStderr>) {
        let mut child = self
            .scry(service)
            .args(["login", "--no-browser"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut shown = String::new();
        let code = loop {
            let mut line = String::new();
            assert!(
                stderr.read_line(&mut line).unwrap() > 0,
                "login said: {shown}"
            );
            shown += &line;
            if let Some(code) = line
                .trim()
                .strip_prefix("and check that it shows the code ")
            {
                break code.to_string();
            }
        };
        assert!(
            shown.contains(&format!("{}/device?user_code={code}", service.base)),
            "{shown}"
        );
        (child, code, stderr)
    }

    fn whoami(&self, service: &Service) -> std::process::Output {
        self.scry(service)
            .args(["whoami", "--json"])
            .output()
            .unwrap()
    }
}

fn rest(mut stderr: BufReader<std::process::ChildStderr>) -> String {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut text).unwrap();
    text
}

#[test]
fn a_headless_machine_signs_in_through_the_page_and_out_again() {
    let service = service();
    let machine = Machine::headless();
    let (mut child, code, stderr) = machine.start_login(&service);

    let (status, page) = service.approve(&code, "wrong password", "approve");
    assert_eq!(status, 401, "{page}");
    assert!(
        page.contains("wrong email or password") && page.contains(&code),
        "{page}"
    );
    let (status, page) = service.approve(&code, PASSWORD, "approve");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Device signed in"), "{page}");

    assert!(child.wait().unwrap().success());
    let said = rest(stderr);
    assert!(
        said.contains(&format!("Signed in to {} as {EMAIL}", service.base)),
        "{said}"
    );
    // No Secret Service here: said plainly, once, and the file is the user's alone.
    let file = machine.credentials_file();
    assert!(
        said.contains("warning: no credential store") && said.contains(file.to_str().unwrap()),
        "{said}"
    );
    assert_eq!(said.matches("warning").count(), 1, "{said}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    let out = machine.whoami(&service);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["user"]["email"], EMAIL);
    assert_eq!(me["server"], service.base.as_str());

    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let token = saved["sessions"][&service.base]
        .as_str()
        .unwrap()
        .to_string();
    let out = machine.scry(&service).arg("logout").output().unwrap();
    assert!(out.status.success());
    // Ended on the server, forgotten here.
    let old = Client::builder(&service.base).token(token).build().unwrap();
    let err = service.runtime.block_on(old.me()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized);
    let out = machine.whoami(&service);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not signed in") && err.contains("scry login"),
        "{err}"
    );
}

#[test]
fn a_denied_sign_in_fails_and_keeps_nothing() {
    let service = service();
    let machine = Machine::headless();
    let (mut child, code, stderr) = machine.start_login(&service);
    let (status, page) = service.approve(&code, PASSWORD, "deny");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("denied"), "{page}");
    assert!(!child.wait().unwrap().success());
    let said = rest(stderr);
    assert!(said.contains("error: the sign-in was denied"), "{said}");
    assert!(!machine.credentials_file().exists());
    // A used code cannot be approved afterwards.
    let (status, page) = service.approve(&code, PASSWORD, "approve");
    assert_eq!(status, 404, "{page}");
}

#[test]
fn an_api_key_in_the_environment_acts_for_its_org() {
    let service = service();
    let machine = Machine::headless();
    let person = service.signed_in();
    let key = service.runtime.block_on(async {
        let org = person.create_org("acme").await.unwrap();
        person
            .create_key(&org.id, "ci", scry_client::api::Role::Member)
            .await
            .unwrap()
            .key
    });
    let out = machine
        .scry(&service)
        .args(["whoami", "--json"])
        .env("SCRY_API_KEY", &key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let who: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(who["org"]["name"], "acme");
    assert_eq!(who["key"]["name"], "ci");
    assert_eq!(who["key"]["role"], "member");
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains(&key),
        "the key is never printed"
    );

    let out = machine
        .scry(&service)
        .arg("whoami")
        .env("SCRY_API_KEY", "scry_key_not_a_real_one")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SCRY_API_KEY was refused"), "{err}");
}

/// Runs inside `scripts/with-secret-service.sh` (a private session bus and an unlocked
/// gnome-keyring; `scripts/test.sh` runs this file there), never against a desktop's own
/// keyring.
#[test]
fn a_desktop_machine_keeps_the_session_in_the_secret_service() {
    if std::env::var_os("SCRY_TEST_SECRET_SERVICE").is_none() {
        eprintln!("skipped: run under scripts/with-secret-service.sh");
        return;
    }
    let service = service();
    let machine = Machine {
        config: tempfile::tempdir().unwrap(),
        bus: true,
    };
    let (mut child, code, stderr) = machine.start_login(&service);
    assert_eq!(service.approve(&code, PASSWORD, "approve").0, 200);
    assert!(child.wait().unwrap().success());
    let said = rest(stderr);
    assert!(!said.contains("warning"), "{said}");
    assert!(
        !machine.credentials_file().exists(),
        "kept in the keyring, not a file"
    );
    let lookup = || {
        Command::new("secret-tool")
            .args(["lookup", "service", "scry", "username", &service.base])
            .output()
    };
    // The test command installs secret-tool (libsecret-tools) with the keyring daemon.
    let found = lookup().expect("secret-tool runs");
    assert!(
        found.status.success() && found.stdout.starts_with(b"scry_"),
        "{found:?}"
    );
    let out = machine.whoami(&service);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        machine
            .scry(&service)
            .arg("logout")
            .status()
            .unwrap()
            .success()
    );
    let found = lookup().expect("secret-tool runs");
    assert!(
        !found.status.success() || found.stdout.is_empty(),
        "{found:?}"
    );
    assert!(!machine.whoami(&service).status.success());
}

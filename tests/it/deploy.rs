//! The deployment examples work as written: the systemd units pass `systemd-analyze verify`
//! and carry what the service needs, the env file names only real variables and reads the same
//! in sh, systemd and Docker, the crontab line and the by-hand commands beside it run against
//! a fake tenant, the Kubernetes manifests parse and the check Job runs the CronJob's pod, and
//! the image is labelled with the crate's version.
//!
//! systemd-analyze and a YAML parser (python3 with PyYAML) are used where installed; CI
//! installs both. Without them, those tests say so and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::cli::{Home, Setup, bin_path, sapi_logs};

fn example(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn installed(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The `NAME=value` lines of an env file, commented or not: (name, value, commented).
fn env_lines(text: &str) -> Vec<(String, String, bool)> {
    text.lines()
        .filter_map(|line| {
            let (commented, rest) = match line.strip_prefix("# ") {
                Some(rest) => (true, rest),
                None => (false, line),
            };
            let (name, value) = rest.split_once('=')?;
            let is_name = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            is_name.then(|| (name.to_string(), value.to_string(), commented))
        })
        .collect()
}

#[test]
fn the_env_file_names_only_real_variables_and_reads_the_same_in_sh_and_docker() {
    let text = example("examples/deploy/auth0-mgmt-webhooks.env");
    let known = auth0_mgmt_webhooks::config::misspelt::known();
    let lines = env_lines(&text);
    for (name, _, _) in &lines {
        assert!(known.contains(name), "{name} is not a variable of the tool");
    }
    let set: Vec<&(String, String, bool)> = lines.iter().filter(|l| !l.2).collect();
    for name in [
        "AUTH0_DOMAIN",
        "AUTH0_CLIENT_ID",
        "WEBHOOK_URL",
        "STATE_FILE",
    ] {
        assert!(set.iter().any(|l| l.0 == name), "the env file lacks {name}");
    }
    // systemd's unit passes the secret's file itself; the env file would override it.
    assert!(!set.iter().any(|l| l.0.contains("SECRET")), "{text}");

    // docker run --env-file takes the value as written; sh must read the same.
    let home = Home::new();
    let file = home.join("acme.env");
    std::fs::write(&file, &text).unwrap();
    for (name, value, _) in &set {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("set -a && . \"$1\" && printf %s \"${name}\""))
            .arg("sh")
            .arg(&file)
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&String::from_utf8_lossy(&out.stdout), value, "{name}");
    }
}

/// The example env file with the fakes' addresses, and the secret's file the crontab's
/// instructions append; its STATE_FILE under `home`.
fn env_file_for(s: &Setup, home: &Home) -> (PathBuf, PathBuf) {
    let state = home.join("acme.json");
    let secret = home.join("acme-client-secret");
    std::fs::write(&secret, crate::support::CLIENT_SECRET).unwrap();
    let values = [
        ("AUTH0_DOMAIN", s.tenant.url()),
        ("AUTH0_CLIENT_ID", crate::support::CLIENT_ID.to_string()),
        ("WEBHOOK_URL", s.receiver.url()),
        ("STATE_FILE", state.display().to_string()),
    ];
    let mut text = String::new();
    for line in example("examples/deploy/auth0-mgmt-webhooks.env").lines() {
        match values
            .iter()
            .find(|(n, _)| line.starts_with(&format!("{n}=")))
        {
            Some((n, v)) => text.push_str(&format!("{n}={v}\n")),
            None => text.push_str(&format!("{line}\n")),
        }
    }
    let crontab = example("examples/deploy/crontab");
    let appended = crontab
        .lines()
        .find_map(|l| l.split_once("echo AUTH0_CLIENT_SECRET_FILE="))
        .expect("the crontab's instructions add the secret's file")
        .1;
    let (_, rest) = appended
        .split_once(" >> ")
        .expect("appended to the env file");
    assert_eq!(rest, "/etc/auth0-mgmt-webhooks/acme.env");
    text.push_str(&format!("AUTH0_CLIENT_SECRET_FILE={}\n", secret.display()));
    let file = home.join("acme.env");
    std::fs::write(&file, text).unwrap();
    (file, state)
}

/// A line of the example, with its paths replaced by the test's.
fn localised(line: &str, env_file: &Path) -> String {
    line.replace(
        "/etc/auth0-mgmt-webhooks/acme.env",
        &env_file.display().to_string(),
    )
    .replace("/usr/local/bin/auth0-mgmt-webhooks", bin_path())
    .replace("logger -t auth0-mgmt-webhooks", "cat")
}

fn sh(command: &str) -> crate::support::cli::Ran {
    let dir = Path::new(bin_path()).parent().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env_clear()
        .env("PATH", format!("{}:/usr/bin:/bin", dir.display()));
    crate::support::cli::Ran::of(&mut cmd)
}

#[test]
fn the_crontab_line_and_the_commands_beside_it_run_as_written() {
    let s = Setup::new(sapi_logs(1..=30));
    let home = Home::new();
    let (env_file, state) = env_file_for(&s, &home);
    let crontab = example("examples/deploy/crontab");

    let by_hand = |sub: &str| -> String {
        let line = crontab
            .lines()
            .find(|l| {
                l.contains("sudo -u auth0hooks sh -c")
                    && l.contains(&format!("exec auth0-mgmt-webhooks {sub}'"))
            })
            .unwrap_or_else(|| panic!("no by-hand {sub} in the crontab's comments"));
        let command = line.split_once("sudo -u auth0hooks ").unwrap().1;
        localised(command, &env_file)
    };
    let ran = sh(&by_hand("check"));
    ran.assert_code(0);
    assert!(
        ran.stdout
            .contains(&format!("state file {}", state.display())),
        "{}",
        ran.all()
    );

    let line = crontab
        .lines()
        .find(|l| l.starts_with("*/5 "))
        .expect("a crontab line");
    let command: String = line.splitn(6, ' ').nth(5).unwrap().to_string();
    let ran = sh(&localised(&command, &env_file));
    ran.assert_code(0);
    assert_eq!(s.receiver.request_count(), 1, "{}", ran.all());
    assert!(state.exists(), "the run saved STATE_FILE from the env file");

    let ran = sh(&by_hand("history"));
    ran.assert_code(0);
    assert!(
        ran.stdout.lines().count() >= 2,
        "a run in the history: {}",
        ran.all()
    );
}

#[test]
fn the_systemd_units_verify_and_carry_what_the_service_needs() {
    let service = example("examples/deploy/auth0-mgmt-webhooks@.service");
    let timer = example("examples/deploy/auth0-mgmt-webhooks.timer");
    let env = example("examples/deploy/auth0-mgmt-webhooks.env");
    let setting = |unit: &str, key: &str| -> Vec<String> {
        unit.lines()
            .filter_map(|l| l.strip_prefix(&format!("{key}=")).map(str::to_string))
            .collect()
    };
    assert_eq!(setting(&timer, "Unit"), ["auth0-mgmt-webhooks@run.service"]);
    assert!(!setting(&timer, "RandomizedDelaySec").is_empty());
    assert_eq!(
        setting(&service, "ExecStart"),
        ["/usr/local/bin/auth0-mgmt-webhooks %i"]
    );
    let credential = setting(&service, "LoadCredential");
    let (name, _) = credential[0].split_once(':').unwrap();
    assert!(
        setting(&service, "Environment").contains(&format!("AUTH0_CLIENT_SECRET_FILE=%d/{name}")),
        "{service}"
    );
    // METRICS_FILE's folder is writable under ProtectSystem=strict.
    assert_eq!(setting(&service, "ProtectSystem"), ["strict"]);
    let metrics = env_lines(&env)
        .into_iter()
        .find(|l| l.0 == "METRICS_FILE")
        .expect("the env file shows METRICS_FILE")
        .1;
    let folder = Path::new(&metrics).parent().unwrap().display().to_string();
    let writable = setting(&service, "ReadWritePaths");
    assert!(
        writable.iter().any(|p| p.trim_start_matches('-') == folder),
        "{writable:?} lacks {folder}"
    );
    // The env file the unit reads is the one the instructions install.
    let env_path = &setting(&service, "EnvironmentFile")[0];
    assert!(
        service.contains(&format!("auth0-mgmt-webhooks.env {env_path}")),
        "{env_path}"
    );

    if !installed("systemd-analyze", &["--version"]) {
        eprintln!("systemd-analyze is not installed: units not verified");
        return;
    }
    let home = Home::new();
    let dir = home.join("");
    for (name, text) in [
        ("auth0-mgmt-webhooks@.service", &service),
        ("auth0-mgmt-webhooks@run.service", &service),
        ("auth0-mgmt-webhooks.timer", &timer),
    ] {
        // verify checks that ExecStart's program exists: the binary under test.
        let text = text.replace("/usr/local/bin/auth0-mgmt-webhooks", bin_path());
        std::fs::write(dir.join(name), text).unwrap();
    }
    for unit in [
        "auth0-mgmt-webhooks@.service",
        "auth0-mgmt-webhooks@run.service",
        "auth0-mgmt-webhooks.timer",
    ] {
        let out = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.join(unit))
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && stderr.is_empty(),
            "{unit}: {stderr}"
        );
    }
}

/// The YAML documents of a file, as JSON, through python3's PyYAML; `None` without it.
fn yaml_documents(path: &str) -> Option<Vec<Value>> {
    if !installed("python3", &["-c", "import yaml"]) {
        return None;
    }
    let out = Command::new("python3")
        .arg("-c")
        .arg("import json, sys, yaml; json.dump([d for d in yaml.safe_load_all(open(sys.argv[1])) if d], sys.stdout)")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

#[test]
fn the_kubernetes_manifests_parse_and_the_check_job_runs_the_cronjobs_pod() {
    let text = example("examples/deploy/kubernetes.yaml");
    assert!(
        text.contains("--from-file=AUTH0_CLIENT_SECRET="),
        "secrets from files"
    );
    assert!(
        !text.contains("--from-literal="),
        "no secret on a command line"
    );
    let (Some(main), Some(check)) = (
        yaml_documents("examples/deploy/kubernetes.yaml"),
        yaml_documents("examples/deploy/kubernetes-check.yaml"),
    ) else {
        eprintln!("python3 with PyYAML is not installed: manifests not parsed");
        return;
    };
    let kinds: Vec<&str> = main.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["PersistentVolumeClaim", "CronJob"]);
    let cron = &main[1];
    let job = &check[0];
    assert_eq!(job["kind"], "Job");
    assert!(job["spec"]["ttlSecondsAfterFinished"].as_u64().is_some());

    let mut run_pod = cron["spec"]["jobTemplate"]["spec"]["template"].clone();
    let mut check_pod = job["spec"]["template"].clone();
    assert_eq!(
        run_pod["spec"]["containers"][0]["args"],
        serde_json::json!(["run"])
    );
    assert_eq!(
        check_pod["spec"]["containers"][0]["args"],
        serde_json::json!(["check"])
    );
    run_pod["spec"]["containers"][0]["args"] = Value::Null;
    check_pod["spec"]["containers"][0]["args"] = Value::Null;
    assert_eq!(
        run_pod, check_pod,
        "the check Job's pod is the CronJob's but for the command"
    );
    assert_eq!(
        job["spec"]["template"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
        main[0]["metadata"]["name"]
    );

    let known = auth0_mgmt_webhooks::config::misspelt::known();
    let env = run_pod["spec"]["containers"][0]["env"].as_array().unwrap();
    for var in env {
        let name = var["name"].as_str().unwrap().to_string();
        assert!(
            known.contains(&name),
            "{name} is not a variable of the tool"
        );
    }
    assert!(
        env.iter()
            .any(|v| v["name"] == "STATE_FILE" && v["value"] == "/state/state.json")
    );
}

#[test]
fn the_image_is_labelled_with_the_crates_version_and_license() {
    let dockerfile = example("Dockerfile");
    let arg = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG VERSION="))
        .expect("ARG VERSION");
    assert_eq!(arg, env!("CARGO_PKG_VERSION"));
    for label in [
        "org.opencontainers.image.title=\"auth0-mgmt-webhooks\"",
        "org.opencontainers.image.version=\"${VERSION}\"",
        &format!(
            "org.opencontainers.image.licenses=\"{}\"",
            env!("CARGO_PKG_LICENSE")
        ),
    ] {
        assert!(dockerfile.contains(label), "the image lacks {label}");
    }
}

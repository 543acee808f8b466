//! amazon-ebs under faults, against moto behind scripts/ec2-proxy.py (which holds each state
//! transition like EC2 and fails a chosen call): a failure at each API call in turn, SIGINT at
//! random moments, kill -9 at random moments followed by `kiln cleanup`. The build copies its
//! AMI to a second region and shares it, makes a temporary IAM instance profile, and launches
//! a volume that would outlive the instance, so those steps are in the way too. Every time,
//! nothing temporary is left in the cloud, in either region or in IAM.
//!
//! The random moments come from KILN_TEST_SEED when set (the seed is printed on failure).

mod common;
#[path = "common/moto.rs"]
mod moto;
#[path = "common/target.rs"]
mod target;

use common::*;
use moto::{Moto, Proxy};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use target::SshTarget;

/// The moto server, the proxy in front of it, an sshd target and a template, for one test.
struct Rig {
    moto: Moto,
    proxy: Proxy,
    target: SshTarget,
    dir: tempfile::TempDir,
    state: tempfile::TempDir,
    template: String,
}

impl Rig {
    fn new(lag: f64) -> Rig {
        let moto = Moto::start_multi_region();
        let proxy = Proxy::start(&moto, lag);
        let target = moto::ec2_target(&moto);
        let dir = tempfile::tempdir().unwrap();
        let template = dir.path().join("t.json").display().to_string();
        std::fs::write(
            &template,
            format!(
                r#"{{"builders": [{{"type": "amazon-ebs", "region": "us-east-1", "source_ami": "ami-af4333cf",
                     "instance_type": "t2.micro", "ssh_username": "centos",
                     "ami_name": "faults-{{{{timestamp}}}}-{{{{uuid}}}}", "tags": {{"Purpose": "faults"}},
                     "launch_block_device_mappings": [{{"device_name": "/dev/sdb", "volume_size": 1}}],
                     "ami_regions": ["us-west-2"], "ami_users": ["111122223333"],
                     "temporary_iam_instance_profile_policy_document": {{"Statement": [
                         {{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["*"]}}]}},
                     "ssh_host": "127.0.0.1", "ssh_port": {}}}],
                   "provisioners": [{{"type": "shell", "inline": ["sleep 0.3"]}}]}}"#,
                target.port
            ),
        )
        .unwrap();
        Rig {
            moto,
            proxy,
            target,
            dir,
            state: tempfile::tempdir().unwrap(),
            template,
        }
    }

    fn envs(&self) -> Vec<(String, String)> {
        [
            ("AWS_ACCESS_KEY_ID", "dummy-access".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "dummy-secret".to_string()),
            ("AWS_DEFAULT_REGION", "us-east-1".to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_ENDPOINT_URL", self.proxy.url()),
            ("KILN_STATE_DIR", self.state.path().display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = kiln();
        c.current_dir(self.dir.path()).args(args);
        for (k, v) in self.envs() {
            c.env(k, v);
        }
        c
    }

    fn spawn_build(&self) -> Child {
        self.command(&["build", "-color=false", &self.template])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts a build and kills it (SIGKILL: no cleanup runs) once it waits after `call`: a
    /// call whose action starts with `poll` has followed it.
    fn kill_9_waiting_after(&self, call: &str, poll: &str) {
        let mut child = self.spawn_build();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self
            .proxy
            .calls()
            .iter()
            .skip_while(|c| *c != call)
            .any(|c| c.starts_with(poll))
        {
            assert!(Instant::now() < deadline, "{:?}", self.proxy.calls());
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Runs a build to its end; returns (exit code, output).
    fn build(&self) -> (i32, String) {
        let out = self
            .command(&["build", "-color=false", &self.template])
            .output()
            .unwrap();
        (out.status.code().unwrap_or(-1), stdout_of(&out))
    }

    fn cleanup(&self) -> String {
        self.proxy.configure(0.0, None);
        let out = self.command(&["cleanup"]).output().unwrap();
        let text = stdout_of(&out);
        assert!(out.status.success(), "kiln cleanup failed:\n{text}");
        text
    }

    /// Whether the last run's journal is gone (the run settled everything).
    fn journal_empty(&self) -> bool {
        std::fs::read_dir(self.state.path()).unwrap().count() == 0
    }

    /// Whether a run kept its AMI as the product (its journal released it, or it left none).
    fn kept_image(&self) -> bool {
        let journals: Vec<_> = std::fs::read_dir(self.state.path()).unwrap().collect();
        journals.is_empty()
            || journals.into_iter().any(|e| {
                std::fs::read_to_string(e.unwrap().path())
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .any(|r| r["kind"] == "ec2:image" && r["event"] == "released")
            })
    }
}

fn stdout_of(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A small deterministic generator for the moments (xorshift), seeded from KILN_TEST_SEED or
/// the clock.
struct Moments(u64);

impl Moments {
    fn new() -> (Moments, u64) {
        let seed = std::env::var("KILN_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        (Moments(seed), seed)
    }

    /// A moment in [0, span).
    fn next(&mut self, span: Duration) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        span.mul_f64((self.0 % 10_000) as f64 / 10_000.0)
    }
}

/// Waits for a child, killing it if it takes longer than `limit`.
fn wait_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kiln did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// How long a whole build takes here (and checks that one succeeds).
fn full_build_time(rig: &Rig) -> Duration {
    let start = Instant::now();
    let (code, text) = rig.build();
    assert_eq!(code, 0, "{text}\n{}", rig.target.log());
    let took = start.elapsed();
    rig.moto.remove_products();
    assert!(rig.journal_empty(), "a clean build left its journal");
    assert_eq!(rig.moto.everything_left(), Vec::<String>::new());
    took
}

#[test]
fn a_failure_at_each_api_call_in_turn_leaves_nothing_behind() {
    let rig = Rig::new(0.0);
    rig.proxy.configure(0.0, None);
    let (code, text) = rig.build();
    assert_eq!(code, 0, "{text}\n{}", rig.target.log());
    let calls = rig.proxy.calls();
    rig.moto.remove_products();
    assert!(calls.len() > 10, "{calls:?}");
    for n in 1..=calls.len() {
        rig.proxy.configure(0.0, Some(n));
        let (code, text) = rig.build();
        let failed_call = rig.proxy.calls().get(n - 1).cloned().unwrap_or_default();
        let fault = format!("fault injected at call {n}");
        leaves_nothing(
            &rig,
            &format!("call {n} ({failed_call})"),
            &failed_call,
            &fault,
            code,
            &text,
        );
    }
    // Calls made side by side come in either order, so a position need not be the same call
    // each time: each action fails once more by name.
    let mut actions = calls.clone();
    actions.sort();
    actions.dedup();
    for action in actions {
        rig.proxy.configure_action_failure(&action, 1);
        let (code, text) = rig.build();
        let fault = format!("({action})");
        leaves_nothing(
            &rig,
            &format!("the first {action}"),
            &action,
            &fault,
            code,
            &text,
        );
    }
}

/// What a build whose call `failed_call` failed must leave: an error that names the fault
/// (`fault`) and exit code 1, or a finished build whose AMI is the product; nothing else in
/// moto or the journal (when the failure was in a deletion: nothing after `kiln cleanup`).
fn leaves_nothing(rig: &Rig, what: &str, failed_call: &str, fault: &str, code: i32, text: &str) {
    let finished = text.contains("Build 'amazon-ebs' finished after");
    if finished {
        // The build made its AMI (the fault fell on a call it could do without, or on a
        // cleanup after it): the AMI is the product.
        if failed_call == "DeleteTags" {
            // Its expiry tag stayed on: the user is told how to keep it from being reaped.
            assert!(
                text.contains("kiln cleanup -expired will delete the AMI"),
                "{what}:\n{text}"
            );
        }
        rig.moto.remove_products();
    }
    if code != 0 {
        assert_eq!(code, 1, "{what}:\n{text}");
        assert!(
            text.contains(fault),
            "{what}: the error does not say what failed:\n{text}"
        );
    }
    // A failure while creating or waiting leaves nothing even before `kiln cleanup`; one
    // while deleting leaves what it could not delete, listed in the journal.
    let deleting = ["Delete", "Terminate", "Deregister"]
        .iter()
        .any(|p| failed_call.starts_with(p));
    let left = rig.moto.everything_left();
    if !deleting {
        assert_eq!(left, Vec::<String>::new(), "{what}:\n{text}");
        assert!(rig.journal_empty(), "{what}: journal left:\n{text}");
    } else if !left.is_empty() {
        assert!(
            text.contains("run `kiln cleanup` to delete them"),
            "{what} left {left:?} without saying so:\n{text}"
        );
    }
    let cleaned = rig.cleanup();
    assert_eq!(
        rig.moto.everything_left(),
        Vec::<String>::new(),
        "{what}, after kiln cleanup:\n{cleaned}\nbuild:\n{text}"
    );
    assert!(rig.journal_empty(), "{what}: journal left after cleanup");
}

#[test]
fn sigint_at_random_moments_leaves_nothing_behind() {
    // With EC2-like waits, so interrupts land in them too (the AMI's among them).
    let rig = Rig::new(1.0);
    let span = full_build_time(&rig);
    let (mut moments, seed) = Moments::new();
    for round in 0..20 {
        let at = moments.next(span);
        let mut child = rig.spawn_build();
        std::thread::sleep(at);
        // SAFETY: signalling the kiln process this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        let status = wait_within(&mut child, Duration::from_secs(120));
        let out = child.wait_with_output().unwrap();
        let text = stdout_of(&out);
        let ctx = format!("seed {seed}, round {round}, SIGINT at {at:?} (build takes {span:?})");
        if std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGINT) {
            // It landed before kiln's first instructions, which install its handler before
            // kiln does or says anything: the default action killed it, and it had said
            // nothing (and, below, made nothing).
            assert!(
                text.is_empty(),
                "{ctx}: killed by SIGINT after it started:\n{text}"
            );
        } else if !status.success() {
            assert_eq!(status.code(), Some(1), "{ctx}:\n{text}");
        }
        // An interrupt that came after the build finished leaves its product, the AMI.
        if text.contains("Build 'amazon-ebs' finished after") {
            rig.moto.remove_products();
        }
        // No `kiln cleanup`: the interrupted run cleaned up after itself.
        assert_eq!(
            rig.moto.everything_left(),
            Vec::<String>::new(),
            "{ctx}:\n{text}"
        );
        assert!(rig.journal_empty(), "{ctx}: journal left:\n{text}");
    }
}

#[test]
fn kill_9_at_random_moments_then_kiln_cleanup_leaves_nothing() {
    let rig = Rig::new(1.0);
    let span = full_build_time(&rig);
    let (mut moments, seed) = Moments::new();
    for round in 0..20 {
        let at = moments.next(span);
        let mut child = rig.spawn_build();
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap();
        if finished.is_none() {
            let _ = child.kill(); // SIGKILL: no cleanup runs.
        }
        let _ = child.wait();
        let ctx = format!("seed {seed}, round {round}, kill -9 at {at:?} (build takes {span:?})");
        if let Some(st) = finished {
            assert!(st.success(), "{ctx}: the build failed on its own");
        }
        if finished.is_some() || rig.kept_image() {
            rig.moto.remove_products();
        }
        let cleaned = rig.cleanup();
        assert_eq!(
            rig.moto.everything_left(),
            Vec::<String>::new(),
            "{ctx}:\n{cleaned}"
        );
        assert!(rig.journal_empty(), "{ctx}: journal left after cleanup");
    }
}

/// A run's journal is lost with its machine (a CI runner thrown away). `kiln cleanup -expired`
/// finds what such runs left by their `kiln:expires` tags once the time has passed, in each
/// region named and in IAM, and deletes it. Before then it deletes nothing; a build's product,
/// what kiln did not tag, and what a live run holds are never touched.
#[test]
fn kiln_cleanup_expired_deletes_what_runs_with_lost_journals_left() {
    let rig = Rig::new(3.0);
    // Killed while the instance starts (key pair, group, IAM profile, instance), and while its
    // AMI is made (the instance, the AMI and its snapshot).
    for killed_after in ["RunInstances", "CreateImage"] {
        rig.proxy.configure(3.0, None);
        rig.kill_9_waiting_after(killed_after, "Describe");
    }
    for journal in std::fs::read_dir(rig.state.path()).unwrap() {
        std::fs::remove_file(journal.unwrap().path()).unwrap();
    }
    // One of the instances then ended on its own: its volume launched to outlive it stays.
    let instances = rig.moto.query("Action=DescribeInstances");
    let first = Moto::values(&instances, "instanceId")[0].clone();
    rig.moto
        .query(&format!("Action=TerminateInstances&InstanceId.1={first}"));
    let left = rig.moto.everything_left();
    for kind in [
        "volume",
        "key pair",
        "security group",
        "instance",
        "image",
        "snapshot",
        "role",
    ] {
        assert!(
            left.iter().any(|l| l.starts_with(kind)),
            "no {kind} left: {left:?}"
        );
    }
    // A build's product, and a key pair kiln did not make.
    rig.proxy.configure(0.0, None);
    let (code, text) = rig.build();
    assert_eq!(code, 0, "{text}");
    rig.moto.query("Action=CreateKeyPair&KeyName=someone-elses");
    let expired = |extra: &[&str]| {
        let mut args = vec!["cleanup", "-expired", "-region", "us-east-1,us-west-2"];
        args.extend_from_slice(extra);
        let out = rig.command(&args).output().unwrap();
        (out.status.code(), stdout_of(&out))
    };
    // Nothing has expired yet.
    let everything = rig.moto.everything_left();
    let (code, said) = expired(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("kiln cleanup: 0 deleted, 0 failed"), "{said}");
    assert_eq!(rig.moto.everything_left(), everything);

    rig.moto.expire_kiln_tags();
    let (code, said) = expired(&["-dry-run"]);
    assert_eq!(code, Some(0), "{said}");
    assert!(said.contains("would delete ec2:instance"), "{said}");
    assert_eq!(
        rig.moto.everything_left(),
        everything,
        "a dry run deletes nothing"
    );

    let (code, said) = expired(&[]);
    assert_eq!(code, Some(0), "{said}");
    assert!(
        said.contains(" failed") && said.contains(", 0 failed"),
        "{said}"
    );
    // Left: the product (its AMI in both regions, their snapshots), the other key pair.
    let left = rig.moto.everything_left();
    assert!(
        left.contains(&"key pair someone-elses".to_string()),
        "{left:?}"
    );
    let images: Vec<_> = left.iter().filter(|l| l.starts_with("image ")).collect();
    assert_eq!(
        images.len(),
        2,
        "the product in each region: {left:?}\n{said}"
    );
    for image in &images {
        let id = image.split(' ').nth(1).unwrap();
        assert!(text.contains(id), "{id} is not the product:\n{text}");
    }
    rig.moto.query("Action=DeleteKeyPair&KeyName=someone-elses");
    rig.moto.remove_products();
    assert_eq!(rig.moto.everything_left(), Vec::<String>::new(), "{said}");
}

/// A dead run's AMI that someone deregistered since (EC2 then answers DeregisterImage with
/// InvalidAMIID.Unavailable) counts as deleted: `kiln cleanup` goes on with the rest.
#[test]
fn kiln_cleanup_of_an_ami_deregistered_since_goes_on() {
    let rig = Rig::new(3.0);
    rig.kill_9_waiting_after("CreateImage", "DescribeImages");
    let images = rig.moto.query("Action=DescribeImages&Owner.1=self");
    let ids = Moto::values(&images, "imageId");
    assert!(!ids.is_empty(), "{images}");
    for id in ids {
        rig.moto
            .query(&format!("Action=DeregisterImage&ImageId={id}"));
    }
    let cleaned = rig.cleanup();
    assert!(cleaned.contains("deleted ec2:image"), "{cleaned}");
    rig.moto.remove_products();
    assert_eq!(
        rig.moto.everything_left(),
        Vec::<String>::new(),
        "{cleaned}"
    );
    assert!(rig.journal_empty(), "{cleaned}");
}

#[test]
fn kiln_cleanup_leaves_a_running_build_alone() {
    let rig = Rig::new(0.0);
    std::fs::write(
        &rig.template,
        std::fs::read_to_string(&rig.template)
            .unwrap()
            .replace("sleep 0.3", "touch /tmp/kiln-provisioning; sleep 8"),
    )
    .unwrap();
    let mut child = rig.spawn_build();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rig.target.path("/tmp/kiln-provisioning").exists() {
        assert!(Instant::now() < deadline, "the build never provisioned");
        std::thread::sleep(Duration::from_millis(50));
    }
    let cleaned = rig.cleanup();
    assert!(cleaned.contains("its run is still going"), "{cleaned}");
    assert!(cleaned.contains("0 deleted"), "{cleaned}");
    // Nor are its resources reaped once their tags have expired: the run holds them.
    rig.moto.expire_kiln_tags();
    let out = rig
        .command(&["cleanup", "-expired", "-region", "us-east-1,us-west-2"])
        .output()
        .unwrap();
    let reaped = stdout_of(&out);
    assert!(reaped.contains("its run is still going"), "{reaped}");
    assert!(reaped.contains("0 deleted, 0 failed"), "{reaped}");
    let status = wait_within(&mut child, Duration::from_secs(120));
    let text = stdout_of(&child.wait_with_output().unwrap());
    assert!(status.success(), "the build lost its resources:\n{text}");
    rig.moto.remove_products();
    assert_eq!(rig.moto.everything_left(), Vec::<String>::new());
}

#[test]
fn spot_tries_the_next_instance_type_when_ec2_has_no_capacity() {
    let rig = Rig::new(0.0);
    std::fs::write(
        &rig.template,
        std::fs::read_to_string(&rig.template).unwrap().replace(
            r#""instance_type": "t2.micro","#,
            r#""spot_price": "auto", "spot_instance_types": ["c5.large", "t3.micro"],
               "spot_tags": {"Purpose": "spot"},"#,
        ),
    )
    .unwrap();
    // Learn where RunInstances falls, then refuse that call for lack of capacity.
    rig.proxy.configure(0.0, None);
    let (code, text) = rig.build();
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Launching a spot AWS instance"), "{text}");
    rig.moto.remove_products();
    let n = rig
        .proxy
        .calls()
        .iter()
        .position(|c| c == "RunInstances")
        .expect("RunInstances called")
        + 1;
    rig.proxy
        .configure_fault(0.0, Some(n), "InsufficientInstanceCapacity");
    let (code, text) = rig.build();
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("c5.large: EC2 RunInstances failed: InsufficientInstanceCapacity"),
        "{text}"
    );
    let calls = rig.proxy.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == "RunInstances").count(),
        2,
        "{calls:?}"
    );
    // EC2 cannot stop an instance of a one-time spot request: it is imaged running, as Packer
    // does it.
    assert!(!calls.iter().any(|c| c == "StopInstances"), "{calls:?}");
    let instances = rig.moto.query("Action=DescribeInstances");
    assert!(
        Moto::values(&instances, "instanceType").contains(&"t3.micro".to_string()),
        "{instances}"
    );
    rig.moto.remove_products();
    assert_eq!(rig.moto.everything_left(), Vec::<String>::new());
    assert!(rig.journal_empty());
}

#[test]
fn a_second_interrupt_stops_waiting_and_says_what_is_left() {
    let rig = Rig::new(0.0);
    std::fs::write(
        &rig.template,
        std::fs::read_to_string(&rig.template)
            .unwrap()
            .replace("sleep 0.3", "touch /tmp/kiln-provisioning; sleep 30"),
    )
    .unwrap();
    let mut child = rig.spawn_build();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !rig.target.path("/tmp/kiln-provisioning").exists() {
        assert!(Instant::now() < deadline, "the build never provisioned");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A slow API: the cleanup the first interrupt starts takes seconds, so the second one
    // lands in it.
    rig.proxy.configure_slow(0.7);
    // SAFETY: signalling the kiln process this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    std::thread::sleep(Duration::from_millis(400));
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_within(&mut child, Duration::from_secs(20));
    let text = stdout_of(&child.wait_with_output().unwrap());
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("Second interrupt received: exiting without waiting for cleanup."),
        "{text}"
    );
    assert!(
        text.contains("These resources created by this run were not deleted:"),
        "{text}"
    );
    assert!(text.contains("run `kiln cleanup` to delete them"), "{text}");
    // What it listed is what is there, and kiln cleanup removes it.
    assert!(!rig.moto.everything_left().is_empty());
    let cleaned = rig.cleanup();
    assert_eq!(
        rig.moto.everything_left(),
        Vec::<String>::new(),
        "{cleaned}\n{text}"
    );
    assert!(rig.journal_empty());
}

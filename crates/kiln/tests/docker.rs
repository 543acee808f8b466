//! The docker builder and communicator against a real Docker daemon (tests/common/docker.rs):
//! builds that commit, export and discard, what provisioners see and leave in the image, and
//! that nothing but the product is left after success, failure, SIGINT, or kill -9 and
//! `kiln cleanup`.

mod common;
#[path = "common/docker.rs"]
mod docker;
#[path = "common/target.rs"]
mod target;

use common::*;
use docker::{dockerd, Dockerd, Registry, Scratch, BASE};
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::time::{Duration, Instant};

fn write(s: &Scratch, name: &str, text: &str) {
    let p = s.path().join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn build(s: &Scratch, d: &Dockerd, template: &serde_json::Value, extra: &[&str]) -> Output {
    write(s, "t.json", &template.to_string());
    let mut args = vec!["build", "-color=false"];
    args.extend(extra);
    args.push("t.json");
    s.kiln(d, &args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The output of a run that must have succeeded.
fn succeeded(o: &Output) -> String {
    let out = text(o);
    assert!(o.status.success(), "{out}");
    out
}

/// One member of a tar file in the scratch directory, as text.
fn tar_member(s: &Scratch, tar: &str, member: &str) -> String {
    let o = std::process::Command::new("tar")
        .args(["-xOf", tar, member])
        .current_dir(s.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{member} in {tar}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The containers and images of the daemon now, to compare with after a build.
fn snapshot(d: &Dockerd) -> (Vec<String>, Vec<String>) {
    (d.containers(), d.images())
}

/// Asserts the build left no container, no shared directory and no journal, and returns
/// the images it added.
fn added_images(d: &Dockerd, s: &Scratch, before: &(Vec<String>, Vec<String>)) -> Vec<String> {
    assert_eq!(d.containers(), before.0, "containers left");
    assert_eq!(s.leftovers(), Vec::<String>::new(), "files left");
    d.images()
        .into_iter()
        .filter(|i| !before.1.contains(i))
        .collect()
}

#[test]
fn a_committed_build_has_what_the_provisioners_made_and_leaves_only_the_image() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    write(&s, "files/a.txt", "hello\n");
    write(&s, "files/sub/b.sh", "echo deep\n");
    std::fs::set_permissions(
        s.path().join("files/sub/b.sh"),
        std::fs::Permissions::from_mode(0o750),
    )
    .unwrap();
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true,
            "changes": ["ENV FOO=bar", "LABEL built=kiln"], "author": "Kiln Test",
            "message": "made by kiln"}],
        "provisioners": [
            {"type": "shell", "inline": [
                "echo \"who: $(id -un) build: $PACKER_BUILD_NAME type: $PACKER_BUILDER_TYPE\"",
                "echo built > /built.txt", "test -d /packer-files"]},
            {"type": "file", "source": "files/", "destination": "/opt/files"},
            {"type": "file", "source": "files/a.txt", "destination": "/opt/single.txt"},
            {"type": "file", "source": "/opt/files/", "destination": "down/tree",
             "direction": "download"},
            {"type": "file", "source": "/built.txt", "destination": "down/built.txt",
             "direction": "download"}
        ],
        "post-processors": [{"type": "manifest", "output": "manifest.json"}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> docker: Creating a temporary directory for sharing data...",
            "==> docker: Starting docker container...",
            "    docker: Run command: docker run -v ",
            "-d -i -t --entrypoint=/bin/sh -- kiln-test:base",
            "==> docker: Using docker communicator to connect:",
            "    docker: who: root build: docker type: docker",
            "==> docker: Uploading files/ => /opt/files",
            "==> docker: Committing the container",
            "==> docker: Killing the container: ",
            "--> docker: Imported Docker image: sha256:",
        ],
    );
    let images = added_images(d, &s, &before);
    assert_eq!(images.len(), 1, "{images:?}");
    let image = &images[0];
    // The commit's options, and no trace of kiln's own bookkeeping, in the image.
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Author}}|{{.Comment}}|{{.Config.Env}}|{{.Config.Labels}}",
            image
        ]),
        "Kiln Test|made by kiln|[FOO=bar]|map[built:kiln]"
    );
    // The image keeps the container's entrypoint (/bin/sh), as Packer's do.
    let inside = d.ok(&[
        "run",
        "--rm",
        image,
        "-c",
        "cat /built.txt /opt/single.txt /opt/files/a.txt; stat -c '%a %U' /opt/files/sub/b.sh",
    ]);
    assert_eq!(inside, "built\nhello\nhello\n750 root");
    // Downloads: a file, and a directory's contents with their modes.
    assert_eq!(
        std::fs::read_to_string(s.path().join("down/built.txt")).unwrap(),
        "built\n"
    );
    let b = s.path().join("down/tree/sub/b.sh");
    assert_eq!(std::fs::read_to_string(&b).unwrap(), "echo deep\n");
    assert_eq!(
        std::fs::metadata(&b).unwrap().permissions().mode() & 0o777,
        0o750
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path().join("manifest.json")).unwrap())
            .unwrap();
    let b = &m["builds"][0];
    assert_eq!(b["builder_type"], "docker");
    assert_eq!(b["artifact_id"], serde_json::json!(image));
    d.ok(&["rmi", image]);
}

#[test]
fn the_seeds_provisioning_chain_runs_in_a_container() {
    // The seed's shell + ansible-local (role_paths) + shell, with apt from the image's local
    // package cache for yum, over docker exec and docker cp.
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [
            {"type": "shell", "inline": ["sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"]},
            {"type": "ansible-local", "playbook_file": "bootstrap.yml",
             "role_paths": ["roles/elasticsearch", "roles/telegraf", "roles/sudo", "roles/fail2ban"]},
            {"type": "shell", "inline": ["sudo apt-get purge -y -q ansible-core"]}
        ]
    });
    write(&s, "t.json", &t.to_string());
    let o = s
        .kiln(
            d,
            &[
                "build",
                "-color=false",
                &s.path().join("t.json").display().to_string(),
            ],
        )
        .current_dir(fixtures().join("seed"))
        .output()
        .unwrap();
    let out = succeeded(&o);
    assert_says(
        &out,
        &[
            "==> docker: Executing Ansible: bootstrap.yml",
            "TASK [sudo : Allow the ops group to use sudo]",
        ],
    );
    let images = added_images(d, &s, &before);
    assert_eq!(images.len(), 1, "{images:?}");
    let inside = d.ok(&[
        "run",
        "--rm",
        &images[0],
        "-c",
        "cat /etc/elasticsearch/elasticsearch.yml /etc/sudoers.d/90-ops; stat -c %a /etc/sudoers.d/90-ops; grep -c maxretry /etc/fail2ban/jail.local; command -v ansible-playbook || echo no ansible; ls /tmp/packer-provisioner-ansible-local 2>&1 | grep -c 'No such'",
    ]);
    assert_eq!(
        inside,
        "cluster.name: kiln-cluster\n%ops ALL=(ALL) NOPASSWD: ALL\n440\n1\nno ansible\n1"
    );
    d.ok(&["rmi", &images[0]]);
}

#[test]
fn export_writes_the_file_system_and_discard_leaves_nothing() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false,
            "export_path": "out/image.tar"}],
        "provisioners": [{"type": "shell", "inline": ["echo exported > /marker"]}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> docker: Exporting the container",
            "--> docker: Exported Docker file: out/image.tar",
        ],
    );
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
    assert_eq!(tar_member(&s, "out/image.tar", "marker"), "exported\n");
    assert_eq!(
        std::fs::read_dir(s.path().join("out")).unwrap().count(),
        1,
        "only the export in out/"
    );

    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "discard": true}],
        "provisioners": [{"type": "shell", "inline": ["true"]}]
    });
    let o = build(&s, d, &t, &[]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn an_export_is_imported_tagged_and_saved_by_the_docker_post_processors() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false,
            "export_path": "out/image.tar"}],
        "provisioners": [{"type": "shell", "inline": ["echo imported > /marker"]}],
        "post-processors": [[
            {"type": "docker-import", "repository": "kiln-test/imported", "tag": "v1",
             "changes": ["ENV FROM=import", "ENTRYPOINT [\"/bin/cat\"]"]},
            {"type": "docker-tag", "repository": "kiln-test/tagged", "tags": ["a", "b"]},
            {"type": "docker-save", "path": "out/saved.tar"}
        ], [
            {"type": "docker-import", "repository": "kiln-test/boxed", "tag": "v1"},
            {"type": "vagrant", "output": "out/{{.Provider}}.box"}
        ]]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "    docker (docker-import): Repository: kiln-test/imported:v1",
            "    docker (docker-tag): Repository: kiln-test/tagged:b",
            "    docker (docker-save): Saved to: out/saved.tar",
            "--> docker: Imported Docker image: kiln-test/tagged:b with tags kiln-test/tagged:a kiln-test/tagged:b",
        ],
    );
    // The import has the provisioner's file and the changes; the tags name the same image.
    assert_eq!(
        d.ok(&["run", "--rm", "kiln-test/tagged:a", "/marker"]),
        "imported"
    );
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Config.Env}}",
            "kiln-test/imported:v1"
        ]),
        "[FROM=import]"
    );
    let id = |n: &str| d.ok(&["inspect", "--format", "{{.Id}}", n]);
    assert_eq!(id("kiln-test/imported:v1"), id("kiln-test/tagged:b"));
    // docker-save wrote the tagged image; the export was the import's input, not kept.
    let saved = tar_member(&s, "out/saved.tar", "manifest.json");
    assert!(saved.contains("kiln-test/tagged:b"), "{saved}");
    assert!(!s.path().join("out/image.tar").exists());
    // The Vagrant box names the image for Vagrant's docker provider; as in Packer, the box
    // replaces the imported image, which is removed.
    assert_says(
        &out,
        &[
            "==> docker (vagrant): Creating Vagrant box for 'docker' provider",
            "--> docker: 'docker' provider box: out/docker.box",
        ],
    );
    let boxed = s.path().join("out/docker.box");
    let member = |name: &str| String::from_utf8_lossy(&tar_gz_member(&boxed, name)).into_owned();
    assert_eq!(member("metadata.json"), "{\"provider\":\"docker\"}\n");
    assert!(
        member("Vagrantfile").contains(
            "\tconfig.vm.provider :docker do |docker, override|\n\t\tdocker.image = \"kiln-test/boxed:v1\"\n"
        ),
        "{}",
        member("Vagrantfile")
    );
    assert!(
        !d.docker(&["inspect", "kiln-test/boxed:v1"])
            .status
            .success(),
        "the boxed image was kept"
    );
    for name in [
        "kiln-test/imported:v1",
        "kiln-test/tagged:a",
        "kiln-test/tagged:b",
    ] {
        d.ok(&["rmi", name]);
    }
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn a_commit_is_tagged_and_pushed_and_pulled_back_with_a_login() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let reg = Registry::start();
    let before = snapshot(d);
    let repo = format!("{}/kiln/app", reg.addr);
    let login = serde_json::json!({"login": true, "login_server": reg.addr,
        "login_username": reg.user.0, "login_password": reg.user.1});
    let mut push = serde_json::json!({"type": "docker-push"});
    push.as_object_mut()
        .unwrap()
        .extend(login.as_object().unwrap().clone());
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [{"type": "shell", "inline": ["echo pushed > /marker",
            format!("echo 'pw={}'", reg.user.1)]}],
        "post-processors": [[
            {"type": "docker-tag", "repository": repo, "tags": ["v1", "v2"]},
            push
        ]]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "    docker (docker-push): Logging in...",
            &format!("    docker (docker-push): Pushing: {repo}:v2"),
            &format!("    docker (docker-push): Pushing: {repo}:v1"),
            "    docker (docker-push): Logging out...",
        ],
    );
    assert!(
        !out.contains(reg.user.1),
        "the password in the output:\n{out}"
    );
    // docker-push's password is masked wherever it shows, as a builder's secrets are.
    assert_says(&out, &["    docker: pw=<sensitive>"]);
    assert!(
        reg.tags("kiln/app").contains(r#""tags":["v1","v2"]"#),
        "{}",
        reg.tags("kiln/app")
    );
    // Logged out: the CLI keeps no credentials for the registry.
    let config =
        std::fs::read_to_string(s.path().join("docker-config/config.json")).unwrap_or_default();
    assert!(!config.contains(&reg.addr), "{config}");
    // The builder pulls it back through a login of its own.
    for tag in ["v1", "v2"] {
        d.ok(&["rmi", &format!("{repo}:{tag}")]);
    }
    let mut builder = serde_json::json!({"type": "docker", "image": format!("{repo}:v1"),
        "discard": true});
    builder
        .as_object_mut()
        .unwrap()
        .extend(login.as_object().unwrap().clone());
    let t = serde_json::json!({
        "builders": [builder],
        "provisioners": [{"type": "shell", "inline": ["cat /marker"]}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            &format!("==> docker: Pulling Docker image: {repo}:v1"),
            "    docker: pushed",
        ],
    );
    assert!(
        !out.contains(reg.user.1),
        "the password in the output:\n{out}"
    );
    d.ok(&["rmi", &format!("{repo}:v1")]);
    // A wrong password: docker's words, exit 1, nothing pulled.
    let mut t = t;
    t["builders"][0]["login_password"] = "wrong-password".into();
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(&out, &["Error logging in"]);
    // Removing its tags removed the committed image; the pulled one went above.
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn the_container_user_owns_uploads_and_exec_user_runs_commands() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    write(&s, "f.txt", "x\n");
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "discard": true,
            "run_command": ["-d", "-i", "-t", "-u", "nobody", "--entrypoint=/bin/sh", "--",
                            "{{.Image}}"]}],
        "provisioners": [
            {"type": "file", "source": "f.txt", "destination": "/tmp/f.txt"},
            {"type": "shell", "inline": ["echo \"user $(id -un) owner $(stat -c %U /tmp/f.txt)\""]}
        ]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(&out, &["    docker: user nobody owner nobody"]);
    let mut t = t;
    t["builders"][0]["exec_user"] = "root".into();
    t["builders"][0]["fix_upload_owner"] = false.into();
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(&out, &["    docker: user root owner root"]);
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn a_failed_build_leaves_no_container_image_or_directory() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    // A provisioner fails after the container is up.
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [{"type": "shell", "inline": ["echo about to fail", "exit 3"]}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            "    docker: about to fail",
            "==> docker: Killing the container: ",
        ],
    );
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
    // An image that is not there, not pulled: docker's words, exit 1.
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": "kiln-test:missing", "pull": false,
            "commit": true}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(&out, &["Error running container", "kiln-test:missing"]);
    // A container that docker creates but cannot start: the run fails before kiln learns
    // its id, and the container is found by its name and removed.
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true,
            "run_command": ["-d", "-i", "-t", "--entrypoint=/nonexistent", "--", "{{.Image}}"]}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(&out, &["Error running container", "/nonexistent"]);
    assert_eq!(d.containers(), before.0, "{out}");
    // Pulled from a registry that cannot be reached (none is, here).
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": "127.0.0.1:9/none:latest", "commit": true}]
    });
    let o = build(&s, d, &t, &[]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &[
            "==> docker: Pulling Docker image: 127.0.0.1:9/none:latest",
            "Error pulling Docker image",
        ],
    );
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn a_timed_out_command_is_killed_inside_the_container() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    // -on-error=abort keeps the container, to look inside; `kiln cleanup` removes it after.
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [{"type": "shell", "timeout": "2s",
                          "inline": ["sleep 600 & sleep 601"]}]
    });
    let o = build(&s, d, &t, &["-on-error=abort"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    let left = d.containers();
    let new: Vec<&String> = left.iter().filter(|c| !before.0.contains(c)).collect();
    assert_eq!(new.len(), 1, "the aborted build keeps its container: {out}");
    let procs = d.ok(&[
        "exec",
        new[0],
        "sh",
        "-c",
        "for p in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $p; echo; done",
    ]);
    assert!(!procs.contains("sleep 60"), "still running:\n{procs}");
    let o = s.kiln(d, &["cleanup"]).output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

/// Starts a build whose provisioner sleeps, and waits until it is provisioning.
fn start_sleeping_build(s: &Scratch, d: &Dockerd) -> std::process::Child {
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [{"type": "shell", "inline": ["touch /started", "sleep 600"]}]
    });
    write(s, "t.json", &t.to_string());
    let child = s
        .kiln(d, &["build", "-color=false", "t.json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !d.containers().iter().any(|c| {
        d.docker(&["exec", c, "test", "-e", "/started"])
            .status
            .success()
    }) {
        assert!(Instant::now() < deadline, "the build never provisioned");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

#[test]
fn sigint_during_provisioning_leaves_nothing() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let child = start_sleeping_build(&s, d);
    // SAFETY: signalling the child we started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(&out, &["==> docker: Killing the container: "]);
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn kill_9_during_provisioning_then_cleanup_leaves_nothing() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let mut child = start_sleeping_build(&s, d);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_ne!(
        d.containers(),
        before.0,
        "the killed run left its container"
    );
    let o = s.kiln(d, &["cleanup"]).output().unwrap();
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    // Nothing left: the container, the shared directory, the journal.
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new(), "{out}");
}

#[test]
fn cleanup_deletes_what_a_journal_names_on_the_daemon_it_names() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    // What a run killed at three moments leaves: a container it never learnt the id of (it
    // has only its name), an image it committed, its shared directory.
    let name = "kiln-journal-test";
    let id = d.ok(&["create", "--name", name, BASE, "true"]);
    let image = d.ok(&["commit", &id]);
    let dir = s.path().join("config/.packer.d/tmp-kiln-journaltest");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/f"), "x").unwrap();
    let other = s.path().join("not-kiln");
    std::fs::create_dir_all(&other).unwrap();
    let rec = |kind: &str, key: &str, id: &str, event: &str| {
        serde_json::json!({"ts": 1, "run": "r1", "build": "docker", "kind": kind, "key": key,
            "id": id, "place": {"DOCKER_HOST": d.host}, "event": event})
        .to_string()
    };
    let dir_s = dir.display().to_string();
    let other_s = other.display().to_string();
    let lines = [
        rec("docker:container", name, "", "intent"),
        rec("docker:image", &id, &image, "created"),
        rec("docker:dir", &dir_s, &dir_s, "created"),
        rec("docker:dir", &other_s, &other_s, "created"),
    ];
    write(&s, "state/run-r1.jsonl", &(lines.join("\n") + "\n"));
    // No DOCKER_HOST here: the journal's says which daemon.
    let o = s
        .kiln(d, &["cleanup"])
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    let out = text(&o);
    assert_eq!(d.containers(), before.0, "{out}");
    assert!(!d.images().contains(&image), "{out}");
    assert!(!dir.exists(), "{out}");
    // A directory kiln did not name is not deleted on a journal's word.
    assert!(other.exists(), "{out}");
    assert!(out.contains("not a kiln temporary directory"), "{out}");
    assert_eq!(o.status.code(), Some(1), "{out}");
}

#[test]
fn a_dry_run_asks_the_daemon_and_creates_nothing() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    let t = serde_json::json!({
        "builders": [{"type": "docker", "image": BASE, "pull": false, "commit": true}],
        "provisioners": [{"type": "shell", "inline": ["true"]}]
    });
    let o = build(&s, d, &t, &["-dry-run"]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert_says(
        &out,
        &[
            "==> docker: The image kiln-test:base is on the daemon",
            "==> docker: Would run: docker run -v <temporary directory>:/packer-files --name <name> -d -i -t --entrypoint=/bin/sh -- kiln-test:base",
            "==> docker: Would commit the container to an image",
        ],
    );
    let mut t = t;
    t["builders"][0]["image"] = "kiln-test:missing".into();
    let o = build(&s, d, &t, &["-dry-run"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert_says(
        &out,
        &["the image kiln-test:missing is not on the daemon, and pull is false: docker image inspect failed"],
    );
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

#[test]
fn validate_reports_packers_errors() {
    let s = Scratch::new();
    let cases = [
        (
            serde_json::json!({"type": "docker", "commit": true}),
            "Image must be specified",
        ),
        (
            serde_json::json!({"type": "docker", "image": "x"}),
            "No instructions given for handling the artifact; expected commit, discard, or export_path",
        ),
        (
            serde_json::json!({"type": "docker", "image": "x", "commit": true, "discard": true}),
            "Cannot specify more than one of commit, discard, and export_path",
        ),
        (
            serde_json::json!({"type": "docker", "image": "x", "commit": true, "comit": true}),
            "comit",
        ),
    ];
    for (builder, said) in cases {
        write(
            &s,
            "t.json",
            &serde_json::json!({"builders": [builder]}).to_string(),
        );
        let o = run_in(s.path(), &["validate", "t.json"], &[]);
        let out = text(&o);
        assert_eq!(o.status.code(), Some(1), "{out}");
        assert!(out.contains(said), "{said:?} in {out}");
    }
    write(
        &s,
        "t.json",
        &serde_json::json!({"builders": [{"type": "docker", "image": "x", "commit": true}]})
            .to_string(),
    );
    let o = run_in(s.path(), &["validate", "t.json"], &[]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn an_hcl2_template_commits_and_tags_with_build_data_rendered() {
    let (_one, d) = dockerd();
    let s = Scratch::new();
    let before = snapshot(d);
    write(
        &s,
        "t.pkr.hcl",
        &format!(
            r#"
variable "tag" {{
  type    = string
  default = "v1"
}}
source "docker" "box" {{
  image   = "{BASE}"
  pull    = false
  commit  = true
  changes = ["ENV FROM=hcl2", "LABEL tag=${{var.tag}}"]
}}
build {{
  sources = ["source.docker.box"]
  provisioner "shell" {{
    inline = ["echo '${{source.type}} ${{build.ID}}' > /marker"]
  }}
  post-processors {{
    post-processor "docker-tag" {{
      repository = "kiln-test/hcl2"
      tags       = [var.tag]
    }}
  }}
}}
"#
        ),
    );
    let o = s
        .kiln(d, &["build", "-color=false", "-var", "tag=v2", "t.pkr.hcl"])
        .output()
        .unwrap();
    let out = succeeded(&o);
    assert_says(
        &out,
        &[
            "==> docker.box: Committing the container",
            "    docker.box (docker-tag): Repository: kiln-test/hcl2:v2",
        ],
    );
    // build.ID was rendered with the container's id when the provisioner ran.
    let marker = d.ok(&[
        "run",
        "--rm",
        "--entrypoint",
        "cat",
        "kiln-test/hcl2:v2",
        "/marker",
    ]);
    assert!(
        marker.starts_with("docker ") && marker.len() > 20,
        "{marker}"
    );
    assert!(!marker.contains("{{"), "{marker}");
    assert_eq!(
        d.ok(&[
            "inspect",
            "--format",
            "{{.Config.Env}}",
            "kiln-test/hcl2:v2"
        ]),
        "[FROM=hcl2]"
    );
    // The tag named the commit, the build's only image: removing it leaves nothing added.
    d.ok(&["rmi", "kiln-test/hcl2:v2"]);
    assert_eq!(added_images(d, &s, &before), Vec::<String>::new());
}

//! The seed's provisioning chain (shell installs Ansible, ansible-local runs bootstrap.yml with
//! four roles, shell erases Ansible) on a real isolated target, plus failure handling and the
//! managed runtime.

mod common;
#[path = "common/target.rs"]
mod target;

use common::*;
use target::SshTarget;

fn seed_dir() -> std::path::PathBuf {
    fixtures().join("seed")
}

/// Writes a template into its own temporary directory (tests run in parallel); the paths
/// inside it are relative to the working directory, as in Packer.
fn write_template(body: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("template.json");
    std::fs::write(&p, body).unwrap();
    let path = p.display().to_string();
    (dir, path)
}

fn builder(t: &SshTarget) -> String {
    format!(r#"{{"type": "null", {}}}"#, t.comm_json("centos"))
}

/// The seed's provisioners, with yum replaced by the target's package manager working from its
/// local package cache (no network).
fn seed_provisioners(ansible_local: &str) -> String {
    format!(
        r#"[
          {{"type": "shell", "inline": ["sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"]}},
          {ansible_local},
          {{"type": "shell", "inline": ["sudo apt-get purge -y -q ansible-core", "sudo rm -rf /tmp/packer-provisioner-ansible-local/"]}}
        ]"#
    )
}

const SEED_ANSIBLE_LOCAL: &str = r#"{"type": "ansible-local", "playbook_file": "bootstrap.yml",
  "role_paths": ["roles/elasticsearch", "roles/telegraf", "roles/sudo", "roles/fail2ban"],
  "clean_staging_directory": false}"#;

fn check_roles(t: &SshTarget, build: &str) {
    let passwd = std::fs::read_to_string(t.path("/etc/passwd")).unwrap();
    assert!(
        passwd.lines().any(|l| l.starts_with("elasticsearch:")),
        "no elasticsearch user"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/elasticsearch/elasticsearch.yml")).unwrap(),
        "cluster.name: kiln-cluster\n"
    );
    let telegraf = std::fs::read_to_string(t.path("/etc/telegraf/telegraf.conf")).unwrap();
    assert!(
        telegraf.contains(&format!("for build {build} (null)")),
        "{telegraf}"
    );
    assert!(telegraf.contains("interval = \"10s\""), "{telegraf}");
    use std::os::unix::fs::PermissionsExt;
    let sudoers = t.path("/etc/sudoers.d/90-ops");
    assert_eq!(
        std::fs::read_to_string(&sudoers).unwrap(),
        "%ops ALL=(ALL) NOPASSWD: ALL\n"
    );
    assert_eq!(
        std::fs::metadata(&sudoers).unwrap().permissions().mode() & 0o777,
        0o440
    );
    let group = std::fs::read_to_string(t.path("/etc/group")).unwrap();
    assert!(group.lines().any(|l| l.starts_with("ops:")), "no ops group");
    let jail = std::fs::read_to_string(t.path("/etc/fail2ban/jail.local")).unwrap();
    assert!(
        jail.contains("[sshd]") && jail.contains("maxretry = 5"),
        "{jail}"
    );
}

fn ansible_gone(t: &SshTarget) {
    for bin in ["/usr/bin/ansible-playbook", "/usr/bin/ansible"] {
        assert!(!t.path(bin).exists(), "{bin} is still installed");
    }
    assert!(
        !t.path("/tmp/packer-provisioner-ansible-local").exists(),
        "staging directory left behind"
    );
}

#[test]
fn seed_chain_with_ansible_local_on_a_real_target() {
    let t = SshTarget::start();
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"variables": {{"name": "elasticsearch", "version": "1-0-0"}},
                "builders": [{}], "provisioners": {}}}"#,
        builder(&t),
        seed_provisioners(SEED_ANSIBLE_LOCAL)
    ));
    let out = run_in(&seed_dir(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(text.contains("Executing Ansible: bootstrap.yml"), "{text}");
    assert!(
        text.contains("TASK [sudo : Allow the ops group to use sudo]"),
        "{text}"
    );
    check_roles(&t, "null");
    ansible_gone(&t);
}

#[test]
fn failing_task_is_named_and_staging_is_removed() {
    let t = SshTarget::start();
    let dir = seed_dir().join("broken");
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"builders": [{}], "provisioners": [
                {{"type": "shell", "inline": ["sudo apt-get install -y -q --no-download --no-install-recommends ansible-core"]}},
                {{"type": "ansible-local", "playbook_file": "site.yml", "role_paths": ["roles/broken"]}}]}}"#,
        builder(&t)
    ));
    let out = run_in(&dir, &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("task \"broken : Break on purpose\" failed on host 127.0.0.1: intentional failure for the test"),
        "{text}"
    );
    assert!(t.path("/root/before-failure").exists());
    assert!(
        !t.path("/tmp/packer-provisioner-ansible-local").exists(),
        "staging left after a failure"
    );
}

#[test]
fn managed_runtime_needs_no_install_and_leaves_nothing() {
    let t = SshTarget::start();
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"builders": [{}], "provisioners": [
                {{"type": "ansible-local", "runtime": "managed", "runtime_version": "==2.15.*",
                  "playbook_file": "bootstrap.yml",
                  "role_paths": ["roles/elasticsearch", "roles/telegraf", "roles/sudo", "roles/fail2ban"]}}]}}"#,
        builder(&t)
    ));
    let out = run_in(&seed_dir(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(
        text.contains("Installing the managed ansible runtime"),
        "{text}"
    );
    check_roles(&t, "null");
    ansible_gone(&t);
    for home in ["/root/.ansible", "/home/centos/.ansible"] {
        assert!(!t.path(home).exists(), "{home} left behind");
    }
}

#[test]
fn remote_ansible_provisioner_applies_the_same_roles() {
    let t = SshTarget::start();
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"builders": [{}], "provisioners": [
                {{"type": "ansible", "playbook_file": "bootstrap.yml", "roles_path": "roles",
                  "extra_arguments": ["--extra-vars", "fail2ban_maxretry=5 es_cluster_name=kiln-cluster"]}}]}}"#,
        builder(&t)
    ));
    let out = run_in(&seed_dir(), &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert!(text.contains("PLAY RECAP"), "{text}");
    check_roles(&t, "null");
    // Nothing of ansible's is installed on the machine by the remote provisioner.
    assert!(!t.path("/usr/bin/ansible-playbook").exists());
}

#[test]
fn galaxy_roles_and_collections_are_installed_and_found() {
    let t = SshTarget::start();
    let dir = seed_dir().join("galaxy");
    // ansible-galaxy installs from the requirements file on the machine; the role archive is
    // put there first (no galaxy server is reachable here).
    let archive = tempfile::tempdir().unwrap();
    let tarball = archive.path().join("motd.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-czf")
        .arg(&tarball)
        .arg("motd")
        .status()
        .unwrap();
    assert!(st.success());
    let built = std::process::Command::new("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(archive.path())
        .arg(dir.join("collection"))
        .output()
        .expect("ansible-galaxy (pip install ansible-core)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let collection = archive.path().join("kiln-demo-1.0.0.tar.gz");
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"builders": [{}], "provisioners": [
                {{"type": "file", "source": "{}", "destination": "/tmp/motd.tar.gz"}},
                {{"type": "file", "source": "{}", "destination": "/tmp/kiln-demo-1.0.0.tar.gz"}},
                {{"type": "ansible-local", "runtime": "managed", "runtime_version": "==2.15.*",
                  "playbook_file": "site.yml", "galaxy_file": "requirements.yml"}}]}}"#,
        builder(&t),
        tarball.display(),
        collection.display()
    ));
    let out = run_in(&dir, &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Executing Ansible Galaxy"), "{text}");
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/motd")).unwrap(),
        "installed by a galaxy role\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/kiln-collection")).unwrap(),
        "from kiln.demo\n"
    );
    assert!(!t.path("/tmp/packer-provisioner-ansible-local").exists());
}

#[test]
fn remote_ansible_installs_galaxy_roles_and_collections_locally() {
    let t = SshTarget::start();
    let dir = seed_dir().join("galaxy");
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("motd.tar.gz");
    let st = std::process::Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-czf")
        .arg(&tarball)
        .arg("motd")
        .status()
        .unwrap();
    assert!(st.success());
    let built = std::process::Command::new("ansible-galaxy")
        .args(["collection", "build", "--output-path"])
        .arg(work.path())
        .arg(dir.join("collection"))
        .output()
        .expect("ansible-galaxy (pip install ansible-core)");
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let requirements = work.path().join("requirements.yml");
    std::fs::write(
        &requirements,
        format!(
            "roles:\n  - src: file://{}\n    name: motd\ncollections:\n  - name: {}\n    type: file\n",
            tarball.display(),
            work.path().join("kiln-demo-1.0.0.tar.gz").display()
        ),
    )
    .unwrap();
    let (_tpl_dir, tpl) = write_template(&format!(
        r#"{{"builders": [{}], "provisioners": [
            {{"type": "ansible", "playbook_file": "site.yml", "galaxy_file": "{}",
              "roles_path": "{}", "collections_path": "{}"}}]}}"#,
        builder(&t),
        requirements.display(),
        work.path().join("roles").display(),
        work.path().join("collections").display()
    ));
    let out = run_in(&dir, &["build", "-color=false", &tpl], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/motd")).unwrap(),
        "installed by a galaxy role\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/etc/kiln-collection")).unwrap(),
        "from kiln.demo\n"
    );
}

#[test]
fn remote_ansible_options_and_use_proxy_through_the_builds_connection() {
    let t = SshTarget::start_with("-o LogLevel=DEBUG1");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("probe.yml"),
        "- hosts: web\n  gather_facts: false\n  become: true\n  tasks:\n    - copy:\n        \
         content: \"{{ lookup('env', 'KILN_PROBE') }} {{ inventory_hostname }} {{ group_names | join(',') }}\\n\"\n        \
         dest: /root/ansible-probe\n",
    )
    .unwrap();
    let keep = dir.path().join("inventories");
    std::fs::create_dir(&keep).unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{}], "provisioners": [
                {{"type": "ansible", "playbook_file": "probe.yml", "use_proxy": true,
                  "groups": ["web", "extra"], "host_alias": "probe-host",
                  "ansible_env_vars": ["KILN_PROBE=from-env-vars"],
                  "ansible_ssh_extra_args": ["-o ServerAliveInterval=5"],
                  "keep_inventory_file": true, "inventory_directory": "{}"}}]}}"#,
            builder(&t),
            keep.display()
        ),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert_eq!(
        std::fs::read_to_string(t.path("/root/ansible-probe")).unwrap(),
        "from-env-vars probe-host extra,web\n"
    );
    // use_proxy: ansible went through a tunnel in kiln's own SSH connection.
    assert!(
        text.contains("ansible connects through the build's SSH connection"),
        "{text}"
    );
    assert!(
        t.log().contains("server_request_direct_tcpip"),
        "{}",
        t.log()
    );
    // The inventory was kept, the key copy was not.
    let kept: Vec<_> = std::fs::read_dir(&keep).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    let inventory = std::fs::read_to_string(kept[0].path().join("inventory")).unwrap();
    assert!(
        inventory.contains("probe-host ansible_host='127.0.0.1'"),
        "{inventory}"
    );
    assert!(inventory.contains("[web]\nprobe-host"), "{inventory}");
    assert!(!kept[0].path().join("key").exists());
}

/// Packer's `inventory_file_template` renders the machine's line from the build's data (the
/// alias, where ansible connects, the user), repeated under each group; a template's own
/// `inventory_file` gets the build's key as Packer passes it, as an extra variable.
#[test]
fn remote_ansible_inventory_template_and_own_inventory_use_the_builds_key() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    for (playbook, dest) in [
        ("probe.yml", "/root/ansible-probe"),
        ("own.yml", "/root/ansible-own"),
    ] {
        std::fs::write(
            dir.path().join(playbook),
            format!(
                "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n    - copy:\n        \
                 content: \"{{{{ inventory_hostname }}}} {{{{ group_names | join(',') }}}} {{{{ note | default('-') }}}}\\n\"\n        \
                 dest: {dest}\n"
            ),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("own.ini"),
        format!(
            "own-host ansible_host=127.0.0.1 ansible_port={} ansible_user=centos\n",
            t.port
        ),
    )
    .unwrap();
    let keep = dir.path().join("inventories");
    std::fs::create_dir(&keep).unwrap();
    let line = "{{ .HostAlias }} ansible_host={{ .Host }} ansible_port={{ .Port }} ansible_user={{ .User }} note=templated\\n";
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{}], "provisioners": [
                {{"type": "ansible", "playbook_file": "probe.yml", "groups": ["web"],
                  "host_alias": "tpl-host", "inventory_file_template": "{line}",
                  "keep_inventory_file": true, "inventory_directory": "{}"}},
                {{"type": "ansible", "playbook_file": "own.yml", "inventory_file": "own.ini"}}]}}"#,
            builder(&t),
            keep.display()
        ),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &[],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", t.log());
    assert_eq!(
        std::fs::read_to_string(t.path("/root/ansible-probe")).unwrap(),
        "tpl-host web templated\n"
    );
    let kept: Vec<_> = std::fs::read_dir(&keep).unwrap().flatten().collect();
    let inventory = std::fs::read_to_string(kept[0].path().join("inventory")).unwrap();
    let machine = format!(
        "tpl-host ansible_host=127.0.0.1 ansible_port={} ansible_user=centos note=templated\n",
        t.port
    );
    assert_eq!(inventory, format!("{machine}[web]\n{machine}"));
    assert_eq!(
        std::fs::read_to_string(t.path("/root/ansible-own")).unwrap(),
        "own-host ungrouped -\n"
    );
}

#[test]
fn remote_ansible_failing_task_names_the_task_and_host() {
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("fail.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: refuse on purpose\n      \
         fail:\n        msg: kiln remote failure\n",
    )
    .unwrap();
    let tpl = dir.path().join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{}], "provisioners": [{{"type": "ansible", "playbook_file": "fail.yml"}}]}}"#,
            builder(&t)
        ),
    )
    .unwrap();
    let out = run_in(
        dir.path(),
        &["build", "-color=false", tpl.to_str().unwrap()],
        &[],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let last = text
        .lines()
        .find(|l| l.starts_with("--> null:"))
        .unwrap_or_else(|| panic!("no error line:\n{text}"));
    assert!(last.contains("refuse on purpose"), "{last}");
    assert!(last.contains("default"), "{last}");
    assert!(last.contains("kiln remote failure"), "{last}");
}

#[test]
fn ansible_local_options_shape_the_run() {
    // playbook_dir with playbook_files, playbook_paths, group_vars, host_vars,
    // inventory_groups, extra_arguments (one argument each, spaces kept), a custom command
    // and staging_directory, through the managed runtime (no install step needed).
    let t = SshTarget::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |p: &str, body: &str| {
        let p = d.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    };
    w(
        "books/main.yml",
        "- hosts: web\n  gather_facts: false\n  become: true\n  tasks:\n    - copy:\n        \
         content: \"{{ from_group }} {{ from_host }} {{ greeting }} {{ group_names | join(',') }}\\n\"\n        \
         dest: /root/options-probe\n",
    );
    w(
        "books/second.yml",
        "- hosts: all\n  gather_facts: false\n  become: true\n  tasks:\n    - copy:\n        \
         content: \"second ran\\n\"\n        dest: /root/second-probe\n",
    );
    w(
        "more/extra.yml",
        "- hosts: all\n  gather_facts: false\n  tasks: []\n",
    );
    w("gv/web.yml", "from_group: group-vars\n");
    w("hv/127.0.0.1.yml", "from_host: host-vars\n");
    let tpl = d.join("t.json");
    std::fs::write(
        &tpl,
        format!(
            r#"{{"builders": [{}], "provisioners": [
                {{"type": "ansible-local", "runtime": "managed", "runtime_version": "==2.15.*",
                  "playbook_dir": "books", "playbook_files": ["books/main.yml", "books/second.yml"],
                  "playbook_paths": ["more"], "group_vars": "gv", "host_vars": "hv",
                  "inventory_groups": ["web", "db"],
                  "extra_arguments": ["--extra-vars", "greeting='hello there'"],
                  "staging_directory": "/tmp/kiln-custom-staging", "clean_staging_directory": false}}]}}"#,
            builder(&t)
        ),
    )
    .unwrap();
    let out = run_in(d, &["build", "-color=false", tpl.to_str().unwrap()], &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}");
    assert_eq!(
        std::fs::read_to_string(t.path("/root/options-probe")).unwrap(),
        "group-vars host-vars hello there db,web\n"
    );
    assert_eq!(
        std::fs::read_to_string(t.path("/root/second-probe")).unwrap(),
        "second ran\n"
    );
    // Kept (clean_staging_directory false), where asked, laid out as Packer lays it out.
    for p in [
        "/tmp/kiln-custom-staging/main.yml",
        "/tmp/kiln-custom-staging/playbooks/more/extra.yml",
        "/tmp/kiln-custom-staging/group_vars/web.yml",
        "/tmp/kiln-custom-staging/host_vars/127.0.0.1.yml",
    ] {
        assert!(t.path(p).exists(), "{p} missing:\n{text}");
    }
}

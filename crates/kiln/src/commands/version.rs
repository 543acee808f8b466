//! `kiln version`

use kiln_template::PACKER_COMPAT_VERSION;

/// Prints the version; exit code 0.
pub fn run(machine: bool) -> u8 {
    let version = env!("CARGO_PKG_VERSION");
    if machine {
        let ts = chrono::Utc::now().timestamp();
        println!("{ts},,version,{version}");
        println!("{ts},,version-prelease,");
        println!("{ts},,version-commit,");
        println!("{ts},,packer-compatible-version,{PACKER_COMPAT_VERSION}");
    }
    println!("kiln v{version} (Packer {PACKER_COMPAT_VERSION} compatible)");
    0
}

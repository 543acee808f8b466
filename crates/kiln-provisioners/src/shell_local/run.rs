//! Running `shell-local` scripts: write inline commands to a temporary script, build the
//! command line from `execute_command`, run it with the build's variables, check exit codes.

use super::config::Config;
use kiln_core::process::run_streamed;
use kiln_core::ui::BuildUi;
use kiln_core::{Error, Result};
use kiln_template::interp::{render, Context, TVal};
use std::io::Write;
use tokio_util::sync::CancellationToken;

/// The operating system name as Go's `runtime.GOOS` spells it.
pub fn goos() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Quotes a value the way Packer's default `env_var_format` expects (`'` inside → `'"'"'`).
fn quote_value(v: &str) -> String {
    v.replace('\'', "'\"'\"'")
}

/// Runs the configured commands; `extra_env` comes first (PACKER_BUILD_NAME and friends).
pub async fn run(
    config: &Config,
    extra_env: &[(String, String)],
    interp: &Context,
    ui: &BuildUi,
    cancel: &CancellationToken,
) -> Result<()> {
    if !config.only_on.is_empty() && !config.only_on.iter().any(|o| o == goos()) {
        ui.say("Skipping shell-local due to runtime OS");
        return Ok(());
    }
    let mut env: Vec<(String, String)> = extra_env.to_vec();
    for kv in &config.environment_vars {
        let (k, v) = kv.split_once('=').expect("validated");
        env.push((k.to_string(), v.to_string()));
    }
    env.extend(config.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    let vars: String = env
        .iter()
        .map(|(k, v)| go_format2(&config.env_var_format, k, &quote_value(v)))
        .collect();

    // Inline commands go to a temporary script that is removed when this returns.
    let mut _inline_guard = None;
    let mut scripts = config.all_scripts();
    let inline: Vec<String> = if config.command.is_empty() {
        config.inline.clone()
    } else {
        vec![config.command.clone()]
    };
    if !inline.is_empty() {
        let mut f = tempfile::Builder::new()
            .prefix("packer-shell")
            .suffix(&if config.tempfile_extension.is_empty() {
                String::new()
            } else {
                format!(".{}", config.tempfile_extension.trim_start_matches('.'))
            })
            .tempfile()?;
        writeln!(f, "#!{}", config.inline_shebang)?;
        for line in &inline {
            writeln!(f, "{line}")?;
        }
        f.flush()?;
        let path = f.into_temp_path();
        scripts.push(path.display().to_string());
        _inline_guard = Some(path);
    }

    for script in &scripts {
        let abs = std::path::absolute(script).unwrap_or_else(|_| script.into());
        let script_path = abs.display().to_string();
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(&abs) {
            let mut perm = meta.permissions();
            perm.set_mode(perm.mode() | 0o700);
            let _ = std::fs::set_permissions(&abs, perm);
        }
        let data = interp.with_data([
            ("Vars", TVal::Str(vars.clone())),
            ("Script", TVal::Str(script_path.clone())),
            ("Command", TVal::Str(script_path.clone())),
        ]);
        let mut argv = Vec::with_capacity(config.execute_command.len());
        for part in &config.execute_command {
            argv.push(
                render(part, &data).map_err(|e| Error::msg(format!("execute_command: {e}")))?,
            );
        }
        let Some((program, args)) = argv.split_first() else {
            return Err(Error::msg("execute_command is empty"));
        };
        ui.say(&format!("Running local shell script: {script_path}"));
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let code = run_streamed(cmd, ui, cancel).await?;
        if !config.valid_exit_codes.contains(&code) {
            let allowed: Vec<String> = config
                .valid_exit_codes
                .iter()
                .map(|c| c.to_string())
                .collect();
            return Err(Error::msg(format!(
                "Script exited with non-zero exit status: {code}.Allowed exit codes are: [{}]",
                allowed.join(" ")
            )));
        }
    }
    Ok(())
}

/// Go's `fmt.Sprintf(format, a, b)` for a format with two `%s`.
fn go_format2(format: &str, a: &str, b: &str) -> String {
    let mut out = String::new();
    let mut args = [a, b].into_iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('s') => out.push_str(args.next().unwrap_or("%!s(MISSING)")),
                Some('%') => out.push('%'),
                Some(o) => {
                    out.push('%');
                    out.push(o);
                }
                None => out.push('%'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_vars_like_packer() {
        assert_eq!(
            go_format2("%s='%s' ", "A", &quote_value("it's")),
            "A='it'\"'\"'s' "
        );
        assert_eq!(go_format2("export %s=%s;", "A", "b"), "export A=b;");
    }
}

//! Choosing the output format from flags and the environment, and printing errors the way
//! Packer does (`Error: ...` on stdout, or a `ui,error` line when machine-readable).

use kiln_core::ui::{Format, Ui};
use std::io::IsTerminal;

/// Output options common to the commands.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutputFlags {
    /// `-machine-readable`
    pub machine: bool,
    /// `--json`
    pub json: bool,
    /// `-color` (default true)
    pub color: bool,
    /// `-timestamp-ui`
    pub timestamps: bool,
}

/// Makes the UI: colour only when asked, on a terminal, and PACKER_NO_COLOR is unset.
pub fn make_ui(f: OutputFlags) -> Ui {
    let format = if f.machine {
        Format::MachineReadable
    } else if f.json {
        Format::Json
    } else {
        let color = f.color
            && std::env::var_os("PACKER_NO_COLOR").is_none()
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stdout().is_terminal();
        Format::Human {
            color,
            timestamps: f.timestamps,
        }
    };
    Ui::new(format, Box::new(std::io::stdout()))
}

/// Prints an error for the user.
pub fn print_error(ui: &Ui, message: &str) {
    match ui.format() {
        Format::Human { .. } => ui.error(&format!("Error: {message}\n")),
        _ => ui.error(message),
    }
}
